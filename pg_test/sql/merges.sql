-- Merges (mergetree.optimize): a partition's parts k-way merged into one part that
-- replaces them in one transaction. Every type and NULL reads back identically, in the
-- table's sort order, before and after merges; merges stay inside partitions, follow
-- ADD/DROP COLUMN, keep skip indexes, roll back, leave the transaction's own parts
-- alone, and VACUUM reuses the pages of replaced parts.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
CREATE SCHEMA merges;
RESET client_min_messages;
SET search_path = merges, public;
\ir include/same_rows.sql
\ir include/check_agg.sql
\ir include/random_ops.sql

CREATE FUNCTION parts(t regclass) RETURNS TABLE (part_name text, level int, rows bigint)
LANGUAGE sql AS $$ SELECT part_name, level, rows FROM mergetree.parts WHERE table_name = t ORDER BY min_block $$;

-- Every type the engine stores, keyed by text in the database's collation (compared by
-- Postgres' comparator during the merge) then an integer.
CREATE TABLE mt (id int, k text, i2 int2, i8 int8, f4 float4, f8 float8, n numeric(12,2), nf numeric,
                 vc varchar(20), b bytea, bo bool, u uuid, d date, ts timestamp, tz timestamptz,
                 iv interval, j jsonb, doc text, ip inet, arr int[])
  USING mergetree WITH (order_by = 'k, id', index_granularity = 64);
CREATE TABLE mh (LIKE mt);
CREATE FUNCTION load(lo int, hi int) RETURNS void LANGUAGE sql AS $$
  INSERT INTO mt
  SELECT g, CASE WHEN g % 13 = 0 THEN NULL ELSE 'key ' || (g * 7 % 23) END,
         (g % 30000 - 15000)::int2, g::int8 * 1000003, CASE g % 50 WHEN 0 THEN 'NaN'::float4 WHEN 1 THEN '-Infinity' ELSE g / 7.0 END,
         CASE WHEN g % 11 = 0 THEN NULL ELSE g * 1.25e10 END, (g % 9973) / 100.0,
         CASE WHEN g % 97 = 0 THEN 'NaN' ELSE g / 3.0 END, 'v' || g % 5, decode(to_hex(g * 31), 'escape'), g % 3 = 0,
         md5(g::text)::uuid, DATE '2024-01-01' + g % 400, TIMESTAMP '2024-01-01' + g * interval '17 minutes',
         TIMESTAMPTZ '2024-01-01 00:00+00' + g * interval '1 hour', g * interval '1 second',
         jsonb_build_object('a', g % 7, 'b', 'x' || g % 3),
         format('{"country":"%s","browser":"%s","n":%s}', (ARRAY['us','de','fr'])[g % 3 + 1], (ARRAY['ff','chrome'])[g % 2 + 1], g),
         ('10.0.' || g % 256 || '.' || g % 7)::inet, ARRAY[g, g % 5]
  FROM generate_series(lo, hi) g;
  INSERT INTO mh SELECT * FROM mt WHERE id BETWEEN lo AND hi;
$$;
SELECT load(1, 3000);
SELECT load(3001, 3500);
SELECT load(3501, 9000);
SELECT load(9001, 9010);
SELECT count(*) AS parts FROM parts('mt');
SELECT same_rows('SELECT * FROM mt', 'SELECT * FROM mh') AS same_before;

