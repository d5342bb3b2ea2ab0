-- MergeTreeAgg below a join: a grouping over a mergetree table inner-joined to one other
-- relation on an integer key is aggregated inside the scan, the other relation read as a
-- lookup. Every query runs on the mergetree table and on a heap copy of it ($T), with
-- the same other relations: results must be equal, and what the node cannot fold in
-- (outer joins, aggregates of the other side, other join conditions) stays Postgres'.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
CREATE SCHEMA agg_join;
RESET client_min_messages;
SET search_path = agg_join, public;
\ir include/same_rows.sql
\ir include/check_agg.sql

CREATE TABLE jm (ts timestamp, user_id int8, event text, dur int, amount numeric(12,2), f float8, ok bool)
  USING mergetree WITH (order_by = 'ts', index_granularity = 128);
CREATE TABLE jh (LIKE jm);
CREATE TABLE j_src AS
SELECT timestamp '2024-01-01' + g * interval '1 minute' AS ts,
       CASE WHEN g % 41 = 0 THEN NULL ELSE (g * 7) % 230 - 10 END AS user_id,
       CASE WHEN g % 19 = 0 THEN NULL ELSE 'e' || (g % 6) END AS event,
       CASE WHEN g % 17 = 0 THEN NULL ELSE g % 1000 END AS dur,
       (g % 500) / 4.0 AS amount,
       CASE WHEN g % 23 = 0 THEN 'NaN'::float8 ELSE g / 8.0 END AS f,
       g % 3 = 0 AS ok
FROM generate_series(1, 6000) g;
INSERT INTO jm SELECT * FROM j_src WHERE ts < '2024-01-03';
INSERT INTO jm SELECT * FROM j_src WHERE ts >= '2024-01-03';
INSERT INTO jh SELECT * FROM j_src;
-- Users: unique ids 1..200 with NULL plans; keys 201..205 repeated (a row joins several
-- users); a NULL id; no users for negative or large ids.
CREATE TABLE users (id int4, plan text, country text COLLATE "C", score numeric(6,1), tier int2);
INSERT INTO users SELECT i, (ARRAY['free', 'pro', 'team', NULL])[1 + i % 4], 'c' || (i % 5), (i % 7) / 2.0, (i % 3)::int2 FROM generate_series(1, 200) i;
INSERT INTO users SELECT 200 + i % 5 + 1, (ARRAY['free', 'dup'])[1 + i % 2], 'c9', 1.5, 9 FROM generate_series(1, 12) i;
INSERT INTO users VALUES (NULL, 'nokey', 'c0', 0, 0);
-- The same users in a mergetree table, and with a smallint key.
CREATE TABLE users_m USING mergetree WITH (order_by = 'id') AS SELECT * FROM users;
CREATE TABLE users_s AS SELECT id::int2 AS id, plan, country FROM users;
CREATE TABLE tusers_by_id AS SELECT i AS id FROM generate_series(1, 20000) i;
ANALYZE jm, jh, users, users_m, users_s, tusers_by_id;

