-- Size: the demo's event table (200k rows here) takes at most a quarter of a heap copy's
-- size on disk (table + TOAST + indexes), and reads back the same rows.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
\set rows 200000
\set n_users 20000
CREATE TABLE events (
  "timestamp" timestamp, user_id text, org_id text, event text, properties text,
  duration_ms integer, error text
) USING mergetree WITH (order_by = 'org_id, user_id, "timestamp"', partition_by = 'date_trunc(''month'', "timestamp")');
\ir ../../scripts/events_insert.sql
CREATE TABLE events_heap AS SELECT * FROM events;
SELECT count(*) AS rows, count(DISTINCT org_id) > 500 AS many_orgs FROM events;
SELECT round(pg_total_relation_size('events_heap')::numeric / pg_total_relation_size('events'), 1) >= 4 AS at_least_4x_smaller;
SELECT (SELECT md5(string_agg(e::text, ',' ORDER BY e::text)) FROM events e)
     = (SELECT md5(string_agg(e::text, ',' ORDER BY e::text)) FROM events_heap e) AS same_rows;
SELECT count(*) AS parts, sum(rows) AS rows FROM mergetree.parts WHERE table_name = 'events'::regclass;
DROP TABLE events, events_heap;
