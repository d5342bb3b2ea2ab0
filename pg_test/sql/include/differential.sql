-- differential(heap, mergetree, setting, filters): for each filter, the heap table's row
-- count, and whether the mergetree table returns exactly the heap table's rows with the
-- boolean `setting` on and with it off.
CREATE FUNCTION differential(heap regclass, mt regclass, setting text, filters text[])
RETURNS TABLE (filter text, heap_rows bigint, same_on bool, same_off bool)
LANGUAGE plpgsql AS $$
DECLARE f text; a text; b text; c text; n bigint;
BEGIN
  FOREACH f IN ARRAY filters LOOP
    EXECUTE format('SELECT count(*), md5(string_agg(x::text, '','' ORDER BY id)) FROM %s x WHERE %s', heap, f) INTO n, a;
    EXECUTE format('SET LOCAL %s = on', setting);
    EXECUTE format('SELECT md5(string_agg(x::text, '','' ORDER BY id)) FROM %s x WHERE %s', mt, f) INTO b;
    EXECUTE format('SET LOCAL %s = off', setting);
    EXECUTE format('SELECT md5(string_agg(x::text, '','' ORDER BY id)) FROM %s x WHERE %s', mt, f) INTO c;
    EXECUTE format('SET LOCAL %s = on', setting);
    filter := f; heap_rows := n; same_on := a IS NOT DISTINCT FROM b; same_off := a IS NOT DISTINCT FROM c;
    RETURN NEXT;
  END LOOP;
END $$;
-- explain_lines(query, pattern): the EXPLAIN ANALYZE lines of `query` that match `pattern`,
-- trimmed (the counters a test reads, without timings).
CREATE FUNCTION explain_lines(q text, pattern text) RETURNS TABLE (line text) LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    IF l ~ pattern THEN line := btrim(l); RETURN NEXT; END IF;
  END LOOP;
END $$;
