-- Rows fetched by TID: triggers of every kind, foreign keys, TID scans (also by a role
-- that may only SELECT), ctid from RETURNING, large values, row locks. Every fetched row
-- must equal the row inserted (scripts/regress.sh also fails on any server crash).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
RESET client_min_messages;
\ir include/same_rows.sql

CREATE TABLE src (id int, t text, j jsonb, b bytea) USING mergetree WITH (order_by = 'id', index_granularity = 100);
CREATE TABLE seen (kind text, id int, t text, j jsonb, b bytea);
CREATE FUNCTION log_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO seen VALUES (TG_ARGV[0], NEW.id, NEW.t, NEW.j, NEW.b); RETURN NULL; END $$;
CREATE FUNCTION log_table() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO seen SELECT 'statement', id, t, j, b FROM new_rows; RETURN NULL; END $$;
CREATE FUNCTION upper_t() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.t := upper(NEW.t); RETURN NEW; END $$;
CREATE TRIGGER a_row AFTER INSERT ON src FOR EACH ROW EXECUTE FUNCTION log_row('after');
CREATE TRIGGER a_when AFTER INSERT ON src FOR EACH ROW WHEN (NEW.id % 100 = 0) EXECUTE FUNCTION log_row('when');
CREATE TRIGGER a_stmt AFTER INSERT ON src REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION log_table();
CREATE TRIGGER b_row BEFORE INSERT ON src FOR EACH ROW EXECUTE FUNCTION upper_t();
CREATE CONSTRAINT TRIGGER c_def AFTER INSERT ON src DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION log_row('deferred');

CREATE TABLE expect AS
  SELECT g AS id, upper(repeat(chr(97 + g % 26), g % 700)) || g AS t,
         jsonb_build_object('g', g, 's', repeat('x', g % 40)) AS j, decode(md5(g::text), 'hex') AS b
  FROM generate_series(1, 6000) g;
-- INSERT ... SELECT, COPY-like multi-row inserts and single rows, in one transaction whose
-- buffer is written out twice on the way (so deferred triggers fetch rows from parts).
SET mergetree.insert_buffer_size = '1MB';
BEGIN;
INSERT INTO src SELECT id, lower(t), j, b FROM expect WHERE id <= 2000;
INSERT INTO src SELECT id, lower(t), j, b FROM expect WHERE id > 2000 AND id < 6000;
INSERT INTO src SELECT id, lower(t), j, b FROM expect WHERE id = 6000;
SELECT count(*) FROM mergetree.parts WHERE table_name = 'src'::regclass AND rows > 0;
COMMIT;
RESET mergetree.insert_buffer_size;
SELECT kind, count(*) FROM seen GROUP BY kind ORDER BY kind;
SELECT kind, rows_differ(format('SELECT id, t, j, b FROM seen WHERE kind = %L', kind), 'SELECT * FROM expect') AS differ
FROM (VALUES ('after'), ('statement'), ('deferred')) k(kind);
SELECT rows_differ('SELECT id, t, j, b FROM seen WHERE kind = ''when''', 'SELECT * FROM expect WHERE id % 100 = 0') AS when_differ;
SELECT rows_differ('SELECT * FROM src', 'SELECT * FROM expect') AS stored_differ;

-- Large values through an AFTER trigger and a TID fetch.
TRUNCATE seen;
INSERT INTO src VALUES (10001, repeat('big ', 500000), '{"k": 1}', decode(repeat('ab', 300000), 'hex'));
SELECT kind, id, length(t), length(b) FROM seen ORDER BY kind;
SELECT id, length(t), md5(t) = md5(upper(repeat('big ', 500000))) AS same FROM src WHERE ctid = (SELECT ctid FROM src WHERE id = 10001);

