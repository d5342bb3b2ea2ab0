"""psycopg 3 against a mergetree table and a heap table (see common.py): COPY, multi-row and
single-row INSERTs, server-side prepared statements (prepare=True), aggregates.

usage: psycopg_check.py PORT PREFIX AM_CLAUSE [ROWS]
"""
import psycopg
from psycopg.types.numeric import Int4, Int8

from common import (AGGREGATES, AUTO_EXECUTIONS, BATCH, BATCHED, COLUMNS, EXECUTIONS, PLAN_COUNTS, SINGLE, STATEMENTS,
                    check_counts, compare, create_sql, insert_sql, parse_args, percent, rows)

port, prefix, am, n = parse_args()
data = rows(n)
tables = [f"{prefix}_mt", f"{prefix}_heap"]
with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as conn:
    cur = conn.cursor()
    for sql in create_sql(prefix, am):
        cur.execute(sql)
    copied, batched = data[:n - BATCHED - SINGLE], data[n - BATCHED - SINGLE:n - SINGLE]
    for t in tables:
        with cur.copy(f"COPY {t} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for r in copied:
                copy.write_row(r)
        for lo in range(0, len(batched), BATCH):
            chunk = batched[lo:lo + BATCH]
            cur.execute(insert_sql(t, len(chunk), "percent"), [v for r in chunk for v in r])
        cur.executemany(insert_sql(t, 1, "percent"), data[n - SINGLE:])

    compared = executions = 0
    for mode, runs in (("auto", range(AUTO_EXECUTIONS)), ("force_generic_plan", range(AUTO_EXECUTIONS, EXECUTIONS))):
        cur.execute(f"SET plan_cache_mode = {mode}")
        for what, sql, types, params in STATEMENTS:
            for j in runs:
                got = []
                # typed as the statement says (psycopg would send a small int as smallint)
                typed = [{"int4": Int4, "int8": Int8}.get(ty, lambda v: v)(v) if v is not None else v
                         for ty, v in zip(types, params(j, n))]
                for t in tables:
                    cur.execute(percent(sql.format(t=t)), typed, prepare=True)
                    got.append(cur.fetchall())
                    executions += 1
                compare(f"statement '{what}' ({mode}) with {params(j, n)}", *got)
                compared += 1
    generic, custom = cur.execute(PLAN_COUNTS.format(prefix=prefix)).fetchone()
    for what, sql in AGGREGATES:
        got = []
        for t in tables:
            cur.execute(sql.format(t=t))
            got.append(cur.fetchall())
        compare(f"aggregate '{what}'", *got)
        compared += 1
    check_counts("psycopg", n, compared, executions, generic, custom)
