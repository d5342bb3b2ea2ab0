-- DDL: options are validated, visible in \d+, changeable where it makes sense; CREATE TABLE
-- AS and default_table_access_method work; unsupported operations fail clearly.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
CREATE TABLE events (ts timestamp, org text, uid bigint, v double precision)
  USING mergetree WITH (order_by = 'org, uid, ts', primary_key = 'org, uid', partition_by = 'date_trunc(''month'', ts)', index_granularity = 4096);
\d+ events
SELECT reloptions FROM pg_class WHERE relname = 'events';
ALTER TABLE events SET (index_granularity = 2048, index_granularity_bytes = 1048576);
ALTER TABLE events RESET (index_granularity_bytes);
SELECT reloptions FROM pg_class WHERE relname = 'events';
ALTER TABLE events SET (index_granularity = 0);
ALTER TABLE events SET (fillfactor = 50);
-- Other ALTERs still work, and autovacuum settings pass through.
ALTER TABLE events ADD COLUMN note text DEFAULT 'none';
ALTER TABLE events SET (autovacuum_enabled = false);
ALTER TABLE events SET (autovacuum_enabled = 'maybe');
ALTER TABLE events SET (toast.autovacuum_enabled = false);
ALTER TABLE events RENAME TO events2;
SELECT reloptions FROM pg_class WHERE relname = 'events2';
INSERT INTO events2 (ts, org, uid, v) VALUES ('2026-01-15', 'acme', 1, 1.5);
INSERT INTO events2 VALUES ('2026-02-15', 'zeta', 2, NULL, 'given');
-- Changes that would invalidate existing parts are refused once there are rows.
ALTER TABLE events2 SET (order_by = 'uid');
ALTER TABLE events2 SET (partition_by = 'ts');
ALTER TABLE events2 RESET (primary_key);
SELECT * FROM events2 ORDER BY ts;
-- A column added later reads as its default in older parts.
ALTER TABLE events2 ADD COLUMN flag int DEFAULT 7;
INSERT INTO events2 VALUES ('2026-03-15', 'new', 3, 3.5, 'n', 8);
SELECT org, note, flag FROM events2 ORDER BY ts;
SELECT partition, rows, level FROM mergetree.parts WHERE table_name = 'events2'::regclass ORDER BY partition;

-- Bad options.
CREATE TABLE bad (a int) USING mergetree WITH (order_by = 'nope');
CREATE TABLE bad (a int) USING mergetree WITH (colour = 'blue');
CREATE TABLE bad (a int) USING mergetree WITH (index_granularity = 'lots');
CREATE TABLE bad (a int) USING mergetree WITH (index_granularity = -1);
CREATE TABLE bad (a int, b int) USING mergetree WITH (order_by = 'a', primary_key = 'a, b');
CREATE TABLE bad (a int, b int) USING mergetree WITH (order_by = 'a, b', primary_key = 'b');
CREATE TABLE bad (a int, ts timestamptz) USING mergetree WITH (partition_by = 'date_trunc(''day'', ts)');
CREATE TABLE bad (a int) USING mergetree WITH (partition_by = 'a +');
CREATE TABLE bad (a int) USING mergetree WITH (partition_by = 'nosuch');
CREATE TABLE bad (a int) USING mergetree WITH (partition_by = '(SELECT 1)');
CREATE TABLE bad (a int) USING mergetree WITH (partition_by = 'random()');
CREATE TABLE bad (p point) USING mergetree WITH (order_by = 'p');
CREATE TABLE bad (a int) USING mergetree WITH (order_by);
-- Quoted and mixed-case column names follow SQL identifier rules.
CREATE TABLE quoted ("Key" int, "two words" text) USING mergetree WITH (order_by = '"Key", "two words"');
INSERT INTO quoted VALUES (2, 'b'), (1, 'a');
SELECT * FROM quoted;
-- Expression partitions of other shapes.
CREATE TABLE bykey (a int, b text) USING mergetree WITH (partition_by = 'a % 3', order_by = 'b');
INSERT INTO bykey SELECT g, 'v' || g FROM generate_series(1, 30) g;
INSERT INTO bykey VALUES (NULL, 'null key');
SELECT partition, rows FROM mergetree.parts WHERE table_name = 'bykey'::regclass ORDER BY partition;
SELECT count(*), count(a) FROM bykey;
-- date_trunc and ::date of a timestamp are computed without the executor: every row's
-- partition is Postgres' own value, at calendar edges, infinities and NULL, under any
-- unit spelling; a unit computed only by Postgres, and Postgres' range error, too.
CREATE TABLE edge_ts (ts timestamp);
INSERT INTO edge_ts VALUES ('infinity'), ('-infinity'), (NULL), ('2024-02-29 23:59:59.999999'),
  ('2024-03-01'), ('2000-01-01'), ('1999-12-31 23:59:59'), ('0044-03-15 12:00 BC'),
  ('294276-12-31 23:59:59'), ('2026-11-30 08:00'), ('2027-01-03 23:00'), ('2027-01-04 00:00'), ('1969-12-31 23:59:59.5');
