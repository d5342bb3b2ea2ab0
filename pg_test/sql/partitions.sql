-- Partitions of a partitioned table and inheritance children that are mergetree tables
-- are scanned by MergeTreeScan (pruning, pushed filters, projection), with the same rows
-- as heap partitions; partition pruning and partition-wise plans still apply.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
\ir include/same_rows.sql
\ir include/differential.sql
CREATE TABLE ph (day date, uid int, v text) PARTITION BY RANGE (day);
CREATE TABLE pm (day date, uid int, v text) PARTITION BY RANGE (day);
DO $$
DECLARE m int;
BEGIN
  FOR m IN 1..3 LOOP
    EXECUTE format('CREATE TABLE ph_%s PARTITION OF ph FOR VALUES FROM (%L) TO (%L)', m,
                   make_date(2026, m, 1), make_date(2026, m + 1, 1));
    EXECUTE format('CREATE TABLE pm_%s PARTITION OF pm FOR VALUES FROM (%L) TO (%L) USING mergetree WITH (order_by = ''uid, day'', index_granularity = 128)', m,
                   make_date(2026, m, 1), make_date(2026, m + 1, 1));
  END LOOP;
END $$;
INSERT INTO ph SELECT '2026-01-01'::date + (g % 90), g % 1000, 'v' || g FROM generate_series(1, 30000) g;
INSERT INTO pm SELECT * FROM ph;
-- Every partition is read by the node; the filter prunes partitions and granules.
EXPLAIN (COSTS OFF) SELECT * FROM pm WHERE uid = 7 AND day >= '2026-02-01';
SELECT * FROM explain_lines('SELECT * FROM pm WHERE uid = 7', 'Custom Scan|Granules Read');
SELECT same_rows('SELECT * FROM ph WHERE uid = 7', 'SELECT * FROM pm WHERE uid = 7') AS same_point,
       same_rows('SELECT * FROM ph WHERE day BETWEEN ''2026-01-20'' AND ''2026-02-10'' AND v LIKE ''v1%''',
                 'SELECT * FROM pm WHERE day BETWEEN ''2026-01-20'' AND ''2026-02-10'' AND v LIKE ''v1%''') AS same_range,
       same_rows('SELECT uid, count(*) FROM ph GROUP BY uid', 'SELECT uid, count(*) FROM pm GROUP BY uid') AS same_grouped;
-- A parameter (nested loop over another table) prunes inside each partition.
CREATE TABLE wanted (uid int);
INSERT INTO wanted VALUES (3), (500), (999);
ANALYZE wanted, pm;
SET enable_hashjoin = off; SET enable_mergejoin = off;
SELECT same_rows('SELECT p.* FROM wanted w JOIN ph p ON p.uid = w.uid', 'SELECT p.* FROM wanted w JOIN pm p ON p.uid = w.uid') AS same_joined;
RESET enable_hashjoin; RESET enable_mergejoin;
-- Partition-wise aggregation plans an aggregate per partition over the node.
SET enable_partitionwise_aggregate = on;
EXPLAIN (COSTS OFF) SELECT day, count(*) FROM pm GROUP BY day;
SELECT same_rows('SELECT day, count(*), min(v) FROM ph GROUP BY day', 'SELECT day, count(*), min(v) FROM pm GROUP BY day') AS same_partitionwise;
RESET enable_partitionwise_aggregate;
-- Rows inserted through the parent in this transaction are seen (no parallel plan).
BEGIN;
INSERT INTO pm VALUES ('2026-03-15', 424242, 'buffered');
SELECT * FROM pm WHERE uid = 424242;
ROLLBACK;
-- Inheritance children.
CREATE TABLE ih (k int, v text);
CREATE TABLE ic (k int, v text) INHERITS (ih) USING mergetree WITH (order_by = 'k');
INSERT INTO ih VALUES (1, 'parent');
INSERT INTO ic SELECT g, 'child' || g FROM generate_series(1, 1000) g;
EXPLAIN (COSTS OFF) SELECT * FROM ih WHERE k = 10;
SELECT * FROM ih WHERE k IN (1, 10) ORDER BY k, v;
DROP TABLE ph, pm, wanted, ih, ic;
\ir include/drop_same_rows.sql
DROP FUNCTION differential(regclass, regclass, text, text[]), explain_lines(text, text);
