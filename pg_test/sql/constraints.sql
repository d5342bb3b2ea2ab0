-- Schema changes that validate existing rows: SET NOT NULL, ADD CHECK (also NOT VALID then
-- VALIDATE), on parts and on the transaction's unflushed rows, each run on a mergetree
-- table and on a heap table holding the same rows: the same errors, the same rows after.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
CREATE SCHEMA constraints_test;
RESET client_min_messages;
SET search_path = constraints_test, public;

CREATE TABLE cm (id int, v int, s text) USING mergetree WITH (order_by = 'id', index_granularity = 64);
CREATE TABLE ch (id int, v int, s text);
INSERT INTO cm SELECT i, CASE WHEN i % 97 = 0 THEN NULL ELSE i END, 's' || i FROM generate_series(1, 2000) i;
INSERT INTO ch SELECT * FROM cm;
CREATE FUNCTION both_tables(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE out text := ''; t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['cm', 'ch'] LOOP
    BEGIN
      EXECUTE format(stmt, t);
      out := out || t || ': ok; ';
    EXCEPTION WHEN OTHERS THEN
      out := out || t || ': ' || SQLSTATE || ' ' || regexp_replace(SQLERRM, '"c[mh]"', '"t"') || '; ';
    END;
  END LOOP;
  RETURN out;
END $$;
SELECT both_tables('ALTER TABLE %I ALTER COLUMN v SET NOT NULL');
SELECT both_tables('ALTER TABLE %I ADD CONSTRAINT small CHECK (id < 1500)');
SELECT both_tables('ALTER TABLE %I ADD CONSTRAINT pos CHECK (id > 0)');
SELECT both_tables('INSERT INTO %I VALUES (0, 1, ''zero'')');
SELECT both_tables('INSERT INTO %I VALUES (6000, 1, ''x6000'')');
SELECT both_tables('ALTER TABLE %I ADD CONSTRAINT named CHECK (s LIKE ''s%%'') NOT VALID');
SELECT both_tables('INSERT INTO %I VALUES (5000, 1, ''bad'')');
SELECT both_tables('ALTER TABLE %I VALIDATE CONSTRAINT named');
SELECT both_tables('DELETE FROM %I WHERE false');
SELECT both_tables('ALTER TABLE %I DROP CONSTRAINT named');
SELECT both_tables('ALTER TABLE %I ADD CONSTRAINT named2 CHECK (s LIKE ''s%%'' OR id = 6000)');
-- Rows the transaction still buffers are validated too.
BEGIN;
INSERT INTO cm VALUES (3000, NULL, 's3000');
INSERT INTO ch VALUES (3000, NULL, 's3000');
SELECT both_tables('ALTER TABLE %I ADD CONSTRAINT nn CHECK (v IS NOT NULL OR id < 3000)');
ROLLBACK;
-- After fixing the data (a new table without the NULLs), the same constraints hold.
CREATE TABLE cm2 (id int, v int NOT NULL, s text CHECK (s LIKE 's%')) USING mergetree WITH (order_by = 'id');
INSERT INTO cm2 SELECT id, coalesce(v, 0), s FROM cm;
ALTER TABLE cm2 ALTER COLUMN v DROP NOT NULL;
INSERT INTO cm2 VALUES (4000, NULL, 's4000');
ALTER TABLE cm2 ALTER COLUMN v SET NOT NULL;
SELECT count(*), count(v) FROM cm2;
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'cm'::regclass ORDER BY conname;
-- Deleting the rows that break a constraint lets it be added; UPDATEs are checked
-- against the constraints as heap checks them.
SELECT both_tables('DELETE FROM %I WHERE v IS NULL OR id >= 1500');
SELECT both_tables('ALTER TABLE %I ALTER COLUMN v SET NOT NULL');
SELECT both_tables('ALTER TABLE %I ADD CONSTRAINT small CHECK (id < 1500)');
SELECT both_tables('UPDATE %I SET v = -v WHERE id < 10');
SELECT both_tables('UPDATE %I SET v = NULL WHERE id = 11');
SELECT both_tables('UPDATE %I SET id = 2000 WHERE id = 12');
SELECT (SELECT count(*) FROM cm) = (SELECT count(*) FROM ch) AS same_count,
       (SELECT array_agg(cm ORDER BY id) FROM cm)::text = (SELECT array_agg(ch ORDER BY id) FROM ch)::text AS same_rows;

SET client_min_messages = warning;
DROP SCHEMA constraints_test CASCADE;
RESET client_min_messages;
RESET search_path;