-- Foreign keys from a mergetree table to an ordinary one.
CREATE TABLE orgs (name text PRIMARY KEY);
INSERT INTO orgs VALUES ('acme'), ('zeta'), ('unused');
CREATE TABLE ev (org text REFERENCES orgs (name), v int) USING mergetree WITH (order_by = 'org');
CREATE TABLE ev_cascade (org text REFERENCES orgs (name) ON DELETE CASCADE, v int) USING mergetree;
INSERT INTO ev SELECT CASE WHEN g % 2 = 0 THEN 'acme' ELSE 'zeta' END, g FROM generate_series(1, 500) g;
INSERT INTO ev VALUES ('nope', 1);
DELETE FROM orgs WHERE name = 'zeta';
UPDATE orgs SET name = 'acme2' WHERE name = 'acme';
-- ON DELETE CASCADE deletes the referencing mergetree rows.
INSERT INTO ev_cascade VALUES ('unused', 2), ('unused', 3), ('acme', 4);
DELETE FROM orgs WHERE name = 'unused';
SELECT * FROM ev_cascade;
INSERT INTO ev_cascade VALUES ('zeta', 1);
DELETE FROM orgs WHERE name = 'zeta';
SELECT * FROM ev_cascade ORDER BY v;
SELECT org, count(*) FROM ev GROUP BY org ORDER BY org;
-- ... and to a mergetree table, which cannot have the unique key a reference needs.
CREATE TABLE refs (id int REFERENCES src (id));

-- TID scans: by value, ANY, IN, also as a role that may only SELECT, and invalid TIDs.
CREATE ROLE mt_fetch_reader;
GRANT SELECT ON src TO mt_fetch_reader;
SET ROLE mt_fetch_reader;
SELECT id, left(t, 10) FROM src WHERE ctid = ANY (ARRAY(SELECT ctid FROM src WHERE id IN (5, 500, 2999))) ORDER BY id;
SET mergetree.enable_custom_scan = off;
EXPLAIN (COSTS OFF) SELECT id FROM src WHERE ctid = '(0,5)';
SELECT id, left(t, 10) FROM src WHERE ctid = ANY (ARRAY(SELECT ctid FROM src WHERE id IN (5, 500, 2999))) ORDER BY id;
SELECT id FROM src WHERE ctid IN (SELECT ctid FROM src WHERE id BETWEEN 1000 AND 1003) ORDER BY id;
SELECT count(*) FROM src WHERE ctid = ANY ('{"(0,0)","(0,1000)","(4294967295,65535)","(99999,1)"}'::tid[]);
RESET mergetree.enable_custom_scan;
RESET ROLE;
-- currtid2 (through a view) asks whether a TID can name a row.
CREATE VIEW src_v AS SELECT ctid, id FROM src;
SELECT currtid2('src_v', (SELECT ctid FROM src WHERE id = 7)) = (SELECT ctid FROM src WHERE id = 7) AS valid;
SELECT currtid2('src_v', '(99999,1)');
DROP VIEW src_v;
SELECT rows_differ('SELECT s.* FROM src s WHERE ctid IN (SELECT ctid FROM src)', 'SELECT * FROM src') AS every_row_by_tid;

-- ctid from RETURNING finds the row while it is still buffered.
BEGIN;
INSERT INTO src (id, t) VALUES (20000, 'returned') RETURNING ctid AS new_ctid \gset
SELECT id, t FROM src WHERE ctid = :'new_ctid';
SET LOCAL mergetree.enable_custom_scan = off;
SELECT id, t FROM src WHERE ctid = :'new_ctid';
COMMIT;

-- Row locks: every strength, NOWAIT and SKIP LOCKED (no other locker here).
SELECT id FROM src WHERE id < 3 ORDER BY id FOR UPDATE;
SELECT id FROM src WHERE id < 3 ORDER BY id FOR NO KEY UPDATE NOWAIT;
SELECT id FROM src WHERE id < 3 ORDER BY id FOR SHARE SKIP LOCKED;
SELECT id FROM src WHERE id < 3 ORDER BY id FOR KEY SHARE;
BEGIN;
INSERT INTO src (id, t) VALUES (30000, 'locked while buffered');
SELECT id, t FROM src WHERE id = 30000 FOR UPDATE;
COMMIT;
SELECT * FROM mergetree.verify('src');

DROP TABLE src, seen, expect, ev, ev_cascade, orgs;
DROP FUNCTION log_row(), log_table(), upper_t();
DROP ROLE mt_fetch_reader;
\ir include/drop_same_rows.sql