-- The merge selector: four fresh parts of very different sizes are not worth merging.
SELECT mergetree.optimize('mt');
SELECT count(*) AS parts_after_plain_optimize FROM parts('mt');
-- final: one part per partition, level one above the inputs, block range their union.
SELECT mergetree.optimize('mt', final => true);
SELECT * FROM parts('mt');
SELECT min_block, max_block FROM mergetree.parts WHERE table_name = 'mt'::regclass;
SELECT same_rows('SELECT * FROM mt', 'SELECT * FROM mh') AS same_after;
-- Rows come out in the table's sort order (k in the database's collation, NULLs last).
SELECT (SELECT array_agg(id ORDER BY ctid) FROM mt) = (SELECT array_agg(id ORDER BY k, id) FROM mh) AS sorted;
SELECT * FROM mergetree.verify('mt');
-- Filters, the primary index, JSON fields and the aggregation node over the merged part.
SELECT check_agg('SELECT k, count(*), sum(i8), min(ts), max(n), avg(f8) FROM $T GROUP BY k ORDER BY k', 'mt', 'mh');
SELECT check_agg('SELECT doc::jsonb ->> ''country'' AS c, count(*) FROM $T GROUP BY 1 ORDER BY 1', 'mt', 'mh');
SELECT same_rows('SELECT id, n FROM mt WHERE k = ''key 5'' AND id > 100', 'SELECT id, n FROM mh WHERE k = ''key 5'' AND id > 100') AS same_filtered;
SELECT count(*) FROM mt;
-- The part log records the merge: the parts it merged, the part it made.
SELECT event_type, table_name, partition, part_name, source_parts, rows, background FROM mergetree.part_log WHERE table_name = 'mt'::regclass;
SELECT count(*) AS running FROM mergetree.merges;
-- Another final merge of a single part does nothing.
SELECT mergetree.optimize('mt', final => true);
SELECT * FROM parts('mt');

-- A merged part is merged again: levels grow, blocks cover all inputs.
SELECT load(9011, 9500);
SELECT load(9501, 9600);
SELECT mergetree.optimize('mt', final => true);
SELECT * FROM parts('mt');
SELECT same_rows('SELECT * FROM mt', 'SELECT * FROM mh') AS same_after_second;

-- Rolled back: the old parts are back, the merged one gone.
SELECT load(9601, 9700);
BEGIN;
SELECT mergetree.optimize('mt', final => true);
SELECT count(*) AS parts_in_transaction FROM parts('mt');
ROLLBACK;
SELECT * FROM parts('mt');
SELECT same_rows('SELECT * FROM mt', 'SELECT * FROM mh') AS same_after_rollback;

-- The transaction's own parts are not merged (its rows keep their row ids until commit).
BEGIN;
SET LOCAL mergetree.insert_buffer_size = '1MB';
INSERT INTO mt (id, k, doc) SELECT 100000 + g, 'own', repeat('x', 1000) FROM generate_series(1, 3000) g;
SELECT count(*) > 2 AS own_parts_written FROM parts('mt');
SELECT mergetree.optimize('mt', final => true);
SELECT count(*) FROM mt WHERE k = 'own';
SELECT sum(rows) FILTER (WHERE level = 0) >= 1 AS own_parts_kept FROM parts('mt');
COMMIT;
INSERT INTO mh (id, k, doc) SELECT 100000 + g, 'own', repeat('x', 1000) FROM generate_series(1, 3000) g;
SELECT same_rows('SELECT * FROM mt', 'SELECT * FROM mh') AS same_with_own;

-- Many small parts: the selector merges them without final.
CREATE TABLE small (id int, v text) USING mergetree WITH (order_by = 'id');
SELECT format('INSERT INTO small SELECT g, ''v'' || g FROM generate_series(%s, 800, 8) g', i) FROM generate_series(1, 8) i \gexec
SELECT count(*) AS parts FROM parts('small');
SELECT mergetree.optimize('small');
SELECT * FROM parts('small');
SELECT (SELECT array_agg(id ORDER BY ctid) FROM small) = (SELECT array_agg(g) FROM generate_series(1, 800) g) AS sorted;

-- Partitions are merged separately, and optimize can name one.
CREATE TABLE pt (id int, day date, v int) USING mergetree WITH (order_by = 'id', partition_by = 'day');
CREATE TABLE ph (LIKE pt);
INSERT INTO pt SELECT g, DATE '2024-01-01' + g % 3, g FROM generate_series(1, 300) g;
INSERT INTO pt SELECT g, DATE '2024-01-01' + g % 3, -g FROM generate_series(301, 600) g;
INSERT INTO ph SELECT * FROM pt;
SELECT partition, count(*) FROM mergetree.parts WHERE table_name = 'pt'::regclass GROUP BY 1 ORDER BY 1;
SELECT mergetree.optimize('pt', partition => '2024-01-02', final => true);
SELECT partition, part_name, rows FROM mergetree.parts WHERE table_name = 'pt'::regclass ORDER BY 1, min_block;
SELECT mergetree.optimize('pt', final => true);
SELECT partition, part_name, rows FROM mergetree.parts WHERE table_name = 'pt'::regclass ORDER BY 1, min_block;
SELECT same_rows('SELECT * FROM pt', 'SELECT * FROM ph') AS same_partitioned;

