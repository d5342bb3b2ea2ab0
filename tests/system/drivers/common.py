"""What every driver check of tests/system/t_drivers.sh does, for the Python drivers
(psycopg_check.py, asyncpg_check.py, sqlalchemy_check.py); node_pg_check.js and
PgjdbcCheck.java repeat it in their languages. Keep the three in step: the shell test checks
that every driver's tables hold the same rows.

A driver check: PORT PREFIX AM_CLAUSE [ROWS]
  creates PREFIX_mt (AM_CLAUSE: the mergetree table, or heap under MT_AM=heap) and PREFIX_heap
  with the same columns, loads both with the same rows, runs each prepared statement of
  STATEMENTS with parameters EXECUTIONS times on each table (plan_cache_mode auto for the
  first AUTO_EXECUTIONS, then force_generic_plan) and each query of AGGREGATES, compares
  every result exactly, and prints one line "rows=... statements=... executions=...
  generic_plans=... custom_plans=..." (the plans of its parameterized SELECTs on PREFIX_mt,
  from pg_prepared_statements: none generic is a failure). Exits 1 at the first difference.
"""
import datetime
import sys
from decimal import Decimal

COLUMNS = ["id", "k", "name", "amount", "ts", "score", "flag"]
COLUMN_TYPES = "id bigint, k int, name text, amount numeric, ts timestamptz, score double precision, flag boolean"
ORDER_BY = "order_by = 'k, id'"
# Rows N-BATCHED-SINGLE .. N-SINGLE go in as multi-row INSERTs of BATCH rows, the last SINGLE
# as single-row prepared INSERTs, the rest by COPY.
BATCHED, SINGLE, BATCH = 1000, 50, 190
AUTO_EXECUTIONS, GENERIC_EXECUTIONS = 8, 3
EXECUTIONS = AUTO_EXECUTIONS + GENERIC_EXECUTIONS
SPECIAL_NAMES = ["", "tab\there", "line\nbreak", "back\\slash", "quote'\"", "ünïcödé ✓", "comma,semi;|", "  spaces  "]
EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
MAX_BIGINT, MIN_INT = 9223372036854775807, -2147483648


def parse_args():
    if len(sys.argv) < 4:
        sys.exit(f"usage: {sys.argv[0]} PORT PREFIX AM_CLAUSE [ROWS]")
    port, prefix, am = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 20000
    if n < 2 * (BATCHED + SINGLE):
        sys.exit(f"ROWS must be at least {2 * (BATCHED + SINGLE)}")
    return port, prefix, am, n


def amount_text(i):
    if i % 31 == 0:
        return f"{i * 1000003}.000001"
    v = (i * 37) % 200001 - 100000
    return f"{'-' if v < 0 else ''}{abs(v) // 100}.{abs(v) % 100:02d}"


