-- Events joined to the users (OLTP heap) table, grouped by plan.
SELECT u.plan, count(*) AS events, count(DISTINCT e.user_id) AS users,
       avg(e.duration_ms) AS avg_ms
FROM events e
JOIN users u ON u.id = e.user_id
GROUP BY u.plan
ORDER BY u.plan;
