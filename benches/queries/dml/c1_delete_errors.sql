-- Delete the ~1% of events that failed (rows all over the table, in every part).
DELETE FROM events WHERE error IS NOT NULL;
