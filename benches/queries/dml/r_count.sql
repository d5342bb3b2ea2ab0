-- Whole-table count.
SELECT count(*) FROM events;
