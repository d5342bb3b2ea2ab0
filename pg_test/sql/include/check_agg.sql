-- check_agg(q [, m_table, h_table]): q run with $T as agg_m (mergetree) and as agg_h
-- (heap, the same rows), or the tables named,
-- as resolved on the search_path: "node" or "plain" (whether MergeTreeAgg planned it),
-- then "same" or "DIFFERENT" (rows, in order where q has ORDER BY).
-- plan_lines(q, pat): the lines of EXPLAIN ANALYZE matching a pattern.
CREATE FUNCTION check_agg(q text, m_table text DEFAULT 'agg_m', h_table text DEFAULT 'agg_h') RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  m text := replace(q, '$T', m_table);
  h text := replace(q, '$T', h_table);
  line text;
  node bool := false;
  same bool;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || m LOOP
    node := node OR line LIKE '%MergeTreeAgg%';
  END LOOP;
  -- ORDER BY of the query (not of WITHIN GROUP): rows compared in order.
  IF regexp_replace(q, 'within group \(order by', '', 'gi') ~* 'order by' THEN
    EXECUTE format('SELECT (SELECT array_agg(r__a::text) FROM (%s) r__a) IS NOT DISTINCT FROM (SELECT array_agg(r__a::text) FROM (%s) r__a)', m, h) INTO same;
  ELSE
    same := same_rows(m, h);
  END IF;
  RETURN CASE WHEN node THEN 'node' ELSE 'plain' END || CASE WHEN same THEN ' same' ELSE ' DIFFERENT' END;
END $$;

-- What EXPLAIN ANALYZE reports (lines matching a pattern).
CREATE FUNCTION plan_lines(q text, pat text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    IF line ~ pat THEN RETURN NEXT btrim(line); END IF;
  END LOOP;
END $$;
