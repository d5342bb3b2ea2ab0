#!/usr/bin/env bash
# PostgreSQL 15's own regression suite (src/test/regress of Debian's postgresql-15 source) as a
# crash finder: every table the tests create is a mergetree table (the database's
# default_table_access_method). A private cluster is started and stopped here.
#
#   tests/pg_suite/run.sh [--full | --subset] [--accept] [TEST ...]
#
#   --subset   (default; PG_SUITE=subset) the tests listed in tests/pg_suite/subset, in
#              upstream's order and parallel groups: what `make test` runs
#   --full     (PG_SUITE=full) upstream's whole parallel_schedule: `make test-pg-suite`
#   TEST ...   just these tests, one after another (include test_setup first)
#   --accept   rewrite the accepted-differences file from this run (reasons carry over) and
#              print a summary by class; entries of tests that did not run are kept
#   --merges   background merges on during the run (they renumber and reorder rows, so
#              upstream's outputs differ from run to run): differences are listed, not judged;
#              the run fails on a crash, a timeout or no merge at all. `make test` runs the
#              whole schedule this way after the subset
#
# Fails on: a server crash (signal, abnormal exit, PANIC in the server log), a difference
# from upstream's expected output that tests/pg_suite/accepted.diffs does not accept (see
# pgsuite.py for its format and classes), a test that did not finish (statement_timeout per
# statement and a timeout on the whole run). Accepted differences that no longer occur are
# reported as fixed. Ends with "N passed, M failed" (tests, plus one for the crash check).
#
# Env: MT_AM=heap             plain cluster, no extension (accepted file: accepted-heap.diffs)
#      PG_SUITE_ACCEPTED      the accepted-differences file to use
#      PG_SUITE_STATEMENT_TIMEOUT  per statement (default 120s; full: 300s)
#      PG_SUITE_TIMEOUT       seconds for all the pg_regress runs (default 900; full: 3600)
#      PG_SUITE_PORT          cluster port (default: the first free one from 25700)
#      PG_SUITE_SHOW          differences shown per test (default 20)
#      PG_SUITE_SQL           SQL run in database regression before the tests (experiments,
#                             e.g. "ALTER DATABASE regression SET mergetree.enable_custom_scan = off")
# Files: cluster, log and pg_regress output under $MT_ROOT/pg-suite (kept until the next run).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$here/scripts/lib.sh"
PY=/usr/bin/python3
# an error before the report still ends with the line scripts/test.sh counts
die() { echo "error: $*" >&2; echo "0 passed, 1 failed"; exit 1; }
tool=$here/tests/pg_suite/pgsuite.py

accept=0 merges=0
tests=()
for arg in "$@"; do
  case $arg in
    --accept) accept=1 ;;
    --merges) merges=1 ;;
    --full) PG_SUITE=full ;;
    --subset) PG_SUITE=subset ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $arg (see --help)" ;;
    *) tests+=("$arg") ;;
  esac
done
PG_SUITE=${PG_SUITE:-subset}
case $PG_SUITE in full | subset) ;; *) die "PG_SUITE must be 'full' or 'subset', not '$PG_SUITE'" ;; esac
# A test's output can depend on the tests that ran before it (objects one leaves behind,
# e.g. a publication FOR ALL TABLES), so the subset and the whole schedule each have their
# own file of accepted differences.
if use_ext; then accepted_default=$here/tests/pg_suite/accepted.diffs
else accepted_default=$here/tests/pg_suite/accepted-heap.diffs; fi
if [[ ${PG_SUITE:-subset} == subset ]]; then accepted_default=${accepted_default%.diffs}-subset.diffs; fi
ACCEPTED=${PG_SUITE_ACCEPTED:-$accepted_default}
if [[ $PG_SUITE == full ]]; then
  STMT_TIMEOUT=${PG_SUITE_STATEMENT_TIMEOUT:-300s} TOTAL_TIMEOUT=${PG_SUITE_TIMEOUT:-3600}
else
  STMT_TIMEOUT=${PG_SUITE_STATEMENT_TIMEOUT:-120s} TOTAL_TIMEOUT=${PG_SUITE_TIMEOUT:-900}
fi
# A statement waiting for a lock that will not come (a prepared transaction the test
# expected to fail, say) fails after this instead of at statement_timeout.
LOCK_TIMEOUT=${PG_SUITE_LOCK_TIMEOUT:-30s}