-- The benchmark's shape: per plan, events, distinct users and mean duration.
SELECT check_agg('SELECT u.plan, count(*), count(DISTINCT e.user_id), avg(e.dur) FROM $T e JOIN users u ON u.id = e.user_id GROUP BY u.plan ORDER BY u.plan', 'jm', 'jh');
-- Keys of both sides, every aggregate kind of the table's columns.
SELECT check_agg('SELECT e.event, u.plan, count(*), count(e.dur), sum(e.dur), min(e.dur), max(e.ts), sum(e.amount), avg(e.amount), bool_or(e.ok), bool_and(e.ok),
                         count(DISTINCT e.event), percentile_disc(0.5) WITHIN GROUP (ORDER BY e.dur)
                  FROM $T e JOIN users u ON u.id = e.user_id GROUP BY e.event, u.plan ORDER BY 1, 2', 'jm', 'jh');
-- Float sums, NaN included (sums compared rounded: the order of addition differs).
SELECT check_agg('SELECT u.country, round(sum(e.f)::numeric, 3), max(e.f), min(e.f) FROM $T e JOIN users u ON u.id = e.user_id GROUP BY 1 ORDER BY 1', 'jm', 'jh');
-- Several keys of the other side, keys in either order.
SELECT check_agg('SELECT u.tier, e.event, u.country, count(*), sum(e.dur) FROM $T e JOIN users u ON e.user_id = u.id GROUP BY u.tier, e.event, u.country ORDER BY 1, 2, 3', 'jm', 'jh');
-- No key of the other side: the join only filters and repeats rows.
SELECT check_agg('SELECT e.event, count(*), sum(e.dur) FROM $T e JOIN users u ON u.id = e.user_id GROUP BY e.event ORDER BY 1', 'jm', 'jh');
SELECT check_agg('SELECT count(*), sum(e.dur), count(DISTINCT e.user_id) FROM $T e JOIN users u ON u.id = e.user_id', 'jm', 'jh');
-- Filters on either side, HAVING on both kinds of output, FILTER, expressions.
SELECT check_agg('SELECT u.plan, e.event, count(*) FILTER (WHERE e.dur > 500), sum(e.amount * 2) FROM $T e JOIN users u ON u.id = e.user_id
                  WHERE u.country IN (''c1'', ''c3'') AND e.dur BETWEEN 100 AND 900 GROUP BY 1, 2 HAVING count(*) > 3 AND u.plan <> ''pro'' ORDER BY 1, 2', 'jm', 'jh');
SELECT check_agg('SELECT u.plan, count(*) FROM $T e, users u WHERE u.id = e.user_id AND e.event = ''e2'' GROUP BY u.plan ORDER BY 1', 'jm', 'jh');
-- A smallint key joined to a bigint one; the other side a mergetree table too.
SELECT check_agg('SELECT u.plan, count(*), sum(e.dur) FROM $T e JOIN users_s u ON u.id = e.user_id GROUP BY u.plan ORDER BY 1', 'jm', 'jh');
SELECT check_agg('SELECT u.plan, count(*), sum(e.dur) FROM $T e JOIN users_m u ON u.id = e.user_id GROUP BY u.plan ORDER BY 1', 'jm', 'jh');
-- The other side empty after its filter.
SELECT check_agg('SELECT u.plan, count(*) FROM $T e JOIN users u ON u.id = e.user_id WHERE u.country = ''none'' GROUP BY u.plan', 'jm', 'jh');
SELECT check_agg('SELECT count(*), sum(e.dur) FROM $T e JOIN users u ON u.id = e.user_id WHERE u.country = ''none''', 'jm', 'jh');

-- Left to Postgres: an aggregate of the other side, outer joins, a join condition
-- besides the one equality, a third relation, an expression of the other side as a key.
-- (A text key joined to another text column is the node's.)
SELECT check_agg('SELECT u.plan, count(*), sum(u.score) FROM $T e JOIN users u ON u.id = e.user_id GROUP BY u.plan', 'jm', 'jh');
SELECT check_agg('SELECT u.plan, count(*) FROM $T e LEFT JOIN users u ON u.id = e.user_id GROUP BY u.plan', 'jm', 'jh');
SELECT check_agg('SELECT u.plan, count(*) FROM $T e JOIN users u ON u.id = e.user_id AND e.dur > u.id GROUP BY u.plan', 'jm', 'jh');
SELECT check_agg('SELECT u.plan, count(*) FROM $T e JOIN users u ON u.id = e.user_id AND u.tier = e.dur GROUP BY u.plan', 'jm', 'jh');
SELECT check_agg('SELECT u.plan, count(*) FROM $T e JOIN users u ON u.id = e.user_id JOIN users_s s ON s.id = u.id GROUP BY u.plan', 'jm', 'jh');
SELECT check_agg('SELECT u.plan, count(*) FROM $T e JOIN users u ON u.plan = e.event GROUP BY u.plan', 'jm', 'jh');
SELECT check_agg('SELECT u.plan, count(*) FROM $T e JOIN users u ON u.id = e.user_id GROUP BY u.plan, u.id % 2', 'jm', 'jh');
-- More distinct grouping values of the other side than the budget holds (they are not
-- partitioned): Postgres' plan.
SET work_mem = '64kB';
SELECT check_agg('SELECT u.id, count(*) FROM $T e JOIN tusers_by_id u ON u.id = e.user_id GROUP BY u.id ORDER BY 1 LIMIT 5', 'jm', 'jh');
RESET work_mem;
SELECT check_agg('SELECT u.id, count(*) FROM $T e JOIN tusers_by_id u ON u.id = e.user_id GROUP BY u.id ORDER BY 1 LIMIT 5', 'jm', 'jh');
-- A key of the other side whose equal values can differ (numeric 1.0 and 1.00: a group
-- must print a value of a row that joined), a subquery or a volatile filter as the other
-- side (read once per partition, it must give the same rows each time).
SELECT check_agg('SELECT u.score, count(*) FROM $T e JOIN users u ON u.id = e.user_id GROUP BY u.score ORDER BY 1', 'jm', 'jh');
SELECT check_agg('SELECT u.plan, count(*) FROM $T e JOIN (SELECT DISTINCT id, plan FROM users) u ON u.id = e.user_id GROUP BY u.plan ORDER BY 1', 'jm', 'jh');
SELECT check_agg('SELECT u.plan, count(*) > 0 FROM $T e JOIN users u ON u.id = e.user_id WHERE random() >= 0 GROUP BY u.plan ORDER BY 1', 'jm', 'jh');

-- EXPLAIN shows the join folded in, and the other relation read once.
SELECT plan_lines('SELECT u.plan, count(*) FROM jm e JOIN users u ON u.id = e.user_id WHERE u.tier = 1 GROUP BY u.plan',
                  'MergeTreeAgg|Join:|Group Keys|Rows Aggregated|Seq Scan on users u \(actual');

-- Prepared, past the generic-plan switch, with parameters on both sides.
PREPARE q(int, text) AS SELECT u.plan, count(*), sum(e.dur) FROM jm e JOIN users u ON u.id = e.user_id WHERE e.dur > $1 AND u.country = $2 GROUP BY u.plan ORDER BY 1;
PREPARE qh(int, text) AS SELECT u.plan, count(*), sum(e.dur) FROM jh e JOIN users u ON u.id = e.user_id WHERE e.dur > $1 AND u.country = $2 GROUP BY u.plan ORDER BY 1;
CREATE TABLE prepared_runs (i int, same bool, n bigint);
DO $$
DECLARE i int;
BEGIN
  FOR i IN 1..8 LOOP
    EXECUTE format('CREATE TEMP TABLE pm AS EXECUTE q(%s, %L)', i * 90, 'c' || (i % 5));
    EXECUTE format('CREATE TEMP TABLE ph AS EXECUTE qh(%s, %L)', i * 90, 'c' || (i % 5));
    INSERT INTO prepared_runs SELECT i, same_rows('SELECT * FROM pm', 'SELECT * FROM ph'), (SELECT count(*) FROM pm);
    DROP TABLE pm, ph;
  END LOOP;
END $$;
SELECT count(*) AS runs, count(*) FILTER (WHERE same) AS same, min(n) > 0 AS all_have_rows FROM prepared_runs;
EXPLAIN (COSTS OFF) EXECUTE q(100, 'c1');
-- Re-executed with a new outer value each time (rescans of the node and its children).
SELECT check_agg('SELECT p.x, (SELECT count(*) FROM $T e JOIN users u ON u.id = e.user_id WHERE u.plan = p.x) FROM (VALUES (''free''), (''pro''), (''dup'')) p(x) ORDER BY 1', 'jm', 'jh');

-- The transaction's unflushed rows join too.
BEGIN;
INSERT INTO jm VALUES ('2030-01-01', 5, 'late', 7, 1, 1, true), ('2030-01-01', 203, 'late', 8, 1, 1, true), ('2030-01-01', NULL, 'late', 9, 1, 1, true);
INSERT INTO jh VALUES ('2030-01-01', 5, 'late', 7, 1, 1, true), ('2030-01-01', 203, 'late', 8, 1, 1, true), ('2030-01-01', NULL, 'late', 9, 1, 1, true);
SELECT check_agg('SELECT e.event, u.plan, count(*), sum(e.dur) FROM $T e JOIN users u ON u.id = e.user_id GROUP BY 1, 2 ORDER BY 1, 2', 'jm', 'jh');
ROLLBACK;

-- Row-level security on the table holds below the join.
CREATE ROLE agg_join_reader;
GRANT USAGE ON SCHEMA agg_join TO agg_join_reader;
GRANT SELECT ON jm, jh, users TO agg_join_reader;
GRANT EXECUTE ON FUNCTION check_agg(text, text, text), same_rows(text, text), rows_differ(text, text) TO agg_join_reader;
ALTER TABLE jm ENABLE ROW LEVEL SECURITY;
ALTER TABLE jh ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_e1 ON jm TO agg_join_reader USING (event = 'e1');
CREATE POLICY only_e1 ON jh TO agg_join_reader USING (event = 'e1');
SET ROLE agg_join_reader;
SELECT check_agg('SELECT u.plan, e.event, count(*), sum(e.dur) FROM $T e JOIN users u ON u.id = e.user_id GROUP BY 1, 2 ORDER BY 1, 2', 'jm', 'jh');
RESET ROLE;
-- And on the joined relation: its policy filters the lookup.
CREATE POLICY some_users ON users TO agg_join_reader USING (id % 3 = 0);
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
SET ROLE agg_join_reader;
SELECT check_agg('SELECT u.plan, count(*), sum(e.dur) FROM $T e JOIN users u ON u.id = e.user_id GROUP BY 1 ORDER BY 1', 'jm', 'jh');
RESET ROLE;
ALTER TABLE users DISABLE ROW LEVEL SECURITY;
ALTER TABLE jm DISABLE ROW LEVEL SECURITY;
ALTER TABLE jh DISABLE ROW LEVEL SECURITY;

-- Random groupings over the join (seeded): keys of either side or none, aggregates of
-- the table, filters of either side; every query must give heap's answer.
CREATE TABLE random_runs (q text, result text);
DO $$
DECLARE
  keys text[] := ARRAY['e.event', 'u.plan', 'u.country', 'u.tier', 'u.id', 'e.ok', 'date_trunc(''hour'', e.ts)'];
  aggs text[] := ARRAY['count(*)', 'count(e.dur)', 'sum(e.dur)', 'avg(e.dur)', 'min(e.event)', 'max(e.amount)', 'sum(e.amount * 3)',
                       'count(DISTINCT e.user_id)', 'bool_or(e.ok)', 'count(*) FILTER (WHERE e.dur < 300)', 'max(e.ts)', 'mergetree.uniq(e.event)'];
  filters text[] := ARRAY['true', 'e.dur > 250', 'u.tier = 1', 'u.country <> ''c2''', 'e.event IN (''e1'', ''e4'')', 'u.plan IS NULL', 'e.user_id > 100'];
  i int; k text; a text; q text; n int;
BEGIN
  PERFORM setseed(0.4242);
  FOR i IN 1..60 LOOP
    n := floor(random() * 3)::int;
    SELECT string_agg(x, ', ') INTO k FROM (SELECT DISTINCT keys[1 + floor(random() * array_length(keys, 1))::int] x FROM generate_series(1, n)) z;
    SELECT string_agg(x, ', ') INTO a FROM (SELECT aggs[1 + floor(random() * array_length(aggs, 1))::int] x FROM generate_series(0, floor(random() * 3)::int)) z;
    q := 'SELECT ' || coalesce(k || ', ', '') || a || ' FROM $T e JOIN users u ON u.id = e.user_id WHERE '
         || filters[1 + floor(random() * array_length(filters, 1))::int] || ' AND ' || filters[1 + floor(random() * array_length(filters, 1))::int]
         || coalesce(' GROUP BY ' || k, '');
    INSERT INTO random_runs VALUES (q, check_agg(q, 'jm', 'jh'));
  END LOOP;
END $$;
SELECT result, count(*) FROM random_runs GROUP BY 1 ORDER BY 1;
SELECT q FROM random_runs WHERE result LIKE '%DIFFERENT%';

-- Text keys (under a deterministic collation, equal exactly when their bytes are).
CREATE TABLE tm (uid text, v int, tag text) USING mergetree WITH (order_by = 'uid', index_granularity = 256);
CREATE TABLE th (LIKE tm);
INSERT INTO tm SELECT CASE WHEN g % 97 = 0 THEN NULL ELSE 'user_' || (g * 7 % 9000) END, g % 100, 't' || (g % 4) FROM generate_series(1, 30000) g;
INSERT INTO th SELECT * FROM tm;
CREATE TABLE tusers AS SELECT 'user_' || i AS id, (ARRAY['a', 'b', 'c', NULL])[1 + i % 4] AS plan FROM generate_series(1, 8000) i;
INSERT INTO tusers VALUES ('user_5', 'again'), ('user_5', 'a'), (NULL, 'a'), ('USER_6', 'case');
ANALYZE tm, th, tusers;
SELECT check_agg('SELECT u.plan, e.tag, count(*), sum(e.v), count(DISTINCT e.uid) FROM $T e JOIN tusers u ON u.id = e.uid GROUP BY 1, 2 ORDER BY 1, 2', 'tm', 'th');
-- A budget the lookup outgrows: read in partitions of its keys, one pass over the table each.
SET work_mem = '64kB';
SELECT check_agg('SELECT u.plan, e.tag, count(*), sum(e.v), count(DISTINCT e.uid) FROM $T e JOIN tusers u ON u.id = e.uid GROUP BY 1, 2 ORDER BY 1, 2', 'tm', 'th');
SELECT plan_lines('SELECT u.plan, count(*) FROM tm e JOIN tusers u ON u.id = e.uid GROUP BY 1', 'Join Partitions|Fallback');
-- Beyond four partitions' worth, Postgres' plan.
CREATE TABLE tusers_big AS SELECT 'user_' || i AS id, 'p' || (i % 3) AS plan FROM generate_series(1, 60000) i;
ANALYZE tusers_big;
SELECT check_agg('SELECT u.plan, count(*) FROM $T e JOIN tusers_big u ON u.id = e.uid GROUP BY 1 ORDER BY 1', 'tm', 'th');
RESET work_mem;
SELECT check_agg('SELECT u.plan, count(*) FROM $T e JOIN tusers_big u ON u.id = e.uid GROUP BY 1 ORDER BY 1', 'tm', 'th');
-- Under a nondeterministic collation text keys stay Postgres'.
CREATE COLLATION agg_join_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
SELECT check_agg('SELECT u.plan, count(*) FROM $T e JOIN tusers u ON u.id = e.uid COLLATE agg_join_ci GROUP BY 1 ORDER BY 1', 'tm', 'th');

-- Switched off, Postgres' plan; the answers the same.
SET mergetree.enable_aggregate_scan = off;
SELECT check_agg('SELECT u.plan, count(*) FROM $T e JOIN users u ON u.id = e.user_id GROUP BY u.plan ORDER BY 1', 'jm', 'jh');
RESET mergetree.enable_aggregate_scan;

DROP SCHEMA agg_join CASCADE;
DROP ROLE agg_join_reader;
