"""Systems under test: how each one stores a workload's tables.

A system is a small adapter: it turns a workload's `Table` (columns plus per-system options)
into DDL, says what runs after COPY as part of the timed load (e.g. index builds), what
maintenance runs afterwards (untimed), and may describe its tables for the JSON output.
Every system gets its own schema (`<workload>_<system>`) holding same-named tables, so query
files are shared and run with `SET search_path`.

To add a system: subclass `System`, register it in `SYSTEMS`, and give the tables that need
it an entry in `Table.options` (keyed by the system's name).
"""
from __future__ import annotations

import time


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


class System:
    name = "?"
    description = ""
    # Which per-family statements of a table (Table.views) this system runs.
    family = "heap"
    # Another system whose loaded tables this one queries (nothing loaded of its own),
    # and the session settings its queries run with.
    tables_of: str | None = None
    session: dict = {}

    def setup(self, conn) -> None:
        """Once per database before anything is created (e.g. CREATE EXTENSION)."""

    def create_table(self, qualified: str, table) -> str:
        raise NotImplementedError

    def post_load(self, qualified: str, table) -> list[str]:
        """Statements run after COPY, counted in the load time (index builds)."""
        return []

    def maintenance(self, qualified: str, table) -> list[str]:
        """Statements run after the timed load, not counted (statistics, hint bits)."""
        return [f"ANALYZE {qualified}"]

    def settle(self, conn, qualified: str, timeout: float):
        """Waits (at most `timeout` seconds) for background work the load started (merges);
        returns the seconds it took, or None for a system without any."""
        return None

    def table_info(self, conn, qualified: str) -> dict:
        """Extra facts about a loaded table for the JSON output."""
        return {}

    def notes(self, tables) -> list[str]:
        """Lines printed under the results table (e.g. which indexes exist)."""
        return []


class Heap(System):
    """PostgreSQL's heap with the indexes a normal deployment would have (the baseline)."""

    name = "heap"
    description = "PostgreSQL heap tables, with the workload's indexes (built after COPY)"

    def create_table(self, qualified, table):
        return f"CREATE TABLE {qualified} ({table.columns}) USING heap"

    def post_load(self, qualified, table):
        return [stmt.format(table=qualified) for stmt in table.indexes]

    def maintenance(self, qualified, table):
        # VACUUM sets hint bits and the visibility map, as autovacuum would on a live system.
        return [f"VACUUM (ANALYZE) {qualified}"]

    def notes(self, tables):
        out = []
        for t in tables:
            if t.indexes:
                idx = "; ".join(s.format(table=t.name) for s in t.indexes)
                out.append(f"heap `{t.name}`: {idx} (built after COPY: in load time and size)")
        return out


