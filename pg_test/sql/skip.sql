-- Skip indexes (USING mergetree_skip): every type returns exactly what heap returns, with
-- skip indexes on and off; EXPLAIN ANALYZE shows granules skipped; new parts get
-- summaries; DROP INDEX removes them; bad definitions fail clearly.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
CREATE TABLE sh AS
SELECT g AS id,
       md5(g::text) AS session,
       CASE WHEN g % 17 = 0 THEN NULL ELSE (g * 7919) % 100000 END AS amount,
       CASE WHEN g % 9 = 0 THEN NULL ELSE 'user ' || (g % 500) || ' opened page-' || g || '.html' END AS msg,
       'plan_' || (g / 5000) AS plan,
       (g % 1000)::float8 / 8 AS score
FROM generate_series(1, 40000) g;
CREATE TABLE sm (LIKE sh) USING mergetree WITH (order_by = 'id', index_granularity = 512);
INSERT INTO sm SELECT * FROM sh WHERE id <= 30000;
CREATE INDEX sm_session ON sm USING mergetree_skip (session) WITH (type = 'bloom_filter(0.01)');
CREATE INDEX sm_amount ON sm USING mergetree_skip (amount) WITH (type = 'minmax', granularity = 2);
CREATE INDEX sm_plan ON sm USING mergetree_skip (plan) WITH (type = 'set(4)');
CREATE INDEX sm_msg_ngram ON sm USING mergetree_skip (msg) WITH (type = 'ngrambf(4, 4096, 3)');
CREATE INDEX sm_msg_token ON sm USING mergetree_skip (msg) WITH (type = 'tokenbf(4096, 3)');
CREATE INDEX sm_score ON sm USING mergetree_skip (score) WITH (type = 'bloom_filter');
-- Rows inserted after CREATE INDEX get summaries when their part is written.
INSERT INTO sm SELECT * FROM sh WHERE id > 30000;
SELECT index_name, count(*) AS parts, sum(bytes) > 0 AS has_bytes
FROM mergetree.skip_indexes WHERE table_name = 'sm'::regclass GROUP BY 1 ORDER BY 1;
\d sm

\ir include/differential.sql
SELECT * FROM differential('sh', 'sm', 'mergetree.enable_skip_indexes', ARRAY[
  'session = md5(''12345'')', 'session = ''nope''', 'session IN (md5(''1''), md5(''39999''), ''x'')', 'session <> md5(''5'')',
  'session > md5(''7'')', 'session IS NULL',
  'amount = 7919', 'amount BETWEEN 100 AND 200', 'amount < 10', 'amount > 99990', 'amount IS NULL', 'amount IS NOT NULL',
  'amount = 7919::smallint', 'amount IN (1, 2, 3)', 'NOT (amount = 5)',
  'plan = ''plan_3''', 'plan IN (''plan_1'', ''plan_7'')', 'plan <> ''plan_2''', 'plan LIKE ''plan\_1%''', 'plan > ''plan_6''',
  'msg LIKE ''%page-12345.html%''', 'msg LIKE ''%page-1234%''', 'msg LIKE ''user 7 %''', 'msg LIKE ''%opened page-39999.html''',
  'msg NOT LIKE ''%page-1%''', 'msg ILIKE ''%PAGE-777.HTML''', 'msg = ''user 12 opened page-12012.html''', 'msg LIKE ''%nothing%''',
  'msg IS NULL', 'msg LIKE ''%_%''',
  'score = 12.5', 'score = 12.5::real', 'score IN (0, 124.875)', 'score > 124',
  'session = md5(''100'') OR amount = 7919', 'session = md5(''100'') AND plan = ''plan_0''', 'session = md5(''100'') OR msg IS NULL'
]);

-- EXPLAIN ANALYZE: a bloom filter on a non-key column skips all but the matching granule;
-- so do ngrambf and tokenbf for a substring search, set for a rare value.
CREATE FUNCTION skip_counts(q text) RETURNS TABLE (line text) LANGUAGE sql AS $$ SELECT * FROM explain_lines(q, 'Granules Read|Granules Skipped') $$;
SELECT * FROM skip_counts($$SELECT * FROM sm WHERE session = md5('12345')$$);
SELECT * FROM skip_counts($$SELECT * FROM sm WHERE msg LIKE '%page-12345.html%'$$);
DROP INDEX sm_msg_ngram;
SELECT * FROM skip_counts($$SELECT * FROM sm WHERE msg LIKE '%page-12345.html%'$$);
SELECT * FROM skip_counts($$SELECT * FROM sm WHERE plan = 'plan_3'$$);
SELECT * FROM skip_counts($$SELECT * FROM sm WHERE amount BETWEEN 10 AND 20$$);
SET mergetree.enable_skip_indexes = off;
SELECT * FROM skip_counts($$SELECT * FROM sm WHERE session = md5('12345')$$);
RESET mergetree.enable_skip_indexes;
-- Prepared statements with a parameter use the skip index at every execution.
PREPARE by_session(text) AS SELECT id FROM sm WHERE session = $1;
EXECUTE by_session(md5('1')); EXECUTE by_session(md5('2')); EXECUTE by_session(md5('3'));
EXECUTE by_session(md5('4')); EXECUTE by_session(md5('5')); EXECUTE by_session(md5('6'));
EXECUTE by_session(md5('7'));
SELECT * FROM skip_counts($$EXECUTE by_session(md5('8'))$$);

