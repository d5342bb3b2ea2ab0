-- Privileges: the schema is usable by everyone; the views show only tables the user may
-- SELECT from (and none whose row-level security applies to the user, as pg_stats);
-- verify and part_columns need what SELECT * needs; row-level security holds in scans.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
CREATE ROLE mt_owner;
CREATE ROLE mt_other;
CREATE ROLE mt_reader;
GRANT CREATE ON SCHEMA public TO mt_owner;
SET ROLE mt_owner;
CREATE TABLE priv_t (tenant text, v int) USING mergetree WITH (order_by = 'tenant', partition_by = 'tenant');
INSERT INTO priv_t SELECT CASE WHEN g % 2 = 0 THEN 'alice' ELSE 'bob' END, g FROM generate_series(1, 100) g;
-- The owner sees its table's parts and columns and may verify it.
SELECT partition, rows FROM mergetree.parts WHERE table_name = 'priv_t'::regclass ORDER BY partition;
SELECT count(*) > 0 AS has_columns FROM mergetree.columns WHERE table_name = 'priv_t'::regclass;
SELECT * FROM mergetree.verify('priv_t');
GRANT SELECT ON priv_t TO mt_reader;
-- Another role sees nothing of it and may not inspect it.
SET ROLE mt_other;
SELECT count(*) FROM mergetree.parts WHERE table_name::text = 'priv_t';
SELECT count(*) FROM mergetree.columns WHERE table_name::text = 'priv_t';
SELECT count(*) FROM mergetree.skip_indexes WHERE table_name::text = 'priv_t';
SELECT * FROM mergetree.verify('priv_t');
SELECT * FROM mergetree.part_columns('priv_t'::regclass);
SELECT count(*) FROM priv_t;
-- A role with SELECT sees it.
SET ROLE mt_reader;
SELECT partition, rows FROM mergetree.parts WHERE table_name = 'priv_t'::regclass ORDER BY partition;
SELECT * FROM mergetree.verify('priv_t');
-- Row-level security: scans (plain and MergeTreeScan, filters pushed or not) return only
-- the policy's rows, and the views no longer show the table to the reader.
SET ROLE mt_owner;
ALTER TABLE priv_t ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_alice ON priv_t FOR SELECT TO mt_reader USING (tenant = 'alice');
SELECT array_agg(ctid)::text AS all_tids FROM priv_t \gset
SET ROLE mt_reader;
SELECT tenant, count(*), sum(v) FROM priv_t GROUP BY tenant ORDER BY tenant;
SELECT count(*) FROM priv_t WHERE tenant = 'bob';
SELECT count(*) FROM priv_t WHERE v > 50;
SET mergetree.enable_custom_scan = off;
SELECT tenant, count(*) FROM priv_t GROUP BY tenant ORDER BY tenant;
SELECT count(*) FROM priv_t WHERE ctid = ANY (:'all_tids'::tid[]);
RESET mergetree.enable_custom_scan;
SELECT count(*) FROM mergetree.parts WHERE table_name::text = 'priv_t';
SELECT * FROM mergetree.verify('priv_t');
-- Leaky functions in a user's query cannot see rows of hidden tables in the views.
RESET ROLE;
CREATE FUNCTION pg_temp.leak(text) RETURNS bool LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN RAISE NOTICE 'saw %', $1; RETURN true; END $$;
SET ROLE mt_reader;
SELECT count(*) FROM mergetree.parts WHERE pg_temp.leak(partition);
-- Answers from part metadata (row counts, min/max) and the aggregation node count only
-- the policy's rows.
SELECT count(*), min(v), max(v) FROM priv_t;
SELECT count(*) FROM priv_t WHERE tenant IN ('alice', 'bob');
SELECT count(v), sum(v) FROM priv_t;
-- A security-barrier view: a leaky function in the user's query never sees a row the
-- view's condition drops, whether the scan, the node or metadata answers.
RESET ROLE;
CREATE FUNCTION pg_temp.leak_bob(text) RETURNS bool LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN IF $1 = 'bob' THEN RAISE NOTICE 'leaked a row of bob'; END IF; RETURN true; END $$;
SET ROLE mt_owner;
CREATE VIEW priv_alice WITH (security_barrier) AS SELECT * FROM priv_t WHERE tenant = 'alice';
GRANT SELECT ON priv_alice TO mt_other;
SET ROLE mt_other;
SELECT count(*) FROM priv_alice WHERE pg_temp.leak_bob(tenant);
SELECT tenant, count(*), sum(v) FROM priv_alice WHERE pg_temp.leak_bob(tenant) GROUP BY tenant;
SELECT count(*), min(v), max(v) FROM priv_alice;
SET mergetree.enable_aggregate_scan = off;
SELECT tenant, count(*), sum(v) FROM priv_alice WHERE pg_temp.leak_bob(tenant) GROUP BY tenant;
RESET mergetree.enable_aggregate_scan;
-- Row-level security with a leaky function in the query: skip-index pruning on the
-- policy's table and FINAL reads of an engine table never hand it a hidden row.
SET ROLE mt_owner;
CREATE INDEX priv_t_v ON priv_t USING mergetree_skip (v) WITH (type = 'minmax', granularity = 1);
CREATE TABLE priv_final (tenant text, k int, ver int) USING mergetree
  WITH (order_by = 'k', engine = 'replacing(ver)', final = on, index_granularity = 8);
