-- Text under collations: filters pushed into the scan compare bytes only where the
-- collation is deterministic (equal strings have equal bytes); under a case- or
-- accent-insensitive ICU collation Postgres evaluates them, so results equal heap's.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
\ir include/same_rows.sql
CREATE COLLATION mt_ci (provider = icu, locale = '@colStrength=secondary', deterministic = false);
CREATE COLLATION mt_ai (provider = icu, locale = '@colStrength=primary', deterministic = false);
CREATE TABLE ch (id int, x text COLLATE mt_ci, y text, z varchar(10) COLLATE "C");
CREATE TABLE cm (id int, x text COLLATE mt_ci, y text, z varchar(10) COLLATE "C") USING mergetree WITH (order_by = 'id');
INSERT INTO ch VALUES (1, 'abc', 'abc', 'abc'), (2, 'ABC', 'ABC', 'ABC'), (3, 'Abc', 'àbc', 'àbc'), (4, 'def', 'def', 'def'), (5, NULL, NULL, NULL);
INSERT INTO cm SELECT * FROM ch;
SELECT q, same_rows(format(q, 'ch'), format(q, 'cm')) AS same
FROM unnest(ARRAY[
  'SELECT id FROM %s WHERE x = ''abc''',
  'SELECT id FROM %s WHERE x <> ''abc''',
  'SELECT id FROM %s WHERE x IN (''abc'', ''DEF'')',
  'SELECT id FROM %s WHERE x > ''abc''',
  'SELECT id FROM %s WHERE y = ''abc'' COLLATE mt_ci',
  'SELECT id FROM %s WHERE y = ''abc'' COLLATE mt_ai',
  'SELECT id FROM %s WHERE y = ''abc''',
  'SELECT id FROM %s WHERE z = ''abc''',
  'SELECT id FROM %s WHERE z LIKE ''a%%''',
  'SELECT id FROM %s WHERE y ILIKE ''a%%''',
  'SELECT id FROM %s WHERE x IS NULL']) q;
SELECT count(*) FROM cm WHERE x = 'abc';
SELECT count(*) FROM cm WHERE y = 'abc' COLLATE mt_ai;
-- Postgres' own error for LIKE under a nondeterministic collation.
SELECT count(*) FROM cm WHERE x LIKE 'a%';
DROP TABLE ch, cm;
DROP COLLATION mt_ci;
DROP COLLATION mt_ai;
\ir include/drop_same_rows.sql
