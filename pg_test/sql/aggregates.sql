-- MergeTreeAgg against heap: every query runs on a mergetree table and on a heap table
-- holding the same rows; check() reports whether the node planned it ("node") or Postgres
-- did ("plain"), and whether both tables gave the same rows (in order where the query has
-- ORDER BY). Float data are multiples of 1/8 of moderate size, so sums are exact in any
-- order and compare as text.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
\ir include/same_rows.sql
\ir include/check_agg.sql
-- check_agg on md_m / md_h (the metadata tests' tables).
CREATE FUNCTION check_md(q text) RETURNS text LANGUAGE sql AS $$ SELECT check_agg(q, 'md_m', 'md_h') $$;

CREATE TABLE agg_m (g int, k text, kc text COLLATE "C", i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,
                    d date, ts timestamp, tz timestamptz, b bool, u uuid, n numeric(12,3), nul int)
  USING mergetree WITH (order_by = 'g', index_granularity = 64);
CREATE TABLE agg_h (LIKE agg_m);
CREATE TABLE agg_src AS
SELECT g,
       CASE WHEN g % 17 = 0 THEN NULL WHEN g % 5 = 0 THEN '' ELSE 'key_' || (g % 23) || CASE WHEN g % 3 = 0 THEN 'é' ELSE 'B' END END AS k,
       CASE WHEN g % 19 = 0 THEN NULL ELSE chr(65 + g % 7) || chr(97 + g % 5) || repeat('z', g % 30) END AS kc,
       CASE WHEN g % 13 = 0 THEN NULL WHEN g % 101 = 0 THEN 32767 WHEN g % 103 = 0 THEN -32768 ELSE (g % 200 - 100) END::int2 AS i2,
       CASE WHEN g % 11 = 0 THEN NULL WHEN g % 97 = 0 THEN 2147483647 WHEN g % 89 = 0 THEN -2147483648 ELSE g * 7 - 9000 END AS i4,
       CASE WHEN g % 7 = 0 THEN NULL WHEN g % 83 = 0 THEN 9223372036854775807 WHEN g % 79 = 0 THEN -9223372036854775808 ELSE g::int8 * 1000003 END AS i8,
       CASE WHEN g % 9 = 0 THEN NULL ELSE (g % 1000 - 500) / 4.0 END::float4 AS f4,
       CASE WHEN g % 8 = 0 THEN NULL WHEN g % 61 = 0 THEN -0.0::float8 ELSE (g * 37 % 100000 - 50000) / 8.0 END AS f8,
       CASE WHEN g % 14 = 0 THEN NULL ELSE date '2020-02-28' + (g % 400) END AS d,
       CASE WHEN g % 15 = 0 THEN NULL ELSE timestamp '1999-12-31 23:00' + g * interval '17 minutes 3 seconds' END AS ts,
       CASE WHEN g % 16 = 0 THEN NULL ELSE timestamptz '2024-03-10 01:30+00' + g * interval '1 hour 1 second' END AS tz,
       CASE WHEN g % 6 = 0 THEN NULL ELSE g % 4 <> 0 END AS b,
       CASE WHEN g % 21 = 0 THEN NULL ELSE md5((g % 300)::text)::uuid END AS u,
       CASE WHEN g % 10 = 0 THEN NULL ELSE round((g % 9999) * 1.125 - 5000, 3) END AS n,
       NULL::int AS nul
FROM generate_series(1, 6000) g;
-- Three parts and rows of several inserts.
INSERT INTO agg_m SELECT * FROM agg_src WHERE g <= 2000;
INSERT INTO agg_m SELECT * FROM agg_src WHERE g > 2000 AND g <= 4500;
INSERT INTO agg_m SELECT * FROM agg_src WHERE g > 4500;
INSERT INTO agg_h SELECT * FROM agg_src;

-- count
SELECT check_agg('SELECT count(*) FROM $T');
SELECT check_agg('SELECT count(*), count(i4), count(k), count(nul), count(u) FROM $T');
-- sum / avg over integers and floats
SELECT check_agg('SELECT sum(i2), sum(i4), sum(i8), sum(f4), sum(f8) FROM $T');
SELECT check_agg('SELECT avg(i2), avg(i4), avg(i8), avg(f4), avg(f8) FROM $T');
SELECT check_agg('SELECT sum(nul), avg(nul), min(nul), max(nul), count(DISTINCT nul) FROM $T');
-- min / max over every ordered type (text only under C: the others go to Postgres)
SELECT check_agg('SELECT min(i2), max(i2), min(i4), max(i4), min(i8), max(i8) FROM $T');
SELECT check_agg('SELECT min(f4), max(f4), min(f8), max(f8) FROM $T');
SELECT check_agg('SELECT min(d), max(d), min(ts), max(ts), min(tz), max(tz) FROM $T');
SELECT check_agg('SELECT min(kc), max(kc) FROM $T');
SELECT check_agg('SELECT min(k), max(k) FROM $T');
SELECT check_agg('SELECT min(n), max(n), sum(n), avg(n) FROM $T');
-- bool
SELECT check_agg('SELECT bool_and(b), bool_or(b), every(b) FROM $T');
SELECT check_agg('SELECT g % 4 AS r, bool_and(b), bool_or(b) FROM $T GROUP BY 1');
-- count(DISTINCT)
SELECT check_agg('SELECT count(DISTINCT i2), count(DISTINCT i4), count(DISTINCT i8), count(DISTINCT f4), count(DISTINCT f8) FROM $T');
SELECT check_agg('SELECT count(DISTINCT k), count(DISTINCT kc), count(DISTINCT u), count(DISTINCT d), count(DISTINCT ts), count(DISTINCT b) FROM $T');
-- grouping keys of every type, NULL groups included
SELECT check_agg('SELECT k, count(*), sum(i4), min(ts) FROM $T GROUP BY k');
SELECT check_agg('SELECT kc, count(*), max(f8), avg(i2) FROM $T GROUP BY kc');
SELECT check_agg('SELECT i2, count(*), sum(i8) FROM $T GROUP BY i2');
SELECT check_agg('SELECT f8, count(*) FROM $T GROUP BY f8');
SELECT check_agg('SELECT f4, count(*), sum(f4) FROM $T GROUP BY f4');
SELECT check_agg('SELECT d, count(*), count(DISTINCT i2) FROM $T GROUP BY d');
SELECT check_agg('SELECT u, count(*), bool_or(b) FROM $T GROUP BY u');
SELECT check_agg('SELECT b, count(*), avg(f8) FROM $T GROUP BY b');
SELECT check_agg('SELECT tz, count(*) FROM $T GROUP BY tz');
SELECT check_agg('SELECT k, b, count(*), sum(i2) FROM $T GROUP BY k, b');
SELECT check_agg('SELECT kc, d, u, count(*) FROM $T GROUP BY kc, d, u');
SELECT check_agg('SELECT nul, count(*) FROM $T GROUP BY nul');
SELECT check_agg('SELECT count(*) FROM $T GROUP BY k');
SELECT check_agg('SELECT i4 FROM $T GROUP BY i4');
SELECT check_agg('SELECT DISTINCT k FROM $T');
-- computed keys: a timestamp's date and date_trunc (timestamptz ones depend on TimeZone:
-- Postgres plans those)
SELECT check_agg('SELECT ts::date, count(*), sum(i2) FROM $T GROUP BY 1');
SELECT check_agg('SELECT date(ts) AS day, k, count(*) FROM $T GROUP BY day, k');
SELECT check_agg('SELECT date_trunc(''microseconds'', ts), count(*) FROM $T GROUP BY 1');
SELECT check_agg('SELECT date_trunc(''milliseconds'', ts), count(*) FROM $T GROUP BY 1');
SELECT check_agg('SELECT date_trunc(''second'', ts), count(*) FROM $T GROUP BY 1');
SELECT check_agg('SELECT date_trunc(''minute'', ts), count(*) FROM $T GROUP BY 1');
SELECT check_agg('SELECT date_trunc(''Hour'', ts), count(*), max(kc) FROM $T GROUP BY 1');
SELECT check_agg('SELECT date_trunc(''day'', ts), count(*) FROM $T GROUP BY 1');
SELECT check_agg('SELECT date_trunc(''week'', ts), count(*) FROM $T GROUP BY 1');
SELECT check_agg('SELECT date_trunc(''month'', ts), count(*), avg(i4) FROM $T GROUP BY 1');
SELECT check_agg('SELECT date_trunc(''quarter'', ts), count(*) FROM $T GROUP BY 1');
SELECT check_agg('SELECT date_trunc(''year'', ts) AS y, count(*) FROM $T GROUP BY y ORDER BY y');
SELECT check_agg('SELECT date_trunc(''decade'', ts), count(*) FROM $T GROUP BY 1');
SELECT check_agg('SELECT tz::date, count(*) FROM $T GROUP BY 1');
SELECT check_agg('SELECT date_trunc(''day'', tz), count(*) FROM $T GROUP BY 1');
SELECT check_agg('SELECT ts::date, date_trunc(''hour'', ts), count(*) FROM $T WHERE k = ''key_1B'' GROUP BY 1, 2');
-- WHERE (pushed filters), HAVING, ORDER BY and LIMIT above
SELECT check_agg('SELECT k, count(*), sum(i8) FROM $T WHERE i4 > 1000 GROUP BY k');
SELECT check_agg('SELECT kc, count(*) FROM $T WHERE kc >= ''Ca'' AND kc < ''Ea'' GROUP BY kc');
SELECT check_agg('SELECT count(*), avg(i4) FROM $T WHERE ts >= ''2000-01-15'' AND ts < ''2000-02-01''');
SELECT check_agg('SELECT count(*) FROM $T WHERE k IS NULL');
SELECT check_agg('SELECT count(*), min(g), max(g) FROM $T WHERE g BETWEEN 1000 AND 1010');
SELECT check_agg('SELECT k, count(*) FROM $T GROUP BY k HAVING count(*) > 100 AND min(i2) < 0');
SELECT check_agg('SELECT k, sum(i4) FROM $T GROUP BY k HAVING sum(i8) > 0');
SELECT check_agg('SELECT k, count(*) AS c FROM $T GROUP BY k ORDER BY c DESC, k LIMIT 5');
SELECT check_agg('SELECT d, count(*) FROM $T GROUP BY d ORDER BY d NULLS FIRST LIMIT 10');
SELECT check_agg('SELECT kc, count(*) * 2 + 1 AS x, sum(i4) / 2 AS y FROM $T GROUP BY kc ORDER BY kc');
-- no rows: one row without GROUP BY, none with it
SELECT check_agg('SELECT count(*), sum(i4), avg(f8), min(d), bool_and(b), count(DISTINCT k) FROM $T WHERE g < 0');
SELECT check_agg('SELECT k, count(*) FROM $T WHERE g < 0 GROUP BY k');
-- FILTER (WHERE ...) on any aggregate: a predicate the scan evaluates
SELECT check_agg('SELECT count(*) FILTER (WHERE i4 > 0) FROM $T');
SELECT check_agg('SELECT k, count(*) FILTER (WHERE b), sum(i8) FILTER (WHERE kc LIKE ''A%''), avg(f8) FILTER (WHERE i2 IS NULL), count(*) FROM $T GROUP BY k');
SELECT check_agg('SELECT d, count(DISTINCT kc) FILTER (WHERE i4 BETWEEN -100 AND 5000 OR k IS NULL), min(ts) FILTER (WHERE NOT b), max(i2) FILTER (WHERE i2 IN (1, 2, 3)) FROM $T GROUP BY d');
SELECT check_agg('SELECT count(*) FILTER (WHERE g < 0), sum(i4) FILTER (WHERE g < 0), max(kc) FILTER (WHERE false) FROM $T');
SELECT check_agg('SELECT kc, count(*) FILTER (WHERE ts > ''2000-02-01'') FROM $T WHERE i2 > 0 GROUP BY kc HAVING count(*) FILTER (WHERE b) > 1');
SELECT plan_lines('SELECT count(*) FILTER (WHERE i4 > 0), sum(i2) FILTER (WHERE k IS NOT NULL AND b) FROM agg_m', 'Aggregates');
-- not for the node: Postgres plans these, with the same results
SELECT check_agg('SELECT count(*) FILTER (WHERE lower(k) = ''x'') FROM $T');
SELECT check_agg('SELECT string_agg(kc, '','' ORDER BY g) FROM $T WHERE g < 20');
SELECT check_agg('SELECT k, count(*) FROM $T GROUP BY ROLLUP (k)');
SELECT check_agg('SELECT lower(k), count(*) FROM $T GROUP BY 1');
SELECT check_agg('SELECT sum(i2 % 3) FROM $T');
SELECT check_agg('SELECT count(*) FROM $T WHERE k || ''x'' = ''key_1Bx''');
-- TABLESAMPLE aggregates the sample Postgres draws
SELECT check_agg('SELECT count(*), sum(i4) FROM $T TABLESAMPLE SYSTEM (0)');
SELECT check_agg('SELECT k, count(*) FROM $T TABLESAMPLE BERNOULLI (100) GROUP BY k');
SELECT count(*) FROM agg_m TABLESAMPLE BERNOULLI (0);

