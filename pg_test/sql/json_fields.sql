-- JSON fields in the scan's output: `text_column::jsonb ->> 'key'` is extracted by the
-- scan itself, without building a jsonb, and must give exactly what PostgreSQL gives:
-- strings, numbers as jsonb prints them, booleans, NULLs, duplicate keys (the last wins),
-- nested values, escapes, and the same errors for invalid JSON, raised only for rows that
-- PostgreSQL would have projected.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
CREATE TABLE jh (id int, doc text);
INSERT INTO jh VALUES
  (1, '{"a":"x"}'), (2, '{"a":1}'), (3, '{"a":1.50}'), (4, '{"a":-0}'), (5, '{"a":-0.0}'),
  (6, '{"a":-0.5}'), (7, '{"a":0}'), (8, '{"a":1e3}'), (9, '{"a":1E-2}'),
  (10, '{"a":12345678901234567890123456789012345}'), (11, '{"a":true}'), (12, '{"a":false}'),
  (13, '{"a":null}'), (14, '{"a":{"b":[1, 2, {"c": "d"}]}}'), (15, '{"a":[1,"x",null]}'),
  (16, '{"a":"x","a":"y"}'), (17, '{"a":{"z":1},"a":"last"}'), (18, '{"a":"last","a":{"z":1}}'),
  (19, '{"b":1}'), (20, '{}'), (21, '[1,2]'), (22, '"str"'), (23, '42'), (24, 'null'),
  (25, '{"a":"esc\"aped"}'), (26, '{"a":"\u00e9"}'), (27, '{"a":"\u0041"}'), (28, '{"a\u0041":"k"}'),
  (29, '{"aA":"k2","b":"bb"}'), (30, ' { "a" : "spaces" } '), (31, E'{"a":\n\t"newline ws"}'),
  (32, '{"a":"é 😀 unicode"}'), (33, '{"":"empty key"}'), (34, '{"a":""}'),
  (35, '{"b":' || repeat('[', 100) || repeat(']', 100) || ',"a":"deep"}'), (36, '{"a":"x\/y"}'),
  (37, '{"a":-12,"b":3.14159}'), (38, NULL), (39, '{"a" :1 ,"b": "two" }'), (40, '{"b":{"a":"inner"}}');
CREATE TABLE jm (LIKE jh) USING mergetree WITH (order_by = 'id');
INSERT INTO jm SELECT * FROM jh;

-- Every document, several keys: the same as heap, extracted by the scan.
SELECT id, doc::jsonb ->> 'a' AS a, doc::jsonb ->> 'b' AS b, doc::jsonb ->> 'aA' AS "aA", doc::jsonb ->> '' AS empty
FROM jm ORDER BY id;
SELECT count(*) AS differences FROM (
  (SELECT id, doc::jsonb ->> 'a', doc::jsonb ->> 'b', doc::jsonb ->> 'aA', doc::jsonb ->> '' FROM jh
   EXCEPT SELECT id, doc::jsonb ->> 'a', doc::jsonb ->> 'b', doc::jsonb ->> 'aA', doc::jsonb ->> '' FROM jm)
  UNION ALL
  (SELECT id, doc::jsonb ->> 'a', doc::jsonb ->> 'b', doc::jsonb ->> 'aA', doc::jsonb ->> '' FROM jm
   EXCEPT SELECT id, doc::jsonb ->> 'a', doc::jsonb ->> 'b', doc::jsonb ->> 'aA', doc::jsonb ->> '' FROM jh)) d;
-- The ::json spelling: the scan extracts what both types print alike (strings, plain
-- numbers, booleans, the last duplicate); json keeps exponents and nested values as
-- written, and Postgres answers those rows.
SELECT id, doc::json ->> 'a' AS a, doc::json ->> 'b' AS b FROM jm ORDER BY id;
SELECT count(*) AS differences FROM (
  (SELECT id, doc::json ->> 'a', doc::json ->> 'b' FROM jh EXCEPT SELECT id, doc::json ->> 'a', doc::json ->> 'b' FROM jm)
  UNION ALL
  (SELECT id, doc::json ->> 'a', doc::json ->> 'b' FROM jm EXCEPT SELECT id, doc::json ->> 'a', doc::json ->> 'b' FROM jh)) d;
EXPLAIN (COSTS OFF) SELECT id, doc::json ->> 'a' FROM jm WHERE id < 10;
-- Inside other expressions, in grouping, and with a pushed filter.
SELECT upper(doc::jsonb ->> 'a') || '!' AS shout, count(*) FROM jm WHERE id BETWEEN 1 AND 20 GROUP BY 1 ORDER BY 1;
SELECT upper(doc::jsonb ->> 'a') || '!' AS shout, count(*) FROM jh WHERE id BETWEEN 1 AND 20 GROUP BY 1 ORDER BY 1;
-- In parallel workers, over many parts' worth of generated documents, like the benchmark.
CREATE TABLE ph AS SELECT g AS id, CASE WHEN g % 7 = 0 THEN 'page_view' ELSE 'click' END AS event,
  format('{"browser":"%s","os":"%s","n":%s}', (ARRAY['chrome','firefox','safari'])[g % 3 + 1],
         (ARRAY['linux','macos','ios','android'])[g % 4 + 1], g % 100) AS props
