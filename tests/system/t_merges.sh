#!/usr/bin/env bash
# Background merges under fire: small inserts settle into few parts; readers in the middle
# of merges always see exactly the committed rows (checked against a heap table written in
# the same transactions); kill -9 of the server during merges loses and duplicates nothing
# and merges resume; TRUNCATE and drop_partition racing merges end cleanly; the file is
# compacted once merges settle; DROP DATABASE gets past a worker merging in it.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $MT_AM == heap ]] && { echo "ok - $(basename "$0" .sh) # skip: merges are mergetree's"; exit 0; }
T_ALLOW_SIGKILL=1
export MT_BACKGROUND_MERGES=on
PORT=${T_MERGES_PORT:-$(free_port 25430)}
CRASHES=${T_MERGES_CRASHES:-3}
t_setup
t_cluster db "$PORT"
DATA=$T_DIR/db

q() { sql_at "$PORT" postgres "$1"; }
qd() { sql_at "$PORT" "$1" "$2"; }
parts() { q "SELECT count(*) FROM mergetree.parts WHERE table_name = '$1'::regclass"; }
summary() { q "SELECT count(*) || ' ' || coalesce(sum(id), 0) || ' ' || md5(coalesce(string_agg(v, ',' ORDER BY id, v), '')) FROM $1"; }
# settle TABLE N: bounded wait until the table has at most N parts.
settle() {
  local i
  for ((i = 0; i < 600; i++)); do
    (($(parts "$1") <= $2)) && return 0
    sleep 0.2
  done
  fail "$1 still has $(parts "$1") parts after 120s of background merges"
}
kill_all() { kill_cluster "$DATA"; }
# wait_merging TABLE SINCE: bounded wait until a merge worker is merging the table, or
# has merged it since SINCE (a timestamp): a merge of small parts can start and commit
# between two looks, and then the race the caller sets up is not run this time (its
# checks still hold).
wait_merging() {
  local i
  for ((i = 0; i < 600; i++)); do
    [[ -n $(q "SELECT pid FROM mergetree.merges WHERE table_name = '$1'::regclass AND background AND rows_total > 0") ]] && return 0
    [[ $(q "SELECT count(*) FROM mergetree.part_log WHERE table_name = '$1'::regclass AND event_type = 'merge' AND event_time > '$2'") != 0 ]] && return 0
    sleep 0.05
  done
  # What the workers were doing, for the failure's diagnosis.
  q "SELECT backend_type, state, wait_event_type, wait_event, left(query, 60) FROM pg_stat_activity WHERE backend_type NOT IN ('client backend', 'checkpointer', 'walwriter', 'background writer', 'autovacuum launcher', 'logical replication launcher')" >&2 || true
  q "SELECT count(*), count(*) FILTER (WHERE level = 0) FROM mergetree.parts WHERE table_name = '$1'::regclass" >&2 || true
  q "SELECT reloptions FROM pg_class WHERE oid = '$1'::regclass" >&2 || true
  fail "no merge of $1 started within 30s"
}
clean() { expect_eq "mergetree.verify($1)" "$(q "SELECT count(*) FROM mergetree.verify('$1')")" 0; }

q "CREATE EXTENSION pg_mergetree"

# 1. Many single-row transactions settle without anyone asking.
q "CREATE TABLE s (id int, v text) USING mergetree WITH (order_by = 'id')"
q "CREATE TABLE sh (id int, v text)"
psql_at "$PORT" -d postgres -q -c "SELECT format('INSERT INTO s VALUES (%s, ''v%s''); INSERT INTO sh VALUES (%s, ''v%s'');', i, i, i, i) FROM generate_series(1, 400) i" \
  -At | psql_at "$PORT" -d postgres -q >/dev/null
settle s 8
expect_eq "single-row inserts after merges" "$(summary s)" "$(summary sh)"
clean s

