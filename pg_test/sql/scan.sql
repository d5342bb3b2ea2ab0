-- MergeTreeScan: every filter shape returns exactly what heap returns, with the node on
-- and off; parameters and nested-loop values prune; RLS quals run first; EXPLAIN ANALYZE
-- shows that pruning reads only what it must.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
-- The scan itself: grouping above it is Postgres' (aggregates.sql tests MergeTreeAgg).
SET mergetree.enable_aggregate_scan = off;
CREATE TABLE h AS
SELECT g AS id,
       'org_' || (g % 37) AS org,
       CASE WHEN g % 11 = 0 THEN NULL ELSE g % 1000 END AS uid,
       timestamp '2026-01-01' + g * interval '7 minutes' AS ts,
       CASE WHEN g % 13 = 0 THEN NULL ELSE (g % 97) / 4.0 END::float8 AS f,
       (g % 5)::smallint AS s,
       g % 3 = 0 AS flag,
       CASE WHEN g % 7 = 0 THEN NULL ELSE 'name ' || (g % 50) END AS name,
       (g * 1.5)::numeric AS n
FROM generate_series(1, 40000) g;
CREATE TABLE m (LIKE h) USING mergetree
  WITH (order_by = 'org, uid, ts', partition_by = 'date_trunc(''month'', ts)', index_granularity = 256);
INSERT INTO m SELECT * FROM h;
-- Statistics now, not whenever autovacuum gets to them: plans stay the same run to run.
ANALYZE h, m;
-- Every filter shape against heap, with the node on and off.
\ir include/differential.sql
SELECT * FROM differential('h', 'm', 'mergetree.enable_custom_scan', ARRAY[
  'org = ''org_5''', 'org <> ''org_5''', 'org < ''org_2''', 'org >= ''org_35''', 'org IN (''org_1'', ''org_30'', ''none'')',
  'uid = 7', 'uid = 7::bigint', 'uid = 7::smallint', 'uid < 3', 'uid > 995', 'uid BETWEEN 100 AND 110', 'uid IN (1, 2, NULL)',
  'uid NOT IN (1, 2)', 'uid NOT IN (1, NULL)', 'uid IS NULL', 'uid IS NOT NULL', 'uid = NULL', 'NOT (uid = 5)',
  'org = ''org_3'' AND uid = 300', 'org = ''org_3'' AND uid >= 990', 'org = ''org_3'' OR uid = 4', '(uid = 1 OR uid IS NULL) AND s = 2',
  'ts >= ''2026-02-01'' AND ts < ''2026-02-03''', 'ts = ''2026-01-01 00:07''', 'ts < ''2025-01-01''', 'ts > ''2026-01-20''::date',
  'f = 0.25', 'f > 24', 'f <= 0', 'f = 1::real', 'f IS NULL', 's = 4', 's > 2::bigint', 'flag', 'NOT flag', 'flag IS NULL',
  'name = ''name 7''', 'name <> ''name 7''', 'name IS NULL', 'name > ''name 40''', 'name LIKE ''name 4%''', 'name NOT LIKE ''%7''', 'name LIKE ''name _''', 'org LIKE ''org\_1%''', 'name LIKE NULL',
  'n = 15', 'n > 59990', 'id % 1000 = 0', 'lower(org) = ''org_9''', 'uid + 1 = 8', 'org = ''org_1'' AND id % 2 = 0',
  'uid = 5 AND false', 'true', 'uid = ANY (ARRAY[10, 20, 30])', 'org = ANY (''{org_1,org_2}''::text[])'
]);

-- EXPLAIN ANALYZE lines that show what the scan read.
CREATE FUNCTION scan_counts(q text) RETURNS TABLE (line text) LANGUAGE sql AS $$ SELECT * FROM explain_lines(q, 'Parts Read|Granules Read|Rows Removed by Vectorized|MergeTreeScan|Columns') $$;

-- Prepared statements: the sixth execution uses a generic plan with $1 in the filter.
PREPARE by_org(text, int) AS SELECT count(*), sum(uid) FROM m WHERE org = $1 AND uid < $2;
EXECUTE by_org('org_4', 500); EXECUTE by_org('org_4', 500); EXECUTE by_org('org_4', 500);
EXECUTE by_org('org_4', 500); EXECUTE by_org('org_4', 500); EXECUTE by_org('org_4', 500);
EXECUTE by_org('org_9', 100);
SELECT count(*), sum(uid) FROM h WHERE org = 'org_9' AND uid < 100;
EXECUTE by_org(NULL, 100);
PREPARE by_ids(int[]) AS SELECT count(*) FROM m WHERE uid = ANY ($1);
EXECUTE by_ids('{1,2}'); EXECUTE by_ids('{1,2}'); EXECUTE by_ids('{1,2}'); EXECUTE by_ids('{1,2}'); EXECUTE by_ids('{1,2}');
EXECUTE by_ids('{3,4,5}');
SELECT count(*) FROM h WHERE uid = ANY ('{3,4,5}');

