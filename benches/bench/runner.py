"""Run one workload: generate data, load it into every system, time and check the queries."""
from __future__ import annotations

import statistics
import time
import traceback

from . import compare
from .db import copy_from_file


def schema_of(workload, system_name: str) -> str:
    return f"{workload.name}_{system_name}"


def shared_schema(workload) -> str:
    return f"{workload.name}_shared"


def drop_schemas(conn, workload, systems):
    for s in [shared_schema(workload)] + [schema_of(workload, x.name) for x in systems]:
        conn.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")


def load_table(conn, system, schema, table, merge_wait=900.0, probe=None) -> dict:
    q = f"{schema}.{table.name}"
    conn.execute(system.create_table(q, table))
    t0 = time.perf_counter()
    if table.commit_each_file:
        for f in table.files:
            with conn.transaction():
                copy_from_file(conn, q, f, table.copy_options)
    else:
        with conn.transaction():  # the files, streamed by this client (COPY FROM STDIN)
            for f in table.files:
                copy_from_file(conn, q, f, table.copy_options)
    t_copy = time.perf_counter() - t0
    for stmt in system.post_load(q, table):
        conn.execute(stmt)
    t_load = time.perf_counter() - t0
    for stmt in table.views.get(system.family, []):
        conn.execute(stmt.format(schema=schema, table=q))
    at_load = system.table_info(conn, q)
    bytes_at_load = conn.execute("SELECT pg_total_relation_size(%s::regclass)", (q,)).fetchone()[0]
    probes_at_load = probe(conn) if probe else {}
    # Merges the load started run in the background: waited for, not in the load time,
    # and the sizes below are measured after them.
    settle = system.settle(conn, q, merge_wait) if merge_wait > 0 else None
    for stmt in system.maintenance(q, table):
        conn.execute(stmt)
    conn.execute("CHECKPOINT")  # the next system's load does not pay for this one's dirty pages
    with conn.transaction():
        for k, v in system.session.items():
            conn.execute(f"SET LOCAL {k} = '{v}'")
        rows = conn.execute(f"SELECT count(*) FROM {schema}.{table.count_from or table.name}").fetchone()[0]
    sizes = conn.execute(
        "SELECT pg_total_relation_size(%s::regclass), pg_table_size(%s::regclass),"
        " pg_indexes_size(%s::regclass)", (q, q, q)).fetchone()
    facts = {"rows": rows, "copy_seconds": round(t_copy, 3), "load_seconds": round(t_load, 3),
             "total_bytes": sizes[0], "table_bytes": sizes[1], "index_bytes": sizes[2],
             **system.table_info(conn, q)}
    facts.update({"total_bytes_at_load": bytes_at_load, "probes_at_load_ms": probes_at_load})
    if settle is not None:
        facts.update({"settle_seconds": settle, "parts_at_load": at_load.get("parts"),
                      "compressed_bytes_at_load": at_load.get("compressed_bytes")})
    return facts


def probe_queries(workload, search_path, settings=None, runs=3):
    """A function timing the workload's probe queries (median of `runs`, after one
    warm-up) on a connection, with `search_path` and the system's session `settings` set
    for them."""
    queries = [q for q in workload.queries() if q.name in workload.probes]

    def probe(conn):
        if not queries:
            return {}
        old = conn.execute("SHOW search_path").fetchone()[0]
        conn.execute(f"SET search_path = {search_path}")
        for k, v in (settings or {}).items():
            conn.execute(f"SET {k} = '{v}'")
        try:
            out = {}
            for q in queries:
                times = [timed(conn, q.sql)[0] for _ in range(runs + 1)][1:]
                out[q.name] = round(statistics.median(times), 3)
            return out
        finally:
            conn.execute(f"SET search_path = {old}")
            for k in settings or {}:
                conn.execute(f"RESET {k}")
    return probe


def timed(conn, sql):
    """(milliseconds, rows, output column names); a statement without rows (DELETE,
    UPDATE) gives its row count as its one row, column "rowcount"."""
    t0 = time.perf_counter()
    cur = conn.execute(sql)
    rows = cur.fetchall() if cur.description else [(cur.rowcount,)]
    ms = (time.perf_counter() - t0) * 1000.0
    return ms, rows, [d.name for d in cur.description] if cur.description else ["rowcount"]


