-- Random differential DML: seeded sequences of inserts, deletes, updates (of the sort key
-- and the partition column too), rolled-back savepoints and transactions, ALTER TABLE
-- ADD/DROP COLUMN, optimize and merges, run on a mergetree table and a heap table in
-- lockstep; after every step both hold the same rows. dml_log records each step and the
-- first one that differs stops the run with the statement that made it differ.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
CREATE SCHEMA dml_random;
RESET client_min_messages;
SET search_path = dml_random, public;

CREATE TABLE rm (id int);
CREATE TABLE rh (id int);
CREATE TABLE dml_log (seed float8, steps int, ops text[], rows bigint);

-- Runs `stmt` (%I: the table) on both tables.
CREATE PROCEDURE on_both(stmt text) LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format(stmt, 'rm');
  EXECUTE format(stmt, 'rh');
END $$;

CREATE FUNCTION differs() RETURNS bool LANGUAGE plpgsql AS $$
DECLARE d bool;
BEGIN
  EXECUTE 'SELECT EXISTS ((SELECT * FROM rm EXCEPT ALL SELECT * FROM rh) UNION ALL (SELECT * FROM rh EXCEPT ALL SELECT * FROM rm))' INTO d;
  RETURN d;
END $$;

-- A random row predicate over the current columns.
CREATE FUNCTION pred() RETURNS text LANGUAGE sql AS $$
  SELECT CASE (random() * 5)::int
    WHEN 0 THEN format('id BETWEEN %s AND %s', x, x + (random() * 40)::int)
    WHEN 1 THEN format('k = %L', 'k' || (random() * 8)::int)
    WHEN 2 THEN format('v %%%% %s = %s', 2 + (random() * 5)::int, (random() * 2)::int)
    WHEN 3 THEN format('p = %s AND id %%%% 3 = %s', (random() * 3)::int, (random() * 2)::int)
    WHEN 4 THEN 'v IS NULL OR k IS NULL'
    ELSE format('id < %s', x) END
  FROM (SELECT (random() * 400)::int AS x) s
$$;

-- One random change, as a statement for on_both.
CREATE FUNCTION random_change() RETURNS text LANGUAGE sql AS $$
  SELECT CASE (random() * 9)::int
    WHEN 0 THEN 'INSERT INTO %I (id, k, v, p) VALUES ' || (SELECT string_agg(format('(%s, %s, %s, %s)', (random() * 400)::int,
        CASE WHEN random() < 0.1 THEN 'NULL' ELSE quote_literal('k' || (random() * 8)::int) END,
        CASE WHEN random() < 0.1 THEN 'NULL' ELSE ((random() * 100)::int)::text END, (random() * 3)::int), ', ')
      FROM generate_series(0, (random() * 30)::int))
    WHEN 1 THEN format('INSERT INTO %%I (id, k, v, p) VALUES (%s, ''k%s'', %s, %s)', (random() * 400)::int, (random() * 8)::int, (random() * 100)::int, (random() * 3)::int)
    WHEN 2 THEN 'DELETE FROM %I WHERE ' || pred()
    WHEN 3 THEN 'DELETE FROM %I WHERE ' || pred()
    WHEN 4 THEN 'UPDATE %I SET v = coalesce(v, 0) + 1 WHERE ' || pred()
    WHEN 5 THEN 'UPDATE %I SET k = ''k'' || ((id + 1) %% 9), id = id + 1000 WHERE ' || pred()
    WHEN 6 THEN 'UPDATE %I SET p = (p + 1) %% 4 WHERE ' || pred()
    WHEN 7 THEN 'DELETE FROM %I t USING (SELECT DISTINCT k FROM rh WHERE id %% 5 = 0) s WHERE t.k = s.k AND t.id %% 2 = 0'
    ELSE 'UPDATE %I SET v = -v WHERE id IN (SELECT id FROM rh WHERE ' || pred() || ')' END
$$;

CREATE PROCEDURE dml_random(steps int, seed float8, merges bool DEFAULT true) LANGUAGE plpgsql AS $$
DECLARE op text; ops text[] := '{}'; r float8; extra int := 0;
BEGIN
  PERFORM setseed(seed);
  DROP TABLE rm, rh;
  EXECUTE format($s$CREATE TABLE rm (id int, k text, v int, p int) USING mergetree
    WITH (order_by = 'k, id', partition_by = 'p', index_granularity = 16, background_merges = %s)$s$, NOT merges);
  CREATE TABLE rh (id int, k text, v int, p int);
  COMMIT;
  FOR step IN 1..steps LOOP
    r := random();
    IF r < 0.06 THEN
      -- A change rolled back to a savepoint.
      op := random_change();
      BEGIN
        CALL on_both(op);
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'undo';
      EXCEPTION WHEN raise_exception THEN NULL;
      END;
      op := 'undone: ' || op;
    ELSIF r < 0.09 THEN
      op := random_change();
      CALL on_both(op);
      ROLLBACK;
      op := 'rolled back: ' || op;
    ELSIF r < 0.12 AND merges THEN
      op := 'optimize';
      PERFORM mergetree.optimize('rm', final => random() < 0.5);
    ELSIF r < 0.14 THEN
      extra := extra + 1;
      op := format('ALTER TABLE %%I ADD COLUMN c%s int DEFAULT %s', extra, (random() * 9)::int);
      CALL on_both(op);
    ELSIF r < 0.16 AND extra > 0 AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'rm'::regclass AND attname = 'c' || extra AND NOT attisdropped) THEN
      op := format('ALTER TABLE %%I DROP COLUMN c%s', extra);
      CALL on_both(op);
    ELSE
      op := random_change();
      CALL on_both(op);
    END IF;
    IF random() < 0.7 THEN COMMIT; END IF;
    ops := ops || op;
    IF differs() THEN
      RAISE EXCEPTION 'seed %, step %: the tables differ after %', seed, step, op;
    END IF;
  END LOOP;
  COMMIT;
  INSERT INTO dml_log VALUES (seed, steps, ops, (SELECT count(*) FROM rm));
  COMMIT;
END $$;

CALL dml_random(1000, 0.1);
CALL dml_random(1000, -0.3);
CALL dml_random(1000, 0.6);
SELECT seed, steps, rows > 0 AS has_rows,
       (SELECT count(*) FROM unnest(ops) o WHERE o LIKE 'DELETE%') > 50 AS deletes,
       (SELECT count(*) FROM unnest(ops) o WHERE o LIKE 'UPDATE%') > 50 AS updates,
       (SELECT count(*) FROM unnest(ops) o WHERE o LIKE 'undone%' OR o LIKE 'rolled back%') > 10 AS rollbacks,
       (SELECT count(*) FROM unnest(ops) o WHERE o LIKE 'ALTER%') > 5 AS alters
FROM dml_log ORDER BY seed;
-- Again with the merge workers racing the changes (optimize left to them).
ALTER SYSTEM SET mergetree.background_merges = on;
SELECT pg_reload_conf();
CALL dml_random(1000, 0.9, merges => false);
SELECT seed, steps FROM dml_log WHERE seed = 0.9;
\ir include/settled.sql
SELECT settled('rm', 4) AS settled, NOT differs() AS same_after_merges;
ALTER SYSTEM RESET mergetree.background_merges;
SELECT pg_reload_conf();

SET client_min_messages = warning;
DROP SCHEMA dml_random CASCADE;
RESET client_min_messages;
RESET search_path;
