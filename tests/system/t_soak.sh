#!/usr/bin/env bash
# Soak (tests/system/py/soak.py): 8 connections inserting, 4 checking mergetree against a
# heap shadow written in the same transactions, deletes, updates, optimize, background
# merges; zero errors but documented serialization failures, exact results at every check,
# every server process's memory bounded.
#   T_SOAK_SECONDS (default 60 in make test; 600 for the long soak), T_SOAK_SEED,
#   T_SOAK_MAX_RSS_MB (default 700: shared buffers count in a process's resident memory)
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $MT_AM == heap ]] && { echo "ok - $(basename "$0" .sh) # skip: a mergetree workload"; exit 0; }
export MT_BACKGROUND_MERGES=on
PORT=${T_SOAK_PORT:-$(free_port 25480)}
SECONDS_=${T_SOAK_SECONDS:-60}
SEED=${T_SOAK_SEED:-$RANDOM}
PY=${BENCH_PYTHON:-$MT_ROOT/bench-venv/bin/python}
t_setup
"$PY" -c 'import psycopg' 2>/dev/null || fail "$PY cannot import psycopg: run scripts/setup.sh"
t_cluster db "$PORT"
note "seed $SEED, $SECONDS_ s"
"$PY" "$(dirname "${BASH_SOURCE[0]}")/py/soak.py" "$PORT" "$SECONDS_" "$SEED" || fail "the soak failed (seed $SEED)"
t_pass
