#!/usr/bin/env bash
# DELETE and UPDATE across sessions and crashes. Two sessions changing overlapping rows,
# under READ COMMITTED, REPEATABLE READ and SERIALIZABLE, end as heap ends (the same row
# counts, the same errors, the same rows after), run side by side on a heap table and a
# mergetree table; a writer never blocks plain reads or inserts; an optimize racing a
# DELETE keeps the delete. SIGKILL during a large DELETE and during a merge that drops
# deleted rows loses nothing and resurrects nothing.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
use_ext || { echo "ok - $(basename "$0" .sh) # skipped: needs the extension"; exit 0; }
T_ALLOW_SIGKILL=1
PORT=${T_DML_PORT:-$(free_port 25520)}
t_setup
t_cluster db "$PORT"
DATA=$T_DIR/db
q() { sql_at "$PORT" postgres "$1"; }
q "$(ext_sql)"

reset_tables() {
  q "DROP TABLE IF EXISTS h, m; CREATE TABLE h (id int, v int); CREATE TABLE m (id int, v int) USING mergetree WITH (order_by = 'id')"
  q "INSERT INTO h SELECT i, i FROM generate_series(1, 200) i; INSERT INTO m SELECT * FROM h"
}
state() { q "SELECT md5(string_agg(id || ':' || v, ',' ORDER BY id, v)) || ' ' || count(*) FROM $1"; }

