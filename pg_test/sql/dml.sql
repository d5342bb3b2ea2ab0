-- DELETE, UPDATE and MERGE on mergetree tables, each statement run on a mergetree table
-- and on a heap table holding the same rows: the same results, the same rows after.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
CREATE SCHEMA dml_test;
RESET client_min_messages;
SET search_path = dml_test, public;
\ir include/settled.sql

CREATE TABLE m (id int, k text, ts timestamptz, n numeric, f float8, b bool, j text)
  USING mergetree WITH (order_by = 'k, id', index_granularity = 128, background_merges = off);
CREATE TABLE h (id int, k text, ts timestamptz, n numeric, f float8, b bool, j text);
CREATE TABLE ref (k text PRIMARY KEY, keep bool);
INSERT INTO ref SELECT 'k' || i, i % 2 = 0 FROM generate_series(0, 9) i;
-- Three parts, NULLs and edge values in every column.
INSERT INTO m SELECT i, CASE WHEN i % 13 = 0 THEN NULL ELSE 'k' || (i % 10) END,
  '2024-01-01'::timestamptz + i * interval '1 minute', CASE WHEN i % 17 = 0 THEN NULL ELSE i / 7.0 END,
  CASE i % 50 WHEN 0 THEN 'NaN' WHEN 1 THEN '-Infinity' ELSE i * 0.5 END, CASE WHEN i % 11 = 0 THEN NULL ELSE i % 3 = 0 END,
  '{"a":' || (i % 5) || '}' FROM generate_series(1, 3000) i;
INSERT INTO m SELECT i, 'k' || (i % 4), NULL, -2147483648, 0, true, NULL FROM generate_series(3001, 4000) i;
INSERT INTO m VALUES (2147483647, '', 'infinity', 'NaN', '-0', false, ''), (-2147483648, 'zz', '-infinity', 1e100, 1e308, NULL, '{}');
INSERT INTO h SELECT * FROM m;

-- same(): both tables hold the same rows.
CREATE FUNCTION same() RETURNS bool LANGUAGE sql AS $$
  SELECT NOT EXISTS ((SELECT * FROM m EXCEPT ALL SELECT * FROM h) UNION ALL (SELECT * FROM h EXCEPT ALL SELECT * FROM m))
