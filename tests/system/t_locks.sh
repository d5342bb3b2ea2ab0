#!/usr/bin/env bash
# Row locks across sessions: while one transaction holds FOR UPDATE on rows of a mergetree
# table, another session's FOR UPDATE waits (lock_timeout), NOWAIT fails with heap's
# error, SKIP LOCKED skips exactly the locked rows, FOR SHARE conflicts too; once the
# holder commits, the rows can be locked again. FOR KEY SHARE (what foreign-key checks
# take) does not wait: rows cannot be updated or deleted, so it has nothing to exclude.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
use_ext || { echo "ok - $(basename "$0" .sh) # skipped: needs the extension"; exit 0; }
PORT=${T_LOCKS_PORT:-$(free_port 25480)}
t_setup
t_cluster db "$PORT"
q() { sql_at "$PORT" postgres "$1"; }
q "$(ext_sql)"
q "CREATE TABLE t (id int, v text) $(am_clause "order_by = 'id'")"
q "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g"

# The holder locks rows 1..5 and keeps them for a while.
psql_at "$PORT" -d postgres -q >"$T_DIR/holder.out" 2>&1 <<'SQL' &
BEGIN;
SELECT count(*) FROM (SELECT id FROM t WHERE id <= 5 FOR UPDATE) s;
SELECT pg_sleep(6);
COMMIT;
SQL
holder=$!
# Wait until the holder has its locks.
for _ in $(seq 1 50); do
  [[ $(q "SELECT count(*) FROM pg_locks WHERE locktype = 'tuple' AND relation = 't'::regclass") -ge 5 ]] && break
  sleep 0.1
done
expect_eq "tuple locks held" "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'tuple' AND relation = 't'::regclass AND granted")" 5

err() { psql_at "$PORT" -d postgres -qAt -c "$1" 2>&1 >/dev/null | head -1 || true; }
expect_eq "FOR UPDATE waits" "$(err "SET lock_timeout = '300ms'; SELECT id FROM t WHERE id = 3 FOR UPDATE")" \
  "ERROR:  canceling statement due to lock timeout"
expect_eq "FOR UPDATE NOWAIT" "$(err "SELECT id FROM t WHERE id = 3 FOR UPDATE NOWAIT")" \
  'ERROR:  could not obtain lock on row in relation "t"'
expect_eq "FOR SHARE NOWAIT" "$(err "SELECT id FROM t WHERE id = 3 FOR SHARE NOWAIT")" \
  'ERROR:  could not obtain lock on row in relation "t"'
expect_eq "FOR UPDATE SKIP LOCKED" "$(q "SELECT string_agg(id::text, ',' ORDER BY id) FROM (SELECT id FROM t WHERE id <= 8 FOR UPDATE SKIP LOCKED) s")" "6,7,8"
expect_eq "FOR KEY SHARE does not wait" "$(q "SET lock_timeout = '300ms'; SELECT count(*) FROM (SELECT id FROM t WHERE id <= 5 FOR KEY SHARE) s")" 5
wait "$holder" || fail "holder session failed: $(cat "$T_DIR/holder.out")"
expect_eq "rows lockable after the holder committed" "$(q "SELECT count(*) FROM (SELECT id FROM t WHERE id <= 5 FOR UPDATE NOWAIT) s")" 5
expect_eq "no tuple locks left" "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'tuple'")" 0
t_pass
