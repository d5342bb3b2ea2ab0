"""Connections and the facts about server and machine printed with every result."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[2]

DB_MARK = "pg_mergetree benchmark suite (benches/run.py): dropped and recreated by every run"

# Server settings printed with the results (those that exist on the server).
SHOWN_SETTINGS = [
    "max_parallel_workers_per_gather", "max_parallel_workers", "max_worker_processes",
    "shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size", "jit",
    "random_page_cost", "wal_level", "synchronous_commit", "mergetree.insert_buffer_size",
]


class Ctx:
    """Where the server is and how to talk to it, shared by workloads and the runner."""

    def __init__(self, args):
        self.host, self.port, self.user, self.dbname = args.host, args.port, args.user, args.dbname
        self.session_settings = dict(args.set or [])
        if args.statement_timeout:
            self.session_settings["statement_timeout"] = f"{int(args.statement_timeout * 1000)}"
        self.jobs = args.jobs or os.cpu_count() or 1

    def connect(self, dbname=None, search_path=None, settings=None) -> psycopg.Connection:
        conn = psycopg.connect(host=self.host, port=self.port, user=self.user,
                               dbname=dbname or self.dbname, autocommit=True,
                               connect_timeout=30, application_name="pg_mergetree-bench")
        settings = {**self.session_settings, **(settings or {})}
        if search_path:
            settings["search_path"] = search_path
        for name, value in settings.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        return conn

    def fresh_database(self):
        """Drop (if the suite made it) and create the benchmark database, so its extensions
        match the installed libraries and nothing of an earlier run is left."""
        with self.connect(dbname="postgres") as conn:
            row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database"
                               " WHERE datname = %s", (self.dbname,)).fetchone()
            if row is not None:
                if row[0] != DB_MARK:
                    raise SystemExit(f"database {self.dbname!r} exists and was not made by the benchmark "
                                     "suite (its comment says so): choose another --dbname")
                conn.execute(f'DROP DATABASE "{self.dbname}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.dbname}"')
            conn.execute(f"COMMENT ON DATABASE \"{self.dbname}\" IS '{DB_MARK}'")


# Files move through the client connection (COPY ... FROM STDIN / TO STDOUT), never through
# the server's file system: the server's user needs no access to BENCH_DATA (a private
# directory of whoever runs the suite works), and the server may be on another machine.
COPY_CHUNK = 1 << 20


def copy_from_file(conn, table: str, path, options: str) -> None:
    """`COPY table FROM STDIN WITH (options)`, fed with the file's bytes in 1 MiB chunks
    (never all in memory). Runs in the caller's transaction, if any."""
    with open(path, "rb") as f, conn.cursor() as cur:
        with cur.copy(f"COPY {table} FROM STDIN WITH ({options})") as copy:
            while chunk := f.read(COPY_CHUNK):
                copy.write(chunk)


def copy_to_file(conn, query: str, path, options: str) -> None:
    """`COPY (query) TO STDOUT WITH (options)`, written to the file as it arrives."""
    with open(path, "wb", buffering=COPY_CHUNK) as f, conn.cursor() as cur:
        with cur.copy(f"COPY ({query}) TO STDOUT WITH ({options})") as copy:
            for block in copy:
                f.write(block)


def _git(*argv) -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), *argv], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except Exception:
        return ""


def _meminfo_gb() -> float | None:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def build_kind(so: Path | None) -> str | None:
    """'release' or 'debug' (a debug build carries DWARF sections; the release profile has
    debug = false), None if the library is not on this machine."""
    if not so or not so.exists():
        return None
    import mmap
    with open(so, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return "debug" if m.find(b".debug_info\0") >= 0 else "release"


def environment(ctx: Ctx) -> dict:
    with ctx.connect() as conn:
        version = conn.execute("SELECT version()").fetchone()[0]
        settings = {}
        for name in SHOWN_SETTINGS:
            v = conn.execute("SELECT current_setting(%s, true)", (name,)).fetchone()[0]
            if v is not None:
                settings[name] = v
        exts = dict(conn.execute("SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql'").fetchall())
        libdir = conn.execute("SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'").fetchone()
        started = conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    so = Path(libdir[0]) / "pg_mergetree.so" if libdir else None
    so_mtime = datetime.datetime.fromtimestamp(so.stat().st_mtime, datetime.timezone.utc) \
        if so and so.exists() else None
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {
        "server": version,
        "settings": settings,
        "session_settings": ctx.session_settings,
        "extensions": exts,
        "pg_mergetree_so_mtime": so_mtime.isoformat(timespec="seconds") if so_mtime else None,
        # A server started before the library was installed runs the older library.
        "server_older_than_so": bool(so_mtime and started and so_mtime > started),
        "server_started": started.isoformat(timespec="seconds") if started else None,
        "pg_mergetree_build": build_kind(so),
        "git_commit": commit + ("+dirty" if dirty else ""),
        "machine": {"nproc": os.cpu_count(), "memory_gb": _meminfo_gb(), "cpu": _cpu_model(),
                    "kernel": platform.release()},
        "client": {"python": platform.python_version(), "psycopg": psycopg.__version__},
    }
