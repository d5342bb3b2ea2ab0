-- Codecs: every chain on every type it fits reads back exactly what heap holds; the
-- automatic choice and dictionaries show in mergetree.columns; bad chains are refused.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
CREATE TABLE src AS
SELECT g AS id,
       (g % 200 - 100)::smallint AS i2,
       CASE WHEN g % 13 = 0 THEN NULL ELSE g * 3 END AS i4,
       1700000000000 + g::bigint * 1000 AS i8,
       date '2024-01-01' + g / 100 AS d,
       timestamp '2026-01-01' + g * interval '1 second' AS ts,
       timestamptz '2026-01-01 00:00+00' + (g % 977) * interval '1 minute' AS tz,
       time '00:00' + (g % 86400) * interval '1 second' AS tm,
       CASE WHEN g % 17 = 0 THEN NULL ELSE (20 + sin(g / 50.0) * 5)::real END AS f4,
       CASE g % 5 WHEN 0 THEN 'NaN'::float8 WHEN 1 THEN -0.0 ELSE 1.0 / g END AS f8,
       ('event_' || (g % 23))::text AS ev,
       CASE WHEN g % 3 = 0 THEN NULL ELSE md5(g::text) END AS body,
       (g % 4)::text::bytea AS small_bytes
FROM generate_series(1, 50000) g
UNION ALL SELECT 0, -32768, -2147483648, -9223372036854775808, '-infinity', '-infinity', '-infinity', '00:00', '-Infinity', '-Infinity', '', '', ''
UNION ALL SELECT -1, 32767, 2147483647, 9223372036854775807, 'infinity', 'infinity', 'infinity', '24:00', 'Infinity', 'Infinity', NULL, NULL, NULL;

CREATE FUNCTION same_as_src(tbl regclass) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE a text; b text;
BEGIN
  EXECUTE format('SELECT md5(string_agg(x::text, E''\n'' ORDER BY x.id)) FROM %s x', tbl) INTO a;
  SELECT md5(string_agg(x::text, E'\n' ORDER BY x.id)) INTO b FROM src x;
  RETURN a = b;
END $$;

-- Default options: the writer chooses per column and part.
CREATE TABLE c_auto (LIKE src) USING mergetree WITH (order_by = 'id');
INSERT INTO c_auto SELECT * FROM src;
-- Every explicit chain, with each block codec.
CREATE TABLE c_delta (LIKE src) USING mergetree WITH (order_by = 'id',
  codecs = 'i2: Delta, LZ4; i4: Delta; i8: Delta, ZSTD(1); d: Delta; ts: Delta; tz: Delta, NONE; tm: Delta', dictionary = 'off');
CREATE TABLE c_dd (LIKE src) USING mergetree WITH (order_by = 'id', compression = 'zstd(3)',
  codecs = 'i2: DoubleDelta; i4: DoubleDelta; i8: DoubleDelta, LZ4; d: DoubleDelta; ts: DoubleDelta; tz: DoubleDelta; tm: DoubleDelta');
CREATE TABLE c_t64 (LIKE src) USING mergetree WITH (order_by = 'ev, id', compression = 'none',
  codecs = 'i2: T64; i4: T64, ZSTD(9); i8: Delta, T64; d: T64; ts: T64, LZ4; tz: T64; tm: T64', dictionary = 'ev: on; body: on');
CREATE TABLE c_gorilla (LIKE src) USING mergetree WITH (order_by = 'f8, id', partition_by = 'date_trunc(''month'', ts)',
  codecs = 'f4: Gorilla; f8: Gorilla, ZSTD(2)', dictionary = 'body: off');
CREATE TABLE c_gcd (LIKE src) USING mergetree WITH (order_by = 'id',
  codecs = 'i2: GCD, T64; i4: GCD; i8: GCD, Delta, T64; d: GCD, DoubleDelta; ts: GCD, T64, ZSTD(3); tz: Delta, GCD, LZ4; tm: GCD, NONE');
INSERT INTO c_delta SELECT * FROM src;
INSERT INTO c_gcd SELECT * FROM src;
COPY (SELECT * FROM src) TO '/tmp/pg_mergetree_codecs.copy';
COPY c_dd FROM '/tmp/pg_mergetree_codecs.copy';
COPY c_t64 FROM '/tmp/pg_mergetree_codecs.copy';
BEGIN;
INSERT INTO c_gorilla SELECT * FROM src WHERE id % 2 = 0;
INSERT INTO c_gorilla SELECT * FROM src WHERE id % 2 <> 0;
COMMIT;
SELECT t AS table_name, same_as_src(t) FROM unnest(ARRAY['c_auto', 'c_delta', 'c_dd', 'c_t64', 'c_gorilla', 'c_gcd']::regclass[]) t;