$$;
-- on_both(stmt): runs stmt (%I: the table) on both; what each returned or raised.
CREATE FUNCTION on_both(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE out text := ''; t text; n bigint;
BEGIN
  FOREACH t IN ARRAY ARRAY['m', 'h'] LOOP
    BEGIN
      EXECUTE format(stmt, t);
      GET DIAGNOSTICS n = ROW_COUNT;
      out := out || t || ': ' || n || '; ';
    EXCEPTION WHEN OTHERS THEN
      out := out || t || ': ' || SQLSTATE || ' ' || regexp_replace(SQLERRM, '"[mh]"', '"t"') || '; ';
    END;
  END LOOP;
  RETURN out;
END $$;

SELECT on_both('DELETE FROM %I WHERE id %% 10 = 3');
SELECT on_both('DELETE FROM %I WHERE k IS NULL AND b');
SELECT on_both('DELETE FROM %I WHERE n = ''NaN'' OR f = ''-Infinity''');
SELECT on_both('DELETE FROM %I t USING ref r WHERE r.k = t.k AND r.keep AND t.id %% 7 = 0');
SELECT on_both('DELETE FROM %I WHERE id IN (SELECT id FROM h WHERE j = ''{"a":4}'' AND id < 500)');
SELECT on_both('DELETE FROM %I WHERE id = -1');
SELECT same() AS same_after_deletes;
-- count(*) and min/max from part metadata leave deleted rows out.
SELECT count(*), min(id), max(id), count(DISTINCT k), sum(n), avg(f) FILTER (WHERE f < 1e300) FROM m;
SELECT count(*), min(id), max(id), count(DISTINCT k), sum(n), avg(f) FILTER (WHERE f < 1e300) FROM h;
EXPLAIN (COSTS OFF) SELECT count(*) FROM m;
-- Filters on the sort key prune, and deleted rows stay out.
SELECT k, count(*), sum(id) FROM m WHERE k = 'k4' GROUP BY k;
SELECT k, count(*), sum(id) FROM h WHERE k = 'k4' GROUP BY k;
SELECT array_agg(id ORDER BY id) FROM m WHERE k = 'k3' AND id BETWEEN 1 AND 100;
SELECT array_agg(id ORDER BY id) FROM h WHERE k = 'k3' AND id BETWEEN 1 AND 100;
-- The table AM's own scan (no custom scan), TID fetches and TABLESAMPLE agree.
SET mergetree.enable_custom_scan = off;
SELECT count(*), sum(id) FROM m;
SELECT count(*) FROM m WHERE ctid IN (SELECT ctid FROM m WHERE k = 'k1' LIMIT 5);
RESET mergetree.enable_custom_scan;

-- RETURNING, and the rows a DELETE returns are the rows it deleted.
WITH d AS (DELETE FROM m WHERE id BETWEEN 10 AND 15 RETURNING id, k, n) SELECT * FROM d ORDER BY id;
WITH d AS (DELETE FROM h WHERE id BETWEEN 10 AND 15 RETURNING id, k, n) SELECT * FROM d ORDER BY id;
WITH d AS (DELETE FROM m WHERE id BETWEEN 20 AND 40 RETURNING *) SELECT count(*), sum(id) FROM d;
WITH d AS (DELETE FROM h WHERE id BETWEEN 20 AND 40 RETURNING *) SELECT count(*), sum(id) FROM d;
-- Deleting again finds nothing.
SELECT on_both('DELETE FROM %I WHERE id BETWEEN 10 AND 40');

-- UPDATE: of plain columns, of the sort key, with FROM and RETURNING.
SELECT on_both('UPDATE %I SET f = f * 2, j = upper(j) WHERE id %% 9 = 1');
SELECT on_both('UPDATE %I SET k = ''moved'' || id %% 3 WHERE k = ''k2''');
SELECT on_both('UPDATE %I t SET b = NOT r.keep FROM ref r WHERE r.k = t.k AND t.id < 2000');
SELECT on_both('UPDATE %I SET id = id + 100000 WHERE id BETWEEN 100 AND 200');
UPDATE m SET n = n + 1 WHERE id = -2147483648 RETURNING id, k, n;
UPDATE h SET n = n + 1 WHERE id = -2147483648 RETURNING id, k, n;
-- An error in the middle of an UPDATE leaves every row as it was.
SELECT on_both('UPDATE %I SET id = id - 1 WHERE id < 50');
SELECT same() AS same_after_updates;
SELECT count(*) FROM m WHERE k LIKE 'moved%';
-- Updated rows are sorted into their new place by merges.
SELECT mergetree.optimize('m', final => true);
SELECT count(*) AS parts, sum(rows) AS rows FROM mergetree.parts WHERE table_name = 'm'::regclass;
SELECT (SELECT count(*) FROM m) AS rows;
SELECT count(*) AS masks_left FROM mergetree.deleted_rows_catalog;
SELECT same() AS same_after_optimize;

-- Transactions: rollback, savepoints, the transaction's own rows, cursors.
BEGIN;
DELETE FROM m WHERE id < 1000;
SELECT count(*) FROM m WHERE id < 1000;
ROLLBACK;
SELECT count(*) = (SELECT count(*) FROM h WHERE id < 1000) AS rolled_back FROM m WHERE id < 1000;
BEGIN;
INSERT INTO m VALUES (-5, 'new', now(), 1, 1, true, 'x'), (-6, 'new', now(), 2, 2, false, 'y');
INSERT INTO h VALUES (-5, 'new', now(), 1, 1, true, 'x'), (-6, 'new', now(), 2, 2, false, 'y');
DECLARE c CURSOR FOR SELECT id, n FROM m WHERE k = 'new' ORDER BY id;
UPDATE m SET n = n * 10 WHERE k = 'new';
UPDATE h SET n = n * 10 WHERE k = 'new';
FETCH ALL FROM c;
SELECT id, n FROM m WHERE k = 'new' ORDER BY id;
SAVEPOINT s;
DELETE FROM m WHERE id = -5;
DELETE FROM m WHERE id BETWEEN 3000 AND 3100;
SELECT count(*) FROM m WHERE id = -5 OR id BETWEEN 3000 AND 3100;
ROLLBACK TO s;
SELECT count(*) FROM m WHERE id = -5 OR id BETWEEN 3000 AND 3100;
SAVEPOINT s2;
DELETE FROM m WHERE id = -6;
DELETE FROM h WHERE id = -6;
RELEASE s2;
COMMIT;
SELECT same() AS same_after_transactions;
-- A row deleted twice by one statement (a join that finds it twice) goes once.
SELECT on_both('DELETE FROM %I t USING (VALUES (1), (1)) v(x) WHERE t.id = 2');

-- Prepared statements past the switch to a generic plan.
PREPARE del(int) AS DELETE FROM m WHERE id = $1;
PREPARE delh(int) AS DELETE FROM h WHERE id = $1;
PREPARE upd(int) AS UPDATE m SET f = $1 WHERE id = $1 + 1000;
PREPARE updh(int) AS UPDATE h SET f = $1 WHERE id = $1 + 1000;
DO $$ BEGIN FOR i IN 50..60 LOOP EXECUTE format('EXECUTE del(%s); EXECUTE delh(%s); EXECUTE upd(%s); EXECUTE updh(%s)', i, i, i, i); END LOOP; END $$;
SELECT same() AS same_after_prepared;

-- MERGE.
CREATE TABLE src (id int, f float8);
INSERT INTO src SELECT i, -i FROM generate_series(0, 4000, 97) i;
MERGE INTO m t USING src s ON t.id = s.id
  WHEN MATCHED AND s.id % 2 = 0 THEN DELETE
  WHEN MATCHED THEN UPDATE SET f = s.f
  WHEN NOT MATCHED THEN INSERT (id, k, f) VALUES (s.id, 'merged', s.f);
MERGE INTO h t USING src s ON t.id = s.id
  WHEN MATCHED AND s.id % 2 = 0 THEN DELETE
  WHEN MATCHED THEN UPDATE SET f = s.f
  WHEN NOT MATCHED THEN INSERT (id, k, f) VALUES (s.id, 'merged', s.f);
SELECT same() AS same_after_merge;
-- A target row matched twice is an error, as in heap.
SELECT on_both('MERGE INTO %I t USING (VALUES (5), (5)) s(x) ON t.id = s.x WHEN MATCHED THEN UPDATE SET f = 1');

-- Row locks.
BEGIN;
SELECT id FROM m WHERE id IN (1, 4, 5) ORDER BY id FOR UPDATE;
SELECT id FROM m WHERE id = 4 FOR SHARE SKIP LOCKED;
UPDATE m SET f = 0 WHERE id = 4;
UPDATE h SET f = 0 WHERE id = 4;
COMMIT;
SELECT same() AS same_after_locks;

-- Aggregation node and FINAL reads see deletes.
SELECT k, count(*), min(f), max(id) FROM m GROUP BY k ORDER BY k;
SELECT k, count(*), min(f), max(id) FROM h GROUP BY k ORDER BY k;
CREATE TABLE r (key int, ver int, v text) USING mergetree
  WITH (order_by = 'key', engine = 'replacing(ver)', background_merges = off);
INSERT INTO r SELECT i % 100, i, 'v' || i FROM generate_series(1, 1000) i;
SET mergetree.final = on;
SELECT count(*), sum(ver) FROM r;
-- A DELETE masks every stored version its condition matches (as ClickHouse's
-- lightweight DELETE does), even while reads are FINAL: the keys go.
DELETE FROM r WHERE key < 10;
SELECT count(*), sum(ver) FROM r;
SELECT key, ver FROM r WHERE key BETWEEN 8 AND 12 ORDER BY key;
-- Deleting the winning version alone (by its version) makes the previous one the winner.
DELETE FROM r WHERE key = 11 AND ver = 911;
SELECT key, ver FROM r WHERE key BETWEEN 10 AND 12 ORDER BY key;
-- An UPDATE rewrites every stored version it matches; FINAL still picks by version.
UPDATE r SET v = 'updated' WHERE key = 12;
SELECT key, ver, v FROM r WHERE key = 12;
RESET mergetree.final;
SELECT count(*) FROM r;

-- Merges drop deleted rows; a part whose rows are all deleted goes.
CREATE TABLE p (id int, g int) USING mergetree WITH (order_by = 'id', background_merges = off);
INSERT INTO p SELECT i, 1 FROM generate_series(1, 1000) i;
INSERT INTO p SELECT i, 2 FROM generate_series(1001, 2000) i;
DELETE FROM p WHERE g = 1;
SELECT count(*) AS parts FROM mergetree.parts WHERE table_name = 'p'::regclass;
SELECT mergetree.optimize('p', final => true);
SELECT count(*) AS parts, sum(rows) AS rows FROM mergetree.parts WHERE table_name = 'p'::regclass;
DELETE FROM p;
SELECT mergetree.optimize('p', final => true);
SELECT count(*) AS parts FROM mergetree.parts WHERE table_name = 'p'::regclass;
-- The merge workers remove a part whose rows are all deleted, and rewrite one once
-- enough of its rows are (mergetree.rewrite_deleted_percent, 30 by default).
CREATE FUNCTION masks(t regclass) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM mergetree.deleted_rows_catalog d JOIN pg_class c ON c.relfilenode = d.relfilenode WHERE c.oid = t $$;
INSERT INTO p SELECT i, 3 FROM generate_series(1, 1000) i;
DELETE FROM p WHERE id <= 400;
SELECT masks('p') AS masks, (SELECT count(*) FROM mergetree.parts WHERE table_name = 'p'::regclass) AS parts;
ALTER SYSTEM SET mergetree.background_merges = on;
SELECT pg_reload_conf();
ALTER TABLE p SET (background_merges = on);
DO $$ BEGIN FOR i IN 1..600 LOOP
  EXIT WHEN masks('p') = 0 AND (SELECT count(*) FROM mergetree.parts WHERE table_name = 'p'::regclass) = 1;
  PERFORM pg_sleep(0.1);
END LOOP; END $$;
ALTER TABLE p SET (background_merges = off);
SELECT rows FROM mergetree.parts WHERE table_name = 'p'::regclass;
SELECT masks('p') AS masks_left, count(*), min(id) FROM p;

-- Partitioned tables with mergetree partitions; an update moves rows between them.
CREATE TABLE pt (id int, g int) PARTITION BY LIST (g);
CREATE TABLE pt1 PARTITION OF pt FOR VALUES IN (1) USING mergetree;
CREATE TABLE pt2 PARTITION OF pt FOR VALUES IN (2) USING mergetree;
INSERT INTO pt SELECT i, 1 + i % 2 FROM generate_series(1, 100) i;
DELETE FROM pt WHERE id <= 10;
UPDATE pt SET g = 2 WHERE g = 1 AND id <= 30;
SELECT tableoid::regclass, count(*), sum(id) FROM pt GROUP BY 1 ORDER BY 1;

-- Rewrites keep deletes (committed, or pending in the rewriting transaction): VACUUM
-- FULL, ALTER COLUMN TYPE, SET ACCESS METHOD both ways, SET TABLESPACE (also undone by a
-- savepoint).
CREATE TABLE w (id int, v int) USING mergetree WITH (order_by = 'id', background_merges = off);
INSERT INTO w SELECT i, i FROM generate_series(1, 1000) i;
DELETE FROM w WHERE id % 2 = 0;
VACUUM FULL w;
SELECT count(*), sum(id) FROM w;
BEGIN;
DELETE FROM w WHERE id % 3 = 0;
ALTER TABLE w ALTER COLUMN v TYPE bigint;
SELECT count(*), sum(id) FROM w;
COMMIT;
BEGIN;
DELETE FROM w WHERE id % 5 = 0;
ALTER TABLE w SET ACCESS METHOD heap;
SELECT count(*), sum(id) FROM w;
ALTER TABLE w SET ACCESS METHOD mergetree;
COMMIT;
SELECT count(*), sum(id) FROM w;
SET allow_in_place_tablespaces = on;
CREATE TABLESPACE dml_space LOCATION '';
BEGIN;
DELETE FROM w WHERE id % 7 = 0;
ALTER TABLE w SET TABLESPACE dml_space;
SELECT count(*), sum(id) FROM w;
SAVEPOINT s;
DELETE FROM w WHERE id % 11 = 0;
ALTER TABLE w SET TABLESPACE pg_default;
ROLLBACK TO s;
DELETE FROM w WHERE id % 13 = 0;
COMMIT;
SELECT count(*), sum(id), (SELECT count(*) FROM w WHERE id % 7 = 0 OR id % 13 = 0) AS deleted_left FROM w;
ALTER TABLE w SET TABLESPACE pg_default;
DROP TABLESPACE dml_space;
-- A rewrite reports its progress in mergetree.merges (seen here by a volatile default
-- evaluated for each row the rewrite reads).
CREATE TABLE pr (id int) USING mergetree WITH (order_by = 'id', background_merges = off);
INSERT INTO pr SELECT generate_series(1, 20000);
CREATE TABLE seen (partition text, rows_total bigint, rows_done bigint);
CREATE FUNCTION watch() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  INSERT INTO seen SELECT partition, rows_total, rows_done FROM mergetree.merges WHERE table_name = 'pr'::regclass;
  RETURN 1;
END $$;
ALTER TABLE pr ADD COLUMN z int DEFAULT watch();
SELECT partition, rows_total, count(*) AS calls, max(rows_done) AS rows_done FROM seen GROUP BY 1, 2;
SELECT count(*) FROM mergetree.merges WHERE table_name = 'pr'::regclass;
-- Parallel workers cannot see the transaction's own deletes: no parallel plan then.
BEGIN;
DELETE FROM w WHERE id < 500;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SELECT count(*) FROM w WHERE id < 500;
SELECT count(*) FROM w t1 JOIN w t2 USING (id) WHERE t1.id < 500;
ROLLBACK;

-- TRUNCATE after a delete, and ALTER TABLE with deletes in the transaction.
BEGIN;
DELETE FROM p WHERE id < 600;
ALTER TABLE p ADD COLUMN extra int DEFAULT 7;
SELECT count(*), sum(extra) FROM p;
DELETE FROM p WHERE id < 700;
ALTER TABLE p DROP COLUMN g;
SELECT count(*), min(id) FROM p;
COMMIT;
SELECT count(*), min(id), sum(extra) FROM p;
TRUNCATE p;
SELECT count(*) FROM p;

-- WHERE CURRENT OF follows the cursor's row to the version this transaction's earlier
-- update made (heap's t_ctid chain), also through a savepoint rolled back; as on heap.
CREATE TABLE cur_m (id int, v int) USING mergetree WITH (order_by = 'id');
CREATE TABLE cur_h (id int, v int);
INSERT INTO cur_m SELECT g, g * 10 FROM generate_series(1, 5) g;
INSERT INTO cur_h SELECT g, g * 10 FROM generate_series(1, 5) g;
CREATE FUNCTION cur_steps(t regclass) RETURNS TABLE (id int, v int) LANGUAGE plpgsql AS $$
DECLARE c refcursor; r record;
BEGIN
  OPEN c FOR EXECUTE format('SELECT id, v FROM %s ORDER BY id FOR UPDATE', t);
  FETCH c INTO r;                                                     -- row 1
  EXECUTE format('UPDATE %s SET v = v + 1 WHERE CURRENT OF %I', t, c);
  EXECUTE format('UPDATE %s SET v = v + 100 WHERE CURRENT OF %I', t, c);
  FETCH c INTO r;                                                     -- row 2
  EXECUTE format('UPDATE %s SET v = -v WHERE CURRENT OF %I', t, c);
  EXECUTE format('DELETE FROM %s WHERE CURRENT OF %I', t, c);
  FETCH c INTO r;                                                     -- row 3
  BEGIN
    EXECUTE format('UPDATE %s SET v = 0 WHERE CURRENT OF %I', t, c);
    RAISE EXCEPTION 'roll back';
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  EXECUTE format('UPDATE %s SET v = v + 7 WHERE CURRENT OF %I', t, c);
  CLOSE c;
  RETURN QUERY EXECUTE format('SELECT id, v FROM %s ORDER BY id', t);
END $$;
BEGIN;
SELECT * FROM cur_steps('cur_m');
COMMIT;
BEGIN;
SELECT * FROM cur_steps('cur_h');
COMMIT;
SELECT (SELECT array_agg(m ORDER BY id) FROM cur_m m)::text = (SELECT array_agg(h ORDER BY id) FROM cur_h h)::text AS cursor_updates_match_heap;
DROP FUNCTION cur_steps(regclass);
DROP TABLE cur_m, cur_h;

ALTER SYSTEM RESET mergetree.background_merges;
SELECT pg_reload_conf();
SET client_min_messages = warning;
DROP SCHEMA dml_test CASCADE;
RESET client_min_messages;
RESET search_path;
