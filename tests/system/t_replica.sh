#!/usr/bin/env bash
# Streaming replication: a standby made with pg_basebackup replays inserts, merges (background
# and optimize), DELETE and UPDATE, drop_partition and TRUNCATE, and answers a set of queries
# (through MergeTreeAgg and the plain scan) exactly as the primary does, also while the primary
# keeps writing; promoted, it takes writes and merges them in the background.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PRIMARY=${T_REPLICA_PORT:-$(free_port 25430)}
STANDBY=$((PRIMARY + 1))
WRITE_SECONDS=${T_REPLICA_WRITE_SECONDS:-15}
export MT_BACKGROUND_MERGES=on   # the primary merges while it writes; the standby replays it
t_setup
t_cluster primary "$PRIMARY"

p() { sql_at "$PRIMARY" postgres "$1"; }
s() { sql_at "$STANDBY" postgres "$1"; }
SUMMARY="SELECT count(*) || ' ' || coalesce(sum(id), 0) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY id, v), '')) FROM t"
# Queries the aggregation node answers (and, with it off, Postgres' aggregation above the scan).
QUERIES=(
  "SELECT count(*), count(DISTINCT v), sum(n), avg(n), min(ts), max(ts) FROM t"
  "SELECT date_trunc('day', ts) AS d, count(*), sum(id), max(v) FROM t GROUP BY 1 ORDER BY 1"
  "SELECT v, count(*) FROM t WHERE id % 2 = 0 GROUP BY v ORDER BY 2 DESC, 1 LIMIT 10"
  "SELECT count(*) FILTER (WHERE n IS NULL), percentile_disc(0.5) WITHIN GROUP (ORDER BY id) FROM t"
)
insert() { # LO HI
  p "INSERT INTO t SELECT i, 'value ' || (i % 500), timestamp '2026-03-01' + i * interval '1 minute',
                          CASE WHEN i % 10 <> 0 THEN i * 0.5 END
     FROM generate_series($1::bigint, $2) AS i"
}
# Wait until the standby has replayed everything the primary has written so far, then compare.
check_standby() { # WHAT
  local lsn i q k=0
  lsn=$(p "SELECT pg_current_wal_lsn()")
  for ((i = 0; i < 300; i++)); do
    [[ $(s "SELECT pg_last_wal_replay_lsn() >= '$lsn'") == t ]] && break
    sleep 0.2
  done
  [[ $(s "SELECT pg_last_wal_replay_lsn() >= '$lsn'") == t ]] \
    || fail "standby did not replay up to $lsn within 60s (at $(s "SELECT pg_last_wal_replay_lsn()"))"
  expect_eq "standby vs primary $1" "$(s "$SUMMARY")" "$(p "$SUMMARY")"
  for q in "${QUERIES[@]}"; do
    k=$((k + 1))
    [[ $(s "$q") == "$(p "$q")" ]] || fail "query $k differs on the standby $1: $q"
  done
}

ext=$(ext_sql)
[[ -z $ext ]] || p "$ext"
p "CREATE TABLE t (id bigint, v text, ts timestamp, n numeric(12, 2))
   $(am_clause "order_by = 'id', partition_by = 'date_trunc(''month'', ts)'")"
insert 1 50000

note "pg_basebackup to the standby"
mkdir -m 700 "$T_DIR/standby" && chown "$MT_USER:" "$T_DIR/standby"
as_pg pg_basebackup -h 127.0.0.1 -p "$PRIMARY" -U postgres -D "$T_DIR/standby" -R -X stream -c fast
t_cluster standby "$STANDBY"   # keeps the copied data dir, rewrites port and socket dir
expect_eq "standby in recovery" "$(s "SELECT pg_is_in_recovery()")" t
expect_eq "standby preloads" "$(s "SHOW shared_preload_libraries")" "$(p "SHOW shared_preload_libraries")"
if use_ext; then
  s "EXPLAIN (COSTS OFF) ${QUERIES[0]}" | grep -q MergeTreeAgg \
    || fail "the standby does not plan MergeTreeAgg: $(s "EXPLAIN (COSTS OFF) ${QUERIES[0]}")"
