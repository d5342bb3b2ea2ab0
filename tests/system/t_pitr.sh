#!/usr/bin/env bash
# Point-in-time recovery: a base backup plus the WAL archive, restored to a moment between two
# loads, returns exactly the first load (parts, deleted-row masks, merges and dropped
# partitions replay from the archive), passes verify, and takes writes and merges after.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PRIMARY=${T_PITR_PORT:-$(free_port 25490)}
RESTORED=$((PRIMARY + 1))
export MT_BACKGROUND_MERGES=on   # merges run while the loads are archived
t_setup
ARCHIVE=$T_DIR/archive
mkdir -m 700 "$ARCHIVE" && chown "$MT_USER:" "$ARCHIVE"
t_cluster primary "$PRIMARY"

p() { sql_at "$PRIMARY" postgres "$1"; }
r() { sql_at "$RESTORED" postgres "$1"; }
SUMMARY="SELECT count(*) || ' ' || coalesce(sum(id), 0) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY id, v), '')) FROM t"
AGG="SELECT string_agg(d || ':' || n || ':' || s, ' ' ORDER BY d)
     FROM (SELECT date_trunc('month', ts)::date AS d, count(*) AS n, sum(id) AS s FROM t GROUP BY 1) g"
load() { # LO HI: one COPY-sized insert in one transaction
  p "INSERT INTO t SELECT i, CASE WHEN i % 13 = 0 THEN NULL ELSE 'value ' || (i % 1000) END,
                          timestamp '2026-01-01' + i * interval '1 minute',
                          CASE WHEN i % 10 <> 0 THEN i * 0.25 END
     FROM generate_series($1::bigint, $2) AS i"
}

p "ALTER SYSTEM SET archive_mode = on"
p "ALTER SYSTEM SET archive_command = 'test ! -f $ARCHIVE/%f && cp %p $ARCHIVE/%f'"
stop_cluster "$T_DIR/primary" >/dev/null
start_cluster "$T_DIR/primary" "$PRIMARY" >/dev/null
expect_eq "archive_mode" "$(p "SHOW archive_mode")" on

ext=$(ext_sql)
[[ -z $ext ]] || p "$ext"
p "CREATE TABLE t (id bigint, v text, ts timestamp, n numeric)
   $(am_clause "order_by = 'id', partition_by = 'date_trunc(''month'', ts)'")"
load 1 20000

note "base backup before the first load"
mkdir -m 700 "$T_DIR/base" && chown "$MT_USER:" "$T_DIR/base"
as_pg pg_basebackup -h 127.0.0.1 -p "$PRIMARY" -U postgres -D "$T_DIR/base" -X stream -c fast

# The first load: many small inserts (many parts for the merges), a delete, an update and a
# final merge of one partition.
for ((k = 0; k < 12; k++)); do load $((20001 + k * 10000)) $((30000 + k * 10000)); done
p "DELETE FROM t WHERE id % 17 = 0"
p "UPDATE t SET v = 'updated' WHERE id % 23 = 0"
if use_ext; then p "SELECT mergetree.optimize('t', final => true)" >/dev/null; fi
FIRST=$(p "$SUMMARY")
FIRST_AGG=$(p "$AGG")
note "after the first load: $FIRST"
sleep 1.1
TARGET=$(p "SELECT clock_timestamp()")
sleep 1.1

# The second load: more rows, deletes, a dropped partition, merges; none of it may survive
# the restore.
for ((k = 0; k < 6; k++)); do load $((200001 + k * 10000)) $((210000 + k * 10000)); done
p "DELETE FROM t WHERE id % 5 = 0"
if use_ext; then
  p "SELECT mergetree.drop_partition('t', '2026-01-01 00:00:00')" >/dev/null
  p "SELECT mergetree.optimize('t', final => true)" >/dev/null
else
  p "DELETE FROM t WHERE date_trunc('month', ts) = '2026-01-01'"
fi
[[ $(p "$SUMMARY") != "$FIRST" ]] || fail "the second load changed nothing"
# Archive everything written so far.
seg=$(p "SELECT pg_walfile_name(pg_switch_wal())")
for ((i = 0; i < 300; i++)); do
  [[ $(p "SELECT coalesce(last_archived_wal >= '$seg', false) FROM pg_stat_archiver") == t ]] && break
  sleep 0.2
done
expect_eq "segment $seg archived" "$(p "SELECT last_archived_wal >= '$seg' FROM pg_stat_archiver")" t
expect_eq "archiver failures" "$(p "SELECT failed_count FROM pg_stat_archiver")" 0
stop_cluster "$T_DIR/primary" >/dev/null   # a clean stop archives the last segment too

note "restore the base backup to $TARGET"
cp -a "$T_DIR/base" "$T_DIR/restored"
rm -rf "$T_DIR/restored/pg_wal"/0*
as_pg touch "$T_DIR/restored/recovery.signal"
{
  echo "restore_command = 'cp $ARCHIVE/%f %p'"
  echo "recovery_target_time = '$TARGET'"
  echo "recovery_target_action = 'promote'"
  echo "archive_mode = off"
} | as_pg tee -a "$T_DIR/restored/postgresql.auto.conf" >/dev/null
t_cluster restored "$RESTORED"   # keeps the restored data dir, rewrites port and socket dir
for ((i = 0; i < 300; i++)); do
  [[ $(r "SELECT pg_is_in_recovery()") == f ]] && break
  sleep 0.2
done
expect_eq "restored cluster promoted" "$(r "SELECT pg_is_in_recovery()")" f
grep -q "recovery stopping before commit" "$(cluster_log "$T_DIR/restored")" \
  || fail "recovery did not stop at the target time"
expect_eq "restored rows equal the first load" "$(r "$SUMMARY")" "$FIRST"
expect_eq "restored per-month aggregate" "$(r "$AGG")" "$FIRST_AGG"
if use_ext; then
  expect_eq "verify problems" "$(r "SELECT count(*) FROM mergetree.verify('t')")" 0
  # The restored cluster takes writes and merges them.
  for ((k = 0; k < 8; k++)); do r "INSERT INTO t VALUES (${k}000000, 'new', '2026-01-02', 1)"; done
  r "SELECT mergetree.optimize('t', final => true)" >/dev/null
  expect_eq "new rows after the restore" "$(r "SELECT count(*) FROM t WHERE v = 'new'")" 8
  expect_eq "verify problems after a merge" "$(r "SELECT count(*) FROM mergetree.verify('t')")" 0
fi
t_pass
