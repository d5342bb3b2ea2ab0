-- JSON subcolumns: a part whose text column holds JSON objects also stores each frequent
-- top-level key's `->>` value as a hidden column, and MergeTreeAgg groups by those
-- instead of parsing documents. Keys some document of the part cannot answer exactly
-- (nested values, escapes, exponents, invalid JSON) are not stored, and the documents are
-- parsed (or the query left to Postgres) as before. Every answer must equal heap's.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
CREATE SCHEMA json_sub;
RESET client_min_messages;
SET search_path = json_sub, public;
\ir include/same_rows.sql
\ir include/check_agg.sql

CREATE TABLE sm (id int, props text, v int) USING mergetree WITH (order_by = 'id', index_granularity = 512);
CREATE TABLE sh (LIKE sm);
-- Part 1: clean documents: strings, numbers as jsonb prints them, booleans, JSON null,
-- missing keys, a duplicate key (the last wins), unicode, empty strings; some NULL rows.
CREATE TABLE src1 AS
SELECT g AS id,
       CASE WHEN g % 41 = 0 THEN NULL
            WHEN g % 97 = 0 THEN '{"browser":"first","browser":"last","os":"dup"}'
            ELSE format('{"browser":"%s","os":%s,"n":%s,"ok":%s,"lang":"%s","rare%s":1}',
                        (ARRAY['chrome', 'firefox', 'safari', 'é 😀', ''])[1 + g % 5],
                        CASE WHEN g % 7 = 0 THEN 'null' ELSE '"' || (ARRAY['linux', 'mac', 'win'])[1 + g % 3] || '"' END,
                        (ARRAY['1', '1.50', '-0', '12', '0.25'])[1 + g % 5],
                        CASE WHEN g % 3 = 0 THEN 'true' ELSE 'false' END,
                        (ARRAY['en', 'de'])[1 + g % 2], g) END AS props,
       g % 100 AS v
FROM generate_series(1, 8000) g;
-- Part 2: "os" nested in some documents, "n" a negative zero in one (valid, but only
-- Postgres prints them): no subcolumn for those two keys.
CREATE TABLE src2 AS
SELECT 10000 + g AS id,
       format('{"browser":"%s","os":%s,"n":%s,"lang":"fr"}',
              (ARRAY['chrome', 'edge'])[1 + g % 2],
              CASE WHEN g % 500 = 0 THEN '{"name":"nested"}' ELSE '"' || (ARRAY['linux', 'mac'])[1 + g % 2] || '"' END,
              CASE WHEN g = 77 THEN '-0.0' ELSE (g % 9)::text END) AS props,
       g % 10 AS v
FROM generate_series(1, 5000) g;
-- Part 3: an exponent in one document, an escape in another (documents only Postgres
-- reads exactly): no subcolumns.
CREATE TABLE src3 AS
SELECT 15000 + g AS id,
       format('{"browser":"%s","n":%s}', CASE WHEN g = 5 THEN 'd\u00e9' ELSE 'opera' END, CASE WHEN g = 9 THEN '1e3' ELSE '2' END) AS props,
       g % 10 AS v
FROM generate_series(1, 2000) g;
-- Part 4: not JSON at all.
CREATE TABLE src4 AS SELECT 20000 + g AS id, 'plain text ' || g AS props, g AS v FROM generate_series(1, 1000) g;
INSERT INTO sm SELECT * FROM src1;
INSERT INTO sm SELECT * FROM src2;
INSERT INTO sm SELECT * FROM src3;
INSERT INTO sm SELECT * FROM src4;
INSERT INTO sh SELECT * FROM src1 UNION ALL SELECT * FROM src2 UNION ALL SELECT * FROM src3 UNION ALL SELECT * FROM src4;
ANALYZE sm, sh;