-- Columns added with a default since the old parts were written, and dropped ones.
CREATE TABLE ac (id int, a text, gone int) USING mergetree WITH (order_by = 'id');
INSERT INTO ac SELECT g, 'a' || g, g FROM generate_series(1, 100) g;
ALTER TABLE ac ADD COLUMN extra int DEFAULT 42;
ALTER TABLE ac DROP COLUMN gone;
INSERT INTO ac SELECT g, 'b' || g, g FROM generate_series(101, 200) g;
SELECT mergetree.optimize('ac', final => true);
SELECT count(*), sum(extra), count(DISTINCT a) FROM ac;
SELECT * FROM ac WHERE id IN (1, 150) ORDER BY id;

-- Skip indexes are built for the merged part; the old parts' summaries go with them.
CREATE TABLE sk (id int, tag text) USING mergetree WITH (order_by = 'id', index_granularity = 16);
CREATE INDEX sk_tag ON sk USING mergetree_skip (tag) WITH (type = 'set(100)');
INSERT INTO sk SELECT g, 't' || g % 50 FROM generate_series(1, 500) g;
INSERT INTO sk SELECT g, 'u' || g % 50 FROM generate_series(501, 1000) g;
SELECT count(*) AS summaries FROM mergetree.skip_indexes WHERE table_name = 'sk'::regclass;
SELECT mergetree.optimize('sk', final => true);
SELECT index_name, part_name FROM mergetree.skip_indexes WHERE table_name = 'sk'::regclass;
SELECT count(*) FROM mergetree.skip_index_catalog s WHERE s.index_oid = 'sk_tag'::regclass;
SELECT count(*), min(id) FROM sk WHERE tag = 'u7';

-- VACUUM gives the replaced parts' pages to new parts: the file does not grow.
CREATE TABLE vr (id int, v text) USING mergetree WITH (order_by = 'id');
INSERT INTO vr SELECT g, repeat('x', g % 50) FROM generate_series(1, 20000) g;
INSERT INTO vr SELECT g, repeat('y', g % 50) FROM generate_series(1, 20000) g;
SELECT mergetree.optimize('vr', final => true);
-- VACUUM frees a replaced part only once no snapshot can see it: wait until no other
-- backend of this database (autoanalyze, say) holds a snapshot from before the merge.
DO $$
BEGIN
  FOR i IN 1..1200 LOOP
    PERFORM pg_stat_clear_snapshot();
    EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                          AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL);
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
VACUUM vr;
SELECT pg_relation_size('vr') AS size_before \gset
INSERT INTO vr SELECT g, repeat('z', g % 50) FROM generate_series(1, 20000) g;
SELECT pg_relation_size('vr') = :size_before AS reused;
SELECT count(*) FROM vr;

-- drop_partition: a partition's parts go in this transaction (rolled back, they are back).
SELECT mergetree.drop_partition('pt', '2024-01-02');
DELETE FROM ph WHERE day = '2024-01-02';
SELECT same_rows('SELECT * FROM pt', 'SELECT * FROM ph') AS same_after_drop;
BEGIN;
SELECT mergetree.drop_partition('pt', '2024-01-01');
SELECT count(*) FROM pt;
ROLLBACK;
SELECT count(*) FROM pt;
-- Rows this transaction buffered in the partition go too; a partition without parts
-- drops nothing.
BEGIN;
INSERT INTO pt VALUES (1000, '2024-01-03', 1), (1001, '2024-01-09', 1);
SELECT mergetree.drop_partition('pt', '2024-01-03');
SELECT day, count(*) FROM pt GROUP BY 1 ORDER BY 1;
SAVEPOINT s;
INSERT INTO pt VALUES (1002, '2024-01-09', 1);
SELECT mergetree.drop_partition('pt', '2024-01-09');
ROLLBACK TO s;
SELECT mergetree.drop_partition('pt', '2024-05-05');
COMMIT;
SELECT day, count(*) FROM pt GROUP BY 1 ORDER BY 1;
SELECT event_type, partition, part_name, source_parts, rows FROM mergetree.part_log WHERE table_name = 'pt'::regclass AND event_type = 'drop_partition' ORDER BY event_time;
SELECT mergetree.drop_partition('mt', 'x');
SELECT mergetree.drop_partition('pt', NULL);