class MergeTree(System):
    """pg_mergetree tables: `USING mergetree WITH (order_by = ..., partition_by = ...)`."""

    name = "mergetree"
    description = "pg_mergetree table access method"
    family = "mergetree"
    # Tables with an engine (replacing, summing...) read FINAL: exact answers before the
    # merges catch up, as heap's are. Tables without one read the same either way.
    session = {"mergetree.final": "on"}

    def setup(self, conn):
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_mergetree")

    def settle(self, conn, qualified, timeout):
        """Until no merge of the table runs and its part count has not changed for three
        seconds with no insert part left (a lone one is re-encoded once 30 s old; 40 s of
        no change at all also ends the wait), bounded by `timeout`. None when background
        merges are off."""
        if conn.execute("SELECT current_setting('mergetree.background_merges')").fetchone()[0] != "on":
            return None
        t0 = time.perf_counter()
        last, stable_since = None, time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            running = conn.execute("SELECT count(*) FROM mergetree.merges WHERE table_name = %s::regclass",
                                   (qualified,)).fetchone()[0]
            parts = conn.execute("SELECT count(*), count(*) FILTER (WHERE level = 0) FROM mergetree.parts"
                                 " WHERE table_name = %s::regclass", (qualified,)).fetchone()
            now = time.perf_counter()
            if running or parts != last:
                last, stable_since = parts, now
            elif now - stable_since >= 40.0 or (now - stable_since >= 3.0 and parts[1] == 0):
                break
            time.sleep(0.5)
        return round(time.perf_counter() - t0, 3)

    def maintenance(self, qualified, table):
        # VACUUM gives the pages of merged-away parts back (for later parts) and analyzes.
        return [f"VACUUM (ANALYZE) {qualified}"]

    def create_table(self, qualified, table):
        opts = table.options.get(self.name, {})
        rendered = ", ".join(
            f"{k} = {v}" if isinstance(v, int) else f"{k} = {quote_literal(v)}" for k, v in opts.items()
        )
        with_clause = f" WITH ({rendered})" if rendered else ""
        return f"CREATE TABLE {qualified} ({table.columns}) USING mergetree{with_clause}"

    def post_load(self, qualified, table):
        # Skip indexes are built over the loaded parts: in load time, like heap's indexes.
        return [stmt.format(table=qualified) for stmt in table.skip_indexes]

    def table_info(self, conn, qualified):
        row = conn.execute(
            "SELECT count(*), coalesce(sum(rows), 0), coalesce(sum(compressed_bytes), 0),"
            " coalesce(sum(uncompressed_bytes), 0) FROM mergetree.parts WHERE table_name = %s::regclass",
            (qualified,),
        ).fetchone()
        skip = conn.execute(
            "SELECT coalesce(sum(bytes), 0) FROM mergetree.skip_indexes WHERE table_name = %s::regclass",
            (qualified,),
        ).fetchone()
        return {"parts": int(row[0]), "part_rows": int(row[1]),
                "compressed_bytes": int(row[2]), "uncompressed_bytes": int(row[3]),
                "skip_index_bytes": int(skip[0])}

    def notes(self, tables):
        out = []
        for t in tables:
            opts = t.options.get(self.name, {})
            if opts:
                out.append(f"mergetree `{t.name}`: " + ", ".join(f"{k} = {v}" for k, v in opts.items()))
            for stmt in t.skip_indexes:
                out.append(f"mergetree `{t.name}`: {stmt.format(table=t.name)} (built after COPY: in load"
                           " time; its summaries live in mergetree.skip_index_catalog, not in the size above)")
        return out


def column_names(columns: str) -> list[str]:
    """Column names of a `name type, ...` list (commas inside parentheses are types')."""
    names, depth, start = [], 0, 0
    for i, c in enumerate(columns + ","):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            item = columns[start:i].strip()
            if item:
                names.append(item.split()[0] if not item.startswith('"') else item[: item.index('"', 1) + 1])
            start = i + 1
    return names


class MergeTreeVariant(MergeTree):
    """The mergetree table of the workload with extra storage options (codec studies)."""

    extra: dict = {}

    def create_table(self, qualified, table):
        base = dict(table.options.get("mergetree", {}))
        base.update(self.extra_for(table))
        return MergeTree.create_table(self, qualified, _with_options(table, self.name, base))

    def extra_for(self, table) -> dict:
        return dict(self.extra)

    def notes(self, tables):
        return [f"{self.name} `{t.name}`: mergetree options plus " + ", ".join(f"{k} = {v}" for k, v in self.extra_for(t).items())
                for t in tables if "mergetree" in t.options]


def _with_options(table, system, options):
    import copy
    t = copy.copy(table)
    t.options = {**table.options, system: options}
    return t


class MergeTreeLz4(MergeTreeVariant):
    """Before the codec work: every column plain LZ4, no transforms, no dictionaries."""

    name = "mergetree_lz4"
    description = "pg_mergetree with LZ4 only (no transforms, no dictionaries)"

    def extra_for(self, table):
        codecs = "; ".join(f"{c}: LZ4" for c in column_names(table.columns))
        return {"compression": "lz4", "dictionary": "off", "codecs": codecs}


class MergeTreeZstd(MergeTreeVariant):
    """The smallest option: ZSTD(3) blocks, automatic transforms and dictionaries."""

    name = "mergetree_zstd"
    description = "pg_mergetree with compression = zstd(3)"
    extra = {"compression": "zstd(3)"}


class MergeTreeNoAgg(MergeTree):
    """The mergetree tables queried with MergeTreeAgg switched off: what the node buys."""

    name = "mergetree_noagg"
    description = "the mergetree tables, mergetree.enable_aggregate_scan = off"
    tables_of = "mergetree"
    session = {"mergetree.enable_aggregate_scan": "off", "mergetree.final": "on"}

    def notes(self, tables):
        return ["mergetree_noagg: the mergetree tables (load and size are theirs), queried with mergetree.enable_aggregate_scan = off"]


SYSTEMS: dict[str, System] = {s.name: s for s in (Heap(), MergeTree(), MergeTreeLz4(), MergeTreeZstd(), MergeTreeNoAgg())}