-- Which fields each part stores (part 1 all frequent keys but "n", which has a negative
-- zero; part 2 without "os" and "n"; parts 3 and 4 none).
SELECT part_name, column_name FROM mergetree.part_columns('sm'::regclass) WHERE column_name LIKE '%->>%' ORDER BY 1, 2;

-- Groupings by stored fields (both spellings), by fields some parts lack, with filters on
-- other columns and on the documents themselves; parts 1 to 3 (part 4 is no JSON).
SELECT check_agg('SELECT props::jsonb ->> ''browser'' AS b, props::json ->> ''os'' AS o, count(*), sum(v) FROM $T WHERE id < 20000 GROUP BY 1, 2 ORDER BY 1, 2', 'sm', 'sh');
SELECT check_agg('SELECT props::jsonb ->> ''n'', props::jsonb ->> ''ok'', count(*), min(v) FROM $T WHERE id < 10000 GROUP BY 1, 2 ORDER BY 1, 2', 'sm', 'sh');
SELECT check_agg('SELECT props::jsonb ->> ''lang'', count(DISTINCT v) FROM $T WHERE id < 10000 AND v > 20 GROUP BY 1 ORDER BY 1', 'sm', 'sh');
SELECT check_agg('SELECT props::jsonb ->> ''browser'', count(*) FROM $T WHERE id < 20000 AND props LIKE ''%linux%'' GROUP BY 1 ORDER BY 1', 'sm', 'sh');
SELECT check_agg('SELECT props::jsonb ->> ''missing'', props::jsonb ->> ''rare5'', count(*) FROM $T WHERE id < 20000 GROUP BY 1, 2 ORDER BY 1, 2', 'sm', 'sh');
SELECT check_agg('SELECT v, props::jsonb ->> ''browser'', count(*) FROM $T WHERE id BETWEEN 9000 AND 12000 GROUP BY 1, 2 ORDER BY 1, 2', 'sm', 'sh');
-- Fields some parts do not store: their documents are parsed (a nested value: the query
-- left to Postgres, the same answer).
SELECT check_agg('SELECT props::jsonb ->> ''lang'', count(*) FROM $T WHERE id < 15000 GROUP BY 1 ORDER BY 1', 'sm', 'sh');
SELECT check_agg('SELECT props::jsonb ->> ''os'', count(*) FROM $T WHERE id < 20000 GROUP BY 1 ORDER BY 1', 'sm', 'sh');
SELECT check_agg('SELECT props::jsonb ->> ''browser'', count(*) FROM $T WHERE id > 9000 AND id < 20000 GROUP BY 1 ORDER BY 1', 'sm', 'sh');
-- Part 4's text is no JSON: Postgres' error, from both.
SELECT props::jsonb ->> 'browser', count(*) FROM sm GROUP BY 1;
SELECT props::jsonb ->> 'browser', count(*) FROM sh GROUP BY 1;
-- EXPLAIN ANALYZE counts the parts whose fields came from subcolumns.
SELECT plan_lines('SELECT props::jsonb ->> ''browser'', count(*) FROM sm WHERE id < 15000 GROUP BY 1', 'JSON Subcolumns|Fallback');
SELECT plan_lines('SELECT props::jsonb ->> ''n'', count(*) FROM sm WHERE id < 15000 GROUP BY 1', 'JSON Subcolumns|Fallback');

-- The transaction's buffered rows (no subcolumns yet) are parsed; the parts' are read.
BEGIN;
INSERT INTO sm VALUES (5, '{"browser":"buffered","os":"mac"}', 1), (6, NULL, 2);
INSERT INTO sh VALUES (5, '{"browser":"buffered","os":"mac"}', 1), (6, NULL, 2);
SELECT check_agg('SELECT props::jsonb ->> ''browser'', props::jsonb ->> ''os'', count(*) FROM $T WHERE id < 10000 GROUP BY 1, 2 ORDER BY 1, 2', 'sm', 'sh');
ROLLBACK;

DROP SCHEMA json_sub CASCADE;
