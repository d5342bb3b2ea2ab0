-- settled(t, n): waits (at most 60 s) until table t has at most n parts, for background
-- merges to catch up; whether it did.
CREATE FUNCTION settled(t regclass, n int) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..600 LOOP
    IF (SELECT count(*) FROM mergetree.parts WHERE table_name = t) <= n THEN RETURN true; END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
  RETURN false;
END $$;