-- The node switched off: Postgres' plan, the same rows.
SET mergetree.enable_aggregate_scan = off;
SELECT check_agg('SELECT k, count(*), sum(i4) FROM $T GROUP BY k');
RESET mergetree.enable_aggregate_scan;
-- One thread, and the default.
SET mergetree.max_threads = 1;
SELECT check_agg('SELECT kc, count(*), count(DISTINCT u), sum(i8) FROM $T GROUP BY kc');
RESET mergetree.max_threads;

-- Special floats: NaN, infinities and -0 in sums, extremes, keys and distinct counts.
CREATE TABLE fl_m (g int, x float8, y float4) USING mergetree WITH (order_by = 'g');
CREATE TABLE fl_h (g int, x float8, y float4);
INSERT INTO fl_h VALUES (1, 'NaN', 'NaN'), (2, 'Infinity', '-Infinity'), (3, '-0', '-0'), (4, '0', '0'),
  (5, '-Infinity', 'Infinity'), (6, 1.5, 2.5), (7, 'NaN', 1), (8, NULL, NULL);
INSERT INTO fl_m SELECT * FROM fl_h;
SELECT same_rows('SELECT sum(x), avg(x), min(x), max(x), count(DISTINCT x), sum(y), min(y), max(y) FROM fl_m WHERE g IN (2, 6)',
                 'SELECT sum(x), avg(x), min(x), max(x), count(DISTINCT x), sum(y), min(y), max(y) FROM fl_h WHERE g IN (2, 6)') AS inf_same;
