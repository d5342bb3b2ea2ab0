-- Errors per day and message, with how many orgs saw them.
SELECT "timestamp"::date AS day, error, count(*) AS errors, count(DISTINCT org_id) AS orgs
FROM events
WHERE error IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2;
