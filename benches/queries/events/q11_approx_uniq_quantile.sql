-- ClickHouse's approximate aggregates (mergetree.uniq, mergetree.quantile: SQL aggregates
-- that run on heap too): distinct users and p99 duration per event.
SELECT event, mergetree.uniq(user_id) AS users, mergetree.quantile(0.99, duration_ms) AS p99_ms
FROM events
GROUP BY event
ORDER BY users DESC, event
LIMIT 20;