INSERT INTO priv_final SELECT CASE WHEN g % 2 = 0 THEN 'alice' ELSE 'bob' END, g % 10, g FROM generate_series(1, 40) g;
INSERT INTO priv_final SELECT 'bob', g, 100 FROM generate_series(0, 2) g;
ALTER TABLE priv_final ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_alice ON priv_final FOR SELECT TO mt_reader USING (tenant = 'alice');
GRANT SELECT ON priv_final TO mt_reader;
SET ROLE mt_reader;
SELECT count(*), sum(v) FROM priv_t WHERE pg_temp.leak_bob(tenant) AND v BETWEEN 40 AND 60;
SELECT tenant, count(*) FROM priv_t WHERE pg_temp.leak_bob(tenant) AND v = 51 GROUP BY tenant;
-- FINAL keeps each key's latest version (bob's for keys 0-2, which the policy then hides).
SELECT k, ver, tenant FROM priv_final WHERE pg_temp.leak_bob(tenant) ORDER BY k;
SELECT count(*), max(ver) FROM priv_final WHERE pg_temp.leak_bob(tenant);
SET mergetree.enable_aggregate_scan = off;
SELECT count(*), max(ver) FROM priv_final WHERE pg_temp.leak_bob(tenant);
RESET mergetree.enable_aggregate_scan;
SET ROLE mt_owner;
DROP TABLE priv_final;
DROP INDEX priv_t_v;
-- The owner still sees everything.
DROP VIEW priv_alice;
SELECT tenant, count(*) FROM priv_t GROUP BY tenant ORDER BY tenant;
SELECT partition, rows FROM mergetree.parts WHERE table_name = 'priv_t'::regclass ORDER BY partition;
RESET ROLE;
DROP TABLE priv_t;

-- Stored expressions keep their meaning: partition_by and ttl are stored with every name
-- outside pg_catalog qualified and parsed again with an empty search_path, so a function
-- another role puts in a schema searched before pg_catalog never runs in place of the
-- built-in one, with the rights of whoever writes or merges.
CREATE SCHEMA priv_trap AUTHORIZATION mt_other;
SET ROLE mt_other;
CREATE FUNCTION priv_trap.floor(double precision) RETURNS double precision LANGUAGE plpgsql IMMUTABLE
  AS $$ BEGIN RAISE NOTICE 'trap ran as %', current_user; RETURN -1; END $$;
CREATE FUNCTION priv_trap.date_trunc(text, timestamptz) RETURNS timestamptz LANGUAGE plpgsql IMMUTABLE
  AS $$ BEGIN RAISE NOTICE 'trap ran as %', current_user; RETURN '1970-01-01'; END $$;
GRANT USAGE ON SCHEMA priv_trap TO PUBLIC;
SET ROLE mt_owner;
CREATE TABLE priv_p (x int, d date) USING mergetree
  WITH (order_by = 'x', partition_by = 'floor(x / 10)', ttl = 'date_trunc(''month'', d) + interval ''10 years''');
SELECT option_name, option_value FROM pg_options_to_table((SELECT reloptions FROM pg_class WHERE oid = 'priv_p'::regclass))
  WHERE option_name IN ('partition_by', 'ttl') ORDER BY 1;
SET search_path = priv_trap, pg_catalog, public;
INSERT INTO priv_p SELECT g, current_date FROM generate_series(1, 30) g;
SELECT mergetree.optimize('priv_p', final => true);
SELECT partition, rows FROM mergetree.parts WHERE table_name = 'priv_p'::regclass ORDER BY partition;
SELECT count(*), min(x), max(x) FROM priv_p;
RESET search_path;
DROP TABLE priv_p;
RESET ROLE;
DROP SCHEMA priv_trap CASCADE;
REVOKE CREATE ON SCHEMA public FROM mt_owner;
DROP ROLE mt_owner, mt_other, mt_reader;