SELECT same_rows('SELECT g % 2, sum(x), avg(x), avg(y), count(DISTINCT x), sum(y) FROM fl_m GROUP BY 1',
                 'SELECT g % 2, sum(x), avg(x), avg(y), count(DISTINCT x), sum(y) FROM fl_h GROUP BY 1') AS nan_same;
SELECT same_rows('SELECT sum(x), min(x), max(x), count(DISTINCT x), count(DISTINCT y), max(y) FROM fl_m',
                 'SELECT sum(x), min(x), max(x), count(DISTINCT x), count(DISTINCT y), max(y) FROM fl_h') AS all_same;
SELECT same_rows('SELECT x, count(*) FROM fl_m GROUP BY x', 'SELECT x, count(*) FROM fl_h GROUP BY x') AS keys_same;
-- Finite values whose sum overflows: Postgres raises an error, and so does the node.
CREATE TABLE big_m (x float8, y float4) USING mergetree WITH (order_by = 'x');
INSERT INTO big_m VALUES (1e308, 3e38), (1e308, 3e38);
SELECT sum(x) FROM big_m;
SELECT avg(x) FROM big_m;
SELECT sum(y) FROM big_m;
SELECT max(x), count(*) FROM big_m;

-- Infinite and extreme timestamps as computed keys; truncating the first valid
-- timestamp's year leaves the range: Postgres' error, from the node too.
CREATE TABLE tsx_m (g int, ts timestamp) USING mergetree WITH (order_by = 'g');
CREATE TABLE tsx_h (g int, ts timestamp);
INSERT INTO tsx_h VALUES (1, 'infinity'), (2, '-infinity'), (3, '4714-11-24 00:00:00 BC'), (4, '294276-12-31 23:59:59.999999'),
  (5, '0001-01-01 00:00:00 BC'), (6, '1999-12-31 23:59:59.999999'), (7, NULL), (8, '2000-01-01');
