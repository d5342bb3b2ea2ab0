"""Soak: for SECONDS, 8 connections insert (single rows and batches), 4 query, 1 deletes
and updates, 1 runs mergetree.optimize every so often, with background merges on. Every
write goes to the mergetree table t and to the heap table h in the same transaction, so at
every check (one REPEATABLE READ snapshot) both must hold exactly the same rows: counts,
sums and per-key groups, through the plain scan and through the aggregation node. Errors
other than the documented serialization failure (40001) fail the run; so does a backend
whose resident memory passes MAX_RSS_MB.

    soak.py PORT SECONDS SEED
Prints the operations done and the checks made; exits 1 on the first problem.
"""
import os
import random
import sys
import threading
import time

import psycopg

PORT, SECONDS, SEED = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
MAX_RSS_MB = int(os.environ.get("T_SOAK_MAX_RSS_MB", "700"))
KEYS = 50

stop = threading.Event()
lock = threading.Lock()
counts = {"single inserts": 0, "batch inserts": 0, "rows inserted": 0, "deletes": 0, "updates": 0,
          "optimizes": 0, "checks": 0, "serialization failures": 0}
problems = []
peak_rss = {}


def bump(what, n=1):
    with lock:
        counts[what] += n


def problem(msg):
    with lock:
        problems.append(msg)
    stop.set()


def connect():
    return psycopg.connect(host="127.0.0.1", port=PORT, user="postgres", dbname="postgres")


def worker(fn, seed):
    """Runs `fn(conn, rng)` until the end; a serialization failure is counted and the
    transaction rolled back, any other error ends the soak."""
    rng = random.Random(seed)
    try:
        conn = connect()
    except psycopg.Error as e:
        return problem(f"connect: {e}")
    while not stop.is_set():
        try:
            fn(conn, rng)
        except psycopg.errors.SerializationFailure:
            if conn.autocommit:
                conn.execute("ROLLBACK")
            else:
                conn.rollback()
            bump("serialization failures")
        except psycopg.Error as e:
            return problem(f"{fn.__name__}: {type(e).__name__}: {e}")
    conn.close()


def inserter(index):
    next_id = [index * 10**9]

    def insert(conn, rng):
        n = 1 if rng.random() < 0.7 else rng.randint(2, 2000)
        first = next_id[0]
        next_id[0] += n
        k = rng.randrange(KEYS)
        with conn.cursor() as cur:
            for table in ("t", "h"):
                cur.execute(f"INSERT INTO {table} (id, k, v) SELECT i, %s + (i %% 3), 'v' || i FROM generate_series(%s::bigint, %s) i",
                            (k, first, first + n - 1))
        conn.commit()
        bump("single inserts" if n == 1 else "batch inserts")
        bump("rows inserted", n)
    return insert


def dml(conn, rng):
    # One snapshot for both statements (under READ COMMITTED an insert committing between
    # them would reach one table's statement and not the other's).
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    k = rng.randrange(KEYS)
    with conn.cursor() as cur:
        if rng.random() < 0.5:
            m = rng.randint(2, 9)
            for table in ("t", "h"):
                cur.execute(f"DELETE FROM {table} WHERE k = %s AND id %% %s = 0", (k, m))
            what = "deletes"
        else:
            for table in ("t", "h"):
                cur.execute(f"UPDATE {table} SET v = 'u' || id WHERE k = %s AND id %% 5 = 1", (k,))
            what = "updates"
    conn.commit()
    bump(what)
    time.sleep(rng.uniform(0.5, 2.0))


def optimizer(conn, rng):
    time.sleep(rng.uniform(5, 15))
    if stop.is_set():
        return
    conn.execute("SELECT mergetree.optimize('t')")
    conn.commit()
    bump("optimizes")


QUERIES = [
    "SELECT count(*), coalesce(sum(id), 0), count(*) FILTER (WHERE v LIKE 'u%') FROM {}",
    "SELECT k, count(*), sum(id), min(v), max(v) FROM {} GROUP BY k ORDER BY k",
    "SELECT count(*), coalesce(sum(id), 0) FROM {} WHERE k BETWEEN 10 AND 20",
]


def checker(conn, rng):
    # One snapshot for both tables: the heap shadow was written in the same transactions.
    conn.autocommit = True
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    conn.execute(f"SET LOCAL mergetree.enable_aggregate_scan = {'on' if rng.random() < 0.5 else 'off'}")
    q = rng.choice(QUERIES)
    got = conn.execute(q.format("t")).fetchall()
    want = conn.execute(q.format("h")).fetchall()
    conn.execute("ROLLBACK")
    if got != want:
        problem(f"{q.format('t')}: mergetree {got[:3]} != heap {want[:3]}")
    bump("checks")


def watch_memory():
    """Peak resident memory of every server process."""
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/status") as f:
                    status = f.read()
            except OSError:
                continue
            if "\nName:\tpostgres" not in "\n" + status:
                continue
            rss = int(status.split("VmRSS:")[1].split()[0]) // 1024 if "VmRSS:" in status else 0
            peak_rss[pid] = max(peak_rss.get(pid, 0), rss)
            if rss > MAX_RSS_MB:
                problem(f"server process {pid} holds {rss} MB (limit {MAX_RSS_MB} MB)")
        time.sleep(0.5)


def main():
    conn = connect()
    conn.autocommit = True
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_mergetree")
    conn.execute("DROP TABLE IF EXISTS t, h")
    conn.execute("CREATE TABLE t (id bigint, k int, v text) USING mergetree WITH (order_by = 'k, id')")
    conn.execute("CREATE TABLE h (id bigint, k int, v text)")
    conn.close()
    threads = [threading.Thread(target=worker, args=(inserter(i), SEED * 100 + i)) for i in range(8)]
    threads += [threading.Thread(target=worker, args=(checker, SEED * 100 + 20 + i)) for i in range(4)]
    threads += [threading.Thread(target=worker, args=(dml, SEED * 100 + 30)),
                threading.Thread(target=worker, args=(optimizer, SEED * 100 + 31)),
                threading.Thread(target=watch_memory)]
    for t in threads:
        t.start()
    stop.wait(SECONDS)
    stop.set()
    for t in threads:
        t.join(120)
        if t.is_alive():
            problems.append("a connection did not finish within 120s of the end")
    # A last check over everything, through both readers.
    conn = connect()
    conn.autocommit = True
    for node in ("on", "off"):
        conn.execute(f"SET mergetree.enable_aggregate_scan = {node}")
        for q in QUERIES:
            got, want = conn.execute(q.format("t")).fetchall(), conn.execute(q.format("h")).fetchall()
            if got != want:
                problems.append(f"final {q.format('t')} (node {node}): {got[:3]} != {want[:3]}")
    verify = conn.execute("SELECT count(*) FROM mergetree.verify('t')").fetchone()[0]
    if verify:
        problems.append(f"mergetree.verify reports {verify} problems")
    parts = conn.execute("SELECT count(*) FROM mergetree.parts WHERE table_name = 't'::regclass").fetchone()[0]
    conn.close()
    figures = ", ".join(f"{v} {k}" for k, v in counts.items())
    print(f"# {SECONDS:.0f} s: {figures}; {parts} parts at the end; peak backend RSS {max(peak_rss.values(), default=0)} MB", flush=True)
    if problems:
        for p in problems[:5]:
            print(f"FAIL: {p}", flush=True)
        sys.exit(1)
    if counts["checks"] == 0 or counts["rows inserted"] == 0:
        print("FAIL: the soak did no work", flush=True)
        sys.exit(1)


main()