# pair TABLE ISO FIRST SECOND (@t: the table): session A runs FIRST in a transaction it keeps open for a
# moment; once it is waiting, session B (isolation ISO) takes its snapshot, then runs
# SECOND, which meets A's uncommitted change. Prints B's output (command tags, SQLSTATEs).
pair() {
  local t=$1 iso=$2 first=${3//@t/$1} second=${4//@t/$1} a
  psql_at "$PORT" -d postgres -X -q >"$T_DIR/a.out" 2>&1 <<SQL &
BEGIN;
$first;
SELECT pg_sleep(1.5);
COMMIT;
SQL
  a=$!
  for _ in $(seq 1 100); do
    [[ $(q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(1.5)%' AND state = 'active'") == 1 ]] && break
    sleep 0.05
  done
  { psql_at "$PORT" -d postgres -X 2>&1 || true; } <<SQL | grep -vE '^(BEGIN|COMMIT|ROLLBACK|SET)$' | tr '\n' ' '
\set VERBOSITY sqlstate
BEGIN ISOLATION LEVEL $iso;
SELECT count(*) > 0 AS seen FROM $t \gset
$second;
COMMIT;
SQL
  wait "$a" || fail "session A failed: $(cat "$T_DIR/a.out")"
}

scenario() { # NAME ISO FIRST SECOND
  reset_tables
  local out_h out_m
  out_h=$(pair h "$2" "$3" "$4")
  out_m=$(pair m "$2" "$3" "$4")
  expect_eq "$1: second session" "$out_m" "$out_h"
  expect_eq "$1: rows after" "$(state m)" "$(state h)"
}

scenario "delete vs delete, read committed" "READ COMMITTED" "DELETE FROM @t WHERE id <= 10" "DELETE FROM @t WHERE id <= 20"
scenario "update vs update, read committed" "READ COMMITTED" "UPDATE @t SET v = v + 1 WHERE id = 50" "UPDATE @t SET v = v + 1 WHERE id = 50"
scenario "delete vs update, read committed" "READ COMMITTED" "DELETE FROM @t WHERE id BETWEEN 80 AND 85" "UPDATE @t SET v = -v WHERE id BETWEEN 82 AND 90"
scenario "update vs update, repeatable read" "REPEATABLE READ" "UPDATE @t SET v = v + 1 WHERE id = 60" "UPDATE @t SET v = v + 1 WHERE id = 60"
scenario "delete vs delete, repeatable read" "REPEATABLE READ" "DELETE FROM @t WHERE id = 61" "DELETE FROM @t WHERE id = 61"
scenario "other rows, repeatable read" "REPEATABLE READ" "UPDATE @t SET v = v + 1 WHERE id = 70" "UPDATE @t SET v = v + 10 WHERE id = 71"
scenario "key update vs delete, serializable" "SERIALIZABLE" "UPDATE @t SET id = id + 1000 WHERE id = 90" "DELETE FROM @t WHERE id = 90"
scenario "delete vs select for update, read committed" "READ COMMITTED" "DELETE FROM @t WHERE id <= 5" "SELECT count(*) FROM (SELECT id FROM @t WHERE id <= 8 FOR UPDATE) s"

# A writer blocks neither plain reads nor inserts, which see the table as it was.
reset_tables
psql_at "$PORT" -d postgres -X -q >"$T_DIR/a.out" 2>&1 <<'SQL' &
BEGIN;
DELETE FROM m WHERE id <= 100;
SELECT pg_sleep(2);
COMMIT;
SQL
a=$!
sleep 0.5
expect_eq "read during a delete" "$(q "SET lock_timeout = '1s'; SELECT count(*) FROM m")" 200
expect_eq "insert during a delete" "$(q "SET lock_timeout = '1s'; INSERT INTO m VALUES (1000, 1000); SELECT count(*) FROM m WHERE id = 1000")" 1
# optimize waits for the writer, then merges without the deleted rows.
expect_eq "optimize racing a delete" "$(q "SELECT mergetree.optimize('m', final => true) IS NULL; SELECT count(*) FROM m")" "t
101"
wait "$a" || fail "deleting session failed: $(cat "$T_DIR/a.out")"
expect_eq "parts after optimize" "$(q "SELECT count(*) || ' ' || sum(rows) FROM mergetree.parts WHERE table_name = 'm'::regclass")" "1 101"

# Crashes. Kill everything, like a power cut, and restart.
kill_all() {
  kill_cluster "$DATA"
  start_cluster "$DATA" "$PORT" >/dev/null
}
q "DROP TABLE m; CREATE TABLE m (id int, v text) USING mergetree WITH (order_by = 'id', background_merges = off)"
for i in 0 1 2; do q "INSERT INTO m SELECT g, md5(g::text) FROM generate_series($i * 100000 + 1, ($i + 1) * 100000) g"; done
full=$(q "SELECT count(*) || ' ' || sum(id) FROM m")
expect_eq "loaded" "$full" "300000 45000150000"

# 1. SIGKILL while a large DELETE is uncommitted: every row is still there.
psql_at "$PORT" -d postgres -X -q >/dev/null 2>&1 <<'SQL' &
BEGIN;
DELETE FROM m WHERE id % 3 = 0;
SELECT pg_sleep(60);
SQL
for _ in $(seq 1 200); do
  [[ $(q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%' AND state = 'active'") == 1 ]] && break
  sleep 0.1
done
kill_all
wait || true
expect_eq "uncommitted delete after a crash" "$(q "SELECT count(*) || ' ' || sum(id) FROM m")" "$full"

# 2. A committed DELETE survives a crash right after its commit.
q "DELETE FROM m WHERE id % 3 = 0"
after=$(q "SELECT count(*) || ' ' || sum(id) FROM m")
expect_eq "after the delete" "$after" "200000 30000000000"
kill_all
expect_eq "committed delete after a crash" "$(q "SELECT count(*) || ' ' || sum(id) FROM m")" "$after"

# 3. SIGKILL during the merge that drops the deleted rows: nothing lost, nothing back.
psql_at "$PORT" -d postgres -X -q -c "SELECT mergetree.optimize('m', final => true)" >/dev/null 2>&1 &
for _ in $(seq 1 200); do
  [[ $(q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%mergetree.optimize%' AND state = 'active' AND pid <> pg_backend_pid()") == 1 ]] && break
  sleep 0.02
done
sleep 0.2
kill_all
wait || true
expect_eq "interrupted merge after a crash" "$(q "SELECT count(*) || ' ' || sum(id) FROM m")" "$after"
expect_eq "verify after the crash" "$(q "SELECT count(*) FROM mergetree.verify('m')")" 0
q "SELECT mergetree.optimize('m', final => true)" >/dev/null
expect_eq "after the merge" "$(q "SELECT count(*) || ' ' || sum(id) FROM m")" "$after"
expect_eq "one part, no masks" "$(q "SELECT (SELECT count(*) FROM mergetree.parts WHERE table_name = 'm'::regclass) || ' ' || (SELECT count(*) FROM mergetree.deleted_rows_catalog)")" "1 0"
kill_all
expect_eq "merged rows after a crash" "$(q "SELECT count(*) || ' ' || sum(id) FROM m")" "$after"
t_pass
