-- pg_mergetree demo: an events table (schema from ClickHouse's "events" guide) stored with the
-- mergetree table access method, next to the same rows in a heap table.
-- Usage: psql -v rows=1000000 [-v am=heap] -f scripts/demo.sql
-- Every value is derived from the row number through hashes, so runs are reproducible.
\set ON_ERROR_STOP on
\set QUIET on
\pset pager off
\set QUIET off
\if :{?rows}
\else
  \set rows 1000000
\endif
\if :{?am}
\else
  \set am mergetree
\endif
SELECT :'am' <> 'heap' AS use_mt,
       least(1000000, greatest(100, :rows / 10)) AS n_users \gset

\if :use_mt
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
\endif
\set QUIET on
SET client_min_messages = warning;
DROP TABLE IF EXISTS events_heap, events, users;
RESET client_min_messages;
\timing on
\set QUIET off

\echo
\echo == users: :n_users rows, heap table
CREATE TABLE users (
  id      text PRIMARY KEY,
  plan    text NOT NULL,
  country text NOT NULL,
  signup  date NOT NULL
);
INSERT INTO users
SELECT 'user_' || k,
       CASE WHEN h1 < 0.70 THEN 'free' WHEN h1 < 0.95 THEN 'pro' ELSE 'enterprise' END,
       ('{us,de,gb,fr,in,br,jp,ca,au,nl,es,it,se,pl,mx,kr,ch,at,be,dk}'::text[])[1 + floor(20 * h2 * h2)::int],
       date '2024-01-01' + floor(1000 * h3)::int
FROM generate_series(1, :n_users) AS k,
LATERAL (SELECT (hashint8extended(k, 1) & 2147483647) / 2147483648.0::float8 AS h1,
                (hashint8extended(k, 2) & 2147483647) / 2147483648.0::float8 AS h2,
                (hashint8extended(k, 3) & 2147483647) / 2147483648.0::float8 AS h3) AS h;

\echo
\echo == events: :rows rows, USING :am
\if :use_mt
CREATE TABLE events (
  "timestamp" timestamp,
  user_id     text,
  org_id      text,
  event       text,
  properties  text,
  duration_ms integer,
  error       text
) USING mergetree
  WITH (order_by = 'org_id, user_id, "timestamp"',
        partition_by = 'date_trunc(''month'', "timestamp")');
\else
CREATE TABLE events (
  "timestamp" timestamp,
  user_id     text,
  org_id      text,
  event       text,
  properties  text,
  duration_ms integer,
  error       text
) USING heap;
\endif

-- Users are picked with a skew (u*u), each user belongs to one org, orgs are skewed (h^3),
-- event names are skewed (h^4) over 200 names, timestamps cover 90 days before 2026-11-01.
\ir events_insert.sql

\echo
\echo '== events_heap: the same rows in an ordinary heap table'
CREATE TABLE events_heap (LIKE events) USING heap;
INSERT INTO events_heap SELECT * FROM events;
ANALYZE users;
ANALYZE events;
ANALYZE events_heap;

\echo
\echo '== events per month'
SELECT date_trunc('month', "timestamp")::date AS month, count(*) AS events
FROM events GROUP BY 1 ORDER BY 1;

\echo '== top 10 events'
SELECT event, count(*) AS events FROM events GROUP BY event ORDER BY count(*) DESC, event LIMIT 10;

SELECT org_id AS busy_org FROM events GROUP BY org_id ORDER BY count(*) DESC, org_id LIMIT 1 \gset
SELECT user_id AS busy_user FROM events WHERE org_id = :'busy_org'
GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1 \gset
\echo == daily metrics of the busiest org, :busy_org, for the week of 2026-10-01
SELECT "timestamp"::date AS day, count(*) AS events, count(DISTINCT user_id) AS users,
       round(avg(duration_ms)) AS avg_ms, count(error) AS errors
FROM events
WHERE org_id = :'busy_org' AND "timestamp" >= '2026-10-01' AND "timestamp" < '2026-10-08'
GROUP BY 1 ORDER BY 1;

\echo == last 20 events of :busy_user
SELECT "timestamp", event, duration_ms, properties
FROM events
WHERE org_id = :'busy_org' AND user_id = :'busy_user'
ORDER BY "timestamp" DESC LIMIT 20;

\echo '== duration percentiles of the top 5 events'
WITH top AS (SELECT event FROM events GROUP BY event ORDER BY count(*) DESC, event LIMIT 5)
SELECT event, count(*) AS events,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)::numeric, 1) AS p50_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)::numeric, 1) AS p95_ms
FROM events JOIN top USING (event)
GROUP BY event ORDER BY events DESC, event;

\echo '== errors per day (last 14 days)'
SELECT "timestamp"::date AS day, count(*) AS errors, count(DISTINCT org_id) AS orgs
FROM events
WHERE error IS NOT NULL AND "timestamp" >= '2026-10-18'
GROUP BY 1 ORDER BY 1;

\echo '== events by plan (join with users)'
SELECT u.plan, count(*) AS events, count(DISTINCT e.user_id) AS users,
       round(avg(e.duration_ms)) AS avg_ms
FROM events e JOIN users u ON u.id = e.user_id
GROUP BY u.plan ORDER BY events DESC;

\echo '== row counts'
SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM events_heap) AS events_heap;

\echo == size: events, USING :am, vs events_heap
SELECT pg_size_pretty(pg_total_relation_size('events')) AS events_size,
       pg_size_pretty(pg_total_relation_size('events_heap')) AS events_heap_size,
       round(pg_total_relation_size('events_heap')::numeric
             / nullif(pg_total_relation_size('events'), 0), 1) AS heap_to_events_ratio;
