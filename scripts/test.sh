#!/usr/bin/env bash
# Every test of the project, in order, ending with one "N passed, M failed" line:
#   1. engine unit and property tests (cargo test -p mergetree, no server), and a short
#      run of the decoders' fuzzer (engine/examples/fuzz.rs; FUZZ_EXECS per target)
#   2. #[pg_test] tests inside Postgres (cargo pgrx test, as the unprivileged MT_USER)
#   3. SQL regression files in pg_test/ (differential vs heap; scripts/regress.sh)
#   4. system tests: crash recovery, pg_dump/pg_restore, streaming replica (tests/system/)
#   5. the benchmark suite at a tiny scale: heap and mergetree must return the same rows
#      for every query (benches/tiny.sh; timings are printed, never asserted)
#   6. a subset of PostgreSQL's own regression suite on a cluster whose tables are all
#      mergetree tables: no crash, no difference outside tests/pg_suite/accepted.diffs
#      (tests/pg_suite/run.sh; PG_SUITE_SKIP=1 skips it); then the whole schedule with
#      background merges running, as a crash finder (tests/pg_suite/run.sh --full --merges)
# Installs a debug build into the system PostgreSQL 15 first: the demo cluster is stopped,
# because replacing the .so under a running server crashes it.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
. scripts/lib.sh
export PGRX_HOME=${PGRX_HOME:-/var/tmp/pg_mergetree/pgrx}
export USER=${USER:-root}
PG_CONFIG=$PG_BIN/pg_config
log=$MT_ROOT/test-logs
mkdir -p "$log"
passed=0
failed=0

# Adds the counts of a cargo test log ("test result: ok. N passed; M failed").
count_cargo() {
  local p f
  p=$(grep -oE 'test result: .* ([0-9]+) passed' "$1" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
  f=$(grep -oE '[0-9]+ failed' "$1" | awk '{s+=$1} END {print s+0}')
  passed=$((passed + p)); failed=$((failed + f)); last_failed=$f
  echo "   -> $p passed, $f failed"
}

step() { echo; echo "=== $*"; }

# A step's own exit status counts too: a test binary that aborts, a runner that dies
# before printing its summary, must not pass as "0 failed".
last_failed=0
check_status() { # STATUS STEP (counts once: not again when its summary reported failures)
  if (($1 != 0)) && ((last_failed == 0)); then
    echo "   !! $2 exited with status $1"
    failed=$((failed + 1))
  fi
}

# Adds the counts of a "N passed, M failed" last line; a missing line is a failure.
count_line() {
  local line
  line=$(tail -1 "$1")
  if ! grep -qE '^[0-9]+ passed, [0-9]+ failed' <<<"$line"; then
    echo "   !! no summary line in $1"
    failed=$((failed + 1)); last_failed=1
    return
  fi
  last_failed=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '^[0-9]+')
  passed=$((passed + $(grep -oE '^[0-9]+' <<<"$line")))
  failed=$((failed + last_failed))
}

bash scripts/cluster.sh stop >/dev/null 2>&1 || true

step "engine: unit and property tests"
cargo test -p mergetree 2>&1 | tee "$log/engine.log" | grep -E '^test |test result|panicked|error' || true
status=${PIPESTATUS[0]}
count_cargo "$log/engine.log"
check_status "$status" "cargo test -p mergetree"

step "engine: fuzzing every decoder and the part reader (engine/examples/fuzz.rs, short run)"
# The long run (10M executions a target): cargo run --release -p mergetree --example fuzz -- 10000000
cargo run -q -p mergetree --example fuzz -- "${FUZZ_EXECS:-20000}" 2>&1 | tee "$log/fuzz.log" | tail -15
status=${PIPESTATUS[0]}
if ((status == 0)) && grep -q ', no panic$' "$log/fuzz.log"; then
  passed=$((passed + 1)); last_failed=0; echo "   -> 1 passed, 0 failed"
else
  failed=$((failed + 1)); last_failed=1; echo "   -> 0 passed, 1 failed"
fi

