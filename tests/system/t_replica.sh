#!/usr/bin/env bash
# Streaming replication: a standby made with pg_basebackup sees the same rows as the primary,
# after inserts, DELETE and UPDATE, a merge, and a TRUNCATE on the primary.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PRIMARY=${T_REPLICA_PORT:-$(free_port 25430)}
STANDBY=$((PRIMARY + 1))
t_setup
t_cluster primary "$PRIMARY"

p() { sql_at "$PRIMARY" postgres "$1"; }
s() { sql_at "$STANDBY" postgres "$1"; }
SUMMARY="SELECT count(*) || ' ' || coalesce(sum(id), 0) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY id), '')) FROM t"
insert() { # LO HI
  p "INSERT INTO t SELECT i, 'value ' || i, timestamp '2026-03-01' + i * interval '1 minute',
                          CASE WHEN i % 10 <> 0 THEN i * 0.5 END
     FROM generate_series($1::bigint, $2) AS i"
}
# Wait until the standby has replayed everything the primary has written so far, then compare.
check_standby() { # WHAT
  local lsn i
  lsn=$(p "SELECT pg_current_wal_lsn()")
  for ((i = 0; i < 300; i++)); do
    [[ $(s "SELECT pg_last_wal_replay_lsn() >= '$lsn'") == t ]] && break
    sleep 0.2
  done
  [[ $(s "SELECT pg_last_wal_replay_lsn() >= '$lsn'") == t ]] \
    || fail "standby did not replay up to $lsn within 60s (at $(s "SELECT pg_last_wal_replay_lsn()"))"
  expect_eq "standby vs primary $1" "$(s "$SUMMARY")" "$(p "$SUMMARY")"
}

ext=$(ext_sql)
[[ -z $ext ]] || p "$ext"
p "CREATE TABLE t (id bigint, v text, ts timestamp, n numeric) $(am_clause "order_by = 'id'")"
insert 1 50000

note "pg_basebackup to the standby"
mkdir -m 700 "$T_DIR/standby" && chown "$MT_USER:" "$T_DIR/standby"
as_pg pg_basebackup -h 127.0.0.1 -p "$PRIMARY" -U postgres -D "$T_DIR/standby" -R -X stream -c fast
t_cluster standby "$STANDBY"   # keeps the copied data dir, rewrites port and socket dir
expect_eq "standby in recovery" "$(s "SELECT pg_is_in_recovery()")" t
expect_eq "standby preloads" "$(s "SHOW shared_preload_libraries")" "$(p "SHOW shared_preload_libraries")"
check_standby "after the base backup"

insert 50001 80000
check_standby "after more inserts"

# Deletes and updates replay: their masks are catalog rows, WAL-logged like parts.
p "DELETE FROM t WHERE id % 3 = 0"
p "UPDATE t SET id = id + 100000 WHERE id % 7 = 0"
check_standby "after DELETE and UPDATE"
p "SELECT mergetree.optimize('t', final => true)"
check_standby "after the merge dropping the deleted rows"

p "TRUNCATE t"
insert 1000001 1000005
check_standby "after TRUNCATE and a few inserts"
expect_eq "rows on the standby" "$(s "SELECT count(*) FROM t")" 5
t_pass
