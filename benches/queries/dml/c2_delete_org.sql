-- Delete one org's events (~1.4% of the rows; an offboarded customer).
WITH d AS (DELETE FROM events WHERE org_id = 'org_0010' RETURNING 1) SELECT count(*) AS deleted FROM d;
