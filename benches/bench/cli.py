"""Command line: benches/run.py --help."""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
from pathlib import Path

import psycopg

from . import report
from .db import Ctx, environment
from .runner import safe_run_workload
from .systems import SYSTEMS
from .workloads import WORKLOADS


def _setting(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError("expected NAME=VALUE")
    k, v = text.split("=", 1)
    return k.strip(), v.strip()


def _csv(text):
    return [x.strip() for x in text.split(",") if x.strip()]


def parser():
    p = argparse.ArgumentParser(
        prog="benches/run.py",
        description="Load the same data into heap and mergetree tables of one PostgreSQL cluster, "
                    "time the same queries on both, check they return the same rows. Prints "
                    "markdown, writes JSON + markdown to BENCH_DATA/results/. Exit status 1 on any "
                    "mismatch or error; last line 'N passed, M failed' (N: queries that matched).")
    g = p.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1")
    g.add_argument("--port", type=int, default=int(os.environ.get("MT_PORT", 5499)))
    g.add_argument("--user", default="postgres")
    g.add_argument("--dbname", default="bench", help="database the suite owns: dropped and recreated by every run (default bench)")
    g = p.add_argument_group("what to run")
    g.add_argument("--workloads", type=_csv, default=["events", "tpch"],
                   help=f"comma-separated, of: {', '.join(WORKLOADS)} (default: all)")
    g.add_argument("--systems", type=_csv, default=["heap", "mergetree"],
                   help=f"comma-separated, of: {', '.join(SYSTEMS)}; the first is the baseline "
                        "that others are compared with (default heap,mergetree)")
    g.add_argument("--queries", type=_csv, default=None,
                   help="only these queries, by name or number prefix, e.g. q01,q06 (default: all)")
    g.add_argument("--events-rows", type=int, default=1_000_000, help="events rows (default 1000000)")
    g.add_argument("--seed", type=int, default=42, help="events generator seed (default 42)")
    g.add_argument("--heap-indexes", action="store_true", help="give the events heap table a btree on its sort key (default: none)")
    g.add_argument("--tpch-sf", type=float, default=1.0, help="TPC-H scale factor (default 1)")
    g.add_argument("--runs", type=int, default=5, help="timed runs per query and system (default 5)")
    g.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    g.add_argument("--merge-wait", type=float, default=900,
                   help="seconds to wait at most for background merges after each load, before sizes and queries (default 900; 0: none)")
    g = p.add_argument_group("environment")
    g.add_argument("--bench-data", default=os.environ.get("BENCH_DATA", "/var/tmp/pg_mergetree/bench-data"),
                   help="generated data (cached by parameters) and results/, read and written by "
                        "this client only (COPY FROM STDIN / TO STDOUT), so a private directory works "
                        "(default /var/tmp/pg_mergetree/bench-data)")
    g.add_argument("--set", type=_setting, action="append", metavar="NAME=VALUE",
                   help="a session setting for every connection and system (repeatable)")
    g.add_argument("--statement-timeout", type=float, default=0, help="seconds, 0 = none (default)")
    g.add_argument("--jobs", type=int, default=0, help="parallel data generation (default: nproc)")
    g.add_argument("--keep", action="store_true", help="keep the loaded tables afterwards")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    for w in args.workloads:
        if w not in WORKLOADS:
            sys.exit(f"unknown workload {w!r}; known: {', '.join(WORKLOADS)}")
    for s in args.systems:
        if s not in SYSTEMS:
            sys.exit(f"unknown system {s!r}; known: {', '.join(SYSTEMS)}")
    if args.events_rows < 1 or args.tpch_sf <= 0 or args.runs < 1 or args.warmup < 0:
        sys.exit("--events-rows, --tpch-sf and --runs must be positive, --warmup >= 0")
    systems = [SYSTEMS[s] for s in args.systems]

    started = datetime.datetime.now(datetime.timezone.utc)
    ctx = Ctx(args)
    try:
        ctx.fresh_database()
    except psycopg.OperationalError as e:
        print(f"error: cannot use the server at {args.host}:{args.port}: {str(e).strip()}\n"
              "(make bench starts the demo cluster; otherwise start one, e.g. scripts/cluster.sh start)")
        print("0 passed, 1 failed")
        return 1
    Path(args.bench_data).mkdir(parents=True, exist_ok=True)
    with ctx.connect() as conn:
        for s in systems:
            s.setup(conn)
    env = environment(ctx)
    command = "benches/run.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    print(f"pg_mergetree benchmark, {started:%Y-%m-%d %H:%M} UTC: {command}\n")
    print(report.settings_md(env, args.runs, args.warmup))
    if env.get("pg_mergetree_build") == "debug" and "mergetree" in args.systems:
        print("\nWARNING: the installed pg_mergetree.so is a DEBUG build: mergetree timings are not "
              "representative (make bench installs a release build).")
    if env.get("server_older_than_so") and "mergetree" in args.systems:
        print(f"\nWARNING: pg_mergetree.so was installed ({env['pg_mergetree_so_mtime']}) after the server "
              f"started ({env['server_started']}): the server runs the older library; restart it.")

    result = {"started": f"{started:%Y-%m-%d %H:%M} UTC", "command": command, "runs": args.runs,
              "warmup": args.warmup, "environment": env, "workloads": {}}
    for name in args.workloads:
        workload = WORKLOADS[name](args, ctx)
        result["workloads"][name] = safe_run_workload(ctx, workload, systems, args)
    result["finished"] = f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M:%S} UTC"

    md = report.full_md(result)
    out = Path(args.bench_data) / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{started:%Y%m%dT%H%M%SZ}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    (out / f"{stem}.md").write_text(md + "\n")
    for ext in ("json", "md"):
        latest = out / f"latest.{ext}"
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(f"{stem}.{ext}")
    print()
    for w in result["workloads"].values():
        print(report.workload_md(w))
        print()
    print(f"results: {out / stem}.json, {out / stem}.md")

    passed = sum(1 for w in result["workloads"].values() for q in w["queries"].values() if q["check"] == "match")
    failed = sum(1 for w in result["workloads"].values() for q in w["queries"].values() if q["check"] != "match")
    failed += sum(len(w["failures"]) for w in result["workloads"].values())
    if failed:
        print("\nFAILED:")
        for wname, w in result["workloads"].items():
            for f in w["failures"]:
                print(f"  {f}")
            for qname, q in w["queries"].items():
                for p in q.get("problems", []):
                    print(f"  {wname}/{qname}: {p}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
