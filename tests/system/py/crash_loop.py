"""Crash loop: one writer runs random transactions on a mergetree table (COPY, multi-row
INSERTs, INSERT ... SELECT, two batches in one transaction, DELETE and UPDATE of parts of
batches, optimize, drop_partition) while background merges run; at a random moment the
server is killed with SIGKILL (the postmaster alone, or every server process at once), then
restarted. After every restart each batch must be exactly as the writer's acknowledged
transactions left it; the one transaction in flight at the kill must be wholly there or
wholly absent; mergetree.verify must be clean; the aggregation node and the plain scan must
agree. A model of the table (per batch: rows, which parts were deleted or updated) is kept
in this process, which survives the kills.

    crash_loop.py PORT DATA_DIR ROUNDS SEED RESTART_CMD

RESTART_CMD: a shell command that starts the server again and waits until it is ready.
Prints one line per round and a summary; exits 1 at the first difference.
"""
import os
import random
import signal
import subprocess
import sys
import threading
import time

import psycopg

PORT, DATA, ROUNDS, SEED, RESTART = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rng = random.Random(SEED)


def connect():
    return psycopg.connect(host="127.0.0.1", port=PORT, user="postgres", dbname="postgres", connect_timeout=10)


class Batch:
    """Rows i = 1..n of a batch; `del3`: rows with i % 3 = 0 deleted; `upd2`: rows with
    i % 2 = 0 updated to v = 'u'."""

    def __init__(self, n):
        self.n, self.del3, self.upd2 = n, False, False

    def copy(self):
        b = Batch(self.n)
        b.del3, b.upd2 = self.del3, self.upd2
        return b

    def summary(self):
        kept = [i for i in range(1, self.n + 1) if not (self.del3 and i % 3 == 0)]
        updated = sum(1 for i in kept if self.upd2 and i % 2 == 0)
        return (len(kept), len(kept), sum(kept), updated)


PARTITIONS = 4


class Writer(threading.Thread):
    """Runs transactions until the server goes away. `model` holds what acknowledged
    transactions left; `inflight` the change of the one running: (kind, {batch: Batch or
    None for absent})."""

    def __init__(self, model, next_batch):
        super().__init__(daemon=True)
        self.model, self.next_batch = model, next_batch
        self.inflight = None
        self.ops = 0

    def run(self):
        try:
            conn = connect()
        except psycopg.Error:
            return
        try:
            while True:
                self.step(conn)
                self.ops += 1
        except psycopg.Error:
            pass
        finally:
            try:
                conn.close()
            except Exception:
                pass

    def new_batch(self):
        b = self.next_batch[0]
        self.next_batch[0] += 1
        return b

    def present(self):
        return [b for b, s in self.model.items() if s is not None]

    def commit(self, conn, kind, change, sql_steps):
        """Runs `sql_steps(cur)` in one transaction; `change` is applied to the model once
        COMMIT returns."""
        self.inflight = (kind, change)
        with conn.cursor() as cur:
            sql_steps(cur)
        conn.commit()
        self.model.update(change)
        self.inflight = None

    def step(self, conn):
        present = self.present()
        kind = rng.choice(["copy", "values", "select", "pair", "delete", "delete3", "update", "optimize", "drop"]
                          if present else ["copy", "values", "select"])
        if kind in ("copy", "values", "select"):
            b = self.new_batch()
            n = {"copy": rng.randint(1, 300_000), "values": rng.randint(1, 400), "select": rng.randint(1, 200_000)}[kind]
            self.commit(conn, kind, {b: Batch(n)}, lambda cur: insert(cur, kind, b, n))
        elif kind == "pair":
            b1, b2 = self.new_batch(), self.new_batch()
            n1, n2 = rng.randint(1, 50_000), rng.randint(1, 50_000)
            self.commit(conn, kind, {b1: Batch(n1), b2: Batch(n2)}, lambda cur: (insert(cur, "select", b1, n1), insert(cur, "select", b2, n2)))
        elif kind == "delete":
            b = rng.choice(present)
            self.commit(conn, kind, {b: None}, lambda cur: cur.execute("DELETE FROM t WHERE batch = %s", (b,)))
        elif kind == "delete3":
            b = rng.choice(present)
            s = self.model[b].copy()
            s.del3 = True
            self.commit(conn, kind, {b: s}, lambda cur: cur.execute("DELETE FROM t WHERE batch = %s AND i %% 3 = 0", (b,)))
        elif kind == "update":
            b = rng.choice(present)
            s = self.model[b].copy()
            s.upd2 = True
            self.commit(conn, kind, {b: s}, lambda cur: cur.execute("UPDATE t SET v = 'u' WHERE batch = %s AND i %% 2 = 0", (b,)))
        elif kind == "optimize":
            final = rng.random() < 0.3
            self.commit(conn, kind, {}, lambda cur: cur.execute("SELECT mergetree.optimize('t', final => %s)", (final,)))
        elif kind == "drop":
            p = rng.randrange(PARTITIONS)
            gone = {b: None for b in present if b % PARTITIONS == p}
            self.commit(conn, kind, gone, lambda cur: cur.execute("SELECT mergetree.drop_partition('t', %s)", (str(p),)))


