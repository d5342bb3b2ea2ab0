#!/usr/bin/env bash
# Row locks across sessions: while one transaction holds FOR UPDATE on rows, another
# session's FOR UPDATE waits (lock_timeout), NOWAIT fails with heap's error, FOR SHARE
# conflicts too; once the holder commits, the rows can be locked again. Heap locks rows;
# a mergetree table's row locks are its writers' table lock (write/dml.rs: SHARE UPDATE
# EXCLUSIVE, as DELETE and UPDATE take): every row of the table counts as locked, so
# SKIP LOCKED skips them all and a DELETE of any row waits. Run with MT_AM=heap it
# checks heap's row-precise answers.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
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
# Wait until the holder has its locks (it sleeps once it has them).
for _ in $(seq 1 50); do
  [[ $(q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(6)%' AND state = 'active'") == 1 ]] && break
  sleep 0.1
done
if use_ext; then
  expect_eq "table lock held" "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND relation = 't'::regclass AND mode = 'ShareUpdateExclusiveLock' AND granted")" 1
fi

err() { psql_at "$PORT" -d postgres -qAt -c "$1" 2>&1 >/dev/null | head -1 || true; }
expect_eq "FOR UPDATE waits" "$(err "SET lock_timeout = '300ms'; SELECT id FROM t WHERE id = 3 FOR UPDATE")" \
  "ERROR:  canceling statement due to lock timeout"
expect_eq "FOR UPDATE NOWAIT" "$(err "SELECT id FROM t WHERE id = 3 FOR UPDATE NOWAIT")" \
  'ERROR:  could not obtain lock on row in relation "t"'
expect_eq "FOR SHARE NOWAIT" "$(err "SELECT id FROM t WHERE id = 3 FOR SHARE NOWAIT")" \
  'ERROR:  could not obtain lock on row in relation "t"'
expect_eq "FOR KEY SHARE waits" "$(err "SET lock_timeout = '300ms'; SELECT id FROM t WHERE id = 3 FOR KEY SHARE")" \
  "ERROR:  canceling statement due to lock timeout"
if use_ext; then
  expect_eq "FOR UPDATE SKIP LOCKED" "$(q "SELECT count(*) FROM (SELECT id FROM t WHERE id <= 8 FOR UPDATE SKIP LOCKED) s")" 0
  expect_eq "DELETE waits" "$(err "SET lock_timeout = '300ms'; DELETE FROM t WHERE id = 50")" "ERROR:  canceling statement due to lock timeout"
else
  expect_eq "FOR UPDATE SKIP LOCKED" "$(q "SELECT count(*) FROM (SELECT id FROM t WHERE id <= 8 FOR UPDATE SKIP LOCKED) s")" 3
  expect_eq "DELETE waits" "$(err "SET lock_timeout = '300ms'; DELETE FROM t WHERE id = 3")" "ERROR:  canceling statement due to lock timeout"
fi
expect_eq "reads and inserts do not wait" "$(q "SET lock_timeout = '300ms'; INSERT INTO t VALUES (101, 'x'); SELECT count(*) FROM t")" 101
wait "$holder" || fail "holder session failed: $(cat "$T_DIR/holder.out")"
expect_eq "rows lockable after the holder committed" "$(q "SELECT count(*) FROM (SELECT id FROM t WHERE id <= 5 FOR UPDATE NOWAIT) s")" 5
expect_eq "no locks left" "$(q "SELECT count(*) FROM pg_locks WHERE locktype IN ('tuple', 'relation') AND relation = 't'::regclass")" 0
t_pass
