-- Delete one org's events (~1.4% of the rows; an offboarded customer).
DELETE FROM events WHERE org_id = 'org_0010';
