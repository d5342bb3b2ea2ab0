-- A JSON property breakdown: page views by browser and OS (properties is a JSON string).
SELECT properties::jsonb ->> 'browser' AS browser, properties::jsonb ->> 'os' AS os,
       count(*) AS page_views, avg(duration_ms) AS avg_ms
FROM events
WHERE event = 'page_view'
GROUP BY 1, 2
ORDER BY 3 DESC, 1, 2;
