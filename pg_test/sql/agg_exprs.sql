-- MergeTreeAgg over expressions against heap: numeric columns (as scaled integers),
-- + - * / on integers, float8 and numeric, casts, char(n) keys, and date/timestamp
-- comparisons pushed into the scan. Errors must be Postgres' own, and what the node
-- cannot compute exactly (wide numerics, NaN) must fall back to Postgres' plan.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
CREATE SCHEMA agg_exprs;
RESET client_min_messages;
SET search_path = agg_exprs, public;
\ir include/same_rows.sql
\ir include/check_agg.sql
-- The error (SQLSTATE: message) a query raises, or 'no error'.
CREATE FUNCTION err_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION check_err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE m text := err_of(replace(q, '$T', 'agg_m')); h text := err_of(replace(q, '$T', 'agg_h'));
BEGIN
  RETURN CASE WHEN m = h THEN m ELSE 'DIFFERENT: ' || m || ' / ' || h END;
END $$;

CREATE TABLE agg_m (id int, flag char(1), status char(1), wide char(3), qty numeric(15,2), price numeric(15,2),
                    disc numeric(15,2), tax numeric(15,2), ship date, ts timestamp, i2 int2, i4 int4, i8 int8,
                    f8 float8, f4 float4, big numeric(30,2), free numeric, n18 numeric(18,0))
  USING mergetree WITH (order_by = 'ship', index_granularity = 64);
CREATE TABLE agg_h (LIKE agg_m);
CREATE TABLE agg_src AS
SELECT g AS id,
       CASE WHEN g % 29 = 0 THEN NULL ELSE (ARRAY['A', 'N', 'R'])[1 + g % 3] END AS flag,
       (ARRAY['F', 'O'])[1 + g % 2] AS status,
       CASE WHEN g % 31 = 0 THEN NULL ELSE (ARRAY['ab', 'é', 'x y', ''])[1 + g % 4] END AS wide,
       CASE WHEN g % 23 = 0 THEN NULL ELSE (g % 50 + 1)::numeric END AS qty,
       (g * 7919 % 100000) / 100.0 + 900 AS price,
       (g % 11) / 100.0 AS disc,
       (g % 9) / 100.0 AS tax,
       CASE WHEN g % 37 = 0 THEN NULL ELSE date '1992-01-01' + g % 2500 END AS ship,
       timestamp '1992-01-01' + g * interval '7 hours 13 minutes' AS ts,
       CASE WHEN g % 13 = 0 THEN NULL ELSE g % 200 - 100 END AS i2,
       CASE WHEN g % 11 = 0 THEN NULL ELSE g * 7 - 9000 END AS i4,
       CASE WHEN g % 7 = 0 THEN NULL ELSE g::int8 * 1000003 END AS i8,
       CASE WHEN g % 8 = 0 THEN NULL ELSE (g * 37 % 100000 - 50000) / 8.0 END AS f8,
       CASE WHEN g % 9 = 0 THEN NULL ELSE (g % 1000 - 500) / 4.0 END AS f4,
       g * 1234567.89 AS big,
       g / 7.0 AS free,
       CASE WHEN g = 77 THEN 999999999999999999 ELSE g END AS n18
FROM generate_series(1, 5000) g;
-- Several parts, and the same rows in heap.
INSERT INTO agg_m SELECT * FROM agg_src WHERE id <= 2000;
INSERT INTO agg_m SELECT * FROM agg_src WHERE id > 2000;
INSERT INTO agg_h SELECT * FROM agg_src;
ANALYZE agg_m, agg_h;