INSERT INTO tsx_m SELECT * FROM tsx_h;
SELECT same_rows('SELECT ts::date, date_trunc(''month'', ts), count(*) FROM tsx_m WHERE g <> 3 GROUP BY 1, 2',
                 'SELECT ts::date, date_trunc(''month'', ts), count(*) FROM tsx_h WHERE g <> 3 GROUP BY 1, 2') AS extremes_same;
SELECT same_rows('SELECT ts::date, date_trunc(''day'', ts), count(*) FROM tsx_m GROUP BY 1, 2',
                 'SELECT ts::date, date_trunc(''day'', ts), count(*) FROM tsx_h GROUP BY 1, 2') AS days_same;
SELECT same_rows('SELECT date_trunc(''week'', ts), count(*) FROM tsx_m GROUP BY 1',
                 'SELECT date_trunc(''week'', ts), count(*) FROM tsx_h GROUP BY 1') AS weeks_same;
SELECT date_trunc('year', ts), count(*) FROM tsx_m GROUP BY 1;
SELECT date_trunc('year', ts), count(*) FROM tsx_h GROUP BY 1;

-- An empty table, and one whose rows are only in this transaction's buffer.
CREATE TABLE empty_m (k text, v int) USING mergetree WITH (order_by = 'k');
SELECT count(*), sum(v), avg(v), max(k) FROM empty_m;
SELECT k, count(*) FROM empty_m GROUP BY k;
BEGIN;
INSERT INTO empty_m SELECT 'k' || (g % 3), g FROM generate_series(1, 10) g;
EXPLAIN (COSTS OFF) SELECT k, count(*), sum(v) FROM empty_m GROUP BY k;
SELECT k, count(*), sum(v), min(v) FROM empty_m GROUP BY k ORDER BY k;
SELECT count(*), sum(v) FROM empty_m;
SELECT count(*), sum(v) FROM empty_m WHERE v > 5;
COMMIT;
-- Buffered rows together with parts.
BEGIN;
INSERT INTO agg_m SELECT * FROM agg_src WHERE g % 500 = 0;
INSERT INTO agg_h SELECT * FROM agg_src WHERE g % 500 = 0;
SELECT check_agg('SELECT k, count(*), sum(i4), max(kc), count(DISTINCT u) FROM $T GROUP BY k');
SELECT check_agg('SELECT count(*) FROM $T');
SELECT check_agg('SELECT count(*), sum(f8) FROM $T WHERE i2 > 50');
ROLLBACK;