def run_query(conns, systems, query, warmup, runs) -> dict:
    """Warm-up then `runs` timed runs per system, alternating the order of systems between
    runs; the rows of each system's first execution are compared with the first system's:
    in order if the query has a top-level ORDER BY (rows tied on it as multisets), else as
    multisets (compare.py)."""
    if query.once:
        systems = [s for s in systems if not s.tables_of]
        warmup, runs = 0, 1
    out = {s.name: {"runs_ms": [], "warmup_ms": []} for s in systems}
    rows = {}
    names = {}
    alive = [s for s in systems]
    for i in range(warmup + runs):
        order = alive if i % 2 == 0 else list(reversed(alive))
        for s in order:
            try:
                ms, r, cols = timed(conns[s.name], query.family_sql.get(s.family, query.sql))
            except Exception as e:
                msg = (str(e).strip().splitlines() or [""])[0]
                out[s.name]["error"] = f"{type(e).__name__}: {msg}"
                alive = [x for x in alive if x is not s]
                continue
            rows.setdefault(s.name, r)
            names.setdefault(s.name, cols)
            out[s.name]["warmup_ms" if i < warmup else "runs_ms"].append(round(ms, 3))
    for s in systems:
        runs_ms = out[s.name]["runs_ms"]
        out[s.name]["median_ms"] = round(statistics.median(runs_ms), 3) if runs_ms else None
        if s.name in rows:
            out[s.name]["rows"] = len(rows[s.name])
        if not query.once:
            try:
                out[s.name]["plan"] = "\n".join(
                    r[0] for r in conns[s.name].execute("EXPLAIN (COSTS OFF) " + query.sql).fetchall())
            except Exception:
                pass
    base = systems[0].name
    problems = []
    order = compare.ordering(query.sql, names[base]) if base in names else None
    if order is not None:
        out["order"] = order.describe(names[base])
        out["order_keys"] = [names[base][k] for k in order.keys]
        if order.unresolved:
            out["order_unchecked"] = order.unresolved
    for s in systems:
        if "error" in out[s.name]:
            problems.append(f"{s.name} failed: {out[s.name]['error']}")
        elif s.name != base and base in rows and query.check:
            diff = compare.difference(rows[base], rows[s.name], order.keys)
            if diff:
                problems.append(f"{s.name} differs from {base}: {diff}")
    if not problems:
        out["check"] = "match"
    else:
        out["check"] = "ERROR" if any("error" in out[s.name] for s in systems) else "MISMATCH"
    if problems:
        out["problems"] = problems
    return out


def run_workload(ctx, workload, systems, args, res: dict) -> None:
    """Fills `res` as it goes, so that a failure keeps what was measured before it."""
    print(f"\n=== {workload.title()}")
    res["data"] = workload.prepare()
    tables = workload.tables()
    res["notes"] = [n for s in systems for n in s.notes(tables)]
    with ctx.connect() as conn:
        drop_schemas(conn, workload, systems)
        shared = shared_schema(workload)
        conn.execute(f"CREATE SCHEMA {shared}")
        t0 = time.perf_counter()
        res["shared_tables"] = workload.load_shared(conn, shared)
        for name, facts in res["shared_tables"].items():
            facts["total_bytes"] = conn.execute(
                "SELECT pg_total_relation_size(%s::regclass)", (f"{shared}.{name}",)).fetchone()[0]
        print(f"   shared heap tables ({', '.join(res['shared_tables']) or 'none'}) loaded in "
              f"{time.perf_counter() - t0:.1f} s")
        for s in systems:
            if s.tables_of:
                continue
            schema = schema_of(workload, s.name)
            conn.execute(f"CREATE SCHEMA {schema}")
            res["load"][s.name] = {}
            probe = probe_queries(workload, f"{schema}, {shared}", s.session)
            for t in tables:
                facts = load_table(conn, s, schema, t, args.merge_wait, probe if t is tables[-1] else None)
                res["load"][s.name][t.name] = facts
                print(f"   load {s.name}.{t.name}: {facts['rows']:,} rows in {facts['load_seconds']:.1f} s, "
                      f"{facts['total_bytes'] / 1e6:,.1f} MB")
    for s in systems:
        if s.tables_of:
            if s.tables_of not in res["load"]:
                raise SystemExit(f"system {s.name} queries the tables of {s.tables_of}: run that system too")
            res["load"][s.name] = res["load"][s.tables_of]
    for t in tables:
        counts = {s.name: res["load"][s.name][t.name]["rows"] for s in systems}
        if len(set(counts.values())) != 1:
            res["failures"].append(f"{workload.name}: row counts of {t.name} differ: {counts}")

    queries = workload.steps()
    if args.queries:
        wanted = args.queries
        queries = [q for q in queries if any(q.name == w or q.name.startswith(w + "_") for w in wanted)]
    conns = {s.name: ctx.connect(search_path=f"{schema_of(workload, s.tables_of or s.name)}, {shared_schema(workload)}",
                                 settings=s.session)
             for s in systems}
    try:
        for q in queries:
            r = run_query(conns, systems, q, args.warmup, args.runs)
            res["queries"][q.name] = r
            medians = "  ".join(
                f"{s.name} {r[s.name]['median_ms']:,.1f} ms" if r[s.name]["median_ms"] is not None
                else f"{s.name} error" for s in systems if s.name in r)
            print(f"   {q.name:<28} {medians}  [{r['check']}]")
            if r.get("order_unchecked"):
                print(f"   note: {workload.name}/{q.name}: {r['order']}")
            for p in r.get("problems", []):
                print(f"   !!! {workload.name}/{q.name}: {p}")
    finally:
        for c in conns.values():
            c.close()
    if not args.keep:
        with ctx.connect() as conn:
            drop_schemas(conn, workload, systems)


def safe_run_workload(ctx, workload, systems, args) -> dict:
    res = {"title": workload.title(), "params": workload.params(), "systems": [s.name for s in systems],
           "load": {}, "queries": {}, "failures": []}
    try:
        run_workload(ctx, workload, systems, args, res)
    except Exception as e:
        traceback.print_exc()
        msg = (str(e).strip().splitlines() or [""])[0]
        res["failures"].append(f"{workload.name}: {type(e).__name__}: {msg}")
    return res
