-- Numeric columns stored as scaled integers (part format 5): a part whose numeric
-- column has one display scale and values within 18 digits stores v * 10^s, shown as
-- Scaled(s) in mergetree.part_columns. Every reader must see exactly the numerics
-- heap returns (scans, filters, keys, min/max read the numerics' bytes back); the
-- aggregation node reads the integers for expressions. Parts that cannot be stored so
-- (NaN, wide values, mixed display scales) keep the numerics' bytes, in the same table.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
CREATE SCHEMA numeric_scaled;
RESET client_min_messages;
SET search_path = numeric_scaled, public;
\ir include/same_rows.sql
\ir include/check_agg.sql

CREATE TABLE sc_m (id int, grp int, amt numeric(18,2), rate numeric(12,4), free numeric, small numeric(4,0))
  USING mergetree WITH (order_by = 'id', index_granularity = 128);
CREATE TABLE sc_h (LIKE sc_m);
CREATE TABLE sc_src AS
SELECT g AS id, g % 7 AS grp,
       CASE WHEN g % 17 = 0 THEN NULL
            WHEN g = 3 THEN 9999999999999999.99
            WHEN g = 4 THEN -9999999999999999.99
            WHEN g = 5 THEN 0
            WHEN g = 6 THEN 0.01
            WHEN g = 7 THEN -0.01
            WHEN g = 8 THEN 10000
            ELSE (g * 7919 % 1000003 - 500000) / 100.0 END AS amt,
       CASE WHEN g % 19 = 0 THEN NULL ELSE (g * 104729 % 10000019) / 10000.0 - 500 END AS rate,
       CASE WHEN g % 5 = 0 THEN (g / 8.0)::numeric(20,3) ELSE (g / 4.0)::numeric(20,2) END AS free,
       (g % 9999 - 5000)::numeric(4,0) AS small
FROM generate_series(1, 6000) g;
-- Part 1: every numeric column storable as integers (free has two display scales).
INSERT INTO sc_m SELECT * FROM sc_src WHERE id <= 3000;
-- Part 2: the same columns, one all NULL.
INSERT INTO sc_m SELECT id, grp, NULL, rate, free, small FROM sc_src WHERE id > 3000 AND id <= 4000;
-- Part 3: a NaN keeps rate's numerics as they are in this part only.
UPDATE sc_src SET rate = 'NaN' WHERE id = 4500;
INSERT INTO sc_m SELECT * FROM sc_src WHERE id > 4000 AND id <= 5000;
-- Part 4: free with one display scale: scaled too.
INSERT INTO sc_m SELECT id, grp, amt, rate, (id / 4.0)::numeric(20,2), small FROM sc_src WHERE id > 5000;
INSERT INTO sc_h SELECT id, grp, CASE WHEN id > 3000 AND id <= 4000 THEN NULL ELSE amt END, rate,
                        CASE WHEN id > 5000 THEN (id / 4.0)::numeric(20,2) ELSE free END, small FROM sc_src;
ANALYZE sc_m, sc_h;

-- How each part stores the numeric columns.
SELECT part_name, column_name, codec ~ '^Scaled\(' AS scaled, substring(codec from '^Scaled\((\d+)\)') AS scale
FROM mergetree.part_columns('sc_m'::regclass)
WHERE column_name IN ('amt', 'rate', 'free', 'small')
ORDER BY part_name, column_name;

-- Scans return the numerics' text exactly, in order.
SELECT same_rows('SELECT * FROM sc_m', 'SELECT * FROM sc_h');
SELECT (SELECT array_agg(t::text ORDER BY id) FROM sc_m t) = (SELECT array_agg(t::text ORDER BY id) FROM sc_h t) AS same_order;
SELECT amt, rate FROM sc_m WHERE id BETWEEN 3 AND 8 ORDER BY id;
-- Filters, keys, extremes and DISTINCT read the numerics back.
SELECT check_agg('SELECT count(*), sum(rate) FROM $T WHERE amt > 100.5 AND amt < 2000', 'sc_m', 'sc_h');
SELECT check_agg('SELECT amt, count(*) FROM $T WHERE amt IN (0, 0.01, -0.01, 10000, 9999999999999999.99) GROUP BY amt ORDER BY amt', 'sc_m', 'sc_h');
SELECT check_agg('SELECT grp, min(amt), max(amt), min(rate), max(rate), count(DISTINCT amt) FROM $T GROUP BY grp ORDER BY grp', 'sc_m', 'sc_h');
SELECT same_rows('SELECT id FROM sc_m WHERE rate = 12.5 OR amt = -0.01', 'SELECT id FROM sc_h WHERE rate = 12.5 OR amt = -0.01');
-- The node computes sums, averages and arithmetic from the integers.
SELECT check_agg('SELECT grp, sum(amt), avg(amt), sum(rate), avg(rate), sum(small), count(amt) FROM $T GROUP BY grp ORDER BY grp', 'sc_m', 'sc_h');
SELECT check_agg('SELECT grp, sum(amt * (1 - rate)), sum(amt + rate), sum(rate - amt * 2), sum(small * rate) FROM $T WHERE id > 100 AND id < 4400 AND id <> 3 AND id <> 4 GROUP BY grp ORDER BY grp', 'sc_m', 'sc_h');
SELECT plan_lines('SELECT grp, sum(amt * (1 - rate)), sum(small * rate) FROM sc_m WHERE id > 100 AND id < 4400 AND id <> 3 AND id <> 4 GROUP BY grp', 'Aggregates|Fallback');
SELECT check_agg('SELECT sum(amt) FILTER (WHERE grp = 2), sum(rate) FILTER (WHERE small > 0) FROM $T WHERE id < 4500', 'sc_m', 'sc_h');
SELECT check_agg('SELECT sum(CASE WHEN grp > 3 THEN amt ELSE 0.00 END), sum(coalesce(amt, 0.00)) FROM $T', 'sc_m', 'sc_h');
-- A product beyond 18 digits is Postgres' to compute: same result, by its plan.
SELECT check_agg('SELECT sum(amt * amt) FROM $T', 'sc_m', 'sc_h');
-- The same column both filtered and summed: the filter reads the numerics.
SELECT check_agg('SELECT sum(amt), avg(rate) FROM $T WHERE amt BETWEEN -1000 AND 1000', 'sc_m', 'sc_h');
-- With the node off, the plain scan gives the same.
SET mergetree.enable_aggregate_scan = off;
SELECT check_agg('SELECT grp, sum(amt * (1 - rate)), avg(amt) FROM $T GROUP BY grp ORDER BY grp', 'sc_m', 'sc_h');
RESET mergetree.enable_aggregate_scan;
-- The transaction's own unflushed rows (numerics' bytes) with the parts' integers.
BEGIN;
INSERT INTO sc_m VALUES (7001, 1, 12.34, 0.5, 1, 1), (7002, 1, -99.99, NULL, 2, 2);
INSERT INTO sc_h VALUES (7001, 1, 12.34, 0.5, 1, 1), (7002, 1, -99.99, NULL, 2, 2);
SELECT check_agg('SELECT grp, sum(amt * rate), sum(amt) FROM $T GROUP BY grp ORDER BY grp', 'sc_m', 'sc_h');
ROLLBACK;
-- NaN in one part: the node leaves sums of rate to Postgres; others stay the node's.
SELECT check_agg('SELECT sum(rate), max(rate) FROM $T', 'sc_m', 'sc_h');
SELECT check_agg('SELECT sum(rate) FROM $T WHERE id <= 4000 OR id > 5000', 'sc_m', 'sc_h');
-- mergetree.verify reads every part whole: no problems.
SELECT count(*) AS problems FROM mergetree.verify('sc_m'::regclass);

DROP SCHEMA numeric_scaled CASCADE;
