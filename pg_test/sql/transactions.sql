-- Transactions: own unflushed rows are visible, statements never see their own inserts,
-- ROLLBACK and ROLLBACK TO SAVEPOINT leave nothing behind, TRUNCATE is transactional.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
CREATE TABLE tx (id int, v text) USING mergetree WITH (order_by = 'id');
BEGIN;
INSERT INTO tx VALUES (1, 'a');
SELECT * FROM tx;
INSERT INTO tx VALUES (2, 'b'), (3, 'c');
SELECT count(*) FROM tx;
-- A statement reading the table it inserts into sees only rows from before it.
INSERT INTO tx SELECT id + 10, v || '!' FROM tx;
SELECT * FROM tx ORDER BY id;
ROLLBACK;
SELECT count(*) AS after_rollback FROM tx;
SELECT count(*) AS parts_after_rollback FROM mergetree.parts WHERE table_name = 'tx'::regclass;

BEGIN;
INSERT INTO tx VALUES (1, 'kept');
SAVEPOINT s1;
INSERT INTO tx VALUES (2, 'rolled back');
SAVEPOINT s2;
INSERT INTO tx VALUES (3, 'rolled back too');
ROLLBACK TO s1;
INSERT INTO tx VALUES (4, 'after savepoint');
SAVEPOINT s3;
INSERT INTO tx VALUES (5, 'released');
RELEASE s3;
SELECT * FROM tx ORDER BY id;
COMMIT;
SELECT * FROM tx ORDER BY id;
-- One transaction, one part per partition.
SELECT count(*) AS parts, sum(rows) AS rows FROM mergetree.parts WHERE table_name = 'tx'::regclass;

-- An error inside a savepoint keeps the rows of earlier statements.
BEGIN;
INSERT INTO tx VALUES (6, 'before error');
SAVEPOINT s;
INSERT INTO tx VALUES (7, 'x'), (1 / 0, 'boom');
ROLLBACK TO s;
INSERT INTO tx VALUES (8, 'after error');
COMMIT;
SELECT * FROM tx WHERE id >= 6 ORDER BY id;

-- A buffer that fills mid-transaction writes parts; rollback still removes them.
SET mergetree.insert_buffer_size = '1MB';
BEGIN;
INSERT INTO tx SELECT g, repeat('x', 100) FROM generate_series(100, 50099) g;
SELECT count(*) > 1 AS flushed_several_parts FROM mergetree.parts WHERE table_name = 'tx'::regclass AND rows > 1000;
SELECT count(*) FROM tx;
-- The next statement sees rows already written as parts and those still buffered.
INSERT INTO tx SELECT id + 100000, v FROM tx WHERE id >= 100;
SELECT count(*) FROM tx;
ROLLBACK;
SELECT count(*) AS after_big_rollback FROM tx;

BEGIN;
INSERT INTO tx SELECT g, 'y' FROM generate_series(100, 30099) g;
SAVEPOINT big;
INSERT INTO tx SELECT g, repeat('z', 100) FROM generate_series(200000, 229999) g;
ROLLBACK TO big;
COMMIT;
RESET mergetree.insert_buffer_size;
SELECT count(*), min(id), max(id) FROM tx WHERE id >= 100;

-- TRUNCATE is transactional.
BEGIN;
TRUNCATE tx;
SELECT count(*) AS inside_truncate FROM tx;
INSERT INTO tx VALUES (42, 'new');
SELECT * FROM tx;
ROLLBACK;
SELECT count(*) AS truncate_rolled_back FROM tx;
TRUNCATE tx;
SELECT count(*) AS truncated FROM tx;
SELECT count(*) AS parts_after_truncate FROM mergetree.parts WHERE table_name = 'tx'::regclass;
INSERT INTO tx VALUES (1, 'again');
SELECT * FROM tx;
-- Created and filled in one transaction, then truncated (non-transactional path).
BEGIN;
CREATE TABLE tx2 (a int) USING mergetree;
INSERT INTO tx2 SELECT generate_series(1, 10);
TRUNCATE tx2;
INSERT INTO tx2 VALUES (99);
COMMIT;
SELECT * FROM tx2;
-- Dropped in the same transaction as the insert: nothing to flush, no error.
BEGIN;
INSERT INTO tx2 VALUES (100);
DROP TABLE tx2;
COMMIT;
-- TIDs: each row has one, and fetching by it returns that row.
SELECT v FROM tx WHERE ctid = (SELECT ctid FROM tx WHERE id = 1);
DROP TABLE tx;
SELECT count(*) AS catalog_rows_left FROM mergetree.part_catalog WHERE relid NOT IN (SELECT oid FROM pg_class);