-- TPC-H Q1's shape: numeric sums, products and averages grouped by two char(1) keys,
-- under a date compared with a timestamp.
SELECT check_agg('SELECT flag, status, sum(qty), sum(price), sum(price * (1 - disc)), sum(price * (1 - disc) * (1 + tax)),
                         avg(qty), avg(price), avg(disc), count(*)
                  FROM $T WHERE ship <= date ''1998-12-01'' - interval ''90 day'' GROUP BY flag, status ORDER BY flag, status');
SELECT plan_lines('SELECT flag, sum(price * (1 - disc)), avg(qty) FROM agg_m WHERE ship <= date ''1995-12-01'' - interval ''90 day'' GROUP BY flag',
                  'Aggregates|Group Keys|Filter|Fallback');
-- TPC-H Q6's shape: numeric comparisons are pushed too (compared as numeric_cmp does).
SELECT check_agg('SELECT sum(price * disc) FROM $T WHERE ship >= date ''1994-01-01'' AND ship < date ''1994-01-01'' + interval ''1 year''');
SELECT check_agg('SELECT sum(price * disc) FROM $T WHERE ship >= date ''1994-01-01'' AND disc BETWEEN 0.06 - 0.01 AND 0.06 + 0.01 AND qty < 24');
-- numeric columns: min, max, count, distinct, and constants of other scales
SELECT check_agg('SELECT status, min(price), max(price), min(disc * tax), max(qty - 0.125), count(price + 1), count(DISTINCT disc) FROM $T GROUP BY status');
SELECT check_agg('SELECT sum(qty), avg(qty), min(qty), max(qty) FROM $T WHERE qty IS NULL');
SELECT check_agg('SELECT sum(n18), avg(n18 + 1), sum(i4 + n18) FROM $T');
SELECT check_agg('SELECT sum(i8::numeric * 2), sum(i2 * 1.5), avg(i4 - 0.25) FROM $T');
-- integer arithmetic: results of the operator's type, sums as for that type
SELECT check_agg('SELECT sum(i4 + i2), sum(i4 * 2), avg(i8 - i4), min(i2 * i2), max(i4 / 3), sum(i8 / (i2 + 200)), sum(-5 + i2) FROM $T');
SELECT check_agg('SELECT flag, count(i2 * 2), count(DISTINCT i4 * 7), min(i4::int8 * 3) FROM $T GROUP BY flag');
-- float8 arithmetic and casts to float8
SELECT check_agg('SELECT sum(f8 * 2), avg(f8 + i4), min(f8 / 4), max(f4::float8 * 2), sum(i2::float8 - f8) FROM $T');
-- FILTER: numeric arguments (which never raise) are computed in the node; integer
-- arithmetic, which may raise, only for the rows the FILTER keeps (Postgres' plan)
SELECT check_agg('SELECT flag, sum(price * disc) FILTER (WHERE i2 > 0), sum(qty) FILTER (WHERE disc > 0.05) FROM $T GROUP BY flag');
SELECT check_agg('SELECT sum(i4 * 1000000) FILTER (WHERE i4 BETWEEN -2000 AND 2000) FROM $T');
-- not for the node: Postgres computes these, with the same results
SELECT check_agg('SELECT sum(big), avg(free), sum(price / 3), sum(f4 * 2.0) FROM $T');
SELECT check_agg('SELECT count(DISTINCT i4 % 7), max(f4 * 2::float8), count(*) FILTER (WHERE status = ''F'') FROM $T');
SELECT check_agg('SELECT sum(price) FROM $T GROUP BY round(price)');

-- Exact percentiles: percentile_cont over float8 (integers cast to it), percentile_disc
-- over integers, floats, dates, timestamps, numerics and expressions; NULLs skipped.
SELECT check_agg('SELECT flag, percentile_cont(0.5) WITHIN GROUP (ORDER BY i4), percentile_cont(0.9) WITHIN GROUP (ORDER BY f8),
                         percentile_cont(0.99) WITHIN GROUP (ORDER BY i2), percentile_cont(0) WITHIN GROUP (ORDER BY f4),
                         percentile_cont(1) WITHIN GROUP (ORDER BY i8), count(*) FROM $T GROUP BY flag');
SELECT check_agg('SELECT status, percentile_disc(0.5) WITHIN GROUP (ORDER BY i4), percentile_disc(0.25) WITHIN GROUP (ORDER BY ship),
                         percentile_disc(0.75) WITHIN GROUP (ORDER BY ts), percentile_disc(0.1) WITHIN GROUP (ORDER BY price),
                         percentile_disc(0.33) WITHIN GROUP (ORDER BY f4), percentile_disc(0.5) WITHIN GROUP (ORDER BY price * disc) FROM $T GROUP BY status');
SELECT check_agg('SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY f8), percentile_disc(0.5) WITHIN GROUP (ORDER BY i2) FROM $T WHERE f8 IS NULL AND i2 IS NULL');
SELECT check_agg('SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY f8) FILTER (WHERE i2 > 0), percentile_disc(0.9) WITHIN GROUP (ORDER BY i4) FROM $T');
SELECT plan_lines('SELECT flag, percentile_cont(0.5) WITHIN GROUP (ORDER BY i4) FROM agg_m GROUP BY flag', 'Aggregates');
-- Values beyond the memory budget: groups in passes; one group, Postgres' plan.
SET work_mem = '64kB';
SET hash_mem_multiplier = 1;
SELECT check_agg('SELECT status, percentile_disc(0.5) WITHIN GROUP (ORDER BY id), percentile_cont(0.5) WITHIN GROUP (ORDER BY f8) FROM $T GROUP BY status');
SELECT check_agg('SELECT status, percentile_disc(0.5) WITHIN GROUP (ORDER BY i8) FROM $T GROUP BY status');
SELECT plan_lines('SELECT status, percentile_disc(0.5) WITHIN GROUP (ORDER BY i8) FROM agg_m GROUP BY status', 'Passes|Fallback');
-- (1,000 values count densely in a few kB; i8's values are far apart and need a map)
SELECT check_agg('SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY id / 5) FROM $T');
SELECT plan_lines('SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY id / 5) FROM agg_m', 'Fallback|Passes');
SELECT check_agg('SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY i8) FROM $T');
SELECT plan_lines('SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY i8) FROM agg_m', 'Fallback');
RESET work_mem;
RESET hash_mem_multiplier;
-- Arrays of fractions: an array per group (NULL fractions give NULL elements; an empty
-- group gives NULL), sharing one set of counts per input.
SELECT check_agg('SELECT flag, percentile_cont(ARRAY[0.5, 0.9, NULL, 0, 1]) WITHIN GROUP (ORDER BY i4), percentile_cont(ARRAY[0.25]) WITHIN GROUP (ORDER BY f8),
                         percentile_disc(ARRAY[0.1, 0.5, 0.99]) WITHIN GROUP (ORDER BY ship), percentile_disc(ARRAY[0.5, NULL]) WITHIN GROUP (ORDER BY ts),
                         percentile_disc(ARRAY[0.3, 0.6]) WITHIN GROUP (ORDER BY i2), percentile_cont(0.5) WITHIN GROUP (ORDER BY i4) FROM $T GROUP BY flag ORDER BY flag');
SELECT check_agg('SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY f8) FILTER (WHERE i2 > 0), percentile_cont(ARRAY[0.5]) WITHIN GROUP (ORDER BY i4) FROM $T WHERE i2 IS NULL AND i4 IS NULL');
SELECT check_agg('SELECT status, percentile_cont(ARRAY[0.1, 0.9]) WITHIN GROUP (ORDER BY f8 * 2) FROM $T GROUP BY status');
SELECT plan_lines('SELECT flag, percentile_cont(ARRAY[0.5, NULL, 0.9]) WITHIN GROUP (ORDER BY i4) FROM agg_m GROUP BY flag', 'Aggregates');
-- not for the node: descending order, fractions out of range, arrays of more than one
-- dimension, of only NULLs, of numerics or computed values of percentile_disc
SELECT check_agg('SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY i4 DESC) FROM $T');
SELECT check_err('SELECT percentile_cont(1.5) WITHIN GROUP (ORDER BY i4) FROM $T');
SELECT check_err('SELECT percentile_cont(ARRAY[0.5, 1.5]) WITHIN GROUP (ORDER BY i4) FROM $T');
SELECT check_agg('SELECT percentile_disc(ARRAY[[0.5, 0.1], [0.2, 0.3]]) WITHIN GROUP (ORDER BY i4) FROM $T');
SELECT check_agg('SELECT percentile_disc(ARRAY[NULL::float8]) WITHIN GROUP (ORDER BY i4) FROM $T');
SELECT check_agg('SELECT percentile_cont(''{}''::float8[]) WITHIN GROUP (ORDER BY i4), percentile_cont(0.5) WITHIN GROUP (ORDER BY 1.0::float8) FROM $T');
SELECT check_agg('SELECT percentile_disc(ARRAY[0.5]) WITHIN GROUP (ORDER BY price), percentile_disc(ARRAY[0.5]) WITHIN GROUP (ORDER BY i4 * 2) FROM $T');

-- Errors are Postgres' own (SQLSTATE and message), raised by the node.
SELECT check_agg('SELECT sum(i4 * 2) FROM $T');
SELECT check_err('SELECT sum(i4 * 1000000) FROM $T');
SELECT check_err('SELECT sum(i2 * i2 * i2 * i2::int2) FROM $T');
SELECT check_err('SELECT sum(i8 * i8) FROM $T');
SELECT check_err('SELECT min(i4 / (i2 - i2)) FROM $T');
SELECT check_err('SELECT max(f8 / (f8 - f8)) FROM $T');
SELECT check_err('SELECT sum(f8 * 1e308::float8) FROM $T');
SELECT check_err('SELECT sum(f8 * 1e-300::float8 * 1e-300::float8) FROM $T');
-- ... and only for rows the WHERE keeps
SELECT check_agg('SELECT sum(i4 * 1000000) FROM $T WHERE i4 BETWEEN -2000 AND 2000');

-- Values the node cannot compute exactly: Postgres' plan runs instead.
SELECT check_agg('SELECT sum(n18 * n18) FROM $T');
SELECT plan_lines('SELECT sum(n18 * n18) FROM agg_m', 'Fallback');
CREATE TABLE nan_m (g int, v numeric(10,2)) USING mergetree WITH (order_by = 'g');
CREATE TABLE nan_h (g int, v numeric(10,2));
INSERT INTO nan_m VALUES (1, 1.5), (2, 'NaN'), (3, -2.25), (4, NULL);
INSERT INTO nan_h SELECT * FROM nan_m;
SELECT sum(v), avg(v), min(v), max(v), sum(v * 2), count(DISTINCT v) FROM nan_m;
SELECT same_rows('SELECT sum(v), avg(v), min(v), max(v), sum(v * 2), count(DISTINCT v) FROM nan_m',
                 'SELECT sum(v), avg(v), min(v), max(v), sum(v * 2), count(DISTINCT v) FROM nan_h') AS nan_same;
SELECT plan_lines('SELECT sum(v) FROM nan_m', 'Fallback');
-- NaN compares above every number, equal to itself.
SELECT same_rows('SELECT g FROM nan_m WHERE v > 1', 'SELECT g FROM nan_h WHERE v > 1') AS nan_cmp_same,
       same_rows('SELECT g FROM nan_m WHERE v = ''NaN''', 'SELECT g FROM nan_h WHERE v = ''NaN''') AS nan_eq_same;
TRUNCATE nan_m;
INSERT INTO nan_m VALUES (1, 1.5), (3, -2.25), (4, NULL);
SELECT sum(v), avg(v), min(v), max(v), sum(v * 2) FROM nan_m;

-- numeric comparisons pushed into the scan: any scale on either side, integer constants.
SELECT q, check_agg(q) FROM unnest(ARRAY[
  'SELECT id FROM $T WHERE disc = 0.05',
  'SELECT id FROM $T WHERE disc = 0.050',
  'SELECT id FROM $T WHERE disc < 0.055',
  'SELECT id FROM $T WHERE price >= 1000 AND price < 1000.5',
  'SELECT id FROM $T WHERE qty <> 7',
  'SELECT id FROM $T WHERE qty IN (1, 2.0, 3.50)',
  'SELECT id FROM $T WHERE NOT (qty > 25)',
  'SELECT id FROM $T WHERE big > 1e9',
  'SELECT id FROM $T WHERE free < 3.5',
  'SELECT id FROM $T WHERE price - disc > 1500']) q;
SELECT plan_lines('SELECT id FROM agg_m WHERE disc BETWEEN 0.05 AND 0.07 AND qty < 24', 'Filter');

-- extract(field FROM ts) keys: numerics of Postgres' scale; NULL or infinities for
-- infinite timestamps, as Postgres gives them.
CREATE TABLE ext_m (g int, ts timestamp) USING mergetree WITH (order_by = 'g');
CREATE TABLE ext_h (g int, ts timestamp);
INSERT INTO ext_h SELECT g, timestamp '1999-12-30 22:59:58.5' + g * interval '13 hours 17 minutes 1.25 seconds' FROM generate_series(1, 3000) g;
INSERT INTO ext_h VALUES (3001, 'infinity'), (3002, '-infinity'), (3003, NULL), (3004, '0044-03-15 12:00 BC'), (3005, '0001-01-01 00:00 BC');
INSERT INTO ext_m SELECT * FROM ext_h;
SELECT f, same_rows(format('SELECT extract(%s FROM ts), count(*), min(g) FROM ext_m GROUP BY 1', f),
                    format('SELECT extract(%s FROM ts), count(*), min(g) FROM ext_h GROUP BY 1', f)) AS same
FROM unnest(ARRAY['microseconds', 'milliseconds', 'second', 'minute', 'hour', 'day', 'month', 'quarter', 'year',
                  'decade', 'century', 'millennium', 'dow', 'isodow', 'doy', 'epoch']) f;
SELECT extract(year FROM ts) y, extract(second FROM ts) s, count(*) FROM ext_m WHERE g > 3000 OR g < 3 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT plan_lines('SELECT extract(hour FROM ts), count(*) FROM ext_m GROUP BY 1', 'Group Keys');

-- JSON fields of a text column as keys (text::jsonb ->> 'key'): read by the scan where it
-- reads exactly what Postgres does; a document it cannot (escapes, exponents, nested
-- values, invalid JSON) leaves the query to Postgres, errors included.
CREATE TABLE js_m (g int, props text, d int) USING mergetree WITH (order_by = 'g');
CREATE TABLE js_h (g int, props text, d int);
INSERT INTO js_h SELECT g, CASE g % 7 WHEN 0 THEN NULL WHEN 1 THEN '{"browser": "firefox", "os": "linux", "n": 1.50}'
                                  WHEN 2 THEN '{"os": "mac", "browser": null}' WHEN 3 THEN '{ "browser" : "chrome" , "os":"win", "n": -3}'
                                  WHEN 4 THEN '{"browser": "firefox", "browser": "edge", "b": true}' WHEN 5 THEN '{"os": "bsd"}'
                                  ELSE '{"browser": "safari", "n": 10, "x": {"os": "no"}}' END, g % 100
FROM generate_series(1, 2000) g;
INSERT INTO js_m SELECT * FROM js_h;
SELECT same_rows('SELECT props::jsonb ->> ''browser'', props::jsonb ->> ''os'', count(*), avg(d) FROM js_m GROUP BY 1, 2',
                 'SELECT props::jsonb ->> ''browser'', props::jsonb ->> ''os'', count(*), avg(d) FROM js_h GROUP BY 1, 2') AS json_keys_same,
       same_rows('SELECT props::jsonb ->> ''n'', props::jsonb ->> ''b'', count(*) FROM js_m WHERE d < 50 GROUP BY 1, 2',
                 'SELECT props::jsonb ->> ''n'', props::jsonb ->> ''b'', count(*) FROM js_h WHERE d < 50 GROUP BY 1, 2') AS json_values_same;
SELECT plan_lines('SELECT props::jsonb ->> ''browser'', count(*) FROM js_m GROUP BY 1', 'Group Keys|Fallback');
INSERT INTO js_m VALUES (3000, '{"browser": "fire\u0066ox"}', 1), (3001, '{"browser": 1e3}', 2), (3002, '[1, 2]', 3);
INSERT INTO js_h VALUES (3000, '{"browser": "fire\u0066ox"}', 1), (3001, '{"browser": 1e3}', 2), (3002, '[1, 2]', 3);
SELECT same_rows('SELECT props::jsonb ->> ''browser'', count(*) FROM js_m GROUP BY 1',
                 'SELECT props::jsonb ->> ''browser'', count(*) FROM js_h GROUP BY 1') AS escapes_same;
SELECT plan_lines('SELECT props::jsonb ->> ''browser'', count(*) FROM js_m GROUP BY 1', 'Fallback');
INSERT INTO js_m VALUES (3003, '{"browser": ', 3);
INSERT INTO js_h VALUES (3003, '{"browser": ', 3);
SELECT err_of('SELECT props::jsonb ->> ''browser'', count(*) FROM js_m GROUP BY 1') = err_of('SELECT props::jsonb ->> ''browser'', count(*) FROM js_h GROUP BY 1') AS same_error,
       err_of('SELECT props::jsonb ->> ''browser'', count(*) FROM js_m GROUP BY 1');

-- char(n) keys and distinct counts group by bytes: values are padded to n characters.
SELECT check_agg('SELECT wide, count(*), count(DISTINCT flag), min(qty) FROM $T GROUP BY wide ORDER BY wide');
SELECT check_agg('SELECT flag, wide, count(*) FROM $T GROUP BY 1, 2');
SELECT check_agg('SELECT count(DISTINCT wide) FROM $T');

-- Dates against timestamps and timestamps against dates: pushed into the scan (and the
-- primary index), the same rows as heap for midnights, times between, infinities.
SELECT q, check_agg(q) FROM unnest(ARRAY[
  'SELECT id FROM $T WHERE ship < timestamp ''1995-06-01 12:00''',
  'SELECT id FROM $T WHERE ship <= timestamp ''1995-06-01 12:00''',
  'SELECT id FROM $T WHERE ship > timestamp ''1995-06-01 12:00''',
  'SELECT id FROM $T WHERE ship >= timestamp ''1995-06-01 12:00''',
  'SELECT id FROM $T WHERE ship = timestamp ''1995-06-01 12:00''',
  'SELECT id FROM $T WHERE ship <> timestamp ''1995-06-01 12:00''',
  'SELECT id FROM $T WHERE NOT (ship = timestamp ''1995-06-01 12:00'')',
  'SELECT id FROM $T WHERE ship = timestamp ''1995-06-01''',
  'SELECT id FROM $T WHERE ship < timestamp ''1995-06-01''',
  'SELECT id FROM $T WHERE ship >= timestamp ''1995-06-01''',
  'SELECT id FROM $T WHERE ship < timestamp ''infinity''',
  'SELECT id FROM $T WHERE ship > timestamp ''-infinity''',
  'SELECT id FROM $T WHERE ship < timestamp ''1492-10-12 03:00''',
  'SELECT id FROM $T WHERE ts < date ''1993-01-01''',
  'SELECT id FROM $T WHERE ts >= date ''1993-01-01'' AND ts <= date ''1993-01-03''',
  'SELECT id FROM $T WHERE ts = date ''1992-01-01''',
  'SELECT id FROM $T WHERE ts < date ''infinity''',
  'SELECT id FROM $T WHERE ts < date ''5874897-12-31''',
  'SELECT id FROM $T WHERE ts > date ''4713-01-01 BC''']) q;
SELECT plan_lines('SELECT id FROM agg_m WHERE ship < timestamp ''1995-06-01 12:00''', 'Filter|Granules');
-- A parameter of the other type, before and after the generic plan.
PREPARE before_ts(timestamp) AS SELECT count(*), sum(price) FROM agg_m WHERE ship < $1;
PREPARE before_ts_h(timestamp) AS SELECT count(*), sum(price) FROM agg_h WHERE ship < $1;
\set ts '1994-03-01 06:00'
EXECUTE before_ts(:'ts');
EXECUTE before_ts_h(:'ts');
EXECUTE before_ts('1994-03-02');
EXECUTE before_ts_h('1994-03-02');
EXECUTE before_ts('1994-03-02');
EXECUTE before_ts('1994-03-02');
EXECUTE before_ts('1994-03-02');
EXECUTE before_ts('1994-03-02 00:00:01');
EXECUTE before_ts_h('1994-03-02 00:00:01');
EXECUTE before_ts('infinity');
EXECUTE before_ts_h('infinity');
DEALLOCATE before_ts;
DEALLOCATE before_ts_h;

-- numeric(p, s) grouping keys (by their bytes: one display scale per column); an
-- unconstrained numeric key is Postgres' (1.0 and 1.00 are one group there).
SELECT check_agg('SELECT qty, count(*), sum(i4), count(DISTINCT disc) FROM $T GROUP BY qty ORDER BY qty');
SELECT check_agg('SELECT disc, tax, count(*), avg(price) FROM $T WHERE qty > 10 GROUP BY disc, tax');
SELECT check_agg('SELECT free, count(*) FROM $T GROUP BY free');
CREATE TABLE num_keys_m (n numeric) USING mergetree;
CREATE TABLE num_keys_h (n numeric);
INSERT INTO num_keys_m VALUES (1.0), (1.00), (1), (NULL), ('NaN'), (2.5);
INSERT INTO num_keys_h SELECT * FROM num_keys_m;
SELECT check_agg('SELECT n, count(*) FROM $T GROUP BY n', 'num_keys_m', 'num_keys_h');
DROP TABLE num_keys_m, num_keys_h;

-- CASE WHEN <predicate the scan evaluates> THEN .. ELSE .. END and coalesce, where every
-- branch is computed without error (Postgres computes only the branch it takes) and all
-- branches have one type (numerics of one scale).
SELECT check_agg('SELECT flag, sum(CASE WHEN i8 > 2000000000 THEN 1 ELSE 0 END), count(CASE WHEN i4 > 0 THEN 1 END), sum(CASE WHEN i2 IS NULL THEN i4 WHEN i2 > 50 THEN i2 ELSE -1 END) FROM $T GROUP BY flag');
SELECT check_agg('SELECT status, sum(CASE WHEN disc > 0.05 THEN price * (1 - disc) ELSE 0.0000 END), avg(CASE WHEN f4 > 0 THEN f8 ELSE f4 END), max(CASE WHEN ship < date ''1994-01-01'' THEN i8 END) FROM $T GROUP BY status');
SELECT check_agg('SELECT sum(coalesce(qty, 0.00)), sum(coalesce(i2, i4, 0)), avg(coalesce(f8, f4, 0)), min(coalesce(i8, i4)), count(coalesce(i2, i4)) FROM $T');
SELECT check_agg('SELECT flag, sum(CASE WHEN i4 > 0 THEN qty ELSE 0.00 END) FILTER (WHERE disc > 0.05) FROM $T WHERE i8 IS NOT NULL GROUP BY flag');
EXPLAIN (COSTS OFF) SELECT sum(CASE WHEN disc < 0.03 THEN qty ELSE 0.00 END), count(CASE WHEN i4 > 0 THEN 1 END), avg(coalesce(f8, 0)) FROM agg_m;
-- Left to Postgres: a branch that can raise (computed only where taken), numerics of
-- different scales (the result's display scale depends on the rows), a condition the
-- scan does not evaluate (an expression, a char(n) comparison).
SELECT check_agg('SELECT sum(CASE WHEN i4 <> 0 THEN 100000 / i4 ELSE 0 END) FROM $T');
SELECT check_err('SELECT sum(CASE WHEN i4 <> 0 THEN 100000 / i4 ELSE 0 END) FROM $T');
SELECT check_agg('SELECT sum(coalesce(qty, 0)) FROM $T WHERE qty IS NULL');
SELECT check_agg('SELECT sum(CASE WHEN i4 % 3 = 0 THEN 1 ELSE 0 END) FROM $T');
SELECT check_agg('SELECT sum(CASE WHEN status = ''F'' THEN 1 ELSE 0 END) FROM $T');
-- A parameter in the condition, past the generic-plan switch.
PREPARE case_p(int) AS SELECT flag, sum(CASE WHEN i4 > $1 THEN 1 ELSE 0 END) FROM agg_m GROUP BY flag ORDER BY flag;
PREPARE case_h(int) AS SELECT flag, sum(CASE WHEN i4 > $1 THEN 1 ELSE 0 END) FROM agg_h GROUP BY flag ORDER BY flag;
EXECUTE case_p(0); EXECUTE case_p(0); EXECUTE case_p(0); EXECUTE case_p(0); EXECUTE case_p(0);
EXECUTE case_p(20000);
EXECUTE case_h(20000);
DEALLOCATE case_p;
DEALLOCATE case_h;

-- A seeded random query generator: grouping keys, aggregates, WHERE and HAVING drawn
-- from lists; every query runs on mergetree with the node on and with it off, and on
-- heap. Reports how many queries the node planned and any that differed.
CREATE FUNCTION random_queries(n int) RETURNS TABLE (queries int, by_node int, different text[]) LANGUAGE plpgsql AS $$
DECLARE
  keys text[] := ARRAY['flag', 'status', 'wide', 'ship', 'date_trunc(''month'', ts)', 'ts::date', 'i2', 'qty', 'f4',
                       'date_trunc(''year'', ts)', 'id % 7'];
  aggs text[] := ARRAY['count(*)', 'count(i4)', 'sum(i4)', 'sum(i8)', 'avg(i2)', 'min(f8)', 'max(ts)', 'sum(price * (1 - disc))',
                       'avg(qty)', 'count(DISTINCT flag)', 'count(DISTINCT i2)', 'min(price)', 'max(ship)', 'sum(f8 * 2)',
                       'percentile_cont(0.5) WITHIN GROUP (ORDER BY i4)', 'percentile_disc(0.9) WITHIN GROUP (ORDER BY f8)',
                       'sum(qty) FILTER (WHERE disc > 0.05)', 'count(*) FILTER (WHERE i2 < 0)', 'max(i4 - i2)', 'avg(f4)',
                       'sum(tax * qty)', 'min(wide)', 'count(DISTINCT ship)', 'sum(i2 * 3) FILTER (WHERE i2 > 0)',
                       'sum(CASE WHEN i2 > 0 THEN qty ELSE 0.00 END)', 'count(CASE WHEN i4 > 0 THEN 1 END)',
                       'sum(coalesce(i2, i4))', 'avg(coalesce(f8, 0))', 'max(CASE WHEN disc > 0.05 THEN f8 WHEN i2 < 0 THEN -1 ELSE f4 END)',
                       'mergetree.uniq(i8)', 'mergetree.quantile(0.5, f8)', 'sum(CASE WHEN f8 < 0 OR i4 IS NULL THEN i8 END)'];
  preds text[] := ARRAY['ship < timestamp ''1995-01-01 12:00''', 'disc BETWEEN 0.02 AND 0.06', 'i4 > 0', 'flag = ''A''',
                        'qty IS NULL', 'i2 IN (1, 2, 3, -5)', 'f8 < 0 OR i8 > 1000000000', 'NOT (price > 1500)',
                        'ts >= date ''1993-01-01''', 'i8 IS NOT NULL AND f4 > 10', 'ship = date ''1993-05-05'''];
  q text; sel text[]; ngroup int; r text; off text;
BEGIN
  queries := 0; by_node := 0; different := '{}';
  PERFORM setseed(0.42);
  FOR i IN 1..n LOOP
    sel := '{}';
    ngroup := floor(random() * 3)::int;
    FOR k IN 1..ngroup LOOP
      sel := sel || keys[1 + floor(random() * array_length(keys, 1))::int];
    END LOOP;
    FOR a IN 1..1 + floor(random() * 3)::int LOOP
      sel := sel || aggs[1 + floor(random() * array_length(aggs, 1))::int];
    END LOOP;
    q := 'SELECT ' || array_to_string(sel, ', ') || ' FROM $T';
    IF random() < 0.6 THEN
      q := q || ' WHERE ' || preds[1 + floor(random() * array_length(preds, 1))::int];
      IF random() < 0.3 THEN
        q := q || ' AND ' || preds[1 + floor(random() * array_length(preds, 1))::int];
      END IF;
    END IF;
    IF ngroup > 0 THEN
      q := q || ' GROUP BY ' || (SELECT string_agg(g::text, ', ') FROM generate_series(1, ngroup) g);
      IF random() < 0.2 THEN
        q := q || ' HAVING count(*) > 2';
      END IF;
    END IF;
    r := check_agg(q);
    PERFORM set_config('mergetree.enable_aggregate_scan', 'off', true);
    off := check_agg(q);
    PERFORM set_config('mergetree.enable_aggregate_scan', 'on', true);
    queries := queries + 1;
    by_node := by_node + (r LIKE 'node%')::int;
    IF r LIKE '%DIFFERENT' OR off <> 'plain same' THEN
      different := different || q;
    END IF;
  END LOOP;
  RETURN NEXT;
END $$;
SELECT * FROM random_queries(200);

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA agg_exprs CASCADE;
RESET client_min_messages;
