-- The statistics collector sees mergetree tables as it sees heap tables: inserted rows,
-- scans, VACUUM and ANALYZE (so autovacuum and autoanalyze run for them), and VACUUM
-- sets the planner's page and row counts.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
CREATE TABLE st_h (a int, b text);
CREATE TABLE st_m (a int, b text) USING mergetree WITH (order_by = 'a');
INSERT INTO st_h SELECT g, 'v' || g FROM generate_series(1, 1000) g;
INSERT INTO st_m SELECT g, 'v' || g FROM generate_series(1, 1000) g;
INSERT INTO st_h VALUES (1001, 'one');
INSERT INTO st_m VALUES (1001, 'one');
COPY st_m FROM STDIN;
1002	copied
1003	copied
\.
COPY st_h FROM STDIN;
1002	copied
1003	copied
\.
SELECT count(*) FROM st_h;
SELECT count(*) FROM st_m;
SET mergetree.enable_custom_scan = off;
SELECT count(*) FROM st_m;
RESET mergetree.enable_custom_scan;
SELECT pg_stat_force_next_flush();
SELECT relname, n_tup_ins, n_live_tup, seq_scan, seq_tup_read
FROM pg_stat_user_tables WHERE relname IN ('st_h', 'st_m') ORDER BY relname;
VACUUM st_m;
ANALYZE st_m;
SELECT pg_stat_force_next_flush();
SELECT pg_stat_clear_snapshot();
SELECT relname, vacuum_count, analyze_count, n_live_tup, n_mod_since_analyze
FROM pg_stat_user_tables WHERE relname = 'st_m';
SELECT reltuples, relpages > 0 AS has_pages FROM pg_class WHERE relname = 'st_m';
DROP TABLE st_h, st_m;
