#!/usr/bin/env bash
# A crash loop (tests/system/py/crash_loop.py): random transactions (COPY, multi-row INSERTs,
# DELETE, UPDATE, optimize, drop_partition) with background merges on, the server killed by
# SIGKILL at a random moment each round (the postmaster alone, or every process at once),
# restarted and checked: every acknowledged transaction exactly there, the one in flight
# wholly there or wholly absent, verify clean, merges resuming at the end.
#   T_CRASH_LOOP_ROUNDS (default 6 in make test; 50 for the full loop), T_CRASH_LOOP_SEED
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $MT_AM == heap ]] && { echo "ok - $(basename "$0" .sh) # skip: a mergetree workload"; exit 0; }
T_ALLOW_SIGKILL=1
export MT_BACKGROUND_MERGES=on
PORT=${T_CRASH_LOOP_PORT:-$(free_port 25470)}
ROUNDS=${T_CRASH_LOOP_ROUNDS:-6}
SEED=${T_CRASH_LOOP_SEED:-$RANDOM}
PY=${BENCH_PYTHON:-$MT_ROOT/bench-venv/bin/python}
t_setup
"$PY" -c 'import psycopg' 2>/dev/null || fail "$PY cannot import psycopg: run scripts/setup.sh"
t_cluster db "$PORT"
DATA=$T_DIR/db
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
note "seed $SEED, $ROUNDS rounds (T_CRASH_LOOP_SEED=$SEED reruns this loop's choices)"
restart=". '$here/../../scripts/lib.sh'; start_cluster '$DATA' $PORT && wait_ready $PORT 60"
"$PY" "$here/py/crash_loop.py" "$PORT" "$DATA" "$ROUNDS" "$SEED" "$restart" || fail "the crash loop found a difference (seed $SEED)"
t_pass
