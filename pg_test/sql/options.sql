-- Table options: stored so that tools re-emitting reloptions unquoted still work, bad
-- spellings refused, structural options settable while a table is empty (as pg_partman
-- gives a new partition its template's options), unknown and repeated options refused.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;

-- Refused: repeated options, empty or repeating column lists, empty partition_by.
CREATE TABLE o1 (a int, b text) USING mergetree WITH (order_by = 'a', order_by = 'b');
CREATE TABLE o1 (a int, b text) USING mergetree WITH (order_by = '');
CREATE TABLE o1 (a int, b text) USING mergetree WITH (order_by = ' , ');
CREATE TABLE o1 (a int, b text) USING mergetree WITH (order_by = 'a, a');
CREATE TABLE o1 (a int, b text) USING mergetree WITH (order_by = 'a, b', primary_key = 'a, A');
CREATE TABLE o1 (a int, b text) USING mergetree WITH (partition_by = '');
CREATE TABLE o1 (a int, b text) USING mergetree WITH (codecs = 'a: T64; a: Delta');
CREATE TABLE o1 (a int, b text) USING mergetree WITH (dictionary = 'b: on; b: off');
CREATE TABLE o1 (a int, b text) USING mergetree WITH (order_by = a, nosuch);
CREATE TABLE o1 (a int, b text) USING mergetree WITH (order_by);
CREATE TABLE o1 (a int) USING mergetree WITH (partition_by = 'a) FROM pg_class WHERE (true');
CREATE TABLE o1 (a int) USING mergetree WITH (partition_by = 'a; DROP TABLE x');

-- Heap's own options pass through (parallel_workers steers the planner).
CREATE TABLE oh (a int) USING mergetree WITH (order_by = 'a', fillfactor = 70, parallel_workers = 1, autovacuum_enabled = off);
SELECT reloptions FROM pg_class WHERE relname = 'oh';
CREATE TABLE oh2 (a int) USING mergetree WITH (fillfactor = 5);
DROP TABLE oh;

-- Values that are not plain names are stored as SQL literals; the unquoted spelling a
-- tool writes back (SQLAlchemy's reflection: WITH (order_by = a, b, ...)) and the quoted
-- spelling pg_dump writes ('''a, b''') both mean the same.
CREATE TABLE o1 (a int, "B" text, ts timestamp) USING mergetree
  WITH (order_by = 'a, "B"', partition_by = 'date_trunc(''day'', ts)', compression = 'zstd(3)', index_granularity = 128);
SELECT reloptions FROM pg_class WHERE relname = 'o1';
CREATE TABLE o2 (a int, "B" text, ts timestamp) USING mergetree
  WITH (order_by = a, "B", partition_by = 'date_trunc(''day''::text, ts)', compression = 'zstd(3)', index_granularity = 128);
CREATE TABLE o3 (a int, "B" text, ts timestamp) USING mergetree
  WITH (order_by = '''a, "B"''', partition_by = '''date_trunc(''''day''''::text, ts)''', compression = '''zstd(3)''', index_granularity = 128);
SELECT relname, reloptions FROM pg_class WHERE relname IN ('o1', 'o2', 'o3') ORDER BY relname;
SELECT count(DISTINCT reloptions::text) AS one_spelling FROM pg_class WHERE relname IN ('o1', 'o2', 'o3');

-- Structural options change while the table is empty, not after.
CREATE TABLE o4 (LIKE o1) USING mergetree;
ALTER TABLE o4 SET (order_by='a, "B"');
ALTER TABLE o4 SET (partition_by='date_trunc(''day''::text, ts)', primary_key=a);
SELECT reloptions FROM pg_class WHERE relname = 'o4';
INSERT INTO o4 VALUES (2, 'b', '2026-01-02'), (1, 'a', '2026-01-01');
SELECT * FROM o4;
ALTER TABLE o4 SET (order_by = 'ts');
ALTER TABLE o4 RESET (partition_by);
BEGIN;
TRUNCATE o4;
ALTER TABLE o4 SET (order_by = 'ts', primary_key = 'ts');
SELECT reloptions FROM pg_class WHERE relname = 'o4';
ROLLBACK;
SELECT reloptions FROM pg_class WHERE relname = 'o4';
BEGIN;
INSERT INTO o4 VALUES (3, 'c', '2026-01-03');
ALTER TABLE o4 SET (order_by = 'ts');
ROLLBACK;
-- Options that only shape new parts change at any time.
ALTER TABLE o4 SET (index_granularity = 64, codecs = 'a: Delta, LZ4');
SELECT reloptions FROM pg_class WHERE relname = 'o4';

DROP TABLE o1, o2, o3, o4;
