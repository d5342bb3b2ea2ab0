"""Events: the event-tracking table of a product analytics backend, plus a `users` heap table.

Rows are a pure function of (row number, seed): every value comes from hashes of the row
number, so any chunk can be generated on its own, in parallel, without holding rows in
memory. PostgreSQL itself generates them (`COPY (SELECT ... generate_series) TO STDOUT`,
written to the file by this client), in chunks of CHUNK_ROWS rows, cached in
BENCH_DATA/events-v<GEN_VERSION>-r<rows>-s<seed>/.

Shape (change GEN_VERSION whenever the generated data changes):
- 90 days of events ending 2026-11-01 (partitions Aug, Sep, Oct 2026), in time order, as an
  application would append them;
- users: min(1M, max(100, rows / 10)); a user's activity is skewed (user k with
  probability ~ 1/sqrt(k)); each user belongs to one org;
- ~1,000 orgs, Zipf-skewed in size (org of rank r gets a share ~ 1/r of the users);
- ~200 event names, Zipf-skewed (the 20 most frequent have real names: page_view, click...);
- properties: a JSON object string with page, browser, os, country, session keys;
- duration_ms: NULL for 20% of rows, else 5..3005 ms, long-tailed;
- error: NULL except for ~1% of rows (6 messages).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from .base import Table, Workload, cached, copy_queries_to_files, mark_complete

GEN_VERSION = 1
CHUNK_ROWS = 1_000_000
MAX_USERS = 1_000_000
N_ORGS = 1000
N_EVENTS = 200
START = "2026-08-03"
SPAN_MS = 90 * 86_400_000

EVENT_NAMES = ("page_view,click,scroll,search,login,add_to_cart,view_item,logout,share,signup,"
               "checkout,purchase,comment,like,upload,download,invite,settings_change,"
               "password_reset,delete_account")

COLUMNS = """
    "timestamp" timestamp NOT NULL,
    user_id     text NOT NULL,
    org_id      text NOT NULL,
    event       text NOT NULL,
    properties  text,
    duration_ms integer,
    error       text"""


def n_users(rows: int) -> int:
    return min(MAX_USERS, max(100, rows // 10))


class Events(Workload):
    name = "events"
    # The one-user timeline pays a lookup per part: timed before merges too.
    probes = ["q03_user_timeline"]

    def __init__(self, args, ctx):
        super().__init__(args, ctx)
        self.rows = args.events_rows
        self.seed = args.seed
        self.heap_indexes = args.heap_indexes
        self.users = n_users(self.rows)
        self.dir = Path(args.bench_data) / f"events-v{GEN_VERSION}-r{self.rows}-s{self.seed}"
        self.files = [str(self.dir / f"events-{c:05d}.csv") for c in range(self.n_chunks())]

    def n_chunks(self):
        return (self.rows + CHUNK_ROWS - 1) // CHUNK_ROWS

    def params(self):
        return {"rows": self.rows, "users": self.users, "seed": self.seed,
                "generator_version": GEN_VERSION, "data_dir": str(self.dir)}

    def title(self):
        return f"events: {self.rows:,} rows, {self.users:,} users, seed {self.seed}"

    # -- hashing helpers: uniform [0, 1) from a bigint expression, one stream per `salt` --
    def h(self, expr: str, salt: int) -> str:
        return (f"((hashint8extended({expr}, {self.seed * 64 + salt}) & 2147483647)"
                " / 2147483648.0::float8)")

    def org_of(self, k: str) -> str:
        # Zipf (s = 1) rank in 1..N_ORGS: floor(exp(u * ln(N + 1))), P(r) = ln((r+1)/r) / ln(N+1)
        return (f"'org_' || lpad(floor(exp({self.h(k, 7)} * ln({N_ORGS + 1})))::int::text, 4, '0')")

    def chunk_sql(self, lo: int, hi: int) -> str:
        """The query of rows lo..hi (1-based, inclusive), for COPY (...) TO STDOUT."""
        h = self.h
        return f"""
