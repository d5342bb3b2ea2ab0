#!/usr/bin/env bash
# Crash safety: committed rows survive kill -9 and immediate shutdown, a COPY interrupted by a
# crash leaves no visible rows, and the table stays readable and writable afterwards.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# This test kills server processes with kill -9 itself.
T_ALLOW_SIGKILL=1
PORT=${T_CRASH_PORT:-$(free_port 25410)}
COPY_ROWS=${T_CRASH_COPY_ROWS:-2000000}
t_setup
t_cluster db "$PORT"
DATA=$T_DIR/db

q() { sql_at "$PORT" postgres "$1"; }
rows_sql() { # LO HI: deterministic rows, with some NULLs
  echo "SELECT i, CASE WHEN i % 97 = 0 THEN NULL ELSE 'v' || md5(i::text) END,
                timestamp '2026-01-01' + i * interval '1 second',
                CASE WHEN i % 89 = 0 THEN NULL ELSE i / 7.0 END
         FROM generate_series($1::bigint, $2) AS i"
}
summary() { q "SELECT count(*) || ' ' || coalesce(sum(id), 0) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY id), '')) FROM t"; }

postmaster_pid() { head -n 1 "$DATA/postmaster.pid"; }

# Like a power cut (lib.sh).
kill_all() { kill_cluster "$DATA"; }
# Only the postmaster: its children notice and exit by themselves.
kill_postmaster() {
  local pm kids
  pm=$(postmaster_pid)
  kids=$(pgrep -P "$pm" | tr '\n' ' ')
  kill -9 "$pm"
  # shellcheck disable=SC2086
  wait_pids_gone "$pm" $kids
}
# Only the backend running the COPY: the postmaster resets all backends and runs crash recovery.
kill_copy_backend() {
  local before
  before=$(grep -c 'terminated; reinitializing' "$(cluster_log "$DATA")" || true)
  kill -9 "$COPY_BACKEND"
  for ((i = 0; i < 300; i++)); do
    (($(grep -c 'terminated; reinitializing' "$(cluster_log "$DATA")" || true) > before)) && return 0
    sleep 0.2
  done
  fail "postmaster did not reinitialize after the backend was killed"
}
immediate_stop() { as_pg pg_ctl stop -w -D "$DATA" -m immediate >/dev/null; }

# Start a big COPY in the background, wait until it is well under way, then crash with "$@".
crash_during_copy() {
  local copy n=0 i progress
  psql_at "$PORT" -d postgres -c "COPY t FROM '$T_DIR/big.csv' (FORMAT csv)" >"$T_DIR/copy.out" 2>&1 &
  copy=$!
  for ((i = 0; i < 600; i++)); do
    progress=$(q "SELECT pid || ' ' || tuples_processed FROM pg_stat_progress_copy WHERE relid = 't'::regclass")
    if [[ -n $progress ]]; then
      COPY_BACKEND=${progress% *}; n=${progress#* }
      ((n >= COPY_ROWS / 10)) && break
    fi
    kill -0 "$copy" 2>/dev/null || fail "the COPY ended before the crash: $(cat "$T_DIR/copy.out")"
    sleep 0.1
  done
  ((n >= COPY_ROWS / 10)) || fail "the COPY made too little progress within 60s ($n rows)"
  note "COPY is at row $n of $COPY_ROWS; crash: $*"
  "$@"
  if wait "$copy"; then fail "the interrupted COPY reported success"; fi
}

restart_and_check() { # WHAT EXPECTED_SUMMARY
  start_cluster "$DATA" "$PORT" >/dev/null
  wait_ready "$PORT" 60 || fail "server not ready after $1"
  expect_eq "rows after $1" "$(summary)" "$2"
}

ext=$(ext_sql)
[[ -z $ext ]] || q "$ext"
q "CREATE TABLE t (id bigint, v text, ts timestamp, n numeric) $(am_clause "order_by = 'id'")"
q "INSERT INTO t $(rows_sql 1 100000)"
want=$(summary)
note "committed: $want"
q "COPY ($(rows_sql 1000001 $((1000000 + COPY_ROWS)))) TO '$T_DIR/big.csv' (FORMAT csv)"

crash_during_copy kill_all
restart_and_check "kill -9 of all server processes during COPY" "$want"

q "INSERT INTO t $(rows_sql 100001 150000)"
want=$(summary)
immediate_stop
restart_and_check "pg_ctl stop -m immediate" "$want"

crash_during_copy kill_copy_backend
restart_and_check "kill -9 of the COPY backend" "$want"

q "INSERT INTO t $(rows_sql 150001 160000)"
want=$(summary)
kill_postmaster
restart_and_check "kill -9 of the postmaster" "$want"

q "INSERT INTO t $(rows_sql 160001 170000)"
expect_eq "count, min, max, distinct ids after more inserts" \
  "$(q "SELECT count(*) || ' ' || min(id) || ' ' || max(id) || ' ' || count(DISTINCT id) FROM t")" "170000 1 170000 170000"
want=$(summary)
stop_cluster "$DATA" fast >/dev/null
restart_and_check "a clean restart" "$want"
t_pass