-- Prepared statements, past the switch to a generic plan: the parameter is read at
-- execution. Each execution's rows are digested, mergetree and heap side by side.
PREPARE pm(int) AS SELECT md5(string_agg(x::text, ';' ORDER BY x::text)) AS h FROM (SELECT k, count(*), sum(i4), min(kc) FROM agg_m WHERE g <= $1 GROUP BY k) x;
PREPARE ph(int) AS SELECT md5(string_agg(x::text, ';' ORDER BY x::text)) AS h FROM (SELECT k, count(*), sum(i4), min(kc) FROM agg_h WHERE g <= $1 GROUP BY k) x;
CREATE TABLE prep_results (n int, same bool);
\set n 10
EXECUTE pm(:n) \gset m_
EXECUTE ph(:n) \gset h_
INSERT INTO prep_results VALUES (:n, :'m_h' = :'h_h');
\set n 100
EXECUTE pm(:n) \gset m_
EXECUTE ph(:n) \gset h_
INSERT INTO prep_results VALUES (:n, :'m_h' = :'h_h');
\set n 1000
EXECUTE pm(:n) \gset m_
EXECUTE ph(:n) \gset h_
INSERT INTO prep_results VALUES (:n, :'m_h' = :'h_h');
\set n 2500
EXECUTE pm(:n) \gset m_
EXECUTE ph(:n) \gset h_
INSERT INTO prep_results VALUES (:n, :'m_h' = :'h_h');
\set n 4000
EXECUTE pm(:n) \gset m_
EXECUTE ph(:n) \gset h_
INSERT INTO prep_results VALUES (:n, :'m_h' = :'h_h');
\set n 5000
EXECUTE pm(:n) \gset m_
EXECUTE ph(:n) \gset h_
INSERT INTO prep_results VALUES (:n, :'m_h' = :'h_h');
\set n 7
EXECUTE pm(:n) \gset m_
EXECUTE ph(:n) \gset h_
INSERT INTO prep_results VALUES (:n, :'m_h' = :'h_h');
\set n 6000
EXECUTE pm(:n) \gset m_
EXECUTE ph(:n) \gset h_
INSERT INTO prep_results VALUES (:n, :'m_h' = :'h_h');
SELECT * FROM prep_results ORDER BY n;
-- The generic plan keeps the node, with the parameter in its filter.
EXPLAIN (COSTS OFF) EXECUTE pm(3);
DEALLOCATE pm;
DEALLOCATE ph;
-- Inside a function whose plan is cached, called with different arguments.
CREATE FUNCTION count_upto(lim int) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN RETURN (SELECT count(*) FROM agg_m WHERE g <= lim AND k IS NOT NULL); END $$;
SELECT lim, count_upto(lim) = (SELECT count(*) FROM agg_h WHERE g <= lim AND k IS NOT NULL) AS same
FROM generate_series(0, 6000, 750) lim;
-- A correlated subquery: the node runs again for each outer row.
SELECT same_rows('SELECT o, (SELECT count(*) FROM agg_m WHERE i2 = o) FROM generate_series(-5, 5) o',
                 'SELECT o, (SELECT count(*) FROM agg_h WHERE i2 = o) FROM generate_series(-5, 5) o') AS correlated_same;

-- Row-level security: the node sees only the rows a policy lets through (leakproof
-- filters only, else Postgres plans it).
CREATE ROLE agg_reader;
GRANT SELECT ON agg_m, agg_h TO agg_reader;
ALTER TABLE agg_m ENABLE ROW LEVEL SECURITY;
ALTER TABLE agg_h ENABLE ROW LEVEL SECURITY;
CREATE POLICY some_keys ON agg_m TO agg_reader USING (i2 > 0);
CREATE POLICY some_keys ON agg_h TO agg_reader USING (i2 > 0);
SET ROLE agg_reader;
SELECT check_agg('SELECT k, count(*), sum(i4) FROM $T GROUP BY k');
SELECT check_agg('SELECT count(*), min(i2) FROM $T');
RESET ROLE;
ALTER TABLE agg_m DISABLE ROW LEVEL SECURITY;
ALTER TABLE agg_h DISABLE ROW LEVEL SECURITY;
DROP POLICY some_keys ON agg_m;
DROP POLICY some_keys ON agg_h;
REVOKE ALL ON agg_m, agg_h FROM agg_reader;
DROP ROLE agg_reader;