step "#[pg_test]: tests inside PostgreSQL"
pgdata=$MT_ROOT/pgrx-test-data
mkdir -p "$pgdata"; chown "$MT_USER" "$pgdata"
# cargo pgrx test installs the library by writing over the installed file in place, which
# crashes a running server that mapped it (the demo cluster: its merge launcher died of
# SIGSEGV). A copy renamed over the path first gives the servers' mapping its own inode.
libdir=$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)
if [[ -f $libdir/pg_mergetree.so ]]; then
  cp "$libdir/pg_mergetree.so" "$libdir/.pg_mergetree.so.new" && mv -f "$libdir/.pg_mergetree.so.new" "$libdir/pg_mergetree.so"
fi
cargo pgrx test pg15 --runas "$MT_USER" --pgdata "$pgdata" 2>&1 | tee "$log/pg_test.log" | grep -E '^test |test result|panicked|^error' || true
status=${PIPESTATUS[0]}
count_cargo "$log/pg_test.log"
check_status "$status" "cargo pgrx test"

step "install the extension for SQL and system tests"
if bash scripts/install.sh >"$log/install.log" 2>&1; then
  echo "   installed"
else
  tail -30 "$log/install.log"; failed=$((failed + 1))
fi

step "SQL regression tests (pg_test/)"
bash scripts/regress.sh 2>&1 | tee "$log/regress.log" | tail -40
status=${PIPESTATUS[0]}
count_line "$log/regress.log"
check_status "$status" "scripts/regress.sh"

step "system tests (tests/system/)"
bash tests/system/run.sh 2>&1 | tee "$log/system.log"
status=${PIPESTATUS[0]}
count_line "$log/system.log"
check_status "$status" "tests/system/run.sh"

step "benchmark suite at a tiny scale (benches/tiny.sh)"
bash benches/tiny.sh 2>&1 | tee "$log/bench.log" | tail -60
status=${PIPESTATUS[0]}
count_line "$log/bench.log"
check_status "$status" "benches/tiny.sh"

step "PostgreSQL's regression suite, subset (tests/pg_suite/run.sh)"
if [[ ${PG_SUITE_SKIP:-} == 1 ]]; then
  echo "   skipped (PG_SUITE_SKIP=1)"
else
  PG_SUITE=subset bash tests/pg_suite/run.sh >"$log/pg_suite.log" 2>&1
  status=$?
  # the report without the hunks' lines (all of it: $log/pg_suite.log)
  sed -n '/^=== crash check/,$p' "$log/pg_suite.log" | grep -vE '^  [ +@-]' \
    | awk 'NR <= 140 {print} {last[NR % 3] = $0}
           END {if (NR > 140) {print "   ..."; for (i = NR - 2; i <= NR; i++) print last[i % 3]}}'
  grep -q '^=== crash check' "$log/pg_suite.log" || tail -20 "$log/pg_suite.log"
  echo "   (full output: $log/pg_suite.log)"
  count_line "$log/pg_suite.log"
  check_status "$status" "tests/pg_suite/run.sh"
fi

step "PostgreSQL's regression suite, whole schedule, background merges running (tests/pg_suite/run.sh --full --merges)"
if [[ ${PG_SUITE_SKIP:-} == 1 ]]; then
  echo "   skipped (PG_SUITE_SKIP=1)"
else
  # Merges reorder rows, so differences are listed, not judged: the run fails on a crash,
  # a timeout, a test without a result, or no background merge at all.
  PG_SUITE=full bash tests/pg_suite/run.sh --merges >"$log/pg_suite_merges.log" 2>&1
  status=$?
  sed -n '/^=== crash check/,/^=== differences/p' "$log/pg_suite_merges.log"
  grep -E '^FAIL|^tests: |^background merges|^no background merge' "$log/pg_suite_merges.log" || true
  grep -q '^=== crash check' "$log/pg_suite_merges.log" || tail -20 "$log/pg_suite_merges.log"
  echo "   (full output: $log/pg_suite_merges.log)"
  count_line "$log/pg_suite_merges.log"
  check_status "$status" "tests/pg_suite/run.sh --full --merges"
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
