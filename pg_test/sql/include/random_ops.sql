-- random_ops(mt, heap, steps, seed): a seeded random interleaving of committed inserts,
-- rolled-back inserts, inserts undone by a failed subtransaction, optimize (plain and
-- final), drop_partition (with the same rows deleted from heap), TRUNCATE, and
-- transactions that insert around a merge, applied to a mergetree table and a heap table
-- of the same columns (id bigint, p int, t text, f float8, n numeric, ts timestamp,
-- b bool, i2 int2, by bytea). After every step both tables must hold the same rows, in
-- the same order under ORDER BY, with the same answers to filtered aggregates; each
-- step's operation and any difference go to random_ops_log.
CREATE TABLE random_ops_log (step int, op text, same bool);
CREATE TABLE random_ops_batch (id bigint, p int, t text, f float8, n numeric, ts timestamp, b bool, i2 int2, by bytea);
CREATE SEQUENCE random_ops_id;

CREATE FUNCTION random_ops_fill(rows int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE random_ops_batch;
  INSERT INTO random_ops_batch
  SELECT nextval('random_ops_id'), floor(random() * 4)::int,
         CASE WHEN r < 0.1 THEN NULL WHEN r < 0.15 THEN '' ELSE (ARRAY['a', 'b', 'é', 'Z', 'a b', 'zz', 'ab'])[1 + floor(random() * 7)::int] || floor(random() * 30)::int END,
         CASE WHEN r2 < 0.08 THEN NULL WHEN r2 < 0.12 THEN 'NaN' WHEN r2 < 0.16 THEN '-0' WHEN r2 < 0.2 THEN 'Infinity'
              WHEN r2 < 0.22 THEN '-Infinity' ELSE round((random() * 200 - 100)::numeric, 1) END::float8,
         CASE WHEN r3 < 0.1 THEN NULL WHEN r3 < 0.15 THEN 99999999999999999999.99999 ELSE round((random() * 1000)::numeric, floor(r3 * 4)::int) END,
         CASE WHEN r < 0.05 THEN NULL ELSE timestamp '2024-01-01' + floor(random() * 1000) * interval '1 hour' END,
         CASE WHEN r2 < 0.1 THEN NULL ELSE random() < 0.5 END,
         CASE WHEN r3 < 0.05 THEN -32768 WHEN r3 < 0.1 THEN 32767 WHEN r3 < 0.15 THEN NULL ELSE floor(random() * 100)::int2 END,
         CASE WHEN r < 0.2 THEN NULL ELSE decode(md5(random()::text), 'hex') END
  FROM (SELECT random() AS r, random() AS r2, random() AS r3 FROM generate_series(1, rows)) g;
END $$;

CREATE FUNCTION random_ops_same(mt regclass, h regclass) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE a text; b text;
BEGIN
  IF NOT same_rows(format('SELECT * FROM %s', mt), format('SELECT * FROM %s', h)) THEN RETURN false; END IF;
  FOREACH a IN ARRAY ARRAY[
    'SELECT md5(string_agg(x::text, ''|'' ORDER BY t, f, id)) FROM %s x',
    'SELECT md5(string_agg(x::text, ''|'' ORDER BY p, ts DESC NULLS LAST, id)) FROM %s x WHERE p IN (1, 2)',
    'SELECT count(*) || '' '' || count(t) || '' '' || coalesce(sum(n), 0) || '' '' || coalesce(sum(i2), 0) FROM %s WHERE t > ''b'' OR f < 0',
    'SELECT string_agg(p || '':'' || c, '','' ORDER BY p) FROM (SELECT p, count(*) c FROM %s GROUP BY p) g',
    'SELECT count(*) || '' '' || count(DISTINCT by) FROM %s WHERE b AND ts < timestamp ''2024-01-20''']
  LOOP
    EXECUTE format(a, mt) INTO b;
    EXECUTE format(a, h) INTO a;
    IF a IS DISTINCT FROM b THEN RETURN false; END IF;
  END LOOP;
  RETURN true;
END $$;

CREATE PROCEDURE random_ops(mt regclass, h regclass, steps int, seed float8) LANGUAGE plpgsql AS $$
DECLARE op text; x float8; v int;
BEGIN
  PERFORM setseed(seed);
  COMMIT;
  FOR s IN 1..steps LOOP
    x := random();
    op := CASE WHEN x < 0.35 THEN 'insert' WHEN x < 0.45 THEN 'insert, rollback' WHEN x < 0.55 THEN 'insert, failed subtransaction'
               WHEN x < 0.70 THEN 'optimize' WHEN x < 0.78 THEN 'drop_partition' WHEN x < 0.82 THEN 'truncate'
               ELSE 'insert, optimize, insert' END;
    IF op = 'insert' THEN
      PERFORM random_ops_fill(1 + floor(random() * 300)::int);
      EXECUTE format('INSERT INTO %s SELECT * FROM random_ops_batch', mt);
      EXECUTE format('INSERT INTO %s SELECT * FROM random_ops_batch', h);
      COMMIT;
    ELSIF op = 'insert, rollback' THEN
      PERFORM random_ops_fill(1 + floor(random() * 300)::int);
      EXECUTE format('INSERT INTO %s SELECT * FROM random_ops_batch', mt);
      EXECUTE format('INSERT INTO %s SELECT * FROM random_ops_batch', h);
      ROLLBACK;
    ELSIF op = 'insert, failed subtransaction' THEN
      PERFORM random_ops_fill(1 + floor(random() * 50)::int);
      EXECUTE format('INSERT INTO %s SELECT * FROM random_ops_batch', mt);
      EXECUTE format('INSERT INTO %s SELECT * FROM random_ops_batch', h);
      BEGIN
        PERFORM random_ops_fill(1 + floor(random() * 50)::int);
        EXECUTE format('INSERT INTO %s SELECT * FROM random_ops_batch', mt);
        EXECUTE format('INSERT INTO %s SELECT * FROM random_ops_batch', h);
        RAISE EXCEPTION 'undo this subtransaction';
      EXCEPTION WHEN raise_exception THEN NULL;
      END;
      COMMIT;
    ELSIF op = 'optimize' THEN
      PERFORM mergetree.optimize(mt, final => random() < 0.5);
      COMMIT;
    ELSIF op = 'drop_partition' THEN
      v := floor(random() * 4)::int;
      PERFORM mergetree.drop_partition(mt, v::text);
      EXECUTE format('DELETE FROM %s WHERE p = %s', h, v);
      COMMIT;
    ELSIF op = 'truncate' THEN
      EXECUTE format('TRUNCATE %s, %s', mt, h);
      COMMIT;
    ELSE
      PERFORM random_ops_fill(1 + floor(random() * 100)::int);
      EXECUTE format('INSERT INTO %s SELECT * FROM random_ops_batch', mt);
      EXECUTE format('INSERT INTO %s SELECT * FROM random_ops_batch', h);
      PERFORM mergetree.optimize(mt, final => true);
      PERFORM random_ops_fill(1 + floor(random() * 100)::int);
      EXECUTE format('INSERT INTO %s SELECT * FROM random_ops_batch', mt);
      EXECUTE format('INSERT INTO %s SELECT * FROM random_ops_batch', h);
      COMMIT;
    END IF;
    INSERT INTO random_ops_log VALUES (s, op, random_ops_same(mt, h));
    COMMIT;
  END LOOP;
END $$;
