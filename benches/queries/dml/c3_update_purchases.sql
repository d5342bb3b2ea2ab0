-- Update the ~1.5% of events that are purchases.
UPDATE events SET duration_ms = coalesce(duration_ms, 0) + 1 WHERE event = 'purchase';
