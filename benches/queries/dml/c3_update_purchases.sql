-- Update the ~1.5% of events that are purchases.
WITH u AS (UPDATE events SET duration_ms = coalesce(duration_ms, 0) + 1 WHERE event = 'purchase' RETURNING 1)
SELECT count(*) AS updated FROM u;
