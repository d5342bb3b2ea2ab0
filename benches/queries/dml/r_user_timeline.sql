-- One user's recent timeline, as the app asks for it: by org (looked up in users) and user.
SELECT "timestamp", event, duration_ms, error, properties
FROM events
WHERE org_id = (SELECT org_id FROM users WHERE id = 'user_1000') AND user_id = 'user_1000'
ORDER BY "timestamp" DESC, event, properties
LIMIT 50;
