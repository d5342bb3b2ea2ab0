-- Whole-table distinct counts.
SELECT count(DISTINCT user_id) AS users, count(DISTINCT org_id) AS orgs FROM events;