-- Backpressure: past parts_to_delay_insert active parts in a partition inserts wait,
-- at parts_to_throw_insert they fail.
CREATE TABLE bp (id int) USING mergetree WITH (order_by = 'id', parts_to_delay_insert = 3, parts_to_throw_insert = 5, background_merges = off);
SELECT format('INSERT INTO bp VALUES (%s)', i) FROM generate_series(1, 5) i \gexec
INSERT INTO bp VALUES (6);
SELECT count(*) FROM bp;
-- A transaction holding the writers' lock (after a DELETE or UPDATE) neither waits nor
-- fails: merges install under that lock, so they could not bring the count down.
BEGIN;
DELETE FROM bp WHERE id = 1;
INSERT INTO bp VALUES (7);
UPDATE bp SET id = 8 WHERE id = 2;
COMMIT;
SELECT count(*), sum(id) FROM bp;
SELECT mergetree.optimize('bp', final => true);
INSERT INTO bp VALUES (6);
SELECT count(*) FROM bp;
ALTER TABLE bp SET (parts_to_throw_insert = 100);
CREATE TABLE bad (id int) USING mergetree WITH (order_by = 'id', background_merges = maybe);
CREATE TABLE bad (id int) USING mergetree WITH (order_by = 'id', max_bytes_to_merge = 10);

-- Only the owner merges (as for VACUUM and CLUSTER); other relations are refused.
CREATE ROLE merges_other;
GRANT USAGE ON SCHEMA merges TO merges_other;
GRANT ALL ON mt TO merges_other;
SET ROLE merges_other;
SELECT mergetree.optimize('mt');
RESET ROLE;
SELECT mergetree.optimize('mh');
SELECT mergetree.optimize('mt', partition => 'x');
SELECT mergetree.optimize('pt', partition => 'not a date');
SELECT mergetree.optimize(NULL);
SET ROLE merges_other;
SELECT mergetree.drop_partition('pt', '2024-01-01');
RESET ROLE;
SELECT orphan_parts();

-- Random interleavings of inserts, rollbacks, failed subtransactions, optimize,
-- drop_partition and TRUNCATE: after every step the mergetree table holds exactly the
-- heap table's rows (random_ops_same), here with background merges off.
CREATE TABLE ro (id bigint, p int, t text, f float8, n numeric, ts timestamp, b bool, i2 int2, by bytea)
  USING mergetree WITH (order_by = 't, f, id', partition_by = 'p', index_granularity = 16);
CREATE TABLE ro_heap (LIKE ro);
CALL random_ops('ro', 'ro_heap', 80, 0.31);
SELECT op, count(*) AS steps, count(*) FILTER (WHERE same) AS same FROM random_ops_log GROUP BY op ORDER BY op;
SELECT count(*) AS rows_now FROM ro_heap;

-- Background merges: many small inserts settle into few parts without anyone asking;
-- a table whose background_merges option is off keeps its parts.
CREATE TABLE bg (id int, v text) USING mergetree WITH (order_by = 'id');
CREATE TABLE bg_off (id int) USING mergetree WITH (order_by = 'id', background_merges = off);
SELECT format('INSERT INTO bg VALUES (%s, ''v%s''); INSERT INTO bg_off VALUES (%s)', i, i, i) FROM generate_series(1, 30) i \gexec
ALTER SYSTEM SET mergetree.background_merges = on;
SELECT pg_reload_conf();
\ir include/settled.sql
SELECT settled('bg', 3) AS settled;
-- Long enough for the workers to have merged bg_off too, were it allowed.
SELECT pg_sleep(1);
SELECT count(*), sum(id), count(DISTINCT v) FROM bg;
SELECT count(*) AS parts_kept FROM mergetree.parts WHERE table_name = 'bg_off'::regclass;
-- The random interleavings again, now racing the merge workers.
TRUNCATE ro, ro_heap, random_ops_log;
CALL random_ops('ro', 'ro_heap', 60, 0.67);
SELECT count(*) AS steps, count(*) FILTER (WHERE same) AS same FROM random_ops_log;
ALTER SYSTEM RESET mergetree.background_merges;
SELECT pg_reload_conf();

DROP SCHEMA merges CASCADE;
DROP ROLE merges_other;