INSERT INTO edge_ts SELECT '2023-12-25'::timestamp + g * interval '7 hours 13 minutes 11.5 seconds' FROM generate_series(1, 400) g;
DO $$
DECLARE
  u text;
  e text;
BEGIN
  FOREACH u IN ARRAY ARRAY['month', 'MONTH', 'week', 'quarter', 'year', 'day', 'hour', 'ms', 'decade', '::date']
  LOOP
    e := CASE WHEN u = '::date' THEN 'ts::date' ELSE format('date_trunc(%L, ts)', u) END;
    DROP TABLE IF EXISTS by_ts;
    EXECUTE format('CREATE TABLE by_ts (ts timestamp) USING mergetree WITH (partition_by = %L)', e);
    INSERT INTO by_ts SELECT * FROM edge_ts;
    COMMIT; -- the rows become parts
    IF (SELECT array_agg(x ORDER BY x) FROM (SELECT partition || ':' || sum(rows) AS x FROM mergetree.parts
          WHERE table_name = 'by_ts'::regclass GROUP BY partition) p)
       IS DISTINCT FROM (SELECT array_agg(x ORDER BY x) FROM (SELECT coalesce(v, 'NULL') || ':' || count(*) AS x
          FROM edge_ts, LATERAL (SELECT CASE WHEN u = '::date' THEN ts::date::text ELSE date_trunc(u, ts)::text END AS v) t
          GROUP BY v) h) THEN
      RAISE EXCEPTION 'partitions of % differ from Postgres''', e;
    END IF;
  END LOOP;
END $$;
SELECT count(*) FROM by_ts;
DROP TABLE by_ts;
CREATE TABLE by_year (ts timestamp) USING mergetree WITH (partition_by = 'date_trunc(''year'', ts)');
INSERT INTO by_year VALUES ('4714-11-30 BC');
SELECT date_trunc('year', '4714-11-30 BC'::timestamp);
DROP TABLE by_year, edge_ts;

-- CREATE TABLE AS, SELECT INTO and default_table_access_method.
CREATE TABLE made USING mergetree WITH (order_by = 'g DESC') AS SELECT 1 AS g;
CREATE TABLE made USING mergetree WITH (order_by = 'g') AS SELECT g, g % 7 AS r FROM generate_series(1, 1000) g;
SELECT count(*), sum(g) FROM made;
\d+ made
SET default_table_access_method = mergetree;
CREATE TABLE plain_default (a int, b text);
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 'plain_default';
SELECT g AS x INTO selected_into FROM generate_series(1, 5) g;
SELECT a.amname, (SELECT count(*) FROM selected_into) FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 'selected_into';
RESET default_table_access_method;
CREATE TABLE IF NOT EXISTS made (x int) USING mergetree WITH (order_by = 'x');

