#!/usr/bin/env bash
# The benchmark suite at a tiny scale (20k events, TPC-H SF 0.01, DML; 1 run) on a private,
# temporary cluster, for `make test`: every query must return the same rows on heap and
# mergetree (timings are printed, never asserted). Also runs the suite's unit tests.
# Ends with "N passed, M failed" (N: unit tests passed + queries that matched).
# Env: BENCH_TINY_PORT (55460), BENCH_TINY_ROWS (20000), BENCH_TINY_SF (0.01),
#      BENCH_PYTHON (the venv scripts/setup.sh makes), MT_ROOT, MT_USER as in scripts/lib.sh.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../scripts/lib.sh
. "$repo/scripts/lib.sh"
PORT=${BENCH_TINY_PORT:-$(free_port 25470)}
PY=${BENCH_PYTHON:-$MT_ROOT/bench-venv/bin/python}
home=$MT_ROOT/bench-tiny
DATA=$home/data

finish() { echo "$1 passed, $2 failed"; exit $(($2 > 0)); }

if ! "$PY" -c 'import psycopg' 2>/dev/null; then
  echo "error: $PY cannot import psycopg: run scripts/setup.sh (make setup)"
  finish 0 1
fi

passed=0 failed=0
echo "# unit tests (benches/tests)"
if out=$("$PY" -m unittest discover -s "$repo/benches/tests" 2>&1); then
  passed=$((passed + $(grep -oE '^Ran [0-9]+' <<<"$out" | grep -oE '[0-9]+' || echo 0)))
  echo "$out" | tail -3
else
  echo "$out"
  failed=$((failed + 1))
fi

stop_cluster "$DATA" immediate >/dev/null 2>&1 || true
rm -rf "$DATA"
trap 'stop_cluster "$DATA" immediate >/dev/null 2>&1 || true' EXIT
if (: <"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "error: port $PORT is already in use (set BENCH_TINY_PORT)"
  finish "$passed" $((failed + 1))
fi
if ! { init_cluster "$DATA" "$PORT" >/dev/null && start_cluster "$DATA" "$PORT" >/dev/null; }; then
  finish "$passed" $((failed + 1))
fi

# Generated files are cached in $home/files across runs (keyed by parameters); results too.
out=$(mktemp)
"$PY" "$repo/benches/run.py" --port "$PORT" --events-rows "${BENCH_TINY_ROWS:-20000}" \
  --tpch-sf "${BENCH_TINY_SF:-0.01}" --runs 1 --merge-wait 0 --workloads events,tpch,dml \
  --bench-data "$home/files" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
line=$(tail -1 "$out")
rm -f "$out"
if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
  ((rc == 0 || BASH_REMATCH[2] > 0)) || failed=$((failed + 1))
else
  echo "error: benches/run.py exited with status $rc"
  failed=$((failed + 1))
fi
stop_cluster "$DATA" fast >/dev/null 2>&1 || true
((failed > 0)) || rm -rf "$DATA"   # kept (with its log, $DATA.log) when something failed
finish "$passed" "$failed"
