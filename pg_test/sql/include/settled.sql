-- settled(t, n): waits (at most 150 s) until table t has at most n parts, for background
-- merges to catch up; whether it did. (The merge selector lowers its bar for small parts
-- over a minute of their age: a debug build's slower merges can need that long.)
CREATE FUNCTION settled(t regclass, n int) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..1500 LOOP
    IF (SELECT count(*) FROM mergetree.parts WHERE table_name = t) <= n THEN RETURN true; END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
  RETURN false;
END $$;