SELECT timestamp '{START}' + interval '1 millisecond'
         * floor((i - 1 + {h('i', 12)}) * ({SPAN_MS}.0 / {self.rows})),
       'user_' || k,
       {self.org_of('k')},
       CASE WHEN n <= 20 THEN ('{{{EVENT_NAMES}}}'::text[])[n] ELSE 'event_' || n END,
       format('{{"page":"/p/%s","browser":"%s","os":"%s","country":"%s","session":"%s"}}',
              floor(exp(h_pg * ln(501)))::int,
              ('{{chrome,safari,firefox,edge,opera}}'::text[])[1 + floor(5 * h_pg * h_pg * h_pg)::int],
              ('{{windows,macos,ios,android,linux}}'::text[])[1 + floor(5 * h_dur * h_pg)::int],
              ('{{us,de,gb,fr,in,br,jp,ca,au,nl}}'::text[])[1 + floor(10 * h_ev * h_pg)::int],
              to_hex(hashint8extended(k * 1000 + i / 100000, {self.seed}) & 1099511627775)),
       CASE WHEN h_dur >= 0.2 THEN (5 + floor(3000 * pow((h_dur - 0.2) / 0.8, 4)))::int END,
       CASE WHEN h_err < 0.01 THEN
            ('{{timeout,"connection reset","500 internal server error","404 not found",'
             '"rate limited","invalid token"}}'::text[])[1 + floor(600 * h_err)::int] END
FROM (SELECT generate_series({lo}::bigint, {hi}::bigint) AS i) AS g,
LATERAL (SELECT {h('i', 11)} AS h_user, {h('i', 13)} AS h_ev, {h('i', 14)} AS h_pg,
                {h('i', 15)} AS h_dur, {h('i', 16)} AS h_err) AS hs,
LATERAL (SELECT 1 + floor({self.users} * h_user * h_user)::bigint AS k) AS u,
LATERAL (SELECT floor(exp(h_ev * ln({N_EVENTS + 1})))::int AS n) AS e"""

    def prepare(self):
        done = cached(self.dir)
        if done is not None:
            print(f"   events data: cached in {self.dir} (generated in {done['seconds']:.1f} s)")
            return {"cached": True, **done}
        self.dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        jobs = []
        for c in range(self.n_chunks()):
            lo = c * CHUNK_ROWS + 1
            hi = min(self.rows, (c + 1) * CHUNK_ROWS)
            jobs.append((self.chunk_sql(lo, hi), self.files[c]))
        copy_queries_to_files(self.ctx, jobs)
        secs = time.perf_counter() - t0
        size = sum(os.path.getsize(f) for f in self.files)
        facts = {"rows": self.rows, "seed": self.seed, "chunks": self.n_chunks(),
                 "seconds": round(secs, 3), "csv_bytes": size}
        mark_complete(self.dir, facts)
        print(f"   events data: generated {self.rows:,} rows in {secs:.1f} s "
              f"({size / 1e6:,.0f} MB of CSV in {self.dir})")
        return {"cached": False, **facts}

    def tables(self):
        return [Table(
            name="events",
            columns=COLUMNS,
            files=self.files,
            copy_options="FORMAT csv",
            # Sort key: the product's queries are per org and per user (dashboards, timelines),
            # and within a user by time; monthly partitions let old months be dropped/skipped.
            options={"mergetree": {"order_by": 'org_id, user_id, "timestamp"',
                                   "partition_by": "date_trunc('month', \"timestamp\")"}},
            # Heap as an event table usually is: no index (append-heavy); the comparison the
            # scan issue asks for. --heap-indexes adds the btree on the sort key.
            indexes=['CREATE INDEX ON {table} (org_id, user_id, "timestamp")'] if self.heap_indexes else [],
            # A session id searched inside the JSON (q10): a token bloom filter skips the
            # granules without it, as ClickHouse's tokenbf_v1 would.
            skip_indexes=["CREATE INDEX ON {table} USING mergetree_skip (properties) WITH (type = 'tokenbf(8192, 3)')"],
        )]

    def load_shared(self, conn, schema):
        h = self.h
        t0 = time.perf_counter()
        conn.execute(f"""CREATE TABLE {schema}.users (
    id      text PRIMARY KEY,
    org_id  text NOT NULL,
    plan    text NOT NULL,
    country text NOT NULL,
    signup  date NOT NULL)""")
        conn.execute(f"""INSERT INTO {schema}.users
SELECT 'user_' || k, {self.org_of('k')},
       CASE WHEN h1 < 0.70 THEN 'free' WHEN h1 < 0.95 THEN 'pro' ELSE 'enterprise' END,
       ('{{us,de,gb,fr,in,br,jp,ca,au,nl,es,it,se,pl,mx,kr,ch,at,be,dk}}'::text[])[1 + floor(20 * h2 * h2)::int],
       date '2024-01-01' + floor(1000 * h3)::int
FROM (SELECT generate_series(1, {self.users}::bigint) AS k) AS g,
LATERAL (SELECT {h('k', 1)} AS h1, {h('k', 2)} AS h2, {h('k', 3)} AS h3) AS hs""")
        conn.execute(f"VACUUM (ANALYZE) {schema}.users")
        return {"users": {"rows": self.users, "seconds": round(time.perf_counter() - t0, 3)}}
