"""What a workload is: data it generates, tables per system, shared tables, query files."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

QUERIES_DIR = Path(__file__).resolve().parents[2] / "queries"


@dataclass
class Table:
    """A table created once per system (in that system's schema) from the same files."""

    name: str
    columns: str                     # column definitions, as inside CREATE TABLE (...)
    files: list[str] = field(default_factory=list)  # client-side paths, streamed in order
    copy_options: str = "FORMAT csv"
    options: dict[str, dict] = field(default_factory=dict)  # per system name, e.g. mergetree
    indexes: list[str] = field(default_factory=list)  # for systems with indexes; {table}
    skip_indexes: list[str] = field(default_factory=list)  # mergetree_skip indexes; {table}
    # Per system family (heap, mergetree): statements run after the load, untimed (views
    # the queries read, so one query file serves systems whose tables differ); {schema},
    # {table}.
    views: dict[str, list[str]] = field(default_factory=dict)
    # Each file its own transaction (a stream of batches) instead of one for all.
    commit_each_file: bool = False
    # What the row-count check counts (a view over the table, read with the system's
    # session settings) when the table's own rows differ by design (an engine merges them).
    count_from: str | None = None


@dataclass
class Query:
    name: str
    sql: str
    path: Path
    # Run once (a change), not warmed up and repeated; systems that query another's
    # tables skip it.
    once: bool = False
    # Compare the systems' rows.
    check: bool = True
    # Per system family (heap, mergetree): the statement that family runs instead.
    family_sql: dict = field(default_factory=dict)


class Workload:
    name = "?"

    def __init__(self, args, ctx):
        self.args = args
        self.ctx = ctx

    def params(self) -> dict:
        """What identifies this run's data (printed and stored in the JSON)."""
        return {}

    def title(self) -> str:
        return self.name

    def prepare(self) -> dict:
        """Generate (or reuse) the data files; returns facts for the JSON (e.g. seconds)."""
        return {}

    def tables(self) -> list[Table]:
        """Tables created in every system's schema."""
        raise NotImplementedError

    def load_shared(self, conn, schema: str) -> dict:
        """Create and fill the heap tables every system shares (in `schema`)."""
        return {}

    # Queries also timed right after the load, before background merges (by name).
    probes: list[str] = []

    def steps(self) -> list[Query]:
        """What runs after the load, in order (by default the queries)."""
        return self.queries()

    def queries(self) -> list[Query]:
        d = QUERIES_DIR / self.name
        out = []
        for p in sorted(d.glob("*.sql")):
            out.append(Query(p.stem, p.read_text(), p))
        return out


# ---- helpers for generated data --------------------------------------------------------

def cached(dirpath: Path) -> dict | None:
    """The COMPLETE marker of a finished generation, or None (partial output is removed)."""
    marker = dirpath / "COMPLETE"
    if marker.exists():
        return json.loads(marker.read_text())
    if dirpath.exists():
        shutil.rmtree(dirpath)
    return None


def mark_complete(dirpath: Path, facts: dict) -> None:
    tmp = dirpath / "COMPLETE.tmp"
    tmp.write_text(json.dumps(facts, indent=1) + "\n")
    tmp.rename(dirpath / "COMPLETE")


def copy_queries_to_files(ctx, jobs: list[tuple[str, str]]) -> None:
    """Runs each (query, path) as `COPY (query) TO STDOUT` into its file, on up to
    ctx.jobs connections at once; the first error is raised once every thread stopped."""
    import threading

    from ..db import copy_to_file

    todo = list(jobs)
    lock = threading.Lock()
    errors = []

    def worker():
        with ctx.connect() as conn:
            while True:
                with lock:
                    if not todo or errors:
                        return
                    sql, path = todo.pop(0)
                try:
                    copy_to_file(conn, sql, path, "FORMAT csv")
                except Exception as e:  # raised below, after the other threads stop
                    with lock:
                        errors.append(e)
                    return

    threads = [threading.Thread(target=worker) for _ in range(max(1, min(len(jobs), ctx.jobs)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
