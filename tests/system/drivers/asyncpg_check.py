"""asyncpg against a mergetree table and a heap table (see common.py): binary COPY
(copy_records_to_table), multi-row INSERTs and executemany, prepared statements
(connection.prepare: named server-side statements), aggregates.

usage: asyncpg_check.py PORT PREFIX AM_CLAUSE [ROWS]
"""
import asyncio

import asyncpg

from common import (AGGREGATES, AUTO_EXECUTIONS, BATCH, BATCHED, COLUMNS, EXECUTIONS, PLAN_COUNTS, SINGLE, STATEMENTS,
                    check_counts, compare, create_sql, insert_sql, parse_args, rows)


async def main():
    port, prefix, am, n = parse_args()
    data = rows(n)
    tables = [f"{prefix}_mt", f"{prefix}_heap"]
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres")
    try:
        for sql in create_sql(prefix, am):
            await conn.execute(sql)
        copied, batched = data[:n - BATCHED - SINGLE], data[n - BATCHED - SINGLE:n - SINGLE]
        for t in tables:
            await conn.copy_records_to_table(t, records=copied, columns=COLUMNS)
            for lo in range(0, len(batched), BATCH):
                chunk = batched[lo:lo + BATCH]
                await conn.execute(insert_sql(t, len(chunk)), *[v for r in chunk for v in r])
            await conn.executemany(insert_sql(t, 1), data[n - SINGLE:])

        compared = executions = 0
        prepared = {}
        for mode, runs in (("auto", range(AUTO_EXECUTIONS)), ("force_generic_plan", range(AUTO_EXECUTIONS, EXECUTIONS))):
            await conn.execute(f"SET plan_cache_mode = {mode}")
            for what, sql, _types, params in STATEMENTS:
                for t in tables:
                    if (what, t) not in prepared:
                        prepared[what, t] = await conn.prepare(sql.format(t=t))
                for j in runs:
                    got = []
                    for t in tables:
                        got.append([tuple(r) for r in await prepared[what, t].fetch(*params(j, n))])
                        executions += 1
                    compare(f"statement '{what}' ({mode}) with {params(j, n)}", *got)
                    compared += 1
        generic, custom = await conn.fetchrow(PLAN_COUNTS.format(prefix=prefix))
        for what, sql in AGGREGATES:
            got = [[tuple(r) for r in await conn.fetch(sql.format(t=t))] for t in tables]
            compare(f"aggregate '{what}'", *got)
            compared += 1
        check_counts("asyncpg", n, compared, executions, generic, custom)
    finally:
        await conn.close()


asyncio.run(main())
