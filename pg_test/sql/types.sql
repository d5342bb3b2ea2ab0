-- Differential: every supported type, NULLs, edge values and large values, written by each
-- write path (single-row INSERT, multi-row INSERT, INSERT ... SELECT, COPY), read back
-- exactly as from a heap table holding the same rows.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
SET client_min_messages = warning;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TYPE pair AS (x int, y text);
CREATE TABLE src (
    id int, i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision, n numeric,
    b boolean, t text, vc varchar(10), ch char(5), by bytea, d date, tm time, ts timestamp,
    tz timestamptz, iv interval, u uuid, j json, jb jsonb, ia int[], ta text[], e mood,
    dm posint, pt point, ip inet, r pair, nm name
);
INSERT INTO src VALUES
 (1, 0, 0, 0, 0, 0, 0, false, '', '', '', '', '2000-01-01', '00:00', '2000-01-01', '2000-01-01 00:00+00', '0', '00000000-0000-0000-0000-000000000000', '{}', '{}', '{}', '{}', 'sad', 1, '(0,0)', '0.0.0.0', '(0,"")', ''),
 (2, 32767, 2147483647, 9223372036854775807, 'Infinity', 'Infinity', 'NaN', true, 'héllo wörld ✓', 'abcdefghij', 'ab', '\x00ff', 'infinity', '24:00', 'infinity', 'infinity', '178000000 years', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '{"a": [1, 2, {"b": null}]}', '{"a": [1, 2, {"b": null}]}', '{1,NULL,3}', '{"x y",NULL,""}', 'happy', 2147483647, '(1.5,-2.5)', '::1/128', '(7,"q")', 'a_name'),
 (3, -32768, -2147483648, -9223372036854775808, '-Infinity', '-Infinity', '-1e-1000', false, 'x', 'x', 'xxxxx', '\x', '-infinity', '23:59:59.999999', '-infinity', '-infinity', '-178000000 years', '123e4567-e89b-12d3-a456-426614174000', '[]', '[]', '{{1,2},{3,4}}', '{}', 'ok', 5, '(-1e300,1e-300)', '192.168.1.0/24', NULL, 'x'),
 (4, NULL, NULL, NULL, 'NaN', 'NaN', 123456789012345678901234567890.123456789, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (5, 1, 1, 1, -0.0, -0.0, -0.0, true, E'tab\there\nnewline ''quote'' "dq" \\ back', 'ünï', 'é', '\xdeadbeef', '1970-01-01', '12:34:56.789', '1970-01-01 00:00:00.000001', '2026-03-29 02:30:00+02', '1 year 2 months 3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '"str"', '"str"', '{}', '{NULL}', 'sad', 3, '(3,4)', '10.1.2.3', '(,)', 'n'),
 (6, NULL, 7, NULL, 1.17549435e-38, 2.2250738585072014e-308, 1e-20, false, repeat('large text value ', 60000), NULL, NULL, decode(repeat('00ff10', 350000), 'hex'), NULL, NULL, NULL, NULL, NULL, NULL, NULL, (SELECT jsonb_agg(g) FROM generate_series(1, 20000) g), (SELECT array_agg(g) FROM generate_series(1, 50000) g), NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (7, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
-- Many ordinary rows too, so parts have several granules.
INSERT INTO src
SELECT g + 100, (g % 1000 - 500)::smallint, g * 7919 % 100003, g::bigint * 1000003, g / 7.0, g / 3.0,
       (g * 1.25)::numeric, g % 3 = 0, CASE WHEN g % 11 = 0 THEN NULL ELSE 'row ' || (g % 97) END,
       (g % 50)::text, (g % 9)::text, int4send(g), date '2020-01-01' + g % 2000, time '00:00' + g * interval '1 second',
       timestamp '2024-01-01' + g * interval '37 minutes', timestamptz '2024-01-01 00:00+00' + g * interval '1 hour',
       make_interval(days => g % 30, secs => g % 61), md5(g::text)::uuid, json_build_object('k', g),
       jsonb_build_object('k', g % 10, 'v', repeat('z', g % 5)), ARRAY[g, g + 1], ARRAY[g::text],
       (ARRAY['sad', 'ok', 'happy']::mood[])[1 + g % 3], 1 + g % 100, point(g, -g), ('10.0.' || (g % 256) || '.1')::inet,
       ROW(g, g::text)::pair, ('n' || g % 5)::name
FROM generate_series(1, 30000) g;
CREATE TABLE h AS SELECT * FROM src;

-- Each write path into its own mergetree table.
CREATE TABLE m_single (LIKE src) USING mergetree WITH (order_by = 'i4, t', index_granularity = 1000);
DO $$
DECLARE k int;
BEGIN
  FOR k IN SELECT id FROM src WHERE id < 100 OR id % 10 = 0 LOOP
    INSERT INTO m_single SELECT * FROM src WHERE id = k;
  END LOOP;
END $$;
INSERT INTO m_single SELECT * FROM src WHERE NOT (id < 100 OR id % 10 = 0);
CREATE TABLE m_values (LIKE src) USING mergetree WITH (order_by = 'ts', partition_by = 'date_trunc(''year'', ts)');
INSERT INTO m_values SELECT * FROM src WHERE id < 100;
INSERT INTO m_values SELECT * FROM src WHERE id >= 100;
CREATE TABLE m_copy (LIKE src) USING mergetree WITH (order_by = 'e, u, nm', index_granularity = 333);
COPY (SELECT * FROM src) TO '/tmp/pg_mergetree_types.copy';
COPY m_copy FROM '/tmp/pg_mergetree_types.copy';
CREATE TABLE m_binary (LIKE src) USING mergetree WITH (order_by = 'n, f8, f4');
COPY (SELECT * FROM src) TO '/tmp/pg_mergetree_types.bin' WITH (FORMAT binary);
COPY m_binary FROM '/tmp/pg_mergetree_types.bin' WITH (FORMAT binary);
CREATE TABLE m_ctas USING mergetree WITH (order_by = 'id') AS SELECT * FROM src;

-- Whole ordered result sets, compared as text (json and point have no equality).
CREATE FUNCTION rows_of(tbl regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text;
BEGIN
  EXECUTE format('SELECT md5(string_agg(x::text, E''\n'' ORDER BY x.id)) FROM %s x', tbl) INTO s;
  RETURN s;
END $$;
SELECT t, (SELECT count(*) FROM h) AS heap_rows, rows_of(t) = rows_of('h') AS same_rows
FROM unnest(ARRAY['m_single', 'm_values', 'm_copy', 'm_binary', 'm_ctas']::regclass[]) t;

-- Column by column, so a mismatch names its column.
SELECT a.attname, count(*) FILTER (WHERE hx IS DISTINCT FROM mx) AS mismatches
FROM pg_attribute a,
LATERAL (SELECT h.id, to_jsonb(h) -> a.attname::text AS hx FROM h) hv
JOIN LATERAL (SELECT to_jsonb(m) -> a.attname::text AS mx FROM m_copy m WHERE m.id = hv.id) mv ON true
WHERE a.attrelid = 'src'::regclass AND a.attnum > 0
GROUP BY a.attname, a.attnum ORDER BY a.attnum;

-- Edge rows as users see them.
SELECT id, i2, i4, i8, f4, f8, n, b, vc, ch, d, tm, ts, iv, u, e, dm, pt, ip, r, nm FROM m_copy WHERE id <= 5 ORDER BY id;
SELECT id, length(t) AS t_len, length(by) AS by_len, jsonb_array_length(jb) AS jb_len, cardinality(ia) AS ia_len FROM m_values WHERE id = 6;
SELECT count(*) AS all_null FROM m_binary WHERE id = 7 AND i2 IS NULL AND t IS NULL AND jb IS NULL AND r IS NULL;
-- Aggregates, grouping and joins agree too.
SELECT (SELECT array_agg(x ORDER BY x) FROM (SELECT e::text || ':' || count(*) || ':' || sum(i8) AS x FROM h GROUP BY e) s)
     = (SELECT array_agg(x ORDER BY x) FROM (SELECT e::text || ':' || count(*) || ':' || sum(i8) AS x FROM m_ctas GROUP BY e) s) AS same_groups;
SELECT count(*) AS join_rows FROM m_single m JOIN h USING (id) WHERE m.t IS NOT DISTINCT FROM h.t;
DROP TABLE m_single, m_values, m_copy, m_binary, m_ctas, h, src;
-- A date partition key must not cast through timestamptz (not immutable).
CREATE TABLE m_bad (d date) USING mergetree WITH (partition_by = 'date_trunc(''year'', d)');
DROP FUNCTION rows_of;
DROP TYPE pair; DROP DOMAIN posint; DROP TYPE mood;
