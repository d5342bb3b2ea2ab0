-- same_rows(a, b): whether queries a and b return the same multiset of rows (compared as
-- text, so any column types work); rows_differ(a, b): how many rows are in one and not
-- the other (0 when equal), to show the size of a difference in a failing run.
CREATE FUNCTION rows_differ(a text, b text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  -- Aliases no query's column is named: a column x would shadow a row alias x.
  EXECUTE format('SELECT (SELECT count(*) FROM ((SELECT r__a::text FROM (%s) r__a EXCEPT ALL SELECT r__b::text FROM (%s) r__b)
                   UNION ALL (SELECT r__b::text FROM (%s) r__b EXCEPT ALL SELECT r__a::text FROM (%s) r__a)) d)', a, b, b, a) INTO n;
  RETURN n;
END $$;
CREATE FUNCTION same_rows(a text, b text) RETURNS bool LANGUAGE sql AS $$ SELECT rows_differ(a, b) = 0 $$;
-- orphan_parts(): part rows whose storage no mergetree table owns (must always be 0).
CREATE FUNCTION orphan_parts() RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM mergetree.part_catalog c
  WHERE NOT EXISTS (SELECT 1 FROM pg_class r JOIN pg_am a ON a.oid = r.relam
                    WHERE r.relfilenode = c.relfilenode AND a.amname = 'mergetree') $$;
