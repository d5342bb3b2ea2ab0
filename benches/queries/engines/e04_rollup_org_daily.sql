-- One org's daily events, errors and time per event from the rollup (summing read FINAL;
-- heap: GROUP BY over the batches' partial rows).
SELECT day, event, events, errors, duration_sum
FROM daily_org_events
WHERE org_id = 'org_0007'
ORDER BY day, event;
