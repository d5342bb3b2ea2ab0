-- One user's latest state (a key lookup: FINAL merges only the granules holding the key).
SELECT user_id, version, plan, country, score, updated_at
FROM user_latest
WHERE user_id = 4242;
