-- The tables of the upgrade fixture: written by the build of the pinned commit
-- (tests/upgrade/make_fixture.sh), read by today's build after ALTER EXTENSION UPDATE
-- (tests/system/t_upgrade.sh). Each mergetree table has a heap twin written with the same
-- rows by the same statements; the test compares them.
CREATE EXTENSION pg_mergetree;

-- Many types, NULLs and edge values; several parts in several partitions; a key, codecs.
CREATE TABLE typed (id bigint, i2 int2, i4 int4, f4 real, f8 double precision,
                    n numeric(12, 2), nf numeric, t text, vc varchar(20), b boolean,
                    d date, ts timestamp, tz timestamptz, u uuid, by bytea, doc text)
  USING mergetree WITH (order_by = 'id', partition_by = 'date_trunc(''month'', ts)',
                        index_granularity = 512,
                        codecs = 'ts: DoubleDelta, ZSTD(1); f8: Gorilla, LZ4');
CREATE TABLE typed_heap (LIKE typed);
CREATE INDEX typed_t ON typed USING mergetree_skip (t) WITH (type = 'bloom_filter');
CREATE INDEX typed_i4 ON typed USING mergetree_skip (i4) WITH (type = 'minmax');

CREATE FUNCTION fixture_rows(lo bigint, hi bigint)
RETURNS SETOF typed_heap LANGUAGE sql AS $$
  SELECT i,
         CASE WHEN i % 11 = 0 THEN NULL ELSE (i % 32767)::int2 END,
         CASE WHEN i % 13 = 0 THEN NULL WHEN i % 97 = 0 THEN 2147483647 ELSE (i * 7919 % 100000)::int4 END,
         CASE WHEN i % 17 = 0 THEN NULL WHEN i % 101 = 0 THEN 'NaN'::real WHEN i % 103 = 0 THEN '-Infinity'::real ELSE i / 3.0 END,
         CASE WHEN i % 19 = 0 THEN NULL WHEN i % 107 = 0 THEN 'Infinity'::float8 ELSE sin(i) * 1e6 END,
         CASE WHEN i % 23 = 0 THEN NULL ELSE (i % 100000) * 1.25 - 50000 END,
         CASE WHEN i % 29 = 0 THEN NULL WHEN i % 109 = 0 THEN 'NaN'::numeric ELSE i::numeric / 7 END,
         CASE WHEN i % 31 = 0 THEN NULL WHEN i % 113 = 0 THEN '' ELSE 'event ' || (i % 50) END,
         CASE WHEN i % 37 = 0 THEN NULL ELSE 'v' || (i % 1000) END,
         CASE WHEN i % 41 = 0 THEN NULL ELSE i % 3 = 0 END,
         CASE WHEN i % 43 = 0 THEN NULL ELSE date '2026-01-01' + (i % 400)::int END,
         timestamp '2026-01-01' + i * interval '17 minutes',
         CASE WHEN i % 47 = 0 THEN NULL ELSE timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second' END,
         CASE WHEN i % 53 = 0 THEN NULL ELSE md5(i::text)::uuid END,
         CASE WHEN i % 59 = 0 THEN NULL ELSE decode(md5(i::text), 'hex') END,
         CASE WHEN i % 61 = 0 THEN NULL
              ELSE json_build_object('country', (ARRAY['DE', 'FR', 'US', 'JP'])[1 + i % 4], 'n', i % 10)::text END
  FROM generate_series(lo, hi) AS i
$$;
INSERT INTO typed SELECT * FROM fixture_rows(1, 8000);
INSERT INTO typed SELECT * FROM fixture_rows(8001, 12000);
COPY (SELECT * FROM fixture_rows(12001, 20000)) TO '/tmp/mt_fixture_rows.copy';
COPY typed FROM '/tmp/mt_fixture_rows.copy';
INSERT INTO typed_heap SELECT * FROM fixture_rows(1, 20000);
-- A rolled-back insert leaves nothing.
BEGIN;
INSERT INTO typed SELECT * FROM fixture_rows(30001, 31000);
ROLLBACK;

-- No key, no partitions, one part per insert, a text column dictionary-encoded.
CREATE TABLE plain (k text, v int) USING mergetree WITH (dictionary = 'k: on', compression = 'zstd');
CREATE TABLE plain_heap (k text, v int);
INSERT INTO plain SELECT 'key ' || (i % 7), i FROM generate_series(1, 3000) i;
INSERT INTO plain SELECT 'other ' || (i % 3), -i FROM generate_series(1, 500) i;
INSERT INTO plain_heap SELECT 'key ' || (i % 7), i FROM generate_series(1, 3000) i;
INSERT INTO plain_heap SELECT 'other ' || (i % 3), -i FROM generate_series(1, 500) i;

-- An empty table and a partitioned table with mergetree partitions.
CREATE TABLE empty (a int, b text) USING mergetree WITH (order_by = 'a');
CREATE TABLE empty_heap (a int, b text);
CREATE TABLE parted (region text, id int, amount numeric(10, 2)) PARTITION BY LIST (region);
CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu') USING mergetree WITH (order_by = 'id');
CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us') USING mergetree WITH (order_by = 'id');
CREATE TABLE parted_heap (region text, id int, amount numeric(10, 2));
INSERT INTO parted SELECT CASE WHEN i % 2 = 0 THEN 'eu' ELSE 'us' END, i, i * 0.5 FROM generate_series(1, 5000) i;
INSERT INTO parted_heap SELECT CASE WHEN i % 2 = 0 THEN 'eu' ELSE 'us' END, i, i * 0.5 FROM generate_series(1, 5000) i;
DROP FUNCTION fixture_rows(bigint, bigint);
