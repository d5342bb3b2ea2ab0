-- Encoding ahead: rows of a long insert are sorted and encoded on engine threads in
-- chunks of mergetree.insert_chunk_size while the statement reads on; each chunk becomes
-- a part. Whatever a transaction does around the chunks in flight (reads of its own rows,
-- savepoints rolled back or released, ALTER TABLE, errors), the table ends with exactly
-- the rows a heap table given the same statements has.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
DROP SCHEMA IF EXISTS encode_ahead CASCADE;
CREATE SCHEMA encode_ahead;
RESET client_min_messages;
SET search_path = encode_ahead, public;
\ir include/same_rows.sql
SET mergetree.insert_chunk_size = '64kB';

CREATE TABLE ea (id int, p int, v text, f float8) USING mergetree
  WITH (order_by = 'v, id', partition_by = 'p', index_granularity = 64, background_merges = off);
CREATE TABLE eh (LIKE ea);
CREATE FUNCTION rows(n int, first int) RETURNS TABLE (id int, p int, v text, f float8) LANGUAGE sql AS $$
  SELECT g, g % 3, CASE WHEN g % 17 = 0 THEN NULL ELSE md5(g::text) END, CASE WHEN g % 11 = 0 THEN 'NaN' ELSE g / 7.0 END
  FROM generate_series(first, first + n - 1) g $$;
CREATE FUNCTION same() RETURNS bool LANGUAGE sql AS $$
  SELECT same_rows('SELECT * FROM ea', 'SELECT * FROM eh')
     AND (SELECT md5(string_agg(x::text, '|' ORDER BY v, id)) FROM ea x) IS NOT DISTINCT FROM
         (SELECT md5(string_agg(x::text, '|' ORDER BY v, id)) FROM eh x) $$;
CREATE FUNCTION parts() RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM mergetree.parts WHERE table_name = 'encode_ahead.ea'::regclass $$;

-- A long INSERT: several chunks, so several parts per partition.
INSERT INTO ea SELECT * FROM rows(20000, 1);
INSERT INTO eh SELECT * FROM rows(20000, 1);
SELECT same(), parts() > 3 AS chunked;

-- COPY: the last chunk in flight becomes parts at the end of the statement.
COPY (SELECT * FROM rows(15000, 100001)) TO '/tmp/pg_mergetree_encode_ahead.csv' (FORMAT csv);
COPY ea FROM '/tmp/pg_mergetree_encode_ahead.csv' (FORMAT csv);
COPY eh FROM '/tmp/pg_mergetree_encode_ahead.csv' (FORMAT csv);
SELECT same();

-- In a transaction: reads see the rows of chunks in flight; a savepoint rolled back takes
-- its chunks' rows with it, a released one keeps them.
BEGIN;
INSERT INTO ea SELECT * FROM rows(12000, 200001);
INSERT INTO eh SELECT * FROM rows(12000, 200001);
SELECT count(*), sum(id) FROM ea WHERE id > 200000;
SAVEPOINT s;
INSERT INTO ea SELECT * FROM rows(12000, 300001);
SELECT count(*) FROM ea WHERE id > 300000;
ROLLBACK TO s;
SELECT count(*) FROM ea WHERE id > 300000;
SAVEPOINT t;
INSERT INTO ea SELECT * FROM rows(12000, 400001);
INSERT INTO eh SELECT * FROM rows(12000, 400001);
RELEASE t;
INSERT INTO ea SELECT * FROM rows(3000, 500001);
INSERT INTO eh SELECT * FROM rows(3000, 500001);
COMMIT;
SELECT same();

-- A column added while a chunk is in flight: the chunk is dropped and its rows written
-- with the new column at commit.
BEGIN;
INSERT INTO ea SELECT * FROM rows(12000, 600001);
INSERT INTO eh SELECT * FROM rows(12000, 600001);
ALTER TABLE ea ADD COLUMN w int DEFAULT 7;
ALTER TABLE eh ADD COLUMN w int DEFAULT 7;
INSERT INTO ea SELECT *, 8 FROM rows(12000, 700001);
INSERT INTO eh SELECT *, 8 FROM rows(12000, 700001);
COMMIT;
SELECT same();

