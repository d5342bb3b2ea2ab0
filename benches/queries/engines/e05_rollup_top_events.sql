-- The most frequent events over the whole rollup.
SELECT event, sum(events) AS events, sum(errors) AS errors
FROM daily_org_events
GROUP BY event
ORDER BY events DESC, event
LIMIT 10;
