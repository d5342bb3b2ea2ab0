"""DML: DELETE and UPDATE on the events workload's table, timed side by side.

The events table is loaded as the events workload loads it; then, in order, each system
that owns tables runs: reads (r1_*), three changes timed once each (c*: deleting the ~1%
of rows with an error, deleting one org's rows, updating the ~1.5% of purchase events),
the same reads again (r2_*: mergetree reads through its deleted-row masks), the cleanup
each system needs (m1: VACUUM for heap, optimize(final) for mergetree, timed once), and
the reads a third time (r3_*). Every step's rows are compared between systems (a change
reports how many rows it touched), except the cleanup's.

The reads are the events workload's queries named in READS (benches/queries/events); the
changes are the files of benches/queries/dml, `c*.sql` and `m*.sql`, run once. A file
may hold per-family variants, each after a line `-- family: <heap|mergetree>`.
"""
from __future__ import annotations

from .base import QUERIES_DIR, Query, Workload
from .events import Events


# The events queries each round reads: a count (part metadata), a whole-table grouping,
# one org's dashboard, one user's timeline.
READS = ["q08_count", "q02_top_events", "q01_org_daily_metrics", "q03_user_timeline"]


class Dml(Events):
    name = "dml"
    probes: list[str] = []

    def title(self):
        return f"dml: DELETE and UPDATE on {self.rows:,} events"

    def steps(self):
        reads = [QUERIES_DIR / "events" / f"{name}.sql" for name in READS]
        once = {p.name[:2]: p for p in sorted((QUERIES_DIR / self.name).glob("*.sql"))}

        def q(path, prefix="", run_once=False, check=True):
            text = path.read_text()
            variants = {}
            if "-- family: " in text:
                head, *rest = text.split("-- family: ")
                for part in rest:
                    family, _, sql = part.partition("\n")
                    variants[family.strip()] = head + sql
            return Query(prefix + path.stem, text, path, once=run_once, check=check, family_sql=variants)

        out = [q(p, "r1_") for p in reads]
        out += [q(p, run_once=True) for k, p in sorted(once.items()) if k.startswith("c")]
        out += [q(p, "r2_") for p in reads]
        out += [q(p, run_once=True, check=False) for k, p in sorted(once.items()) if k.startswith("m")]
        out += [q(p, "r3_") for p in reads]
        return out