fi
check_standby "after the base backup"

insert 50001 80000
check_standby "after more inserts"

# Deletes and updates replay: their masks are catalog rows, WAL-logged like parts.
p "DELETE FROM t WHERE id % 3 = 0"
p "UPDATE t SET id = id + 100000 WHERE id % 7 = 0"
check_standby "after DELETE and UPDATE"
if use_ext; then p "SELECT mergetree.optimize('t', final => true)" >/dev/null; fi
check_standby "after the merge dropping the deleted rows"

# The primary keeps writing (small inserts the background merges fold together, deletes, an
# optimize now and then) while the standby answers the queries; every answer must be whole.
note "primary writes for ${WRITE_SECONDS}s while the standby answers queries"
(
  end=$((SECONDS + WRITE_SECONDS)); k=0
  while ((SECONDS < end)); do
    k=$((k + 1))
    insert $((200000 + k * 300)) $((200299 + k * 300))
    if ((k % 10 == 0)); then p "DELETE FROM t WHERE id BETWEEN $((200000 + k * 300)) AND $((200049 + k * 300))"; fi
    if ((k % 25 == 0)) && use_ext; then p "SELECT mergetree.optimize('t')" >/dev/null; fi
  done
  echo "$k" >"$T_DIR/writes"
) &
writer=$!
# Each query runs twice in one repeatable-read snapshot of the standby, through the node and
# with it off: the answers must agree while replay goes on underneath.
both_ways() { # QUERY
  psql_at "$STANDBY" -d postgres -Atq <<SQL
BEGIN ISOLATION LEVEL REPEATABLE READ;
$1;
\echo ---
SET LOCAL mergetree.enable_aggregate_scan = off;
$1;
COMMIT;
SQL
}
reads=0
while kill -0 "$writer" 2>/dev/null; do
  for q in "${QUERIES[@]}"; do
    out=$(both_ways "$q")
    [[ $(sed '/^---$/,$d' <<<"$out") == "$(sed '1,/^---$/d' <<<"$out")" ]] || fail "node and plain scan differ on the standby in one snapshot: $q: $out"
    reads=$((reads + 1))
  done
done
wait "$writer" || fail "the writer on the primary failed"
note "$(cat "$T_DIR/writes") write rounds on the primary, $reads queries on the standby meanwhile"
check_standby "after the concurrent writes"
if use_ext; then
  parts=$(p "SELECT count(*) FROM mergetree.parts WHERE table_name = 't'::regclass")
  expect_eq "standby sees the primary's parts" \
    "$(s "SELECT count(*) FROM mergetree.parts WHERE table_name = 't'::regclass")" "$parts"
  p "SELECT mergetree.drop_partition('t', '2026-03-01 00:00:00')" >/dev/null
else
  p "DELETE FROM t WHERE date_trunc('month', ts) = '2026-03-01'"
fi
check_standby "after drop_partition"

p "TRUNCATE t"
insert 1000001 1000005
check_standby "after TRUNCATE and a few inserts"
expect_eq "rows on the standby" "$(s "SELECT count(*) FROM t")" 5

note "promote the standby"
s "SELECT pg_promote(wait => true)" >/dev/null
expect_eq "promoted" "$(s "SELECT pg_is_in_recovery()")" f
for ((k = 0; k < 30; k++)); do
  s "INSERT INTO t SELECT i, 'after promotion', '2026-05-01', 1 FROM generate_series($((2000000 + k * 100)), $((2000099 + k * 100))) i"
done
expect_eq "rows after promotion" "$(s "SELECT count(*) FROM t")" 3005
if use_ext; then
  note "background merges on the promoted standby: $(wait_merged "$STANDBY" postgres t 3)"
  expect_eq "verify problems on the promoted standby" "$(s "SELECT count(*) FROM mergetree.verify('t')")" 0
fi
expect_eq "rows after merges on the promoted standby" "$(s "SELECT count(*) || ' ' || sum(id) FROM t")" \
  "3005 $(p "SELECT 5000015 + sum(i) FROM generate_series(2000000, 2002999) i")"
t_pass