t0=$SECONDS
bash "$here/scripts/pgsuite_setup.sh" || die "scripts/pgsuite_setup.sh failed"
# shellcheck source=/dev/null
. "$MT_ROOT/pgsrc/suite.env"
[[ $PGSUITE_VERSION == "$PGSUITE_INSTALLED" ]] \
  || echo "note: suite from postgresql-15 $PGSUITE_VERSION, server $PGSUITE_INSTALLED"

ROOT=$MT_ROOT/pg-suite
DATA=$ROOT/data
OUT=$ROOT/out
check_ext_installed
# A cluster left running by an interrupted run: stop it before its files go.
if [[ -f $DATA/PG_VERSION ]] && is_running "$DATA"; then stop_cluster "$DATA" immediate >/dev/null || true; fi
rm -rf "$ROOT"
PORT=${PG_SUITE_PORT:-$(free_port 25700)}

# What pg_regress's own temporary instance sets (log_line_prefix names the test: crash
# reports say which test a crashed backend ran), prepared transactions on (prepared_xacts),
# statements over 10 s logged (the report lists them), fsync off (speed: a crash finder, not
# a durability test). One engine thread: MergeTreeAgg returns the groups of a query without
# ORDER BY in the order its threads met them, so with more threads upstream's expected
# output of such queries differs from run to run.
# Background merges off: a merge renumbers rows (ctid), which some upstream tests print.
if ((merges)); then export MT_BACKGROUND_MERGES=on; fi
MT_BACKGROUND_MERGES=${MT_BACKGROUND_MERGES:-off} init_cluster "$DATA" "$PORT" >/dev/null
{
  echo "# >>> pg_suite settings (tests/pg_suite/run.sh)"
  echo "max_prepared_transactions = 2"
  echo "log_line_prefix = '%m %b[%p] %q%a '"
  echo "log_connections = on"
  echo "log_autovacuum_min_duration = 0"
  echo "log_lock_waits = on"
  echo "log_min_duration_statement = 10s"
  echo "fsync = off"
  echo "mergetree.max_threads = 1"
  echo "# <<< pg_suite"
} | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
start_cluster "$DATA" "$PORT" >/dev/null
trap 'stop_cluster "$DATA" fast >/dev/null 2>&1 || stop_cluster "$DATA" immediate >/dev/null 2>&1 || true' EXIT

# The database pg_regress would create (pg_regress.c, create_database()), which --use-existing
# skips; then the extension and the default table access method.
psql_at "$PORT" -d postgres -q <<'SQL' || die "could not create database regression"
CREATE DATABASE regression TEMPLATE = template0;
ALTER DATABASE regression SET lc_messages TO 'C';
ALTER DATABASE regression SET lc_monetary TO 'C';
ALTER DATABASE regression SET lc_numeric TO 'C';
ALTER DATABASE regression SET lc_time TO 'C';
ALTER DATABASE regression SET bytea_output TO 'hex';
ALTER DATABASE regression SET timezone_abbreviations TO 'Default';
SQL
if use_ext; then
  psql_at "$PORT" -d regression -q -c "CREATE EXTENSION pg_mergetree" \
    -c "ALTER DATABASE regression SET default_table_access_method = mergetree" \
    || die "could not set up pg_mergetree in database regression"
fi

if [[ -n ${PG_SUITE_SQL:-} ]]; then
  log "PG_SUITE_SQL: $PG_SUITE_SQL"
  psql_at "$PORT" -d regression -q -c "$PG_SUITE_SQL" || die "PG_SUITE_SQL failed"
fi