def row(i, n):
    """Row i of n: every column NULL now and then; values whose sums are exact in float8."""
    rid = MAX_BIGINT if i == n - 1 else ((i * 7919) % 100003) * 1000003
    k = None if i % 13 == 0 else (MIN_INT if i == n - 1 else (i % 97) - 48)
    if i % 11 == 0:
        name = None
    elif i % 29 == 0:
        name = SPECIAL_NAMES[(i // 29) % len(SPECIAL_NAMES)]
    else:
        name = f"name-{i % 50}"
    amount = None if i % 17 == 0 else Decimal(amount_text(i))
    ts = None if i % 19 == 0 else EPOCH + datetime.timedelta(milliseconds=i * 61001)
    score = None if i % 23 == 0 else ((i * 13) % 40001 - 20000) * 0.25
    flag = None if i % 9 == 0 else i % 3 == 0
    return (rid, k, name, amount, ts, score, flag)


def rows(n):
    return [row(i, n) for i in range(n)]


def create_sql(prefix, am):
    return [f"DROP TABLE IF EXISTS {prefix}_mt, {prefix}_heap",
            f"CREATE TABLE {prefix}_mt ({COLUMN_TYPES}) {am}",
            f"CREATE TABLE {prefix}_heap ({COLUMN_TYPES}) USING heap"]


def insert_sql(table, nrows, style="dollar"):
    """INSERT of nrows rows with placeholders $1.. (style dollar) or %s (style percent)."""
    ph = (lambda j: f"${j}") if style == "dollar" else (lambda j: "%s")
    values = ", ".join("(" + ", ".join(ph(r * 7 + c + 1) for c in range(7)) + ")" for r in range(nrows))
    return f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES {values}"


def ts_at(ms):
    return EPOCH + datetime.timedelta(milliseconds=ms)


# Prepared statements: name, SQL with $1.. on table {t}, the parameters' types, and the
# parameters of execution j.
STATEMENTS = [
    ("point", "SELECT id, k, name, amount, ts, score, flag FROM {t} WHERE id = $1", ["int8"],
     lambda j, n: [row((j * 997) % n, n)[0] if j % 4 else 12345]),
    ("key prefix", "SELECT id, k, name FROM {t} WHERE k = $1 ORDER BY id", ["int4"],
     lambda j, n: [j * 7 - 40]),
    ("key range and flag", "SELECT count(*), sum(amount), min(ts), max(score) FROM {t} WHERE k BETWEEN $1 AND $2 AND flag = $3",
     ["int4", "int4", "bool"], lambda j, n: [j * 5 - 30, j * 5 - 10, j % 2 == 0]),
    ("timestamptz range", "SELECT id, ts FROM {t} WHERE ts >= $1 AND ts < $2 ORDER BY id", ["timestamptz", "timestamptz"],
     lambda j, n: [ts_at(j * 3_000_000), ts_at(j * 3_000_000 + 20_000_000)]),
    ("text equality", "SELECT id, amount FROM {t} WHERE name = $1 ORDER BY id LIMIT 100", ["text"],
     lambda j, n: [SPECIAL_NAMES[j % len(SPECIAL_NAMES)] if j % 2 else f"name-{j * 3}"]),
    ("numeric and float8 filters", "SELECT k, count(*), sum(score) FROM {t} WHERE amount > $1 AND score < $2 "
     "GROUP BY k ORDER BY k NULLS FIRST", ["numeric", "float8"],
     lambda j, n: [Decimal(f"{j * 90 - 500}.25"), j * 250.5 - 1000]),
    ("key and id range", "SELECT id FROM {t} WHERE k = $1 AND id > $2 ORDER BY id LIMIT 20", ["int4", "int8"],
     lambda j, n: [j - 5, j * 9_000_000_000]),
    ("boolean or NULL", "SELECT id, flag FROM {t} WHERE flag IS NOT DISTINCT FROM $1 AND k = $2 ORDER BY id", ["bool", "int4"],
     lambda j, n: [None if j % 3 == 0 else j % 3 == 1, j * 4 - 20]),
]

AGGREGATES = [
    ("every row", "SELECT id, k, name, amount, ts, score, flag FROM {t} ORDER BY id"),
    ("counts", "SELECT count(*), count(id), count(k), count(name), count(amount), count(ts), count(score), count(flag) FROM {t}"),
    ("count distinct", "SELECT count(DISTINCT k), count(DISTINCT name), count(DISTINCT flag), count(DISTINCT amount), "
                       "count(DISTINCT date_trunc('day', ts)) FROM {t}"),
    ("sums and averages", "SELECT sum(id), sum(k), sum(amount), sum(score), avg(id), avg(k), avg(amount), avg(score) FROM {t}"),
    ("min and max", "SELECT min(id), max(id), min(k), max(k), min(name), max(name), min(amount), max(amount), "
                    "min(ts), max(ts), min(score), max(score), bool_and(flag), bool_or(flag) FROM {t}"),
    ("group by key", "SELECT k, count(*), count(name), sum(amount), avg(score), min(ts), max(name), count(DISTINCT flag) "
                     "FROM {t} GROUP BY k ORDER BY k NULLS FIRST"),
    ("group by two columns", "SELECT name, flag, count(*), sum(id), max(amount) FROM {t} "
                             "GROUP BY name, flag ORDER BY name NULLS FIRST, flag NULLS FIRST"),
    ("group by day", "SELECT date_trunc('day', ts), count(*), sum(score), avg(amount), stddev_samp(amount) FROM {t} "
                     "GROUP BY 1 ORDER BY 1 NULLS FIRST"),
    ("having", "SELECT flag, count(*), avg(k) FROM {t} GROUP BY flag HAVING count(*) > 10 ORDER BY flag NULLS FIRST"),
]

PLAN_COUNTS = ("SELECT coalesce(sum(generic_plans), 0)::bigint, coalesce(sum(custom_plans), 0)::bigint "
               "FROM pg_prepared_statements WHERE statement LIKE 'SELECT %{prefix}_mt%' AND cardinality(parameter_types) > 0")


def percent(sql):
    """$1, $2... as psycopg's %s (each statement uses its parameters once, in order)."""
    import re
    return re.sub(r"\$\d+", "%s", sql)


def norm(rs):
    """Rows as type-tagged reprs: Decimal('1.10') and Decimal('1.1') differ, as 1 and 1.0 do."""
    return [tuple(f"{type(v).__name__}:{v!r}" for v in r) for r in rs]


def compare(what, got_mt, got_heap):
    a, b = norm(got_mt), norm(got_heap)
    if a == b:
        return
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            sys.exit(f"DIFFERENCE in {what}: row {i}: mergetree {x} vs heap {y}")
    sys.exit(f"DIFFERENCE in {what}: mergetree returned {len(a)} rows, heap {len(b)}")


def check_counts(driver, n, compared, executions, generic, custom):
    if generic <= 0:
        sys.exit(f"{driver}: no generic plan was used for the prepared statements (custom plans: {custom})")
    print(f"rows={n} statements={compared} executions={executions} generic_plans={generic} custom_plans={custom}")
