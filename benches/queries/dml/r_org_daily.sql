-- Per-org daily metrics: one org's dashboard for October (events, distinct users, latency, errors).
SELECT "timestamp"::date AS day, count(*) AS events, count(DISTINCT user_id) AS users,
       avg(duration_ms) AS avg_ms, count(error) AS errors
FROM events
WHERE org_id = 'org_0003' AND "timestamp" >= '2026-10-01' AND "timestamp" < '2026-11-01'
GROUP BY 1
ORDER BY 1;
