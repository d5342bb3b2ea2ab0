-- Frames: with the default granularity, wide columns are cut into frames of 1,024 rows or
-- more and a query that needs a few rows decodes only the frames holding them. The filter
-- runs conjunct by conjunct (cheapest columns first) and finds equalities on the sort key
-- by binary search. Every shape must return exactly what heap returns, including NULL
-- keys, rows at frame edges and whole-table reads.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
CREATE TABLE fh AS
SELECT g AS id,
       'org_' || (g % 13) AS org,
       CASE WHEN g % 97 = 0 THEN NULL ELSE 'user_' || (g % 4001) END AS uid,
       timestamp '2026-03-01' + g * interval '17 seconds' AS ts,
       CASE WHEN g % 29 = 0 THEN NULL
            ELSE format('{"page":"/p/%s","browser":"%s","os":"%s","session":"%s","n":%s}', g % 300,
                        (ARRAY['chrome','firefox','safari','edge'])[g % 4 + 1],
                        (ARRAY['linux','macos','windows','ios','android'])[g % 5 + 1], left(md5(g::text), 10), g % 1000) END AS props,
       (g % 1000)::int AS duration,
       CASE WHEN g % 5 = 0 THEN 'error ' || (g % 3) END AS err
FROM generate_series(1, 60000) g;
CREATE TABLE fm (LIKE fh) USING mergetree WITH (order_by = 'org, uid, ts');
INSERT INTO fm SELECT * FROM fh;
-- The insert's part encodes fast: no frames dictionary. A merge re-encodes it with the
-- full choice, what this file looks at.
SELECT column_name, codec FROM mergetree.columns WHERE table_name = 'fm'::regclass AND column_name = 'props';
SELECT mergetree.optimize('fm', final => true);
-- One part, eight granules of 8,192 rows or fewer: the JSON column is framed.
SELECT count(*) AS parts, sum(rows) AS rows FROM mergetree.parts WHERE table_name = 'fm'::regclass;
-- Which columns the writer framed: the JSON (in frames of 256 or 512 rows, with a dictionary
-- trained on the part) and the 8-byte timestamps in every granule; the 1-byte codes of
-- the error dictionary never (a granule of them is 8 KB).
SELECT column_name, codec, framed_granules FROM mergetree.columns WHERE table_name = 'fm'::regclass
  AND column_name IN ('props', 'uid', 'ts', 'err') ORDER BY column_name;

\ir include/differential.sql
SELECT * FROM differential('fh', 'fm', 'mergetree.enable_custom_scan', ARRAY[
  'true',
  'org = ''org_3''',
  'org = ''org_3'' AND uid = ''user_120''',
  'uid = ''user_120'' AND org = ''org_3''',
  'org = ''org_3'' AND uid IS NULL',
  'org = ''org_3'' AND uid = ''user_120'' AND ts > ''2026-03-05''',
  'org = ''org_3'' AND uid >= ''user_3990''',
  'org = ''org_0'' AND uid = ''user_0''',
  'org = ''org_12'' AND uid = ''user_999''',
  'org = ''nobody''',
  'org = ''org_3'' AND props LIKE ''%"page":"/p/17"%''',
  'props LIKE ''%"page":"/p/17"%'' AND org = ''org_3''',
  'org = ''org_3'' AND props IS NULL',
  'org = ''org_3'' AND err IS NOT NULL AND duration < 10',
  'org = ''org_3'' AND (uid = ''user_5'' OR uid = ''user_6'')',
  'org IN (''org_1'', ''org_2'') AND uid = ''user_77''',
  'uid = ''user_42''',
  'duration = 999 AND err = ''error 1''',
  'id % 8192 IN (0, 1, 1023, 1024, 2047, 2048, 8191)'
]);

-- A query that reads few rows of the framed column gets them right at every frame edge.
SELECT id, length(props), props = (SELECT props FROM fh WHERE fh.id = fm.id) AS same
FROM fm WHERE org = 'org_' || (1024 % 13) AND uid = 'user_' || (1024 % 4001) ORDER BY id;

-- Prepared with a generic plan: the parameters drive the binary search too.
PREPARE one_user(text, text) AS SELECT count(*), sum(duration), md5(string_agg(props, ',' ORDER BY id)) FROM fm WHERE org = $1 AND uid = $2;
EXECUTE one_user('org_4', 'user_4'); EXECUTE one_user('org_4', 'user_4'); EXECUTE one_user('org_4', 'user_4');
EXECUTE one_user('org_4', 'user_4'); EXECUTE one_user('org_4', 'user_4');
EXECUTE one_user('org_7', 'user_2007');
SELECT count(*), sum(duration), md5(string_agg(props, ',' ORDER BY id)) FROM fh WHERE org = 'org_7' AND uid = 'user_2007';
EXECUTE one_user('org_7', NULL);

-- Rows an insert still buffers (no sort order) are filtered without the binary search.
BEGIN;
INSERT INTO fm VALUES (-1, 'org_3', 'user_120', '2026-01-01', '{"late":true}', 1, NULL);
SELECT id, props FROM fm WHERE org = 'org_3' AND uid = 'user_120' AND id < 0;
ROLLBACK;

-- What the scan read: one granule per matching key, and filter-only columns stay out of
-- the output (the plan still lists them as read).
SELECT * FROM explain_lines('SELECT props FROM fm WHERE org = ''org_3'' AND uid = ''user_120''', 'Granules Read|Columns|Rows Removed');
DROP TABLE fm, fh;
DROP FUNCTION differential, explain_lines;