# 2. Readers during merges: the mergetree table and its heap shadow, written in the same
# transactions, read in one snapshot, always agree (count, sum and contents).
q "CREATE TABLE r (id int, v text) USING mergetree WITH (order_by = 'id, v')"
q "CREATE TABLE rh (id int, v text)"
(
  for ((b = 0; b < 150; b++)); do
    echo "BEGIN; INSERT INTO r SELECT g, 'b$b' FROM generate_series(1, 40) g; INSERT INTO rh SELECT g, 'b$b' FROM generate_series(1, 40) g; COMMIT;"
  done | psql_at "$PORT" -d postgres -q >/dev/null
) &
writer=$!
checks=0
while kill -0 "$writer" 2>/dev/null; do
  got=$(q "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT (SELECT count(*) || ' ' || coalesce(sum(id), 0) || ' ' || md5(coalesce(string_agg(v, ',' ORDER BY id, v), '')) FROM r) = (SELECT count(*) || ' ' || coalesce(sum(id), 0) || ' ' || md5(coalesce(string_agg(v, ',' ORDER BY id, v), '')) FROM rh); COMMIT;")
  [[ $got == t ]] || fail "a reader saw the mergetree table differ from its heap shadow during merges"
  checks=$((checks + 1))
done
wait "$writer"
settle r 8
expect_eq "rows after concurrent inserts, merges and $checks consistent reads" "$(summary r)" "$(summary rh)"
clean r

# 3. kill -9 of every server process in the middle of merges, again and again.
q "CREATE TABLE c (id bigint, v text) USING mergetree WITH (order_by = 'id', background_merges = off)"
for ((k = 0; k < 12; k++)); do
  q "INSERT INTO c SELECT g * 12 + $k, md5(g::text) FROM generate_series(1, 40000) g"
done
want=$(summary c)
for ((n = 1; n <= CRASHES; n++)); do
  since=$(q "SELECT clock_timestamp()")
  q "ALTER TABLE c SET (background_merges = on)"
  wait_merging c "$since"
  sleep "0.$((RANDOM % 5))"
  kill_all
  start_cluster "$DATA" "$PORT" >/dev/null
  wait_ready "$PORT" 60 || fail "server not ready after crash $n"
  expect_eq "rows after kill -9 during merges ($n)" "$(summary c)" "$want"
  clean c
  q "ALTER TABLE c SET (background_merges = off)"
  # New parts for the next round, so there is something to merge again.
  for ((k = 0; k < 10; k++)); do
    q "INSERT INTO c SELECT -g * 10 - $k - $n * 1000000, 'x' FROM generate_series(1, 20000) g"
  done
  want=$(summary c)
done
q "ALTER TABLE c SET (background_merges = on)"
settle c 3
expect_eq "rows once merges resumed after the crashes" "$(summary c)" "$want"
clean c
# VACUUM gives the pages of merged-away parts back; the table stays whole.
q "VACUUM c"
expect_eq "rows after VACUUM" "$(summary c)" "$want"

# The part log has the merges that committed, each from parts to one.
expect_eq "merges of c in the part log, each of several parts" \
  "$(q "SELECT count(*) > 0 AND bool_and(cardinality(source_parts) >= 2 AND background) FROM mergetree.part_log WHERE table_name = 'c'::regclass AND event_type = 'merge'")" t

# 4. TRUNCATE racing a merge: the merge gives way, the table ends empty and healthy.
q "ALTER TABLE c SET (background_merges = off)"
for ((k = 0; k < 8; k++)); do q "INSERT INTO c SELECT g, md5(g::text) FROM generate_series(1, 40000) g"; done
since=$(q "SELECT clock_timestamp()")
q "ALTER TABLE c SET (background_merges = on)"
wait_merging c "$since"
q "TRUNCATE c"
expect_eq "rows after TRUNCATE during a merge" "$(q "SELECT count(*) FROM c")" 0
q "INSERT INTO c VALUES (1, 'one')"
expect_eq "rows inserted after" "$(summary c)" "$(q "SELECT '1 1 ' || md5('one')")"
clean c

