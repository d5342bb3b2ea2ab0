-- Schema changes keep every value in its column: ADD/DROP COLUMN while the transaction
-- has buffered rows (also across savepoints), RENAME COLUMN of key and partition columns
-- (options follow, inserts keep working), DROP COLUMN of a key column refused, the
-- partition expression's functions protected by dependencies.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
\ir include/same_rows.sql

CREATE TABLE ch (id int, a text, b int);
CREATE TABLE cm (id int, a text, b int) USING mergetree WITH (order_by = 'id');
-- The same statements on both tables, in one transaction with rows still buffered.
BEGIN;
INSERT INTO ch VALUES (1, 'one', 10); INSERT INTO cm VALUES (1, 'one', 10);
ALTER TABLE ch ADD COLUMN c int DEFAULT 7; ALTER TABLE cm ADD COLUMN c int DEFAULT 7;
INSERT INTO ch VALUES (2, 'two', 20, 99); INSERT INTO cm VALUES (2, 'two', 20, 99);
SELECT * FROM cm ORDER BY id;
ALTER TABLE ch DROP COLUMN b; ALTER TABLE cm DROP COLUMN b;
INSERT INTO ch VALUES (3, 'three', 33); INSERT INTO cm VALUES (3, 'three', 33);
ALTER TABLE ch ADD COLUMN b text; ALTER TABLE cm ADD COLUMN b text;
INSERT INTO ch VALUES (4, 'four', 44, 'bee'); INSERT INTO cm VALUES (4, 'four', 44, 'bee');
SELECT * FROM cm ORDER BY id;
SAVEPOINT s;
ALTER TABLE ch ADD COLUMN d date DEFAULT '2026-01-01'; ALTER TABLE cm ADD COLUMN d date DEFAULT '2026-01-01';
INSERT INTO cm VALUES (5, 'rolled back', 0, 'x', '2027-01-01');
ROLLBACK TO s;
INSERT INTO ch VALUES (6, 'six', 66, 'sea'); INSERT INTO cm VALUES (6, 'six', 66, 'sea');
SELECT * FROM cm ORDER BY id;
SELECT same_rows('SELECT * FROM ch', 'SELECT * FROM cm') AS same_in_transaction;
COMMIT;
SELECT * FROM cm ORDER BY id;
SELECT same_rows('SELECT * FROM ch', 'SELECT * FROM cm') AS same_after_commit;
-- Columns added after a part was written read as their defaults in it.
ALTER TABLE ch ADD COLUMN e numeric DEFAULT 1.5; ALTER TABLE cm ADD COLUMN e numeric DEFAULT 1.5;
ALTER TABLE ch ALTER COLUMN e SET DEFAULT 2.5; ALTER TABLE cm ALTER COLUMN e SET DEFAULT 2.5;
INSERT INTO ch (id) VALUES (7); INSERT INTO cm (id) VALUES (7);
SELECT id, c, e FROM cm ORDER BY id;
SELECT same_rows('SELECT * FROM ch', 'SELECT * FROM cm') AS same_with_defaults;

-- Renames: options follow the columns, also the partition expression and per-column codecs.
CREATE TABLE rn (org text, "User Id" bigint, ts timestamp, v float8)
  USING mergetree WITH (order_by = 'org, "User Id", ts', primary_key = 'org', partition_by = 'date_trunc(''month'', ts)',
                        codecs = 'ts: DoubleDelta, LZ4; v: Gorilla', dictionary = 'auto; org: on');
INSERT INTO rn VALUES ('acme', 1, '2026-01-05', 1.5), ('zeta', 2, '2026-02-05', 2.5);
ALTER TABLE rn RENAME COLUMN org TO organisation;
ALTER TABLE rn RENAME COLUMN "User Id" TO uid;
ALTER TABLE rn RENAME COLUMN ts TO "Time Stamp";
ALTER TABLE rn RENAME COLUMN v TO value;
SELECT reloptions FROM pg_class WHERE relname = 'rn';
INSERT INTO rn VALUES ('acme', 3, '2026-01-06', 3.5);
SELECT * FROM rn ORDER BY uid;
SELECT partition, rows FROM mergetree.parts WHERE table_name = 'rn'::regclass ORDER BY partition, rows;
-- Renames through a parent table reach mergetree partitions.
CREATE TABLE rp (k int, w text) PARTITION BY LIST (k);
CREATE TABLE rp1 PARTITION OF rp FOR VALUES IN (1) USING mergetree WITH (order_by = 'w', partition_by = 'length(w)');
INSERT INTO rp VALUES (1, 'abc');
ALTER TABLE rp RENAME COLUMN w TO word;
SELECT reloptions FROM pg_class WHERE relname = 'rp1';
INSERT INTO rp VALUES (1, 'defg');
SELECT * FROM rp ORDER BY word;

-- Dropping a column the options need is refused; one named only by codecs is fine.
ALTER TABLE rn DROP COLUMN organisation;
ALTER TABLE rn DROP COLUMN uid;
ALTER TABLE rn DROP COLUMN "Time Stamp";
ALTER TABLE rp DROP COLUMN word;
ALTER TABLE rn DROP COLUMN value;
SELECT reloptions FROM pg_class WHERE relname = 'rn';
SELECT count(*) FROM rn;
CREATE TYPE cm_mood AS ENUM ('ok', 'sad');
CREATE TABLE md (m cm_mood, n int) USING mergetree WITH (order_by = 'm');
DROP TYPE cm_mood CASCADE;
DROP TABLE md;
DROP TYPE cm_mood;

-- A function in partition_by cannot be dropped from under the table; pg_dump output
-- (empty search_path) finds it by its schema.
CREATE SCHEMA fns;
CREATE FUNCTION fns.bucket(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 / 10';
CREATE TABLE fb (x int) USING mergetree WITH (partition_by = 'fns.bucket(x)');
SET search_path = fns, public;
CREATE TABLE public.fb2 (x int) USING mergetree WITH (partition_by = 'bucket(x) + 1');
RESET search_path;
SELECT c.relname, c.reloptions FROM pg_class c WHERE c.relname IN ('fb', 'fb2') ORDER BY 1;
INSERT INTO fb SELECT generate_series(1, 25);
DROP FUNCTION fns.bucket(int);
SELECT count(*) FROM fb;
SELECT partition, rows FROM mergetree.parts WHERE table_name = 'fb'::regclass ORDER BY partition;
DROP SCHEMA fns CASCADE;

DROP TABLE ch, cm, rn, rp;
SELECT orphan_parts();
\ir include/drop_same_rows.sql
