-- One session's events, found by its id inside the JSON properties (a tokenbf skip index
-- on mergetree, nothing on heap). The id is the generator's session of user 1 in the
-- first 100,000 rows (seed 42), so it exists at every scale.
SELECT "timestamp", user_id, event, duration_ms
FROM events
WHERE properties LIKE '%"session":"' || to_hex(hashint8extended(1000, 42) & 1099511627775) || '"%'
ORDER BY "timestamp", event;