-- DROP INDEX removes its summaries; the planner never offers a skip index as an index.
SELECT count(*) FROM mergetree.skip_index_catalog WHERE index_oid = 'sm_msg_token'::regclass;
SELECT 'sm_msg_token'::regclass::oid AS token_oid \gset
DROP INDEX sm_msg_token;
SELECT count(*) FROM mergetree.skip_index_catalog WHERE index_oid = :token_oid;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM sm WHERE session = 'x';
RESET enable_seqscan;
-- TRUNCATE empties the summaries with the parts; new rows get new ones.
TRUNCATE sm;
INSERT INTO sm SELECT * FROM sh WHERE id <= 2000;
SELECT index_name, count(*) AS parts FROM mergetree.skip_indexes WHERE table_name = 'sm'::regclass GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM sm WHERE session = md5('1999');

-- CREATE INDEX over parts of many granules summarizes them in tasks on engine threads,
-- read a wave at a time: the summaries match a build at insert time (same rows, same
-- granules skipped), with an index granularity that does not divide a task.
CREATE TABLE wide_h AS SELECT g AS id, 'row ' || g || ' tag' || (g % 97) AS msg FROM generate_series(1, 12000) g;
CREATE TABLE wide_a (id int, msg text) USING mergetree WITH (order_by = 'id', index_granularity = 8);
CREATE TABLE wide_b (id int, msg text) USING mergetree WITH (order_by = 'id', index_granularity = 8);
CREATE INDEX ON wide_b USING mergetree_skip (msg) WITH (type = 'tokenbf(512, 2)', granularity = 3);
CREATE INDEX ON wide_b USING mergetree_skip (id) WITH (type = 'minmax', granularity = 3);
INSERT INTO wide_a SELECT * FROM wide_h;
INSERT INTO wide_b SELECT * FROM wide_h;
CREATE INDEX ON wide_a USING mergetree_skip (msg) WITH (type = 'tokenbf(512, 2)', granularity = 3);
CREATE INDEX ON wide_a USING mergetree_skip (id) WITH (type = 'minmax', granularity = 3);
SELECT (SELECT array_agg(data ORDER BY index_oid::regclass::text) FROM mergetree.skip_index_catalog s
        JOIN pg_index i ON i.indexrelid = s.index_oid WHERE i.indrelid = 'wide_a'::regclass)
     = (SELECT array_agg(data ORDER BY replace(index_oid::regclass::text, 'wide_b', 'wide_a')) FROM mergetree.skip_index_catalog s
        JOIN pg_index i ON i.indexrelid = s.index_oid WHERE i.indrelid = 'wide_b'::regclass) AS same_summaries;
SELECT * FROM skip_counts($$SELECT * FROM wide_a WHERE msg LIKE '% tag13'$$);
SELECT count(*) FROM wide_a WHERE msg LIKE '% tag13';
DROP TABLE wide_h, wide_a, wide_b;

-- Bad definitions.
CREATE INDEX ON sm (id);
CREATE INDEX ON sm USING mergetree_skip (session) WITH (type = 'bloom(0.1)');
CREATE INDEX ON sm USING mergetree_skip (session) WITH (type = 'bloom_filter(2)');
CREATE INDEX ON sm USING mergetree_skip (session);
CREATE INDEX ON sm USING mergetree_skip (amount) WITH (type = 'tokenbf(256, 2)');
CREATE INDEX ON sm USING mergetree_skip (session, amount) WITH (type = 'minmax');
CREATE INDEX ON sm USING mergetree_skip (lower(session)) WITH (type = 'minmax');
CREATE INDEX ON sm USING mergetree_skip (amount) WITH (type = 'minmax') WHERE amount > 0;
CREATE INDEX ON sm USING mergetree_skip (amount) WITH (type = 'minmax', granularity = 0);
CREATE INDEX ON sm USING mergetree_skip (amount) WITH (type = 'minmax', colour = 'red');
CREATE INDEX ON sh USING mergetree_skip (amount) WITH (type = 'minmax');
DROP FUNCTION differential, explain_lines, skip_counts;
DROP TABLE sm, sh;
SELECT count(*) FROM mergetree.skip_index_catalog;
