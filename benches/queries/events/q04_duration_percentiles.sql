-- Duration percentiles per event.
SELECT event, count(duration_ms) AS timed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY duration_ms) AS p90_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms
FROM events
WHERE duration_ms IS NOT NULL
GROUP BY event
ORDER BY event;
