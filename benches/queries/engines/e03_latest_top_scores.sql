-- The users whose latest score is highest.
SELECT user_id, score, version
FROM user_latest
ORDER BY score DESC, user_id
LIMIT 10;
