#!/usr/bin/env bash
# pg_dump / pg_restore round trip: custom format via pg_restore and plain SQL via psql must
# reproduce the table's access method, its options, its skip index (rebuilt by the
# restore's CREATE INDEX, so it still skips granules) and every row; also after key and
# partition columns were renamed and with a partition expression calling a function of
# another schema (the dump restores with an empty search_path); and every kind of object
# the extension adds: each engine and table option, each skip index type, partitions of a
# partitioned table.
set -Eeuo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${T_DUMP_PORT:-$(free_port 25420)}
t_setup
t_cluster db "$PORT"

q() { sql_at "$PORT" "$1" "$2"; }
describe() { # DB: what must survive the round trip, on one line
  {
    q "$1" "SELECT reloptions FROM pg_class WHERE relname = 't'"
    if use_ext; then
      q "$1" "SELECT reloptions FROM pg_class WHERE relname = 'renamed'"
      q "$1" "SELECT count(*) || ' ' || md5(string_agg(r::text, ',' ORDER BY key2)) FROM renamed r"
      q "$1" "SELECT string_agg(partition || ':' || rows, ',' ORDER BY partition) FROM mergetree.parts WHERE table_name = 'renamed'::regclass"
      q "$1" "SELECT reloptions FROM pg_class WHERE relname IN ('latest', 'agg') ORDER BY relname"
      q "$1" "SET mergetree.final = on; SELECT count(*) || ' ' || md5(string_agg(l::text, ',' ORDER BY k)) FROM latest l"
      q "$1" "SET mergetree.final = on; SELECT count(*) || ' ' || md5(string_agg(a::text, ',' ORDER BY k)) FROM agg a"
      # Schema kinds: every engine and option, each skip index type, partitions.
      q "$1" "SELECT string_agg(c.relname || ':' || coalesce(a.amname, '-') || ':' || coalesce(c.reloptions::text, '') || ':'
                                || coalesce(pg_get_expr(c.relpartbound, c.oid), ''), ' ' ORDER BY c.relname)
              FROM pg_class c LEFT JOIN pg_am a ON a.oid = c.relam
              WHERE c.relnamespace = 'kinds'::regnamespace AND c.relkind IN ('r', 'p')"
      q "$1" "SELECT string_agg(indexdef, '; ' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'kinds'"
      q "$1" "SELECT string_agg(relname || '=' || (xpath('/row/c/text()', query_to_xml(format(
                'SELECT count(*) || '' '' || md5(coalesce(string_agg(t::text, '','' ORDER BY t::text), '''')) AS c FROM kinds.%I t',
                relname), false, true, '')))[1]::text, ' ' ORDER BY relname)
              FROM pg_class WHERE relnamespace = 'kinds'::regnamespace AND relkind IN ('r', 'p')"
      q "$1" "SELECT count(*) FROM mergetree.skip_indexes WHERE table_name::text LIKE 'kinds.%'"
    fi
    q "$1" "SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = 't'"
    q "$1" "SELECT count(*) || ' ' || count(s) || ' ' || count(n) || ' ' || count(b) FROM t"
    q "$1" "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM t"
    q "$1" "SELECT coalesce(string_agg(indexdef, '; '), 'no index') FROM pg_indexes WHERE tablename = 't'"
    if use_ext; then
      q "$1" "SELECT count(*) > 0 FROM mergetree.skip_indexes WHERE table_name = 't'::regclass"
      psql_at "$PORT" -d "$1" -qAt -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT * FROM t WHERE s = 'row 4242'" |
        grep -c 'Granules Skipped by Skip Indexes' || true
    fi
  } | paste -sd ' ' -
}

q postgres "CREATE DATABASE src"
ext=$(ext_sql)
[[ -z $ext ]] || q src "$ext"
q src "CREATE TABLE t (
         id bigint NOT NULL, ts timestamp NOT NULL, d date, i integer, f double precision,
         n numeric, b boolean, s text)
       $(am_clause "order_by = 'id', partition_by = 'date_trunc(''month'', ts)', index_granularity = 1024" \
                   "fillfactor = 90")"
q src "INSERT INTO t
       SELECT g, timestamp '2026-01-01' + g * interval '7 minutes',
              CASE WHEN g % 11 <> 0 THEN date '2020-02-29' + g % 1000 END,
              CASE WHEN g % 13 <> 0 THEN (g * 7919) % 100000 - 50000 END,
              CASE WHEN g % 17 <> 0 THEN g / 3.0::float8 END,
              CASE WHEN g % 19 <> 0 THEN g * 1.0001 - 500 END,
              CASE WHEN g % 23 <> 0 THEN g % 2 = 0 END,
              CASE WHEN g % 29 = 0 THEN NULL WHEN g % 31 = 0 THEN ''
                   ELSE 'row ' || g || ' ' || repeat(md5(g::text), 1 + g % 3) || ' é,\"''' END
       FROM generate_series(1, 50000) AS g"
if use_ext; then
  q src "CREATE INDEX t_s_bloom ON t USING mergetree_skip (s) WITH (type = 'bloom_filter(0.01)', granularity = 2)"
  q src "CREATE SCHEMA fns"
  q src "CREATE FUNCTION fns.bucket(bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT \$1 / 100'"
  q src "CREATE TABLE renamed (key bigint, \"Note, with comma\" text, ts timestamp) USING mergetree
         WITH (order_by = 'key, \"Note, with comma\"', partition_by = 'fns.bucket(key)', codecs = 'ts: DoubleDelta')"
  q src "INSERT INTO renamed SELECT g, 'n' || g, '2026-01-01'::timestamp + g * interval '1 minute' FROM generate_series(1, 500) g"
  q src "ALTER TABLE renamed RENAME COLUMN key TO key2"
  q src "ALTER TABLE renamed RENAME COLUMN ts TO \"when\""
  # Engine tables: a replacing table and an aggregating one combining with a function of
  # another schema (stored schema-qualified, restored after it, read FINAL).
  q src "CREATE FUNCTION fns.pick_max(int, int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT greatest(\$1, \$2)'"
  q src "CREATE TABLE latest (k int, v text, ver int) USING mergetree WITH (order_by = 'k', engine = 'replacing(ver)', final = on)"
  q src "CREATE TABLE agg (k int, hi int, n bigint) USING mergetree WITH (order_by = 'k', engine = 'aggregating(hi: fns.pick_max, n: sum)')"
  for i in 1 2 3; do
    q src "INSERT INTO latest SELECT g % 97, 'v$i-' || g, (g * $i) % 7 FROM generate_series(1, 1000) g"
    q src "INSERT INTO agg SELECT g % 89, (g * 7919 * $i) % 1000, 1 FROM generate_series(1, 1000) g"
  done
  # Every engine and table option, every skip index type, a partitioned table whose
  # partitions are mergetree tables with their own options.
  psql_at "$PORT" -d src -q <<'SQL'
CREATE SCHEMA kinds;
SET search_path = kinds;
CREATE TABLE summed (k int, a bigint, b numeric(12, 2)) USING mergetree
  WITH (order_by = 'k', engine = 'summing(a, b)', background_merges = off);
CREATE TABLE collapsed (k int, v text, sign int2) USING mergetree
  WITH (order_by = 'k', engine = 'collapsing(sign)', max_bytes_to_merge = 1048576);
CREATE TABLE versioned (k int, v text, sign int2, ver int) USING mergetree
  WITH (order_by = 'k', engine = 'versioned_collapsing(sign, ver)', parts_to_delay_insert = 50, parts_to_throw_insert = 100);
CREATE TABLE aged (ts timestamp, k int, msg text) USING mergetree
  WITH (order_by = 'k, ts', primary_key = 'k', ttl = 'ts + interval ''100 years''', index_granularity = 256,
        index_granularity_bytes = 65536, compression = 'zstd(3)', dictionary = 'auto; msg: on',
        codecs = 'ts: Delta, LZ4; k: T64');
CREATE INDEX aged_mm ON aged USING mergetree_skip (k) WITH (type = 'minmax');
CREATE INDEX aged_set ON aged USING mergetree_skip (k) WITH (type = 'set(100)', granularity = 4);
CREATE INDEX aged_ngram ON aged USING mergetree_skip (msg) WITH (type = 'ngrambf(3, 256, 2)');
CREATE INDEX aged_token ON aged USING mergetree_skip (msg) WITH (type = 'tokenbf(256, 2)');
CREATE TABLE regions (region text, id int, amount numeric(10, 2)) PARTITION BY LIST (region);
CREATE TABLE regions_eu PARTITION OF regions FOR VALUES IN ('eu') USING mergetree WITH (order_by = 'id');
CREATE TABLE regions_us PARTITION OF regions FOR VALUES IN ('us') USING mergetree
  WITH (order_by = 'id, amount', compression = 'lz4');
INSERT INTO summed SELECT g % 50, g, g * 0.5 FROM generate_series(1, 2000) g;
INSERT INTO collapsed SELECT g % 70, 'c' || g, CASE WHEN g % 3 = 0 THEN -1 ELSE 1 END FROM generate_series(1, 2000) g;
INSERT INTO versioned SELECT g % 60, 'v' || g, CASE WHEN g % 4 = 0 THEN -1 ELSE 1 END, g % 9 FROM generate_series(1, 2000) g;
INSERT INTO aged SELECT timestamp '2026-01-01' + g * interval '1 hour', g % 500, 'message ' || (g % 37) || ' of run ' || g
  FROM generate_series(1, 5000) g;
INSERT INTO regions SELECT CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g, g * 0.25 FROM generate_series(1, 3000) g;
SQL
  # Deleted and updated rows: the dump holds the rows as they are now.
  q src "DELETE FROM t WHERE id % 5 = 0"
  q src "UPDATE t SET s = upper(s) WHERE id % 7 = 3"
fi
want=$(describe src)
note "source: $want"

pg_dump -h 127.0.0.1 -p "$PORT" -U postgres -Fc -f "$T_DIR/src.dump" src
q postgres "CREATE DATABASE from_custom"
pg_restore -h 127.0.0.1 -p "$PORT" -U postgres --exit-on-error -d from_custom "$T_DIR/src.dump"
expect_eq "custom-format dump restored with pg_restore" "$(describe from_custom)" "$want"

pg_dump -h 127.0.0.1 -p "$PORT" -U postgres -Fp -f "$T_DIR/src.sql" src
q postgres "CREATE DATABASE from_plain"
psql_at "$PORT" -d from_plain -q -f "$T_DIR/src.sql" >/dev/null
expect_eq "plain SQL dump restored with psql" "$(describe from_plain)" "$want"

# The restored table must still take writes.
q from_custom "INSERT INTO t (id, ts) VALUES (50001, '2026-06-01')"
expect_eq "rows after an insert into the restored table" "$(q from_custom "SELECT count(*) FROM t")" "$(if use_ext; then echo 40001; else echo 50001; fi)"
t_pass
