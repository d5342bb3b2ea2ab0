#!/usr/bin/env python3
"""Small inserts: many clients each committing single-row INSERTs (pgbench with a custom
script), into a heap table and into a mergetree table with background merges, side by
side: transactions per second, the mergetree table's part count during the run (sampled)
and once merges settle, and a one-user count on both afterwards (the rows must match).

    benches/small_inserts.py --port 5499 [--clients 8] [--seconds 60]

Writes results/small_inserts.md (and .json) next to the other benchmark results.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg

DB = "bench_inserts"
SCRIPT = """\\set id random(1, 100000000)
INSERT INTO {table} (id, user_id, ts, amount) VALUES (:id, 'user_' || (:id % 10000), now(), :id % 1000);
"""
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"


def connect(args, dbname=DB):
    return psycopg.connect(host="127.0.0.1", port=args.port, user="postgres", dbname=dbname, autocommit=True)


def parts(conn) -> int:
    return conn.execute("SELECT count(*) FROM mergetree.parts WHERE table_name = 'm'::regclass").fetchone()[0]


def run_pgbench(args, table: str) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(SCRIPT.format(table=table))
    os.chmod(f.name, 0o644)
    run = subprocess.run([PGBENCH, "-n", "-c", str(args.clients), "-j", "2", "-T", str(args.seconds), "-f", f.name,
                          "-h", "127.0.0.1", "-p", str(args.port), "-U", "postgres", DB],
                         capture_output=True, text=True)
    os.unlink(f.name)
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", run.stdout)
    if run.returncode != 0 or not m:
        raise SystemExit(f"pgbench into {table} failed (status {run.returncode}):\n{run.stdout}\n{run.stderr[-2000:]}")
    return float(m.group(1))


def settle(conn, timeout=600.0) -> float:
    t0 = time.perf_counter()
    last, since = None, time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        n = parts(conn)
        running = conn.execute("SELECT count(*) FROM mergetree.merges WHERE table_name = 'm'::regclass").fetchone()[0]
        if running or n != last:
            last, since = n, time.perf_counter()
        elif time.perf_counter() - since >= 3.0:
            break
        time.sleep(0.5)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=5499)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--results", default="/var/tmp/pg_mergetree/bench-data/results")
    args = ap.parse_args()
    with connect(args, "postgres") as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {DB}")
    with connect(args) as conn:
        conn.execute("CREATE EXTENSION pg_mergetree")
        cols = "id bigint, user_id text, ts timestamptz, amount int"
        conn.execute(f"CREATE TABLE h ({cols})")
        conn.execute(f"CREATE TABLE m ({cols}) USING mergetree WITH (order_by = 'user_id, ts')")
        heap_tps = run_pgbench(args, "h")
        samples = []
        stop = threading.Event()

        def sample():
            with connect(args) as c:
                while not stop.wait(2.0):
                    samples.append(parts(c))

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        try:
            mt_tps = run_pgbench(args, "m")
        finally:
            stop.set()
            t.join()
        at_end = parts(conn)
        settle_s = settle(conn)
        after = parts(conn)
        counts = [conn.execute(f"SELECT count(*), count(*) FILTER (WHERE user_id = 'user_42') FROM {x}").fetchone()
                  for x in ("h", "m")]
        heap_user = conn.execute("SELECT count(*) FROM h WHERE user_id = 'user_42'").fetchone()[0]
        t0 = time.perf_counter()
        for _ in range(20):
            conn.execute("SELECT count(*) FROM m WHERE user_id = 'user_42'").fetchone()
        m_ms = (time.perf_counter() - t0) * 1000 / 20
        t0 = time.perf_counter()
        for _ in range(20):
            conn.execute("SELECT count(*) FROM h WHERE user_id = 'user_42'").fetchone()
        h_ms = (time.perf_counter() - t0) * 1000 / 20
    res = {"clients": args.clients, "seconds": args.seconds, "heap_tps": heap_tps, "mergetree_tps": mt_tps,
           "parts_max_during": max(samples or [at_end]), "parts_at_end": at_end, "settle_seconds": round(settle_s, 1),
           "parts_after": after, "rows": {"heap": counts[0][0], "mergetree": counts[1][0]},
           "one_user_ms": {"heap": round(h_ms, 2), "mergetree": round(m_ms, 2)}, "one_user_rows": heap_user}
    lines = [
        f"### Small inserts: {args.clients} clients, single-row INSERT transactions, {args.seconds} s (pgbench)", "",
        "| | heap | mergetree | heap / mergetree |", "|---|---:|---:|---:|",
        f"| transactions per second | {heap_tps:,.0f} | {mt_tps:,.0f} | {heap_tps / mt_tps:.2f}x |",
        f"| one user's rows, count (ms) | {h_ms:.2f} | {m_ms:.2f} | {h_ms / m_ms:.2f}x |",
        "",
        f"mergetree parts: at most {res['parts_max_during']} during the run (sampled every 2 s), {at_end} at its end, "
        f"{after} once merges settled ({settle_s:.1f} s later). Rows: heap {counts[0][0]:,}, mergetree {counts[1][0]:,} "
        f"(each table got its own run). The one-user count runs after the merges.",
    ]
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "small_inserts.md").write_text("\n".join(lines) + "\n")
    (out / "small_inserts.json").write_text(json.dumps(res, indent=2) + "\n")
    print("\n".join(lines))
    with connect(args, "postgres") as c:
        c.execute(f"DROP DATABASE {DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
