-- The ttl option: rows whose TTL (one date or timestamp column, non-decreasing in it) has
-- passed are removed by merges; the merge workers drop parts entirely past it without
-- rewriting them. Rows are placed relative to now(), so the expected rows do not depend
-- on the day the test runs.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
CREATE SCHEMA ttl_test;
RESET client_min_messages;
SET search_path = ttl_test, public;

CREATE TABLE tt (ts timestamp, v int, note text) USING mergetree
  WITH (order_by = 'ts', ttl = 'ts + interval ''30 days''', background_merges = off);
-- Two inserts of 100 days each (day i ago), a NULL ts never expires.
INSERT INTO tt SELECT now()::timestamp - i * interval '1 day', i, 'a' FROM generate_series(0, 99) i;
INSERT INTO tt SELECT now()::timestamp - i * interval '1 day', i, 'b' FROM generate_series(0, 99) i;
INSERT INTO tt VALUES (NULL, -1, 'never');
SELECT count(*) AS rows_before_merges FROM tt;
SELECT mergetree.optimize('tt', final => true);
SELECT count(*) AS rows, count(*) FILTER (WHERE v >= 30) AS expired_left, count(*) FILTER (WHERE ts IS NULL) AS null_ts FROM tt;
\d+ tt

-- Merges compare rows with the threshold a bisection of the (never decreasing)
-- expression found, not with now() minus the interval: a month added to Jan 31 is Feb 28.
CREATE TABLE tm (d timestamp, v int) USING mergetree
  WITH (order_by = 'd', ttl = 'd + interval ''1 month''', background_merges = off);
INSERT INTO tm SELECT date_trunc('day', now()::timestamp) - i * interval '1 day' + interval '12 hours', i FROM generate_series(0, 120) i
  UNION ALL SELECT NULL, -1;
INSERT INTO tm SELECT date_trunc('day', now()::timestamp) - i * interval '1 day' + interval '6 hours', i FROM generate_series(0, 120) i;
SELECT mergetree.optimize('tm', final => true);
SELECT (SELECT count(*) FROM tm) = 1 + (SELECT count(*) FROM generate_series(0, 120) i, (VALUES (interval '12 hours'), (interval '6 hours')) h(h)
         WHERE date_trunc('day', now()::timestamp) - i * interval '1 day' + h + interval '1 month' > now()) AS same_as_per_row;

-- Partitions entirely past the TTL merge into nothing: their parts just go.
CREATE TABLE tp (d date, v int) USING mergetree
  WITH (order_by = 'd', partition_by = 'date_trunc(''month'', d::timestamp)', ttl = 'd + 400', background_merges = off);
INSERT INTO tp SELECT current_date - i, i FROM generate_series(0, 999, 7) i;
INSERT INTO tp SELECT current_date - i, i FROM generate_series(3, 999, 7) i;
SELECT count(*) > 0 AS old_rows_there FROM tp WHERE v > 400;
SELECT mergetree.optimize('tp', final => true);
SELECT count(*) FILTER (WHERE v >= 400) AS expired_left, count(*) FILTER (WHERE v < 400) = (SELECT count(*) FROM generate_series(0, 399, 7)) + (SELECT count(*) FROM generate_series(3, 399, 7)) AS kept_all_fresh FROM tp;
SELECT count(*) FILTER (WHERE rows = 0) AS empty_parts, bool_and(partition >= to_char(date_trunc('month', current_date - 400), 'YYYY-MM-DD HH24:MI:SS')) AS only_fresh_partitions
FROM mergetree.parts WHERE table_name = 'tp'::regclass;
SELECT count(*) > 0 AS merged_to_nothing FROM mergetree.part_log WHERE table_name = 'tp'::regclass AND part_name IS NULL AND rows = 0;

-- The merge workers' pass: a table with nothing to merge drops its parts past the TTL.
CREATE TABLE tw (ts timestamptz, v int) USING mergetree
  WITH (order_by = 'ts', partition_by = 'v % 3', ttl = 'date_trunc(''day'', ts) + interval ''1 year''');
INSERT INTO tw SELECT now() - interval '3 years' + i * interval '1 hour', 0 FROM generate_series(1, 500) i;
INSERT INTO tw SELECT now() - i * interval '1 hour', 1 FROM generate_series(1, 500) i;
INSERT INTO tw SELECT now() - interval '2 years' + i * interval '1 hour', 2 FROM generate_series(1, 10) i;
ALTER SYSTEM SET mergetree.background_merges = on;
SELECT pg_reload_conf();
\ir include/settled.sql
SELECT settled('tw', 1) AS settled;
SELECT count(*), min(v), max(v) FROM tw;
SELECT event_type, background, rows, array_length(source_parts, 1) AS parts FROM mergetree.part_log WHERE table_name = 'tw'::regclass AND event_type = 'ttl';
ALTER SYSTEM RESET mergetree.background_merges;
SELECT pg_reload_conf();

-- Checked at CREATE, followed by renames, kept from drops, changeable by ALTER SET.
CREATE TABLE bad (ts timestamp) USING mergetree WITH (ttl = 'now()');
CREATE TABLE bad (ts timestamp, v int) USING mergetree WITH (ttl = 'v');
CREATE TABLE bad (ts timestamp) USING mergetree WITH (ttl = 'ts - (ts - ts)');
CREATE TABLE bad (ts timestamp, t2 timestamp) USING mergetree WITH (ttl = 'greatest(ts, t2)');
CREATE TABLE bad (ts timestamp) USING mergetree WITH (ttl = '');
CREATE TABLE bad (ts timestamp) USING mergetree WITH (ttl = 'nope + 1');
ALTER TABLE tt RENAME COLUMN ts TO "when";
SELECT reloptions FROM pg_class WHERE oid = 'tt'::regclass;
CREATE TABLE tr (k int, ts timestamp) USING mergetree WITH (order_by = 'k', ttl = 'ts + interval ''1 day''');
ALTER TABLE tr DROP COLUMN ts;
DROP TABLE tr;
-- A changed TTL applies to the rows merges read from then on; optimize(final) rewrites
-- every part.
ALTER TABLE tt SET (ttl = '"when" + interval ''10 days''');
SELECT mergetree.optimize('tt', final => true);
SELECT count(*) AS rows, max(v) FROM tt;
ALTER TABLE tt RESET (ttl);
ALTER TABLE tt DROP COLUMN note;

SET client_min_messages = warning;
DROP SCHEMA ttl_test CASCADE;
RESET client_min_messages;
RESET search_path;
