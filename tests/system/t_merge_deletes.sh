#!/usr/bin/env bash
# Deletes and updates that commit while a background merge runs are carried to the merged
# part (its rows keep their deletes) instead of the merge being thrown away: the merge
# installs, the part log records it after the deletes, and the rows equal a heap shadow.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${T_MERGE_DELETES_PORT:-$(free_port 25640)}
export MT_BACKGROUND_MERGES=on
t_setup
use_ext || { note "skipped: needs the extension"; t_pass; exit 0; }
t_cluster db "$PORT"
q() { sql_at "$PORT" postgres "$1"; }
q "CREATE EXTENSION pg_mergetree"
q "CREATE TABLE t (id bigint, k int, v text) USING mergetree WITH (order_by = 'k, id', background_merges = off)"
q "CREATE TABLE h (id bigint, k int, v text)"
for ((b = 0; b < 24; b++)); do
  for tw in t h; do
    q "INSERT INTO $tw SELECT i, ((i::bigint * 7919) % 1000)::int, 'v' || i FROM generate_series($((b * 50000 + 1)), $((b * 50000 + 50000))) i"
  done
done
note "24 parts of 50,000 rows; background merges on for the table"
q "ALTER TABLE t SET (background_merges = on)"
# Wait until a merge of t is running, then delete and update rows of its inputs.
for ((i = 0; i < 600; i++)); do
  [[ $(q "SELECT count(*) FROM mergetree.merges WHERE table_name = 't'::regclass") != 0 ]] && break
  sleep 0.1
done
[[ $(q "SELECT count(*) FROM mergetree.merges WHERE table_name = 't'::regclass") != 0 ]] || fail "no merge of t started within 60 s"
# Each round deletes and updates rows of t while a merge of it runs: the same merges (by
# worker, inputs and size) run before and after the statements commit; the same statements
# go to the shadow afterwards. Rounds that miss a merge load more parts for the next one.
running="SELECT coalesce(string_agg(pid || ':' || parts || ':' || rows_total, ',' ORDER BY pid), '') FROM mergetree.merges WHERE table_name = 't'::regclass"
rounds=0 stmts=() next_id=2000000
while ((rounds < 40)); do
  rounds=$((rounds + 1))
  for ((i = 0; i < 100; i++)); do
    [[ -n $(q "$running") ]] && break
    sleep 0.05
  done
  before=$(q "$running")
  stmts+=("DELETE FROM %s WHERE k = $rounds" "UPDATE %s SET v = 'updated' WHERE k = $((500 + rounds))")
  q "${stmts[-2]//%s/t}"
  q "${stmts[-1]//%s/t}"
  after_ts=$(q "SELECT clock_timestamp()")
  if [[ -n $before && $(q "$running") == "$before" ]]; then
    during=$after_ts
    break
  fi
  for ((b = 0; b < 6; b++)); do
    stmts+=("INSERT INTO %s SELECT i, ((i::bigint * 7919) % 1000)::int, 'v' || i FROM generate_series($next_id, $((next_id + 49999))) i")
    q "${stmts[-1]//%s/t}"
    next_id=$((next_id + 50000))
  done
done
[[ -n ${during:-} ]] || fail "no merge ran after a round of deletes"
for st in "${stmts[@]}"; do q "${st//%s/h}"; done
note "$rounds rounds of DELETE and UPDATE; a merge ran through the one that ended at $during"
note "background merges: $(wait_merged "$PORT" postgres t 2)"
merged=$(q "SELECT count(*) FROM mergetree.part_log WHERE table_name = 't'::regclass AND event_type = 'merge' AND background AND event_time > '$during'")
((merged > 0)) || fail "no background merge finished after the deletes it ran through"
# The merged parts hold masks: rows deleted from their inputs while they were merged.
carried=$(q "SELECT count(*) FROM mergetree.deleted_rows_catalog d JOIN mergetree.part_catalog p USING (relfilenode, part_id)
             WHERE p.relfilenode = (SELECT relfilenode FROM pg_class WHERE oid = 't'::regclass) AND p.level > 0
               AND p.created > '$during'")
((carried > 0)) || fail "the merged parts carry no deletes"
note "merges installed through the deletes: $merged, carrying $carried masks"
SUMMARY="SELECT count(*) || ' ' || sum(id) || ' ' || md5(string_agg(x::text, ',' ORDER BY id)) FROM %s x"
expect_eq "rows of t against the heap shadow" "$(q "${SUMMARY//%s/t}")" "$(q "${SUMMARY//%s/h}")"
expect_eq "verify problems" "$(q "SELECT count(*) FROM mergetree.verify('t')")" 0
q "SELECT mergetree.optimize('t', final => true)" >/dev/null
expect_eq "rows of t after a final merge" "$(q "${SUMMARY//%s/t}")" "$(q "${SUMMARY//%s/h}")"
t_pass