def insert(cur, kind, b, n):
    if kind == "copy":
        with cur.copy("COPY t (batch, i, v) FROM STDIN") as cp:
            for i in range(1, n + 1):
                cp.write_row((b, i, f"v{b}.{i}"))
    elif kind == "values":
        rows = ",".join(f"({b}, {i}, 'v{b}.{i}')" for i in range(1, n + 1))
        cur.execute(f"INSERT INTO t (batch, i, v) VALUES {rows}")
    else:
        cur.execute("INSERT INTO t (batch, i, v) SELECT %s, i, 'v' || %s || '.' || i FROM generate_series(1, %s) i", (b, b, n))


def kill(everything):
    pm = int(open(os.path.join(DATA, "postmaster.pid")).readline())
    kids = subprocess.run(["pgrep", "-P", str(pm)], capture_output=True, text=True).stdout.split()
    pids = [pm] + ([int(k) for k in kids] if everything else [])
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # The postmaster's children notice its death and exit by themselves. Until init has
    # reaped them too, pg_ctl takes the old postmaster for a running one.
    watch = [pm] + [int(k) for k in kids]
    deadline = time.time() + 60
    while time.time() < deadline:
        alive = [p for p in watch if os.path.exists(f"/proc/{p}")]
        if not alive:
            return
        time.sleep(0.1)
    sys.exit(f"server processes {alive} still alive 60s after SIGKILL")


def actual(conn, node):
    with conn.cursor() as cur:
        cur.execute(f"SET mergetree.enable_aggregate_scan = {'on' if node else 'off'}")
        cur.execute("SELECT batch, count(*), count(DISTINCT i), sum(i), count(*) FILTER (WHERE v = 'u') FROM t GROUP BY batch")
        got = {r[0]: tuple(int(x) for x in r[1:]) for r in cur.fetchall()}
    conn.rollback()
    return got


def expected(model):
    return {b: s.summary() for b, s in model.items() if s is not None}


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def main():
    conn = connect()
    conn.autocommit = True
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_mergetree")
    conn.execute("DROP TABLE IF EXISTS t")
    conn.execute(f"CREATE TABLE t (batch int, i int, v text) USING mergetree WITH (order_by = 'batch, i', partition_by = 'batch % {PARTITIONS}')")
    conn.close()
    model, next_batch = {}, [1]
    during, total_ops, rows_checked = {}, 0, 0
    for rnd in range(1, ROUNDS + 1):
        w = Writer(model, next_batch)
        w.start()
        time.sleep(rng.uniform(0.3, 3.0))
        inflight = w.inflight
        everything = rng.random() < 0.5
        kill(everything)
        w.join(60)
        if w.is_alive():
            fail(f"round {rnd}: the writer is still running 60s after the kill")
        # The writer's last transaction: whatever it was doing when the server died.
        inflight = w.inflight
        total_ops += w.ops
        kind = inflight[0] if inflight else "between transactions"
        during[kind] = during.get(kind, 0) + 1
        r = subprocess.run(["bash", "-c", RESTART], capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            fail(f"round {rnd}: restart failed: {r.stdout}{r.stderr}")
        conn = connect()
        got = actual(conn, True)
        before = expected(model)
        after_model = dict(model)
        if inflight:
            after_model.update(inflight[1])
        after = expected(after_model)
        if got == after and inflight:
            model.update(inflight[1])
            outcome = "committed"
        elif got == before:
            outcome = "rolled back" if inflight else "-"
        else:
            diff = {b: (got.get(b), before.get(b), after.get(b)) for b in set(got) | set(before) | set(after)
                    if not (got.get(b) == before.get(b) or got.get(b) == after.get(b))}
            fail(f"round {rnd} (killed during {kind}): batches differ (got, before, after): {sorted(diff.items())[:5]}")
        plain = actual(conn, False)
        if plain != got:
            fail(f"round {rnd}: the plain scan and the aggregation node disagree")
        with conn.cursor() as cur:
            cur.execute("SELECT part_name, problem FROM mergetree.verify('t')")
            problems = cur.fetchall()
        conn.rollback()
        if problems:
            fail(f"round {rnd}: mergetree.verify: {problems[:3]}")
        conn.close()
        rows = sum(s[0] for s in got.values())
        rows_checked += rows
        print(f"# round {rnd}: {'every process' if everything else 'postmaster'} killed during {kind} ({outcome}); "
              f"{len(got)} batches, {rows} rows as committed; verify clean", flush=True)
    # Merges resume: thirty small parts written now into one partition settle without
    # anyone asking.
    conn = connect()
    conn.autocommit = True
    count = "SELECT count(*) FROM mergetree.parts WHERE table_name = 't'::regclass"
    before = conn.execute(count).fetchone()[0]
    for k in range(30):
        b = next_batch[0] + (-next_batch[0]) % PARTITIONS
        next_batch[0] = b + 1
        conn.execute("INSERT INTO t (batch, i, v) SELECT %s, i, 'v' FROM generate_series(1, 100) i", (b,))
    # Merges may already run while the thirty are written, so the goal is counted from
    # the parts there were before them: the thirty settle into a few.
    written = conn.execute(count).fetchone()[0]
    deadline = time.time() + 120
    while (parts := conn.execute(count).fetchone()[0]) > before + 5:
        if time.time() > deadline:
            fail(f"merges did not resume: {parts} parts 120s after {written} ({before} before the 30 inserts)")
        time.sleep(0.5)
    conn.close()
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(during.items()))
    print(f"# {ROUNDS} rounds survived ({kinds}); {total_ops} transactions; {rows_checked} rows checked; merges resumed", flush=True)


main()
