#!/usr/bin/env bash
# Damaged data on disk: copy a stopped cluster, flip bytes inside a part's column data and
# inside a part's metadata in the copy, start it. Queries must fail with a clear
# data-corruption error naming the table (never a crash or wrong rows), mergetree.verify
# must list the damaged parts, and the original cluster must be untouched.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${T_CORRUPT_PORT:-$(free_port 25460)}
[[ $MT_AM == heap ]] && { note "mergetree only"; t_pass; exit 0; }
t_setup
t_cluster orig "$PORT"
q() { sql_at "$1" postgres "$2"; }
q "$PORT" "$(ext_sql)"
q "$PORT" "CREATE TABLE t (id bigint, v text, f double precision) USING mergetree WITH (order_by = 'id', index_granularity = 1000)"
q "$PORT" "INSERT INTO t SELECT g, 'value ' || g, g / 3.0 FROM generate_series(1, 200000) g"
q "$PORT" "INSERT INTO t SELECT g, 'second part ' || g, g FROM generate_series(200001, 300000) g"
want=$(q "$PORT" "SELECT count(*) || ' ' || sum(id) || ' ' || md5(string_agg(v, ',' ORDER BY id)) FROM t")
file=$(q "$PORT" "SELECT current_setting('data_directory') || '/' || pg_relation_filepath('t')")
# First part: a block in the middle of its column data; second part: its first block (metadata).
read -r data_block meta_block < <(q "$PORT" "SELECT
    (SELECT start_block + nblocks / 2 FROM mergetree.part_catalog WHERE relid = 't'::regclass ORDER BY part_id LIMIT 1),
    (SELECT start_block FROM mergetree.part_catalog WHERE relid = 't'::regclass ORDER BY part_id DESC LIMIT 1)" | tr '|' ' ')
stop_cluster "$T_DIR/orig" fast >/dev/null
cp -a "$T_DIR/orig" "$T_DIR/copy"
T_CLUSTERS+=("$T_DIR/copy")
rel=${file#*/orig/}
flip() { # BLOCK OFFSET: overwrite 16 bytes of the copy's relation file
  printf '\xde\xad\xbe\xef%.0s' 1 2 3 4 | dd of="$T_DIR/copy/$rel" bs=1 seek=$(($1 * 8192 + $2)) conv=notrunc status=none
}
flip "$data_block" 4000
flip "$meta_block" 40
init_cluster "$T_DIR/copy" $((PORT + 1)) >/dev/null
start_cluster "$T_DIR/copy" $((PORT + 1)) >/dev/null
err=$(psql_at $((PORT + 1)) -d postgres -c "SELECT count(v) FROM t" 2>&1 >/dev/null || true)
note "scan of the damaged copy: $err"
[[ $err == *'mergetree table "t": corrupt data'* ]] || fail "expected a data-corruption error, got: $err"
problems=$(q $((PORT + 1)) "SELECT count(*) FROM mergetree.verify('t')" 2>&1 || true)
note "verify on the copy: $problems"
[[ $problems == *'corrupt data'* || $problems -gt 0 ]] || fail "verify did not report the damage: $problems"
expect_eq "server still accepts queries" "$(q $((PORT + 1)) "SELECT 1")" "1"
start_cluster "$T_DIR/orig" "$PORT" >/dev/null
expect_eq "original cluster's rows" "$(q "$PORT" "SELECT count(*) || ' ' || sum(id) || ' ' || md5(string_agg(v, ',' ORDER BY id)) FROM t")" "$want"
expect_eq "original verifies clean" "$(q "$PORT" "SELECT count(*) FROM mergetree.verify('t')")" "0"
t_pass
