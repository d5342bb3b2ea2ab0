-- mergetree.uniq and mergetree.quantile: approximate aggregates usable on any table.
-- MergeTreeAgg computes them inside the scan with the same sketches and the same
-- canonical hashing, so its answers equal the SQL aggregates' exactly (check_agg:
-- mergetree table through the node vs heap table through Postgres' own aggregation).
-- Accuracy is checked against the exact count(DISTINCT) and percentile_disc.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
CREATE SCHEMA approx;
RESET client_min_messages;
SET search_path = approx, public;
\ir include/same_rows.sql
\ir include/check_agg.sql

CREATE TABLE ap_m (g int, k text, kc text COLLATE "C", vc varchar(20), ch char(6), i2 int2, i4 int4, i8 int8,
                   f4 float4, f8 float8, d date, ts timestamp, tz timestamptz, b bool, u uuid, by bytea,
                   n numeric(12,3), nul int)
  USING mergetree WITH (order_by = 'g', index_granularity = 256);
CREATE TABLE ap_h (LIKE ap_m);
CREATE TABLE ap_src AS
SELECT g,
       CASE WHEN g % 17 = 0 THEN NULL ELSE 'key_' || (g % 2300) || CASE WHEN g % 3 = 0 THEN 'é' ELSE 'B' END END AS k,
       CASE WHEN g % 19 = 0 THEN NULL ELSE chr(65 + g % 7) || repeat('z', g % 30) END AS kc,
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'v' || (g % 999) END AS vc,
       CASE WHEN g % 4 = 0 THEN NULL ELSE (g % 50)::text END AS ch,
       CASE WHEN g % 13 = 0 THEN NULL WHEN g % 101 = 0 THEN 32767 WHEN g % 103 = 0 THEN -32768 ELSE (g % 200 - 100) END::int2 AS i2,
       CASE WHEN g % 11 = 0 THEN NULL WHEN g % 97 = 0 THEN 2147483647 ELSE g * 7 - 90000 END AS i4,
       CASE WHEN g % 7 = 0 THEN NULL WHEN g % 83 = 0 THEN -9223372036854775808 ELSE g::int8 * 1000003 END AS i8,
       CASE WHEN g % 9 = 0 THEN NULL WHEN g % 91 = 0 THEN 'NaN' WHEN g % 93 = 0 THEN '-Infinity' ELSE (g % 1000 - 500) / 4.0 END::float4 AS f4,
       CASE WHEN g % 8 = 0 THEN NULL WHEN g % 61 = 0 THEN -0.0::float8 WHEN g % 67 = 0 THEN 0.0 WHEN g % 71 = 0 THEN 'NaN'
            WHEN g % 73 = 0 THEN 'Infinity' ELSE (g * 37 % 100000 - 50000) / 8.0 END AS f8,
       CASE WHEN g % 14 = 0 THEN NULL ELSE date '2020-02-28' + (g % 4000) END AS d,
       CASE WHEN g % 15 = 0 THEN NULL ELSE timestamp '1999-12-31 23:00' + g * interval '17 minutes 3 seconds' END AS ts,
       CASE WHEN g % 16 = 0 THEN NULL ELSE timestamptz '2024-03-10 01:30+00' + (g % 5000) * interval '1 hour 1 second' END AS tz,
       CASE WHEN g % 6 = 0 THEN NULL ELSE g % 4 <> 0 END AS b,
       CASE WHEN g % 21 = 0 THEN NULL ELSE md5((g % 3000)::text)::uuid END AS u,
       CASE WHEN g % 23 = 0 THEN NULL ELSE decode(md5((g % 700)::text), 'hex') END AS by,
       CASE WHEN g % 10 = 0 THEN NULL ELSE round((g % 9999) * 1.125 - 5000, 3) END AS n,
       NULL::int AS nul
FROM generate_series(1, 30000) g;
INSERT INTO ap_m SELECT * FROM ap_src WHERE g <= 12000;
INSERT INTO ap_m SELECT * FROM ap_src WHERE g > 12000;
INSERT INTO ap_h SELECT * FROM ap_src;
ANALYZE ap_m, ap_h;