mkdir_owned "$OUT"
schedule=$OUT/schedule
if ((${#tests[@]})); then
  $PY "$tool" schedule "$PGSUITE_SRC/parallel_schedule" "${tests[@]}" >"$schedule" || die "could not make the schedule"
  what="tests: ${tests[*]}"
elif [[ $PG_SUITE == full ]]; then
  $PY "$tool" schedule "$PGSUITE_SRC/parallel_schedule" >"$schedule" || die "could not make the schedule"
  what="full parallel_schedule"
else
  $PY "$tool" schedule "$PGSUITE_SRC/parallel_schedule" --subset "$here/tests/pg_suite/subset" >"$schedule" || die "could not make the schedule"
  what="subset (tests/pg_suite/subset)"
fi
ntests=$(grep -E '^test:' "$schedule" | wc -w)
ntests=$((ntests - $(grep -cE '^test:' "$schedule")))
log "PostgreSQL regression suite ($what, $ntests tests) on table AM $MT_AM, port $PORT"
log "statement_timeout $STMT_TIMEOUT, whole run ${TOTAL_TIMEOUT}s; output in $OUT"

# pg_regress runs as the cluster owner: the server writes COPY TO and lo_export files into
# its results directory. --use-existing: our database, as set up above. One pg_regress per
# line of the schedule (a test or a parallel group), each after the server accepts
# connections again: after a crash the tests of the next groups still run (pg_regress alone
# would fail them all while the server recovers), so one run finds every crash. The output
# and diffs of all groups are gathered into pg_regress.out and regression.diffs.
t1=$SECONDS
deadline=$((SECONDS + TOTAL_TIMEOUT))
timed_out=0 alive=1
: >"$OUT/pg_regress.out"
: >"$OUT/all.diffs"
mapfile -t lines < <(grep -E '^test:' "$schedule")
ignores=$(grep -E '^ignore:' "$schedule" || true)
for line in "${lines[@]}"; do
  left=$((deadline - SECONDS))
  if ((left <= 0)); then timed_out=1; break; fi
  if ! wait_ready "$PORT" 120; then alive=0; break; fi
  printf '%s\n%s\n' "$ignores" "$line" >"$OUT/group.schedule"
  rm -f "$OUT/regression.diffs"
  (cd / && timeout -k 30 "$left" runuser -u "$MT_USER" -- env PGOPTIONS="-c statement_timeout=$STMT_TIMEOUT -c lock_timeout=$LOCK_TIMEOUT" \
    "$PGSUITE_REGRESS" --use-existing --dbname=regression \
    --inputdir="$PGSUITE_SRC" --outputdir="$OUT" --dlpath="$PGSUITE_DLPATH" --bindir="$PG_BIN" \
    --host=127.0.0.1 --port="$PORT" --user=postgres \
    --schedule="$OUT/group.schedule" --max-concurrent-tests=20) >"$OUT/group.out" 2>&1
  rc=$?
  cat "$OUT/group.out" >>"$OUT/pg_regress.out"
  # the tests' lines (and pg_regress's own errors), not its banners
  grep -E ' \.\.\. |^parallel group|pg_regress: ' "$OUT/group.out"
  [[ -f $OUT/regression.diffs ]] && cat "$OUT/regression.diffs" >>"$OUT/all.diffs"
  if ((rc == 124 || rc == 137)); then timed_out=1; break; fi
done
mv -f "$OUT/all.diffs" "$OUT/regression.diffs"
t2=$SECONDS
if ((alive)) && ! { is_running "$DATA" && wait_ready "$PORT" 120; }; then alive=0; fi
merged=
if ((merges && alive)) && use_ext; then
  # Merges of the tables the tests left behind (the part log of dropped tables goes with them).
  merged=$(psql_at "$PORT" -d regression -Atq -c "SELECT count(*) FROM mergetree.part_log_data WHERE event_type = 'merge' AND background")
fi

report=(report --schedule "$schedule" --source-schedule "$PGSUITE_SRC/parallel_schedule"
  --diffs "$OUT/regression.diffs" --stdout "$OUT/pg_regress.out" --log "$(cluster_log "$DATA")"
  --accepted "$ACCEPTED" --am "$MT_AM" --srcdir "$PGSUITE_SRC" --outdir "$OUT"
  --dlpath "$PGSUITE_DLPATH" --mt-root "$MT_ROOT" --server-alive "$alive" --timed-out "$timed_out"
  --timeout "$TOTAL_TIMEOUT" --statement-timeout "$STMT_TIMEOUT" --show "${PG_SUITE_SHOW:-20}")
((accept)) && report+=(--accept)
((merges)) && report+=(--crash-only)
$PY "$tool" "${report[@]}" >"$OUT/report.txt" 2>&1
status=$?
echo "(setup $((t1 - t0)) s, pg_regress $((t2 - t1)) s)" >>"$OUT/report.txt"
if ((merges)) && use_ext; then
  echo "background merges during the run (of the tables left at its end): ${merged:-none}" >>"$OUT/report.txt"
  if [[ ${merged:-0} == 0 ]]; then
    echo "no background merge ran: the run proves nothing about merges" >>"$OUT/report.txt"
    echo "0 passed, 1 failed" >>"$OUT/report.txt"
    status=1
  fi
fi
# the "N passed, M failed" line last
grep -vE '^[0-9]+ passed, [0-9]+ failed$' "$OUT/report.txt"
grep -E '^[0-9]+ passed, [0-9]+ failed$' "$OUT/report.txt" | tail -1 | grep . || { echo "0 passed, 1 failed"; status=1; }
exit "$status"
