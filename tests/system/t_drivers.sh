#!/usr/bin/env bash
# Client drivers: psycopg 3, asyncpg, SQLAlchemy 2 (Core, ORM, reflection), node-postgres and
# pgjdbc each create a mergetree table and a heap table with the same columns (bigint, int,
# text, numeric, timestamptz, double precision, boolean, NULLs in each), load both with the
# same rows (the driver's COPY, multi-row INSERTs, single-row prepared INSERTs), run
# prepared statements with parameters 11 times each on both (plan_cache_mode auto, then
# force_generic_plan: past the switch to the generic plan) and aggregates, and compare every
# result exactly (tests/system/drivers/, the checks described in common.py). Every driver's
# tables must then hold the same rows. The drivers are installed by scripts/setup.sh.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${T_DRIVERS_PORT:-$(free_port 25530)}
PY=${BENCH_PYTHON:-$MT_ROOT/bench-venv/bin/python}
NODE_DRIVERS=${NODE_DRIVERS:-$MT_ROOT/node-drivers}
PGJDBC_JAR=${PGJDBC_JAR:-/usr/share/java/postgresql.jar}
ROWS=${T_DRIVERS_ROWS:-20000}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
drv=$here/drivers
t_setup

# The drivers must be there: scripts/setup.sh (run by `make test`) installs them.
"$PY" -c 'import psycopg, asyncpg, sqlalchemy' 2>/dev/null \
  || fail "$PY cannot import psycopg, asyncpg and sqlalchemy: run scripts/setup.sh"
command -v node >/dev/null || fail "node not found (Node.js 20 is on the machine image)"
NODE_PATH=$NODE_DRIVERS/node_modules node -e "require('pg'); require('pg-copy-streams')" 2>/dev/null \
  || fail "node cannot load pg and pg-copy-streams from $NODE_DRIVERS/node_modules: run scripts/setup.sh"
[[ -f $PGJDBC_JAR ]] || fail "$PGJDBC_JAR not found (Debian's libpostgresql-jdbc-java): run scripts/setup.sh"
command -v java >/dev/null && command -v javac >/dev/null \
  || fail "java and javac not found (a JDK runs the single-file check): run scripts/setup.sh"

t_cluster db "$PORT"
q() { sql_at "$PORT" postgres "$1"; }
ext=$(ext_sql)
[[ -z $ext ]] || q "$ext"
AM=$(am_clause "order_by = 'k, id'")
SUMMARY="count(*) || ' ' || md5(string_agg(r::text, '|' ORDER BY id))"

reference=
# run_driver NAME PREFIX COMMAND...: the check exits 0 and prints its counts last; both of its
# tables hold the rows every other driver loaded.
run_driver() {
  local name=$1 prefix=$2 out start ms last mt heap
  shift 2
  start=$(date +%s%N)
  out=$("$@" "$PORT" "$prefix" "$AM" "$ROWS" 2>&1) || fail "$name: $(tail -n 5 <<<"$out" | tr '\n' ' ')"
  ms=$((($(date +%s%N) - start) / 1000000))
  last=$(tail -n 1 <<<"$out")
  [[ $last =~ ^rows=$ROWS\ statements=([0-9]+)\ executions=([0-9]+)\ generic_plans=([0-9]+)\ custom_plans=([0-9]+)$ ]] \
    || fail "$name: unexpected last line '$last'"
  grep -v '^rows=' <<<"$out" | sed "s/^/# $name: /" || true
  note "$name: $ROWS rows, ${BASH_REMATCH[1]} results compared $MT_AM vs heap (${BASH_REMATCH[2]} prepared executions; generic plans ${BASH_REMATCH[3]}, custom ${BASH_REMATCH[4]}), $((ms / 1000)).$(printf %03d $((ms % 1000)))s"
  mt=$(q "SELECT $SUMMARY FROM ${prefix}_mt r")
  heap=$(q "SELECT $SUMMARY FROM ${prefix}_heap r")
  [[ $mt == "$heap" ]] || fail "$name: table contents differ: mergetree $mt, heap $heap"
  [[ -n $reference ]] || reference=$mt
  [[ $mt == "$reference" ]] || fail "$name: loaded rows differ from the first driver's: $mt, want $reference"
}

run_driver psycopg drv_psycopg "$PY" "$drv/psycopg_check.py"
run_driver asyncpg drv_asyncpg "$PY" "$drv/asyncpg_check.py"
run_driver sqlalchemy drv_sqlalchemy "$PY" "$drv/sqlalchemy_check.py"
run_driver node-postgres drv_node_pg env NODE_PATH="$NODE_DRIVERS/node_modules" node "$drv/node_pg_check.js"
run_driver pgjdbc drv_pgjdbc java -cp "$PGJDBC_JAR" "$drv/PgjdbcCheck.java"
expect_eq "rows and md5 of every driver's tables" "$reference" "$(q "SELECT $SUMMARY FROM drv_psycopg_heap r")"

# SQLAlchemy's reflection recreates the table with its access method and options.
out=$("$PY" "$here/py/sqlalchemy_roundtrip.py" "$PORT" drv_sqlalchemy_mt drv_sqlalchemy_copy) || fail "sqlalchemy roundtrip: $out"
expect_eq "SQLAlchemy's copy of a driver table has its access method and options" \
  "$(grep '^copy:' <<<"$out" | cut -d' ' -f2-)" "$(grep '^source:' <<<"$out" | cut -d' ' -f2-)"
t_pass
