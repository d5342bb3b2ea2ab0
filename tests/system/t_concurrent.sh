#!/usr/bin/env bash
# Concurrent sessions: while one session inserts in batches (each its own transaction, and a
# large transaction that flushes parts before it commits), readers in other sessions must
# only ever see whole transactions: counts that are multiples of the batch, never a partial
# one, and the big transaction's rows all at once.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${T_CONCURRENT_PORT:-$(free_port 25440)}
t_setup
t_cluster db "$PORT"
q() { sql_at "$PORT" postgres "$1"; }
ext=$(ext_sql)
[[ -z $ext ]] || q "$ext"
q "CREATE TABLE t (id bigint, v text) $(am_clause "order_by = 'id'")"

BATCH=5000
# Writer: 20 transactions of BATCH rows, then one transaction of 300000 rows with a small
# buffer so it writes several parts before committing; a pause before its COMMIT (readers
# must see all the batches and none of it) and after it (readers must see all of it).
writer() {
  for i in $(seq 0 19); do
    q "INSERT INTO t SELECT g, 'batch $i' FROM generate_series($((i * BATCH + 1)), $(((i + 1) * BATCH))) g" >/dev/null
  done
  psql_at "$PORT" -q -d postgres >/dev/null <<SQL
SET mergetree.insert_buffer_size = '1MB';
BEGIN;
INSERT INTO t SELECT g, repeat('x', 50) FROM generate_series(1000001, 1300000) g;
SELECT pg_sleep(2);
COMMIT;
SELECT pg_sleep(2);
SQL
}
writer &
wpid=$!
seen_big=0 seen_pending=0
bad=
deadline=$((SECONDS + 120))
while kill -0 "$wpid" 2>/dev/null && ((SECONDS < deadline)); do
  n=$(q "SELECT count(*) FROM t")
  small=$((n >= 300000 ? n - 300000 : n))
  if ((small % BATCH != 0)); then bad="saw $n rows: not a whole number of transactions"; break; fi
  ((n >= 300000)) && seen_big=1
  ((n == 20 * BATCH)) && seen_pending=1
done
wait "$wpid" || fail "writer failed"
[[ -z $bad ]] || fail "$bad"
total=$(q "SELECT count(*) FROM t")
expect_eq "rows after all transactions" "$total" $((20 * BATCH + 300000))
expect_eq "distinct ids" "$(q "SELECT count(DISTINCT id) FROM t")" "$total"
expect_eq "a reader saw every batch while the big transaction was open" "$seen_pending" 1
expect_eq "a reader saw the big transaction once committed" "$seen_big" 1
t_pass
