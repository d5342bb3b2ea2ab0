-- Delete the ~1% of events that failed (rows all over the table, in every part).
WITH d AS (DELETE FROM events WHERE error IS NOT NULL RETURNING 1) SELECT count(*) AS deleted FROM d;
