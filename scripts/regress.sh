#!/usr/bin/env bash
# SQL regression tests (pg_test/sql/*.sql vs pg_test/expected/*.out) with PGXS's pg_regress,
# against a private cluster this script starts and stops. Prints "N passed, M failed".
#   scripts/regress.sh [test ...]     (default: every file in pg_test/sql, sorted)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
PORT=${MT_REGRESS_PORT:-$(free_port 25400)}
# Part counts in the expected output must not change under the tests' feet; merges.sql
# turns background merges on for itself.
export MT_BACKGROUND_MERGES=${MT_BACKGROUND_MERGES:-off}
DATA=$MT_ROOT/regress/data
PG_REGRESS=$(dirname "$("$PG_BIN/pg_config" --pgxs)")/../test/regress/pg_regress
out=$MT_ROOT/regress/out
tests=("$@")
if ((${#tests[@]} == 0)); then
  mapfile -t tests < <(cd "$here/pg_test/sql" && ls -- *.sql | sed 's/\.sql$//' | sort)
fi
rm -rf "$MT_ROOT/regress"
init_cluster "$DATA" "$PORT" >/dev/null
start_cluster "$DATA" "$PORT" >/dev/null
trap 'stop_cluster "$DATA" fast >/dev/null 2>&1 || true' EXIT
mkdir -p "$out"; chown "$MT_USER" "$out"
status=0
# psql reads the files on stdin, so \ir paths resolve from here.
cd "$here/pg_test/sql"
"$PG_REGRESS" --host=127.0.0.1 --port="$PORT" --user=postgres \
  --inputdir="$here/pg_test" --outputdir="$out" --dbname=mergetree_regress "${tests[@]}" | tee "$out/summary.txt" || status=$?
failed=$(grep -cE '^(not ok|test .* \.\.\. FAILED| *[a-z_0-9]+ +\.\.\. FAILED)' "$out/summary.txt" || true)
if grep -q "FAILED" "$out/summary.txt" || [ "$status" -ne 0 ]; then
  [ -f "$out/regression.diffs" ] && head -200 "$out/regression.diffs"
  failed=$(grep -c 'FAILED' "$out/summary.txt" || true)
  [ "$failed" -eq 0 ] && failed=1
fi
# A crashed backend shows only in the server log (the server restarts by itself).
crashes=$(grep -E 'terminated by signal|PANIC:' "$(cluster_log "$DATA")" || true)
if [[ -n $crashes ]]; then
  echo "server crashed during the tests:"; echo "$crashes" | head -5
  failed=$((failed + 1))
fi
echo "$((${#tests[@]} - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