-- Partitions: with partitionwise aggregation, one node per partition under an Append.
CREATE TABLE part_m (k text, d date, v int) PARTITION BY RANGE (d);
CREATE TABLE part_m1 PARTITION OF part_m FOR VALUES FROM ('2020-01-01') TO ('2020-07-01') USING mergetree WITH (order_by = 'k');
CREATE TABLE part_m2 PARTITION OF part_m FOR VALUES FROM ('2020-07-01') TO ('2021-01-01') USING mergetree WITH (order_by = 'k');
CREATE TABLE part_h AS SELECT 'k' || (g % 7) AS k, date '2020-01-01' + g % 366 AS d, g AS v FROM generate_series(1, 3000) g;
INSERT INTO part_m SELECT * FROM part_h;
SET enable_partitionwise_aggregate = on;
EXPLAIN (COSTS OFF) SELECT d, count(*), sum(v) FROM part_m GROUP BY d;
SELECT same_rows('SELECT d, count(*), sum(v) FROM part_m GROUP BY d', 'SELECT d, count(*), sum(v) FROM part_h GROUP BY d') AS full_same;
SELECT same_rows('SELECT k, count(*), sum(v) FROM part_m GROUP BY k', 'SELECT k, count(*), sum(v) FROM part_h GROUP BY k') AS partial_same;
RESET enable_partitionwise_aggregate;
SELECT same_rows('SELECT k, count(*), sum(v) FROM part_m GROUP BY k', 'SELECT k, count(*), sum(v) FROM part_h GROUP BY k') AS append_same;

-- Joins and set operations around the node.
SELECT same_rows('SELECT s.k, s.c, p.d FROM (SELECT k, count(*) c FROM agg_m GROUP BY k) s JOIN (SELECT DISTINCT k, min(d) d FROM part_h GROUP BY k) p ON p.k = substr(s.k, 1, 2)',
                 'SELECT s.k, s.c, p.d FROM (SELECT k, count(*) c FROM agg_h GROUP BY k) s JOIN (SELECT DISTINCT k, min(d) d FROM part_h GROUP BY k) p ON p.k = substr(s.k, 1, 2)') AS join_same;
SELECT same_rows('SELECT k, count(*) FROM agg_m GROUP BY k UNION ALL SELECT kc, count(*) FROM agg_m GROUP BY kc',
                 'SELECT k, count(*) FROM agg_h GROUP BY k UNION ALL SELECT kc, count(*) FROM agg_h GROUP BY kc') AS union_same;

