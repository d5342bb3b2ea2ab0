#!/usr/bin/env bash
# Run the system tests: tests/system/run.sh [t_name ...]   (default: every tests/system/t_*.sh)
# Env: MT_AM=heap runs them against plain heap tables (no extension needed).
set -uo pipefail
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if (($#)); then tests=("${@/#/$dir/}"); tests=("${tests[@]/%.sh/}"); tests=("${tests[@]/%/.sh}")
else tests=("$dir"/t_*.sh); fi

passed=0 failed=0
for t in "${tests[@]}"; do
  name=$(basename "$t" .sh)
  echo "# === $name"
  out=$(mktemp)
  bash "$t" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  if ((rc == 0)) && grep -qx "ok - $name" "$out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    grep -q "^not ok - $name" "$out" || echo "not ok - $name: exited with status $rc"
  fi
  rm -f "$out"
done
echo "$passed passed, $failed failed"
((failed == 0))
