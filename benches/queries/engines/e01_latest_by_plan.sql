-- Latest state per user (replacing(version) read FINAL; heap: DISTINCT ON), by plan.
SELECT plan, count(*) AS users, round(avg(score), 2) AS avg_score
FROM user_latest
GROUP BY plan
ORDER BY plan;