-- UPDATE, DELETE and MERGE work (dml.sql tests them), here rolled back.
BEGIN;
UPDATE made SET r = 0;
DELETE FROM made WHERE g = 1;
WITH d AS (DELETE FROM made RETURNING *) SELECT count(*) FROM d;
MERGE INTO made m USING (SELECT 1 AS g) s ON m.g = s.g WHEN MATCHED THEN DELETE;
SELECT count(*) FROM made;
ROLLBACK;
-- Unsupported operations name the table and the operation.
INSERT INTO made VALUES (1, 1) ON CONFLICT DO NOTHING;
CREATE INDEX made_g ON made (g);
ALTER TABLE made ADD PRIMARY KEY (g);
CREATE TABLE pk (a int PRIMARY KEY) USING mergetree;
CREATE UNLOGGED TABLE ul (a int) USING mergetree;
CREATE MATERIALIZED VIEW mv USING mergetree AS SELECT 1 AS a;
CREATE INDEX CONCURRENTLY made_gc ON made (g);
SELECT count(*) AS no_index_left FROM pg_index WHERE indrelid = 'made'::regclass;
-- With mergetree as the default, a materialized view is a heap one.
SET default_table_access_method = mergetree;
CREATE MATERIALIZED VIEW mv AS SELECT 1 AS a;
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 'mv';
DROP MATERIALIZED VIEW mv;
RESET default_table_access_method;
-- System columns rows do not have are refused wherever a query reads them.
SELECT xmin FROM made LIMIT 1;
SELECT count(*) FROM made WHERE g IN (SELECT cmax::text::int FROM made);
INSERT INTO made VALUES (0, 0) RETURNING xmax;
SELECT ctid IS NOT NULL AS has_ctid, tableoid::regclass FROM made WHERE g = 1;
-- Errors raised by Postgres code around our hooks and scans keep their CONTEXT.
DO $$ BEGIN PERFORM 1 / 0; END $$;
CREATE FUNCTION boom(int) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN IF $1 = 7 THEN RAISE EXCEPTION 'boom at %', $1; END IF; RETURN true; END $$;
SELECT count(*) FROM made WHERE boom(g);
DROP FUNCTION boom(int);
-- TABLESAMPLE: whole "blocks" of rows (SYSTEM) or single rows (BERNOULLI).
SELECT count(*) FROM made TABLESAMPLE SYSTEM (100);
SELECT count(*) FROM made TABLESAMPLE BERNOULLI (0);
SELECT count(*) BETWEEN 200 AND 800 AS about_half FROM made TABLESAMPLE BERNOULLI (50) REPEATABLE (7);
SELECT count(*) = (SELECT count(*) FROM made TABLESAMPLE SYSTEM (30) REPEATABLE (3)) AS repeatable
FROM made TABLESAMPLE SYSTEM (30) REPEATABLE (3);
-- A table without columns counts its rows.
CREATE TABLE nocols () USING mergetree;
INSERT INTO nocols DEFAULT VALUES;
INSERT INTO nocols SELECT FROM generate_series(1, 9);
SELECT count(*) FROM nocols;
BEGIN;
INSERT INTO nocols DEFAULT VALUES;
SELECT count(*) FROM nocols;
COMMIT;
SELECT count(*), sum(rows) FROM mergetree.parts WHERE table_name = 'nocols'::regclass;
ALTER TABLE nocols ADD COLUMN a int DEFAULT 5;
SELECT a, count(*) FROM nocols GROUP BY a;
SELECT * FROM mergetree.verify('nocols');
DROP TABLE nocols;
-- Foreign keys from a mergetree table to an ordinary table are checked.
CREATE TABLE parent (id int PRIMARY KEY);
INSERT INTO parent VALUES (1);
CREATE TABLE child (pid int REFERENCES parent (id)) USING mergetree;
INSERT INTO child VALUES (1);
INSERT INTO child VALUES (2);
SELECT * FROM child;
-- Planner statistics and row estimates come from the parts.
ANALYZE made;
SELECT reltuples FROM pg_class WHERE relname = 'made';
SELECT attname, n_distinct FROM pg_stats WHERE tablename = 'made' ORDER BY attname;
EXPLAIN (COSTS OFF) SELECT * FROM made m JOIN parent p ON p.id = m.g;
SELECT pg_relation_size('made') > 0 AS has_pages, pg_total_relation_size('made') = pg_relation_size('made') AS no_toast_or_index;
-- VACUUM reclaims pages of rolled-back parts (cutting them off the end of the file):
-- the next insert needs no more pages than the rolled-back rows had.
SET mergetree.insert_buffer_size = '1MB';
BEGIN;
INSERT INTO made SELECT g, 0 FROM generate_series(1, 300000) g;
ROLLBACK;
RESET mergetree.insert_buffer_size;
SELECT pg_relation_size('made') AS size_before \gset
VACUUM made;
SELECT pg_relation_size('made') < :size_before AS tail_truncated;
INSERT INTO made SELECT g, 1 FROM generate_series(1, 100000) g;
SELECT pg_relation_size('made') <= :size_before AS pages_reused;
SELECT count(*) FROM made;
SELECT * FROM mergetree.verify('made');
SELECT * FROM mergetree.verify('parent');
DROP TABLE made, events2, quoted, bykey, plain_default, selected_into, child, parent;
