-- Top events over the whole table.
SELECT event, count(*) AS events
FROM events
GROUP BY event
ORDER BY count(*) DESC, event
LIMIT 20;