SELECT plan_lines('SELECT k, count(*), sum(i4) FROM agg_m WHERE g > 5000 GROUP BY k', 'MergeTreeAgg|Group Keys|Aggregates:|Groups|Rows Aggregated|Parts Read|Granules Read|Filter');
SELECT plan_lines('SELECT count(*) FROM agg_m', 'MergeTreeAgg|Metadata|Rows Aggregated');
-- count(*), min and max from part metadata: with no filter, or one that keeps or drops
-- whole parts (monthly partitions and a month's range); floats and numerics are read.
CREATE TABLE md_m (ts timestamp, v int, s text COLLATE "C", f float8, u uuid) USING mergetree
  WITH (order_by = 'v', partition_by = 'date_trunc(''month'', ts)');
CREATE TABLE md_h (LIKE md_m);
INSERT INTO md_h SELECT timestamp '2026-01-01' + g * interval '37 minutes', CASE WHEN g % 9 = 0 THEN NULL ELSE g % 1000 - 400 END,
                        CASE WHEN g % 7 = 0 THEN NULL ELSE 'v' || g % 77 END, g / 8.0, md5(g::text)::uuid
FROM generate_series(1, 4000) g;
INSERT INTO md_m SELECT * FROM md_h;
SELECT q, check_md(q) FROM unnest(ARRAY[
  'SELECT count(*), min(v), max(v), min(s), max(s), min(ts), max(ts) FROM $T',
  'SELECT count(*), min(v), max(ts) FROM $T WHERE ts >= ''2026-02-01'' AND ts < ''2026-03-01''',
  'SELECT count(*), max(v) FROM $T WHERE ts >= ''2026-02-15''',
  'SELECT count(*), min(v) FROM $T WHERE v IS NOT NULL',
  'SELECT min(f), max(f), count(*) FROM $T',
  'SELECT min(v), max(v) FROM $T WHERE ts < ''2025-01-01''']) q;
SELECT plan_lines('SELECT count(*), min(v), max(ts) FROM md_m WHERE ts >= ''2026-02-01'' AND ts < ''2026-03-01''', 'Metadata|Rows Aggregated');
SELECT plan_lines('SELECT count(*), max(v) FROM md_m WHERE ts >= ''2026-02-15''', 'Metadata|Rows Aggregated');
-- ... also with the transaction's own rows, and a column added after the parts were written
BEGIN;
INSERT INTO md_m VALUES ('2026-02-10', 9999, 'zz', 0, NULL);
INSERT INTO md_h VALUES ('2026-02-10', 9999, 'zz', 0, NULL);
SELECT check_md('SELECT count(*), min(v), max(v), max(s) FROM $T WHERE ts >= ''2026-02-01'' AND ts < ''2026-03-01''');
ROLLBACK;
ALTER TABLE md_m ADD COLUMN w int DEFAULT 7;
ALTER TABLE md_h ADD COLUMN w int DEFAULT 7;
INSERT INTO md_m (ts, v, w) VALUES ('2026-01-05', 1, 3), ('2026-01-06', 2, NULL);
INSERT INTO md_h (ts, v, w) VALUES ('2026-01-05', 1, 3), ('2026-01-06', 2, NULL);
SELECT check_md('SELECT count(*), min(w), max(w), count(w) FROM $T');
SELECT check_md('SELECT min(w), max(w) FROM $T');
SELECT plan_lines('SELECT min(w), max(w) FROM md_m', 'Metadata|Rows Aggregated');
-- SELECT DISTINCT of the table's rows: the node's groups without aggregates (with WHERE,
-- ORDER BY, LIMIT above; expressions of keys in the output). DISTINCT ON, DISTINCT over
-- groups and keys the node does not compute stay Postgres'.
SELECT check_agg('SELECT DISTINCT k FROM $T');
SELECT check_agg('SELECT DISTINCT kc, b, i2 FROM $T WHERE i4 > 0 ORDER BY kc, b, i2');
SELECT check_agg('SELECT DISTINCT date_trunc(''month'', ts), u FROM $T ORDER BY 1, 2 LIMIT 20');
SELECT check_agg('SELECT DISTINCT g % 3, upper(k) FROM $T');
SELECT check_agg('SELECT DISTINCT i2 + 1, d FROM $T WHERE d IS NOT NULL ORDER BY 1 DESC, 2 LIMIT 7');
SELECT check_agg('SELECT DISTINCT ON (kc) kc, i4 FROM $T ORDER BY kc, i4');
SELECT check_agg('SELECT DISTINCT count(*) FROM $T GROUP BY k');
SELECT count(*) FROM (SELECT DISTINCT k, kc, f8 FROM agg_m) s;
EXPLAIN (COSTS OFF) SELECT DISTINCT kc FROM agg_m WHERE i4 > 0;

-- Groups with more than 4,096 distinct values keep them as sorted runs of keys: text
-- (short, long, with and without a shared prefix), integers beyond 32 bits, floats and
-- uuids, exactly heap's counts, in one pass and (small work_mem, below) in passes.
CREATE TABLE dist_m (g int, s text, l text, big int8, f float8, u uuid) USING mergetree WITH (order_by = 's', index_granularity = 512);
CREATE TABLE dist_h (LIKE dist_m);
INSERT INTO dist_h SELECT g % 3, 'u' || (g % 20011), repeat('x', 20) || md5((g % 15013)::text), (g % 17011)::int8 * 10000000019,
       (g % 16001) / 8.0, md5((g % 14009)::text)::uuid FROM generate_series(1, 60000) g;
INSERT INTO dist_h VALUES (0, NULL, NULL, NULL, NULL, NULL), (1, '', '', -9223372036854775808, 'NaN', NULL);
INSERT INTO dist_m SELECT * FROM dist_h WHERE g = 0;
INSERT INTO dist_m SELECT * FROM dist_h WHERE g <> 0;
SELECT check_agg('SELECT count(DISTINCT s), count(DISTINCT l), count(DISTINCT big), count(DISTINCT f), count(DISTINCT u) FROM $T', 'dist_m', 'dist_h');
SELECT check_agg('SELECT g, count(DISTINCT s), count(DISTINCT l), count(DISTINCT big), count(*) FROM $T GROUP BY g', 'dist_m', 'dist_h');
SELECT count(DISTINCT s), count(DISTINCT l), count(DISTINCT big) FROM dist_m;

-- More groups (or distinct values) than the hash memory holds: the node reads the data
-- again in passes that each hold a share of them; beyond 16 passes Postgres' plan runs.
-- Same rows either way.
CREATE TABLE many_m (g int, v int) USING mergetree WITH (order_by = 'v');
INSERT INTO many_m SELECT g, g % 7 FROM generate_series(1, 100000) g;
SET work_mem = '64kB';
SET hash_mem_multiplier = 1;
-- One thread: where the first pass stops, and so how many passes follow, is the same
-- every run.
SET mergetree.max_threads = 1;
SELECT plan_lines('SELECT g, count(*), sum(i8) FROM agg_m GROUP BY g', 'MergeTreeAgg|Fallback|Passes|Groups');
SELECT check_agg('SELECT g, count(*), sum(i8) FROM $T GROUP BY g');
SELECT plan_lines('SELECT count(DISTINCT g), count(DISTINCT i8), sum(i4), max(k) FROM agg_m', 'MergeTreeAgg|Fallback|Passes|Groups');
SELECT check_agg('SELECT count(DISTINCT g), count(DISTINCT i8), sum(i4), max(k) FROM $T');
SELECT check_agg('SELECT kc, count(DISTINCT g), count(DISTINCT i8) FROM $T GROUP BY kc');
SELECT check_agg('SELECT g, k, count(*), count(DISTINCT i2) FROM $T GROUP BY g, k');
SELECT plan_lines('SELECT g, count(*) FROM many_m GROUP BY g', 'MergeTreeAgg|Fallback|Passes');
SET work_mem = '1MB';
SELECT plan_lines('SELECT count(DISTINCT s), count(DISTINCT l), count(DISTINCT big) FROM dist_m', 'MergeTreeAgg|Fallback|Passes');
SELECT check_agg('SELECT count(DISTINCT s), count(DISTINCT l), count(DISTINCT big) FROM $T', 'dist_m', 'dist_h');
SELECT plan_lines('SELECT g, count(DISTINCT s), count(DISTINCT l) FROM dist_m GROUP BY g', 'MergeTreeAgg|Fallback|Passes');
SELECT check_agg('SELECT g, count(DISTINCT s), count(DISTINCT l), count(DISTINCT big), count(DISTINCT u) FROM $T GROUP BY g', 'dist_m', 'dist_h');
SET work_mem = '64kB';
SELECT count(*), sum(c), count(DISTINCT g) FROM (SELECT g, count(*) AS c FROM many_m GROUP BY g) s;
-- Two threads: each owns a share, and the batches go round between them (exchange.rs).
-- Where a pass stops varies, so only that the node ran to the end is shown.
SET mergetree.max_threads = 2;
CREATE FUNCTION ran_in_shares(q text) RETURNS TABLE (fell_back bool, two_threads bool) LANGUAGE sql AS $$
  SELECT coalesce(bool_or(l ~ 'Fallback'), false), coalesce(bool_or(l ~ 'Threads: 2'), false) FROM plan_lines(q, 'Fallback|Threads') l $$;
SELECT * FROM ran_in_shares('SELECT g, count(*), sum(i8) FROM agg_m GROUP BY g');
SELECT check_agg('SELECT g, count(*), sum(i8) FROM $T GROUP BY g');
SELECT * FROM ran_in_shares('SELECT count(DISTINCT g), count(DISTINCT i8), sum(i4), max(k) FROM agg_m');
SELECT check_agg('SELECT count(DISTINCT g), count(DISTINCT i8), sum(i4), max(k) FROM $T');
SELECT check_agg('SELECT kc, count(DISTINCT g), count(DISTINCT i8) FROM $T GROUP BY kc');
SET work_mem = '1MB';
SELECT check_agg('SELECT g, count(DISTINCT s), count(DISTINCT l), count(DISTINCT big), count(DISTINCT u) FROM $T GROUP BY g', 'dist_m', 'dist_h');
SELECT check_agg('SELECT count(DISTINCT s), count(DISTINCT l), count(DISTINCT big) FROM $T', 'dist_m', 'dist_h');
SELECT * FROM ran_in_shares('SELECT k, mergetree.uniq(i8), mergetree.quantile(0.5, i4) FROM agg_m GROUP BY k');
SELECT check_agg('SELECT k, mergetree.uniq(i8), mergetree.quantile(0.5, i4), count(*) FROM $T GROUP BY k');
DROP FUNCTION ran_in_shares(text);
RESET mergetree.max_threads;
RESET work_mem;
RESET hash_mem_multiplier;
SELECT count(*) FROM mergetree.parts WHERE table_name = 'agg_m'::regclass;
DROP TABLE dist_m, dist_h;
\ir include/drop_same_rows.sql