-- Nested-loop joins: the inner mergetree scan is re-run with each outer value.
CREATE TABLE lookup (org text, lo int);
INSERT INTO lookup VALUES ('org_2', 10), ('org_7', 500), ('org_11', 990), ('nobody', 1);
SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off;
SELECT l.org, count(*), sum(m.uid) FROM lookup l JOIN m ON m.org = l.org AND m.uid < l.lo GROUP BY l.org ORDER BY l.org;
SELECT l.org, count(*), sum(h.uid) FROM lookup l JOIN h ON h.org = l.org AND h.uid < l.lo GROUP BY l.org ORDER BY l.org;
SELECT l.org, (SELECT count(*) FROM m WHERE m.org = l.org) FROM lookup l ORDER BY 1;
-- The outer row's values are parameters of the inner scan: they prune its granules.
SELECT * FROM scan_counts('SELECT count(*) FROM lookup l JOIN m ON m.org = l.org AND m.uid < l.lo');
RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_material;
-- Joined with heap tables the ordinary way too.
SELECT l.org, count(*) FROM lookup l JOIN m USING (org) GROUP BY 1 ORDER BY 1;

-- Parallel plans: workers share out the pruned granules; results equal heap's.
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT s, count(*), sum(uid) FROM m WHERE uid < 500 GROUP BY s;
SELECT s, count(*), sum(uid) FROM m WHERE uid < 500 GROUP BY s ORDER BY s;
SELECT s, count(*), sum(uid) FROM h WHERE uid < 500 GROUP BY s ORDER BY s;
SELECT * FROM differential('h', 'm', 'mergetree.enable_custom_scan', ARRAY['org = ''org_5''', 'uid IN (1, 2, NULL)', 'ts >= ''2026-02-01'' AND ts < ''2026-02-03''', 'name LIKE ''name 4%''']);
-- Not while this transaction has rows the workers could not see.
BEGIN;
INSERT INTO m VALUES (-2, 'org_5', 7, '2026-03-01', 1.5, 1, true, 'buffered', 1);
EXPLAIN (COSTS OFF) SELECT count(*) FROM m;
SELECT count(*) FROM m;
ROLLBACK;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size; RESET max_parallel_workers_per_gather;

-- Own transaction's buffered rows go through the same filters.
BEGIN;
INSERT INTO m VALUES (-1, 'org_5', 7, '2026-03-01', 1.5, 1, true, 'buffered', 1);
SELECT id, name FROM m WHERE org = 'org_5' AND uid = 7 ORDER BY id DESC LIMIT 2;
ROLLBACK;

-- Row-level security: the policy's qual runs before a user's leaky function sees a row.
CREATE ROLE mt_reader;
GRANT SELECT ON m TO mt_reader;
ALTER TABLE m ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_org_1 ON m FOR SELECT TO mt_reader USING (org = 'org_1' AND uid < 40);
CREATE FUNCTION leak(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN RAISE NOTICE 'leak saw %', $1; RETURN true; END $$;
SET ROLE mt_reader;
SELECT count(*) FROM m WHERE leak(name) AND uid < 20;
RESET ROLE;
DROP POLICY only_org_1 ON m;
ALTER TABLE m DISABLE ROW LEVEL SECURITY;

-- Pruning, as EXPLAIN ANALYZE reports it.
-- Equality on the order_by prefix: one or two granules per part.
SELECT * FROM scan_counts('SELECT * FROM m WHERE org = ''org_5'' AND uid = 300');
-- A time range against monthly partitions: only the matching partition's part.
SELECT * FROM scan_counts('SELECT count(*) FROM m WHERE ts >= ''2026-02-01'' AND ts < ''2026-02-02''');
-- count(*) reads no column at all.
SELECT * FROM scan_counts('SELECT count(*) FROM m');
-- The switches turn pruning off (same rows, more granules).
SET mergetree.enable_primary_key_pruning = off;
SELECT * FROM scan_counts('SELECT * FROM m WHERE org = ''org_5'' AND uid = 300');
SET mergetree.enable_part_pruning = off;
SELECT * FROM scan_counts('SELECT count(*) FROM m WHERE ts >= ''2026-02-01'' AND ts < ''2026-02-02''');
SET mergetree.enable_vectorized_filters = off;
EXPLAIN (COSTS OFF) SELECT * FROM m WHERE org = 'org_5';
RESET mergetree.enable_primary_key_pruning; RESET mergetree.enable_part_pruning; RESET mergetree.enable_vectorized_filters;
SET mergetree.enable_custom_scan = off;
EXPLAIN (COSTS OFF) SELECT * FROM m WHERE org = 'org_5';
RESET mergetree.enable_custom_scan;
DROP TABLE m, h, lookup;
DROP FUNCTION differential, explain_lines, scan_counts, leak;
DROP ROLE mt_reader;