-- An insert failing after chunks left: nothing of it stays, in a savepoint or not.
INSERT INTO ea SELECT id, p, v, f / (id - 815000) FROM rows(20000, 800001);
BEGIN;
SAVEPOINT u;
INSERT INTO ea SELECT id, p, v, f / (id - 815000) FROM rows(20000, 800001);
ROLLBACK TO u;
INSERT INTO ea SELECT *, 9 FROM rows(100, 900001);
INSERT INTO eh SELECT *, 9 FROM rows(100, 900001);
COMMIT;
SELECT same(), count(*) FILTER (WHERE id BETWEEN 800001 AND 899999) AS failed_rows FROM ea;

-- COPYs one after another in a transaction: each one's leftover rows go ahead with the
-- next one's.
BEGIN;
COPY ea (id, p, v, f) FROM '/tmp/pg_mergetree_encode_ahead.csv' (FORMAT csv);
COPY ea (id, p, v, f) FROM '/tmp/pg_mergetree_encode_ahead.csv' (FORMAT csv);
COPY ea (id, p, v, f) FROM '/tmp/pg_mergetree_encode_ahead.csv' (FORMAT csv);
SELECT count(*) FROM ea WHERE id BETWEEN 100001 AND 115000;
COMMIT;
COPY eh (id, p, v, f) FROM '/tmp/pg_mergetree_encode_ahead.csv' (FORMAT csv);
COPY eh (id, p, v, f) FROM '/tmp/pg_mergetree_encode_ahead.csv' (FORMAT csv);
COPY eh (id, p, v, f) FROM '/tmp/pg_mergetree_encode_ahead.csv' (FORMAT csv);
SELECT same();

-- Rows of many statements in one transaction: written together at commit, a part per
-- partition.
SELECT parts() AS parts_before \gset
DO $$
BEGIN
  FOR i IN 0..199 LOOP
    INSERT INTO ea SELECT *, 10 FROM rows(100, 1000001 + i * 100);
    INSERT INTO eh SELECT *, 10 FROM rows(100, 1000001 + i * 100);
  END LOOP;
END $$;
SELECT same(), parts() - :parts_before AS new_parts;

-- Tables whose rows cannot go ahead (a key Postgres compares, AFTER ROW triggers) insert
-- as before.
CREATE TABLE ec (id int, n numeric) USING mergetree WITH (order_by = 'n, id');
INSERT INTO ec SELECT g, g % 100 / 3.0 FROM generate_series(1, 20000) g;
SELECT count(*), sum(n) FROM ec;
SELECT count(*) AS parts FROM mergetree.parts WHERE table_name = 'ec'::regclass;
CREATE TABLE log (n bigint);
CREATE FUNCTION count_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE log SET n = n + 1; RETURN NULL; END $$;
INSERT INTO log VALUES (0);
CREATE TABLE et (id int, v text) USING mergetree WITH (order_by = 'v');
CREATE TRIGGER et_count AFTER INSERT ON et FOR EACH ROW EXECUTE FUNCTION count_row();
INSERT INTO et SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
SELECT (SELECT n FROM log) AS triggered, count(*) FROM et;

-- Off: one part per partition per commit.
SET mergetree.insert_chunk_size = 0;
CREATE TABLE eo (id int, v text) USING mergetree WITH (order_by = 'v');
INSERT INTO eo SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
SELECT count(*) AS parts FROM mergetree.parts WHERE table_name = 'eo'::regclass;

\! rm -f /tmp/pg_mergetree_encode_ahead.csv
SET client_min_messages = warning;
DROP SCHEMA encode_ahead CASCADE;