FROM generate_series(1, 50000) g;
CREATE TABLE pm (LIKE ph) USING mergetree WITH (order_by = 'id');
INSERT INTO pm SELECT * FROM ph;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT props::jsonb ->> 'browser', props::jsonb ->> 'os', count(*) FROM pm WHERE event = 'page_view' GROUP BY 1, 2;
SELECT props::jsonb ->> 'browser', props::jsonb ->> 'os', count(*), sum((props::jsonb ->> 'n')::int) FROM pm WHERE event = 'page_view' GROUP BY 1, 2 ORDER BY 1, 2;
SELECT props::jsonb ->> 'browser', props::jsonb ->> 'os', count(*), sum((props::jsonb ->> 'n')::int) FROM ph WHERE event = 'page_view' GROUP BY 1, 2 ORDER BY 1, 2;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size; RESET max_parallel_workers_per_gather;
-- Grouped by the ::json spelling: MergeTreeAgg's key.
EXPLAIN (COSTS OFF) SELECT props::json ->> 'browser', count(*) FROM pm GROUP BY 1;
SELECT props::json ->> 'browser', props::json ->> 'os', count(*), sum((props::json ->> 'n')::int) FROM pm GROUP BY 1, 2 ORDER BY 1, 2;
SELECT props::json ->> 'browser', props::json ->> 'os', count(*), sum((props::json ->> 'n')::int) FROM ph GROUP BY 1, 2 ORDER BY 1, 2;
DROP TABLE ph, pm;

-- Casts of a field: extracted by the scan, cast by PostgreSQL (errors included).
EXPLAIN (COSTS OFF) SELECT id, (doc::jsonb ->> 'a')::numeric FROM jm WHERE id IN (2, 3, 6, 7, 37);
SELECT id, (doc::jsonb ->> 'a')::numeric FROM jm WHERE id IN (2, 3, 6, 7, 37) ORDER BY id;
SELECT id, (doc::jsonb ->> 'a')::numeric FROM jh WHERE id IN (2, 3, 6, 7, 37) ORDER BY id;
\set VERBOSITY terse
SELECT id, (doc::jsonb ->> 'a')::int FROM jm WHERE id = 1;
SELECT id, (doc::jsonb ->> 'a')::int FROM jh WHERE id = 1;
\set VERBOSITY default

-- EXPLAIN shows what the scan extracts; a qual PostgreSQL keeps turns it off.
EXPLAIN (COSTS OFF) SELECT doc::jsonb ->> 'a', doc::jsonb ->> 'b' FROM jm WHERE id < 10;
EXPLAIN (COSTS OFF) SELECT doc::jsonb ->> 'a' FROM jm WHERE md5(doc) <> '';

-- Invalid JSON: PostgreSQL's error, from heap and from mergetree alike.
CREATE TABLE ih (id int, doc text);
INSERT INTO ih VALUES (1, '{"a":"fine"}'), (2, '{"a":1'), (3, 'not json'), (4, '{"a":1,}'), (5, '{"a":01}'),
  (6, E'{"a":"tab\there"}'), (7, '{"a":"\u0000"}'), (8, '{"a":1e1000000}');
CREATE TABLE im (LIKE ih) USING mergetree WITH (order_by = 'id');
INSERT INTO im SELECT * FROM ih;
\set VERBOSITY terse
SELECT doc::jsonb ->> 'a' FROM ih WHERE id = 2;
SELECT doc::jsonb ->> 'a' FROM im WHERE id = 2;
SELECT doc::jsonb ->> 'a' FROM ih WHERE id = 3;
SELECT doc::jsonb ->> 'a' FROM im WHERE id = 3;
SELECT doc::jsonb ->> 'a' FROM ih WHERE id = 4;
SELECT doc::jsonb ->> 'a' FROM im WHERE id = 4;
SELECT doc::jsonb ->> 'a' FROM ih WHERE id = 5;
SELECT doc::jsonb ->> 'a' FROM im WHERE id = 5;
SELECT doc::jsonb ->> 'a' FROM ih WHERE id = 6;
SELECT doc::jsonb ->> 'a' FROM im WHERE id = 6;
SELECT doc::jsonb ->> 'a' FROM ih WHERE id = 7;
SELECT doc::jsonb ->> 'a' FROM im WHERE id = 7;
SELECT doc::jsonb ->> 'a' FROM ih WHERE id = 8;
SELECT doc::jsonb ->> 'a' FROM im WHERE id = 8;
\set VERBOSITY default
-- Rows PostgreSQL never projects raise nothing: past a LIMIT, or removed by a qual it keeps.
SELECT doc::jsonb ->> 'a' FROM ih LIMIT 1;
SELECT doc::jsonb ->> 'a' FROM im LIMIT 1;
SELECT doc::jsonb ->> 'a' FROM im WHERE md5(doc) = md5('{"a":"fine"}');
-- With the node off, PostgreSQL computes everything: the same answers.
SET mergetree.enable_custom_scan = off;
SELECT count(*) AS differences FROM (
  SELECT id, doc::jsonb ->> 'a' FROM jh EXCEPT SELECT id, doc::jsonb ->> 'a' FROM jm) d;
RESET mergetree.enable_custom_scan;
DROP TABLE jh, jm, ih, im;