-- Inserts encode fast (ZSTD(1) where ZSTD pays, no trained dictionaries); a merge
-- re-encodes with the full automatic choice, what the rest of this file looks at.
SELECT mergetree.optimize('c_auto', final => true);
-- What each part chose, as users see it.
SELECT column_name, codec FROM mergetree.columns WHERE table_name = 'c_auto'::regclass ORDER BY column_name;
SELECT column_name, codec FROM mergetree.columns WHERE table_name = 'c_t64'::regclass AND column_name IN ('i4', 'i8', 'ev', 'body', 'f4') ORDER BY column_name;
SELECT DISTINCT column_name, codec FROM mergetree.columns WHERE table_name = 'c_gorilla'::regclass AND column_name IN ('f4', 'f8', 'body') ORDER BY column_name;
-- Transforms and dictionaries pay off where they should.
SELECT column_name, ratio > 4 AS compresses_well FROM mergetree.columns
WHERE table_name = 'c_auto'::regclass AND column_name IN ('i8', 'ts', 'd', 'ev') ORDER BY column_name;
SELECT sum(compressed_bytes) < sum(uncompressed_bytes) / 3 AS whole_table_3x FROM mergetree.columns WHERE table_name = 'c_auto'::regclass;
SELECT count(*) AS problems FROM mergetree.verify('c_t64');

-- ALTER TABLE SET changes codecs for new parts; old parts keep theirs and still read.
ALTER TABLE c_auto SET (codecs = 'i8: T64, ZSTD(5)', compression = 'zstd(1)', dictionary = 'ev: off');
INSERT INTO c_auto SELECT id + 100000, i2, i4, i8, d, ts, tz, tm, f4, f8, ev, body, small_bytes FROM src;
SELECT column_name, array_agg(DISTINCT codec ORDER BY codec) FROM mergetree.columns
WHERE table_name = 'c_auto'::regclass AND column_name IN ('i8', 'ev', 'body') GROUP BY column_name ORDER BY column_name;
SELECT count(*), sum(i8) = (SELECT 2 * sum(i8) FROM src) AS sums_match FROM c_auto;
\d+ c_auto

-- Bad codec options name the table, the column and what fits.
CREATE TABLE bad (a int, t text, f float8, b boolean) USING mergetree WITH (codecs = 'a: Brotli');
CREATE TABLE bad (a int, t text, f float8, b boolean) USING mergetree WITH (codecs = 't: Delta');
CREATE TABLE bad (a int, t text, f float8, b boolean) USING mergetree WITH (codecs = 'a: Gorilla');
CREATE TABLE bad (a int, t text, f float8, b boolean) USING mergetree WITH (codecs = 'f: DoubleDelta');
CREATE TABLE bad (a int, t text, f float8, b boolean) USING mergetree WITH (codecs = 'b: T64');
CREATE TABLE bad (a int, t text, f float8, b boolean) USING mergetree WITH (codecs = 'a: T64, Delta');
CREATE TABLE bad (a int, t text, f float8, b boolean) USING mergetree WITH (codecs = 'a: LZ4, Delta');
CREATE TABLE bad (a int, t text, f float8, b boolean) USING mergetree WITH (codecs = 't: GCD');
CREATE TABLE bad (a int, t text, f float8, b boolean) USING mergetree WITH (codecs = 'a: T64, GCD');
CREATE TABLE bad (a int, t text, f float8, b boolean) USING mergetree WITH (codecs = 'nope: LZ4');
CREATE TABLE bad (a int, t text, f float8, b boolean) USING mergetree WITH (codecs = 'LZ4');
CREATE TABLE bad (a int, t text, f float8, b boolean) USING mergetree WITH (compression = 'zstd(30)');
CREATE TABLE bad (a int, t text, f float8, b boolean) USING mergetree WITH (compression = 'snappy');
CREATE TABLE bad (a int, t text, f float8, b boolean) USING mergetree WITH (dictionary = 'sometimes');
CREATE TABLE bad (a int, t text, f float8, b boolean) USING mergetree WITH (dictionary = 'a: on');
ALTER TABLE c_auto SET (codecs = 'ev: Gorilla');
DROP TABLE c_auto, c_delta, c_dd, c_t64, c_gorilla, c_gcd, src;
DROP FUNCTION same_as_src;