# 5. drop_partition racing a merge of that partition: it waits for the merge, then
# drops what the merge made.
q "CREATE TABLE p (id bigint, day int, v text) USING mergetree WITH (order_by = 'id', partition_by = 'day', background_merges = off)"
for ((k = 0; k < 8; k++)); do q "INSERT INTO p SELECT g, g % 2, md5(g::text) FROM generate_series(1, 60000) g"; done
since=$(q "SELECT clock_timestamp()")
q "ALTER TABLE p SET (background_merges = on)"
wait_merging p "$since"
expect_eq "rows dropped" "$(q "SELECT mergetree.drop_partition('p', '0')")" 240000
expect_eq "rows left, all of the other partition" "$(q "SELECT count(*) || ' ' || count(*) FILTER (WHERE day = 1) FROM p")" "240000 240000"
clean p

# 6. Compaction: once merges settle, merge workers move the last part into the free
# space its inputs left and the file's tail is cut off. A reader holding an older
# snapshot keeps reading the part where it was; rows keep their TIDs; a crash after the
# truncation loses nothing.
q "CREATE TABLE k (id bigint, v text) USING mergetree WITH (order_by = 'id', background_merges = off)"
for ((k = 0; k < 4; k++)); do q "INSERT INTO k SELECT g * 4 + $k, md5((g / 20)::text) FROM generate_series(1, 1000000) g"; done
q "SELECT mergetree.optimize('k', final => true)" >/dev/null
want=$(summary k)
tid=$(q "SELECT ctid FROM k WHERE id = 400")
blocks() { q "SELECT pg_relation_size('k') / 8192"; }
live=$(q "SELECT sum(nblocks) FROM mergetree.part_catalog WHERE relid = 'k'::regclass")
before=$(blocks)
(( before > 2 * live )) || fail "expected the merged part behind its inputs' free space: $before blocks for $live live"
reader=$T_DIR/k_reader.out
psql_at "$PORT" -d postgres -qAt -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT count(*) || ' ' || coalesce(sum(id), 0) || ' ' || md5(coalesce(string_agg(v, ',' ORDER BY id, v), '')) FROM k" \
  -c "SELECT pg_sleep(4)" -c "SELECT count(*) || ' ' || coalesce(sum(id), 0) || ' ' || md5(coalesce(string_agg(v, ',' ORDER BY id, v), '')) FROM k" -c "COMMIT" >"$reader" &
rpid=$!
sleep 1
q "ALTER TABLE k SET (background_merges = on)"
wait "$rpid"
expect_eq "a snapshot held across the move reads the same rows twice" "$(grep -v '^$' "$reader" | sort -u)" "$want"
for ((i = 0; i < 300; i++)); do
  (($(blocks) <= live + 1)) && break
  sleep 0.2
done
expect_eq "file blocks once compacted (the live part and the metapage)" "$(blocks)" "$((live + 1))"
expect_eq "rows after compaction" "$(summary k)" "$want"
expect_eq "a row's TID after compaction" "$(q "SELECT ctid FROM k WHERE id = 400")" "$tid"
expect_eq "moves in the part log" "$(q "SELECT count(*) > 0 FROM mergetree.part_log WHERE table_name = 'k'::regclass AND event_type = 'move'")" t
clean k
kill_all
start_cluster "$DATA" "$PORT" >/dev/null
wait_ready "$PORT" 60 || fail "server not ready after the crash following compaction"
expect_eq "rows after kill -9 following compaction" "$(summary k)" "$want"
clean k
q "INSERT INTO k VALUES (-1, 'after')"
expect_eq "rows after an insert into the compacted file" "$(q "SELECT count(*) FROM k")" 4000001

# 7. DROP DATABASE while a worker merges there.
q "CREATE DATABASE other"
qd other "CREATE EXTENSION pg_mergetree"
qd other "CREATE TABLE o (id bigint, v text) USING mergetree WITH (order_by = 'id', background_merges = off)"
for ((k = 0; k < 8; k++)); do qd other "INSERT INTO o SELECT g, md5(g::text) FROM generate_series(1, 60000) g"; done
qd other "ALTER TABLE o SET (background_merges = on)"
for ((i = 0; i < 600; i++)); do
  [[ -n $(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_mergetree merge worker' AND datname = 'other' AND query LIKE 'merging %'") ]] && break
  sleep 0.05
done
q "DROP DATABASE other"
expect_eq "databases named other" "$(q "SELECT count(*) FROM pg_database WHERE datname = 'other'")" 0
t_pass