-- uniq over every type the node hashes, and over the ones Postgres' aggregate hashes
-- (char(n), numeric: the plan stays Postgres')
SELECT check_agg('SELECT mergetree.uniq(g), mergetree.uniq(i2), mergetree.uniq(i4), mergetree.uniq(i8) FROM $T', 'ap_m', 'ap_h');
SELECT check_agg('SELECT mergetree.uniq(f4), mergetree.uniq(f8), mergetree.uniq(d), mergetree.uniq(ts), mergetree.uniq(tz) FROM $T', 'ap_m', 'ap_h');
SELECT check_agg('SELECT mergetree.uniq(k), mergetree.uniq(kc), mergetree.uniq(vc), mergetree.uniq(b), mergetree.uniq(u), mergetree.uniq(by) FROM $T', 'ap_m', 'ap_h');
SELECT check_agg('SELECT mergetree.uniq(ch) FROM $T', 'ap_m', 'ap_h');
SELECT check_agg('SELECT mergetree.uniq(n), mergetree.uniq(nul) FROM $T', 'ap_m', 'ap_h');
-- grouped, filtered, with other aggregates, HAVING and ORDER BY
SELECT check_agg('SELECT kc, mergetree.uniq(k), count(*) FROM $T GROUP BY 1', 'ap_m', 'ap_h');
SELECT check_agg('SELECT d, mergetree.uniq(u), mergetree.uniq(k) FILTER (WHERE i4 > 0) FROM $T GROUP BY d ORDER BY d', 'ap_m', 'ap_h');
SELECT check_agg('SELECT b, mergetree.uniq(i8), count(DISTINCT i8) FROM $T WHERE g BETWEEN 1000 AND 25000 GROUP BY b HAVING mergetree.uniq(i8) > 10 ORDER BY 2 DESC', 'ap_m', 'ap_h');
-- quantile over float8 columns and exact float8 expressions of other columns
SELECT check_agg('SELECT mergetree.quantile(0.5, f8), mergetree.quantile(0, f8), mergetree.quantile(1, f8), mergetree.quantile(0.99, f4) FROM $T', 'ap_m', 'ap_h');
SELECT check_agg('SELECT mergetree.quantile(0.25, i4), mergetree.quantile(0.75, i8), mergetree.quantile(0.1, i2 * 3) FROM $T', 'ap_m', 'ap_h');
SELECT check_agg('SELECT mergetree.quantile(0.5, n) FROM $T', 'ap_m', 'ap_h');
SELECT check_agg('SELECT kc, mergetree.quantile(0.9, f8), mergetree.quantile(0.5, g) FILTER (WHERE b) FROM $T GROUP BY kc ORDER BY kc', 'ap_m', 'ap_h');
SELECT check_agg('SELECT mergetree.quantile(0.5, nul), mergetree.uniq(nul) FROM $T WHERE g < 0', 'ap_m', 'ap_h');
-- -0 and 0 are one value (the minimum does not depend on which came first); a constant
-- argument is Postgres' to compute.
SELECT check_agg('SELECT mergetree.quantile(0, f8 * 0), mergetree.quantile(1, f8 * 0) FROM $T WHERE f8 > -100 AND f8 < 100', 'ap_m', 'ap_h');
SELECT check_agg('SELECT mergetree.quantile(0.5, 1.0), count(*) FROM $T', 'ap_m', 'ap_h');
-- a level given by a parameter past the generic-plan switch: Postgres' plan
PREPARE q(float8) AS SELECT mergetree.quantile($1, i4) FROM ap_m;
EXECUTE q(0.5); EXECUTE q(0.5); EXECUTE q(0.5); EXECUTE q(0.5); EXECUTE q(0.5); EXECUTE q(0.5);
SELECT mergetree.quantile(0.5, i4) FROM ap_h;
DEALLOCATE q;

-- The node shows them in EXPLAIN.
EXPLAIN (COSTS OFF) SELECT d, mergetree.uniq(u), mergetree.quantile(0.9, i4) FROM ap_m GROUP BY d;

-- Accuracy: within 3% of the exact distinct count (the standard error is 0.81%), within
-- 1% (relative) of the value at the level's rank.
SELECT count(DISTINCT k) AS exact, abs(mergetree.uniq(k) - count(DISTINCT k)) <= 0.03 * count(DISTINCT k) AS uniq_close,
       abs(mergetree.uniq(i8) - count(DISTINCT i8)) <= 0.03 * count(DISTINCT i8) AS uniq_close_i8,
       abs(mergetree.uniq(ts) - count(DISTINCT ts)) <= 0.03 * count(DISTINCT ts) AS uniq_close_ts
FROM ap_m;
SELECT l, abs(mergetree.quantile(l, i4) - percentile_disc(l) WITHIN GROUP (ORDER BY i4)) <= 0.0101 * abs(percentile_disc(l) WITHIN GROUP (ORDER BY i4)) AS close
FROM ap_h, (VALUES (0.01::float8), (0.25), (0.5), (0.9), (0.999)) v(l) GROUP BY l ORDER BY l;
-- Up to 2,048 distinct values are counted exactly (their hashes are kept).
SELECT mergetree.uniq(x) FROM generate_series(1, 1000) x;
SELECT mergetree.uniq(x % 10) FROM generate_series(1, 100000) x;
SELECT mergetree.uniq(x) FROM generate_series(1, 2048) x;
SELECT abs(mergetree.uniq(x) - 100000) < 3000 AS close FROM generate_series(1, 100000) x;

-- Any table, any hashable type; values equal under the type's equality count once.
SELECT mergetree.uniq(x) FROM (VALUES (1.0::numeric), (1.00), (2), (NULL)) v(x);
SELECT mergetree.uniq(x) FROM (VALUES ('a'::bpchar), ('a  '), ('b')) v(x);
SELECT mergetree.uniq(x), mergetree.uniq(y) FROM (VALUES ('{1,2}'::int[], '1 day'::interval), ('{1,2}', '24 hours'), ('{2,1}', '1 day')) v(x, y);
SELECT mergetree.uniq(x) FROM (VALUES (-0.0::float8), (0.0), ('NaN'), ('NaN')) v(x);
SELECT mergetree.uniq(x), mergetree.quantile(0.5, x) FROM generate_series(1, 0) x;
SELECT mergetree.quantile(0.5, x), mergetree.quantile(0, x), mergetree.quantile(1, x) FROM (VALUES (1), (2), (3), (NULL)) v(x);
-- NaN and infinities are not kept by the sketch.
SELECT mergetree.quantile(1, x) FROM (VALUES (1.0::float8), ('NaN'), ('Infinity')) v(x);
SELECT mergetree.quantile(NULL, x) FROM (VALUES (1.0::float8)) v(x);

-- Errors.
SELECT mergetree.quantile(1.5, x) FROM (VALUES (1.0::float8)) v(x);
SELECT mergetree.quantile(-0.1, f8) FROM ap_m;
SELECT mergetree.quantile(CASE WHEN x < 2 THEN 0.5 ELSE 0.9 END, x) FROM (VALUES (1.0::float8), (2)) v(x);
SELECT mergetree.uniq(x) FROM (VALUES (point(1, 2))) v(x);

-- Postgres' parallel plans combine partial states (serialized between workers) to the
-- same answers.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT mergetree.uniq(k), mergetree.quantile(0.5, f8) FROM ap_h;
CREATE TABLE ap_parallel AS SELECT mergetree.uniq(k) AS uk, mergetree.uniq(u) AS uu, mergetree.quantile(0.5, i4) AS q5, mergetree.quantile(0.9, i8) AS q9 FROM ap_h;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
SELECT p = s AS parallel_same FROM ap_parallel p,
  (SELECT mergetree.uniq(k) AS uk, mergetree.uniq(u) AS uu, mergetree.quantile(0.5, i4) AS q5, mergetree.quantile(0.9, i8) AS q9 FROM ap_m) s;

-- The node off: Postgres aggregates the mergetree table's rows to the same answers.
SET mergetree.enable_aggregate_scan = off;
CREATE TABLE ap_plain AS SELECT d, mergetree.uniq(u) AS uu, mergetree.quantile(0.9, i4) AS q FROM ap_m GROUP BY d;
RESET mergetree.enable_aggregate_scan;
SELECT count(*) AS differing FROM (SELECT d, mergetree.uniq(u), mergetree.quantile(0.9, i4) FROM ap_m GROUP BY d EXCEPT SELECT * FROM ap_plain) x;

-- Stored states are checked before use: a damaged one is an error, never a wrong answer
-- or a crash. (Byte 1079 is the top byte of the positive store's largest key: set, the
-- key lies past the buckets the state has.)
CREATE TABLE ap_states AS SELECT mergetree.quantile_state(x) AS s, mergetree.uniq_state(x) AS u FROM (VALUES (1.0::float8), (2), (3)) v(x);
SELECT length(s), mergetree.quantile_merge(0.5, s) BETWEEN 1.96 AND 2.04 AS near_2, mergetree.uniq_merge(u) FROM ap_states GROUP BY s;
SELECT mergetree.quantile_merge(0.5, set_byte(s, 1079, 127)) FROM ap_states;
SELECT mergetree.quantile_union(s, set_byte(s, 1079, 127)) FROM ap_states;
SELECT mergetree.quantile_merge(0.5, substring(s from 1 for 100)) FROM ap_states;
SELECT mergetree.uniq_merge(substring(u from 1 for 5)) FROM ap_states;

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA approx CASCADE;
RESET client_min_messages;
