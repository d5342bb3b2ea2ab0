-- The engine family (engine option) against references computed on heap tables in SQL:
-- FINAL reads (mergetree.final, the final table option) with merges paused, after
-- partial merges and after optimize(final). Heap tables carry an insertion sequence
-- (seq): merges keep rows of a key in insertion order, which the references use.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_mergetree;
CREATE SCHEMA engines;
RESET client_min_messages;
SET search_path = engines, public;
\ir include/same_rows.sql

-- Replacing: one row per key, the highest version, the last inserted on ties; FINAL
-- reads leave out winners marked deleted, merges keep them (as ClickHouse's do without
-- CLEANUP: they hide older versions inserted later).
CREATE TABLE eng_r (k int, v text, ver int, del bool) USING mergetree
  WITH (order_by = 'k', engine = 'replacing(ver, del)', background_merges = off, index_granularity = 8);
CREATE TABLE eng_rh (seq bigserial, k int, v text, ver int, del bool);
CREATE FUNCTION eng_r_load(n int, salt int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO eng_rh (k, v, ver, del)
  SELECT CASE WHEN i % 29 = 0 THEN NULL ELSE (i * 7 + salt) % 37 END, 'v' || salt || '_' || i,
         CASE WHEN i % 31 = 0 THEN NULL ELSE (i * 13 + salt * 5) % 6 END, (i + salt) % 11 = 0
  FROM generate_series(1, n) i ORDER BY i;
  INSERT INTO eng_r SELECT k, v, ver, del FROM eng_rh WHERE seq > (SELECT coalesce(max(seq), 0) - n FROM eng_rh) ORDER BY seq;
END $$;
CREATE VIEW eng_r_merged AS SELECT DISTINCT ON (k) k, v, ver, del FROM eng_rh ORDER BY k, ver DESC NULLS LAST, seq DESC;
CREATE VIEW eng_r_want AS SELECT * FROM eng_r_merged WHERE NOT del;
SELECT eng_r_load(50, 1), eng_r_load(80, 2), eng_r_load(5, 3), eng_r_load(120, 4);
SELECT count(*) AS raw_rows FROM eng_r;
SET mergetree.final = on;
SELECT same_rows('SELECT * FROM eng_r', 'SELECT * FROM eng_r_want') AS final_read,
       (SELECT count(*) FROM eng_r) = (SELECT count(*) FROM eng_r_want) AS final_count,
       same_rows('SELECT * FROM eng_r WHERE ver = 0', 'SELECT * FROM eng_r_want WHERE ver = 0') AS filter_after_merge,
       same_rows('SELECT k, count(*), max(v) FROM eng_r GROUP BY k', 'SELECT k, count(*), max(v) FROM eng_r_want GROUP BY k') AS grouped;
-- Filters on the sort key prune parts and granules before the merge (every row of a key
-- they keep is read); other filters apply after it.
SELECT count(*) FILTER (WHERE NOT same) AS differing_keys FROM
  (SELECT same_rows(format('SELECT * FROM eng_r WHERE k = %s', k), format('SELECT * FROM eng_r_want WHERE k = %s', k)) AS same
   FROM generate_series(-1, 40) k) s;
SELECT same_rows('SELECT * FROM eng_r WHERE k BETWEEN 5 AND 9 AND ver >= 2', 'SELECT * FROM eng_r_want WHERE k BETWEEN 5 AND 9 AND ver >= 2') AS key_and_other,
       same_rows('SELECT * FROM eng_r WHERE k > 30 OR v LIKE ''%1''', 'SELECT * FROM eng_r_want WHERE k > 30 OR v LIKE ''%1''') AS key_or_other;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM eng_r WHERE k = 7;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM eng_r WHERE ver = 1;
-- Rows come out in key order, as a merged part holds them.
SELECT k, v, ver FROM eng_r WHERE k < 3 OR k IS NULL;
RESET mergetree.final;
-- A partial merge keeps deleted winners (older rows of the key may be in other parts);
-- FINAL reads still answer the same.
SELECT mergetree.optimize('eng_r');
SET mergetree.final = on;
SELECT same_rows('SELECT * FROM eng_r', 'SELECT * FROM eng_r_want') AS after_partial_merge;
RESET mergetree.final;
SELECT mergetree.optimize('eng_r', final => true);
SELECT count(*) AS parts FROM mergetree.parts WHERE table_name = 'eng_r'::regclass;
SELECT same_rows('SELECT * FROM eng_r', 'SELECT * FROM eng_r_merged') AS after_optimize_final,
       (SELECT count(*) FROM eng_r WHERE del) AS deleted_kept;
-- The transaction's own unflushed rows take part in FINAL reads.
BEGIN;
SELECT eng_r_load(30, 5);
SET LOCAL mergetree.final = on;
SELECT same_rows('SELECT * FROM eng_r', 'SELECT * FROM eng_r_want') AS with_buffered_rows;
ROLLBACK;
-- The table option reads FINAL without the setting; prepared statements follow the
-- setting at execution.
ALTER TABLE eng_r SET (final = on);
SELECT eng_r_load(40, 6);
SELECT same_rows('SELECT * FROM eng_r', 'SELECT * FROM eng_r_want') AS table_option;
ALTER TABLE eng_r RESET (final);
PREPARE eng_q AS SELECT count(*) FROM eng_r;
SELECT (SELECT count(*) FROM eng_rh) AS raw;
EXECUTE eng_q;
SET mergetree.final = on;
EXECUTE eng_q;
SELECT count(*) FROM eng_r_want;
RESET mergetree.final;
DEALLOCATE eng_q;

-- Replacing without a version: the last inserted row of a key; keys of an opaque type
-- (numeric: 1.0 equals 1.00) and partitions (a key in two partitions stays twice).
CREATE TABLE eng_rn (p int, k numeric, v int) USING mergetree
  WITH (order_by = 'k', partition_by = 'p', engine = 'replacing', background_merges = off);
CREATE TABLE eng_rnh (seq bigserial, p int, k numeric, v int);
INSERT INTO eng_rnh (p, k, v) SELECT i % 2, round((i % 9)::numeric / 4, 1 + i % 3), i FROM generate_series(1, 60) i;
INSERT INTO eng_rn SELECT p, k, v FROM eng_rnh WHERE seq <= 30 ORDER BY seq;
INSERT INTO eng_rn SELECT p, k, v FROM eng_rnh WHERE seq > 30 ORDER BY seq;
SET mergetree.final = on;
SELECT same_rows('SELECT p, k, v FROM eng_rn', 'SELECT DISTINCT ON (p, k) p, k, v FROM eng_rnh ORDER BY p, k, seq DESC') AS opaque_keys_by_partition,
       (SELECT count(*) FROM eng_rn) AS final_rows;
RESET mergetree.final;

-- Partitions merge in parallel on the engine threads (integer keys, no Postgres
-- function), with the transaction's unflushed rows in their partitions.
CREATE TABLE eng_rp (p int, k int, v text, ver int) USING mergetree
  WITH (order_by = 'k', partition_by = 'p', engine = 'replacing(ver)', background_merges = off, index_granularity = 16);
CREATE TABLE eng_rph (seq bigserial, p int, k int, v text, ver int);
INSERT INTO eng_rph (p, k, v, ver) SELECT i % 5, (i * 31) % 200, 'v' || i, (i * 7) % 9 FROM generate_series(1, 3000) i;
INSERT INTO eng_rp SELECT p, k, v, ver FROM eng_rph WHERE seq <= 1500 ORDER BY seq;
INSERT INTO eng_rp SELECT p, k, v, ver FROM eng_rph WHERE seq > 1500 ORDER BY seq;
CREATE VIEW eng_rp_want AS SELECT DISTINCT ON (p, k) p, k, v, ver FROM eng_rph ORDER BY p, k, ver DESC, seq DESC;
SET mergetree.final = on;
SET mergetree.max_threads = 2;
SELECT same_rows('SELECT * FROM eng_rp', 'SELECT * FROM eng_rp_want') AS partitions_on_threads,
       same_rows('SELECT * FROM eng_rp WHERE k BETWEEN 10 AND 20', 'SELECT * FROM eng_rp_want WHERE k BETWEEN 10 AND 20') AS pruned_on_threads,
       (SELECT count(*) FROM eng_rp) AS final_rows;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM eng_rp WHERE v <> '';
BEGIN;
INSERT INTO eng_rph (p, k, v, ver) VALUES (1, 5, 'new', 100), (7, 5, 'new', 1), (2, 6, 'old', -1);
INSERT INTO eng_rp SELECT p, k, v, ver FROM eng_rph WHERE v IN ('new', 'old') ORDER BY seq;
SELECT same_rows('SELECT * FROM eng_rp', 'SELECT * FROM eng_rp_want') AS with_buffered_rows;
ROLLBACK;
SET mergetree.max_threads = 1;
SELECT same_rows('SELECT * FROM eng_rp', 'SELECT * FROM eng_rp_want') AS one_thread;
RESET mergetree.max_threads;
-- A FINAL read streams a partition merged on the backend; partitions merged together on
-- the engine threads are held until handed out, so a wave past mergetree.final_max_memory
-- fails with a hint (one thread, or a filter on the sort key, reads it).
CREATE TABLE eng_big (k int, v text) USING mergetree
  WITH (order_by = 'k', partition_by = 'k % 4', engine = 'replacing', background_merges = off);
INSERT INTO eng_big SELECT i % 50000, repeat('x', 30) || i FROM generate_series(1, 100000) i;
SET mergetree.final_max_memory = '1MB';
SET mergetree.max_threads = 2;
SELECT count(*) FROM eng_big;
SELECT count(*) FROM eng_big WHERE k = 5;
SET mergetree.max_threads = 1;
SELECT count(*), count(DISTINCT k), sum(length(v)) FROM eng_big;
RESET mergetree.max_threads;
RESET mergetree.final_max_memory;
SELECT count(*) FROM eng_big;
DROP TABLE eng_big;
RESET mergetree.final;
-- ClickHouse's spelling: FROM t FINAL parses as the alias final, and a table with an
-- engine so named is read FINAL (without the setting; another alias is not).
SELECT same_rows('SELECT * FROM eng_rp FINAL', 'SELECT * FROM eng_rp_want') AS final_keyword,
       (SELECT count(*) FROM eng_rp FINAL) AS final_rows, (SELECT count(*) FROM eng_rp) AS raw_rows,
       (SELECT count(*) FROM eng_rp AS f) AS other_alias,
       (SELECT count(*) FROM eng_rp FINAL WHERE k = 5) AS one_key;

-- Summing: the listed (or all non-key numeric) columns summed per key, other columns
-- keep the first row's value, rows whose sums are all zero go.
CREATE TABLE eng_s (k text, d date, label text, c int8, amt numeric, w float8, i2 int2) USING mergetree
  WITH (order_by = 'k, d', engine = 'summing', background_merges = off);
CREATE TABLE eng_sh (seq bigserial, k text, d date, label text, c int8, amt numeric, w float8, i2 int2);
INSERT INTO eng_sh (k, d, label, c, amt, w, i2)
SELECT 'k' || (i % 7), date '2024-01-01' + (i % 3), 'l' || i,
       CASE WHEN i % 10 = 0 THEN NULL ELSE (i % 5) - 2 END, round((i % 13 - 6)::numeric / 8, 3),
       CASE WHEN i % 4 = 0 THEN NULL ELSE (i % 9 - 4) / 2.0 END, (i % 3 - 1)
FROM generate_series(1, 400) i;
INSERT INTO eng_sh (k, d, label, c, amt, w, i2) VALUES ('zero', '2024-01-01', 'a', 5, 1.5, 2, 1), ('zero', '2024-01-01', 'b', -5, -1.5, -2, -1);
INSERT INTO eng_s SELECT k, d, label, c, amt, w, i2 FROM eng_sh WHERE seq <= 200 ORDER BY seq;
INSERT INTO eng_s SELECT k, d, label, c, amt, w, i2 FROM eng_sh WHERE seq > 200 ORDER BY seq;
CREATE VIEW eng_s_want AS
  SELECT k, d, (array_agg(label ORDER BY seq))[1] AS label, sum(c) AS c, sum(amt) AS amt, sum(w) AS w, sum(i2)::int2 AS i2
  FROM eng_sh GROUP BY k, d
  HAVING NOT (coalesce(sum(c) = 0, false) AND coalesce(sum(amt) = 0, false) AND coalesce(sum(w) = 0, false) AND coalesce(sum(i2) = 0, false));
SET mergetree.final = on;
SELECT same_rows('SELECT * FROM eng_s', 'SELECT * FROM eng_s_want') AS summing_final;
SELECT * FROM eng_s WHERE k = 'zero';
RESET mergetree.final;
SELECT mergetree.optimize('eng_s', final => true);
SELECT same_rows('SELECT * FROM eng_s', 'SELECT * FROM eng_s_want') AS summing_optimized;
-- A sum out of its column's range fails the merge with Postgres' error, naming the table.
CREATE TABLE eng_so (k int, v int2) USING mergetree WITH (order_by = 'k', engine = 'summing(v)', background_merges = off);
INSERT INTO eng_so VALUES (1, 32000);
INSERT INTO eng_so VALUES (1, 1000);
SELECT mergetree.optimize('eng_so', final => true);
SELECT * FROM eng_so ORDER BY v;

-- Collapsing: per key, ClickHouse's rule over the state (1) and cancel (-1) rows, with
-- cancel rows arriving before and after their states; FINAL reads keep state rows only.
CREATE TABLE eng_c (k int, v text, sign int2) USING mergetree
  WITH (order_by = 'k', engine = 'collapsing(sign)', background_merges = off);
CREATE TABLE eng_ch (seq bigserial, k int, v text, sign int2);
INSERT INTO eng_ch (k, v, sign) SELECT i % 23, 'v' || (i % 4), CASE WHEN (i * 7) % 5 < 2 THEN -1 ELSE 1 END FROM generate_series(1, 300) i;
INSERT INTO eng_c SELECT k, v, sign FROM eng_ch WHERE seq <= 100 ORDER BY seq;
INSERT INTO eng_c SELECT k, v, sign FROM eng_ch WHERE seq > 100 AND seq <= 220 ORDER BY seq;
INSERT INTO eng_c SELECT k, v, sign FROM eng_ch WHERE seq > 220 ORDER BY seq;
CREATE FUNCTION eng_c_want(full_merge bool) RETURNS TABLE (k int, v text, sign int2) LANGUAGE sql AS $$
  WITH g AS (SELECT k, count(*) FILTER (WHERE sign = 1) AS pos, count(*) FILTER (WHERE sign = -1) AS neg,
                    (array_agg(sign ORDER BY seq DESC))[1] AS last_sign,
                    max(seq) FILTER (WHERE sign = 1) AS last_pos, min(seq) FILTER (WHERE sign = -1) AS first_neg
             FROM eng_ch GROUP BY k)
  SELECT h.k, h.v, h.sign FROM eng_ch h JOIN g ON g.k = h.k
  WHERE (g.last_sign = 1 OR g.pos <> g.neg)
    AND ((g.pos >= g.neg AND h.seq = g.last_pos) OR (full_merge AND g.pos <= g.neg AND h.seq = g.first_neg)) $$;
SET mergetree.final = on;
SELECT same_rows('SELECT * FROM eng_c', 'SELECT * FROM eng_c_want(false)') AS collapsing_final,
       (SELECT count(*) FROM eng_c) AS final_rows;
RESET mergetree.final;
SELECT mergetree.optimize('eng_c', final => true);
SELECT same_rows('SELECT * FROM eng_c', 'SELECT * FROM eng_c_want(true)') AS collapsing_optimized;
INSERT INTO eng_c VALUES (1, 'bad', 0);
INSERT INTO eng_c VALUES (1, 'bad', NULL);

-- Versioned collapsing: a cancel row cancels the state of its version whatever the
-- order they arrive in; the version is the sort key's last column.
CREATE TABLE eng_v (k int, ver int, v text, sign int4) USING mergetree
  WITH (order_by = 'k', engine = 'versioned_collapsing(sign, ver)', background_merges = off);
CREATE TABLE eng_vh (seq bigserial, k int, ver int, v text, sign int4);
INSERT INTO eng_vh (k, ver, v, sign)
SELECT i % 17, (i * 3) % 5, 'v' || (i % 17) || '_' || (i * 3) % 5, CASE WHEN (i * 11) % 7 < 3 THEN -1 ELSE 1 END FROM generate_series(1, 300) i;
INSERT INTO eng_v SELECT k, ver, v, sign FROM eng_vh WHERE seq % 3 = 0 ORDER BY seq;
INSERT INTO eng_v SELECT k, ver, v, sign FROM eng_vh WHERE seq % 3 = 1 ORDER BY seq;
INSERT INTO eng_v SELECT k, ver, v, sign FROM eng_vh WHERE seq % 3 = 2 ORDER BY seq;
CREATE VIEW eng_v_want AS
  SELECT k, ver, v, sign(n)::int4 AS sign FROM (SELECT k, ver, v, sum(sign) AS n FROM eng_vh GROUP BY k, ver, v) g, generate_series(1, abs(n));
SET mergetree.final = on;
SELECT same_rows('SELECT * FROM eng_v', 'SELECT * FROM eng_v_want') AS versioned_final;
RESET mergetree.final;
SELECT mergetree.optimize('eng_v', final => true);
SELECT same_rows('SELECT * FROM eng_v', 'SELECT * FROM eng_v_want') AS versioned_optimized;

-- Aggregating: columns of aggregate states combined by the function the table names
-- (hll_union; tdigest_union through an immutable two-argument wrapper), and sum, min,
-- max, any. Answers equal aggregating the raw rows (hll exactly: a union of sketches is
-- the sketch of the union).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS hll;
CREATE EXTENSION IF NOT EXISTS tdigest;
RESET client_min_messages;
CREATE FUNCTION eng_td_union(a tdigest, b tdigest) RETURNS tdigest LANGUAGE sql IMMUTABLE AS 'SELECT tdigest_union(a, b)';
CREATE TABLE eng_raw (k text, u int, x float8, at date);
INSERT INTO eng_raw SELECT 'k' || (i % 7), (i * 7919) % 3000, (i % 997) / 4.0, date '2024-01-01' + i % 40 FROM generate_series(1, 30000) i;
CREATE TABLE eng_a (k text, users hll, lat tdigest, n int8, total float8, hi float8, first_day date, last_day date, tag text) USING mergetree
  WITH (order_by = 'k', background_merges = off,
        engine = 'aggregating(users: hll_union, lat: eng_td_union, n: sum, total: sum, hi: max, first_day: min, last_day: max, tag: any)');
SELECT reloptions FROM pg_class WHERE oid = 'eng_a'::regclass;
-- Six loads of pre-aggregated states (as a materialized view would write them).
SELECT format($q$INSERT INTO eng_a SELECT k, hll_add_agg(hll_hash_integer(u)), tdigest(x, 100), count(*), sum(x), max(x), min(at), max(at),
                 CASE WHEN %s = 0 THEN NULL ELSE 'load%s' END
               FROM eng_raw WHERE u %% 6 = %s GROUP BY k$q$, i, i, i) FROM generate_series(0, 5) i \gexec
-- Each key's one row, with the digest's median through tdigest's own aggregate.
CREATE VIEW eng_a_answer AS
  SELECT k, count(*) AS rows, max(hll_cardinality(users))::int AS users, max(tdigest_count(lat)) AS lat_n,
         round(tdigest_percentile(lat, 0.5)::numeric, 0) AS p50, max(n) AS n, max(total) AS total, max(hi) AS hi,
         max(first_day) AS first_day, max(last_day) AS last_day, max(tag) AS tag FROM eng_a GROUP BY k;
CREATE VIEW eng_a_want AS
  SELECT k, 1::int8 AS rows, hll_cardinality(hll_add_agg(hll_hash_integer(u)))::int AS users, count(*) AS lat_n,
         round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 0) AS p50, count(*) AS n, sum(x) AS total, max(x) AS hi,
         min(at) AS first_day, max(at) AS last_day, 'load1'::text AS tag FROM eng_raw GROUP BY k;
SELECT count(*) AS raw_rows FROM eng_a;
SET mergetree.final = on;
SELECT same_rows('SELECT * FROM eng_a_answer', 'SELECT * FROM eng_a_want') AS aggregating_final;
RESET mergetree.final;
SELECT mergetree.optimize('eng_a', final => true);
SELECT same_rows('SELECT * FROM eng_a_answer', 'SELECT * FROM eng_a_want') AS aggregating_optimized, count(*) AS merged_rows FROM eng_a;
-- mergetree.uniq / mergetree.quantile sketches as stored states (ClickHouse's -State and
-- -Merge): merged by mergetree.uniq_union / quantile_union, answered exactly as the
-- aggregates over the raw rows answer.
CREATE TABLE eng_u (k text, users bytea, lat bytea) USING mergetree
  WITH (order_by = 'k', background_merges = off, engine = 'aggregating(users: mergetree.uniq_union, lat: mergetree.quantile_union)');
SELECT format('INSERT INTO eng_u SELECT k, mergetree.uniq_state(u), mergetree.quantile_state(x) FROM eng_raw WHERE u %% 5 = %s GROUP BY k', i)
FROM generate_series(0, 4) i \gexec
CREATE VIEW eng_u_answer AS SELECT k, mergetree.uniq_merge(users) AS users, mergetree.quantile_merge(0.9, lat) AS p90 FROM eng_u GROUP BY k;
CREATE VIEW eng_u_want AS SELECT k, mergetree.uniq(u) AS users, mergetree.quantile(0.9, x) AS p90 FROM eng_raw GROUP BY k;
SELECT same_rows('SELECT * FROM eng_u_answer', 'SELECT * FROM eng_u_want') AS sketches_from_parts;
SET mergetree.final = on;
SELECT same_rows('SELECT * FROM eng_u_answer', 'SELECT * FROM eng_u_want') AS sketches_final, (SELECT count(*) FROM eng_u) AS final_rows;
RESET mergetree.final;
SELECT mergetree.optimize('eng_u', final => true);
SELECT same_rows('SELECT * FROM eng_u_answer', 'SELECT * FROM eng_u_want') AS sketches_merged, (SELECT count(*) FROM eng_u) AS rows;
SELECT mergetree.uniq_union('\x00'::bytea, '\x00'::bytea);
-- The functions stay while the table needs them; a wrong one is refused at CREATE.
DROP FUNCTION eng_td_union(tdigest, tdigest);
CREATE FUNCTION eng_plus(a int, b int) RETURNS int LANGUAGE sql AS 'SELECT a + b';
CREATE TABLE eng_bad (k int, s int) USING mergetree WITH (order_by = 'k', engine = 'aggregating(s: eng_plus)');
CREATE TABLE eng_bad (k int, s text) USING mergetree WITH (order_by = 'k', engine = 'aggregating(s: nope)');
CREATE TABLE eng_bad (k int, s text) USING mergetree WITH (order_by = 'k', engine = 'aggregating(s: sum)');
CREATE TABLE eng_bad (k int, s text) USING mergetree WITH (order_by = 'k', engine = 'aggregating(s)');
CREATE TABLE eng_bad (k int, s int) USING mergetree WITH (order_by = 'k', engine = 'aggregating(k: max)');
-- A table owned by a role other than the function's owner (and not a superuser) may
-- not name it: merges would run another role's code as the table's owner.
CREATE ROLE eng_owner;
CREATE ROLE eng_other;
GRANT CREATE, USAGE ON SCHEMA engines TO eng_owner;
CREATE FUNCTION eng_plus2(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
ALTER FUNCTION eng_plus2(int, int) OWNER TO eng_other;
SET ROLE eng_owner;
CREATE TABLE eng_bad (k int, s int) USING mergetree WITH (order_by = 'k', engine = 'aggregating(s: eng_plus2)');
CREATE FUNCTION eng_plus3(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
CREATE TABLE eng_own (k int, s int) USING mergetree WITH (order_by = 'k', engine = 'aggregating(s: eng_plus3)', background_merges = off);
INSERT INTO eng_own VALUES (1, 1), (1, 2);
INSERT INTO eng_own VALUES (1, 3), (2, 5);
SET mergetree.final = on;
SELECT * FROM eng_own ORDER BY k;
RESET mergetree.final;
RESET ROLE;
DROP TABLE eng_own;
DROP FUNCTION eng_plus2(int, int), engines.eng_plus3(int, int);
REVOKE ALL ON SCHEMA engines FROM eng_owner;
DROP ROLE eng_owner, eng_other;

-- cleanup (ClickHouse's OPTIMIZE ... FINAL CLEANUP) drops the deleted winners too (so
-- an older version inserted after it would show again: the random runs start afresh).
SELECT mergetree.optimize('eng_r', final => true, cleanup => true);
SELECT same_rows('SELECT * FROM eng_r', 'SELECT * FROM eng_r_want') AS after_cleanup,
       (SELECT count(*) FROM eng_r WHERE del) AS deleted_kept;
SELECT mergetree.optimize('eng_r', cleanup => true);
CREATE TABLE eng_nodel (k int) USING mergetree WITH (order_by = 'k', engine = 'replacing');
SELECT mergetree.optimize('eng_nodel', final => true, cleanup => true);
DROP TABLE eng_nodel;

-- Random differential runs: random batches into an engine table and its heap reference,
-- each step its own transaction, merges and optimize(final) in between, FINAL reads
-- checked after every step; eng_log counts the steps whose reads differed (none).
CREATE TABLE eng_log (step int, ok bool);
CREATE PROCEDURE eng_random(steps int, seed float8, optimize bool DEFAULT true) LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
  PERFORM setseed(seed);
  TRUNCATE eng_r, eng_rh, eng_s, eng_sh, eng_c, eng_ch, eng_log;
  COMMIT;
  FOR step IN 1..steps LOOP
    n := 1 + (random() * 40)::int;
    INSERT INTO eng_rh (k, v, ver, del)
      SELECT (random() * 15)::int, md5(random()::text), (random() * 4)::int, random() < 0.15 FROM generate_series(1, n);
    INSERT INTO eng_r SELECT k, v, ver, del FROM (SELECT * FROM eng_rh ORDER BY seq DESC LIMIT n) b ORDER BY seq;
    INSERT INTO eng_sh (k, d, label, c, amt, w, i2)
      SELECT 'k' || (random() * 6)::int, date '2024-01-01', md5(random()::text), (random() * 6)::int - 3, (random() * 8)::int / 4.0, 0, 0
      FROM generate_series(1, n);
    INSERT INTO eng_s SELECT k, d, label, c, amt, w, i2 FROM (SELECT * FROM eng_sh ORDER BY seq DESC LIMIT n) b ORDER BY seq;
    -- Collapsing data as applications write it: each key's rows alternate state, cancel,
    -- state... (with rows that break it, results depend on which parts merged first, in
    -- ClickHouse too).
    INSERT INTO eng_ch (k, v, sign)
      SELECT k, 'x', CASE WHEN ((SELECT count(*) FROM eng_ch h WHERE h.k = g.k) + row_number() OVER (PARTITION BY k ORDER BY i)) % 2 = 1 THEN 1 ELSE -1 END
      FROM (SELECT i, (random() * 10)::int AS k FROM generate_series(1, n) i) g ORDER BY i;
    INSERT INTO eng_c SELECT k, v, sign FROM (SELECT * FROM eng_ch ORDER BY seq DESC LIMIT n) b ORDER BY seq;
    COMMIT;
    IF optimize AND random() < 0.3 THEN PERFORM mergetree.optimize('eng_r'), mergetree.optimize('eng_s'), mergetree.optimize('eng_c'); END IF;
    IF optimize AND random() < 0.1 THEN
      PERFORM mergetree.optimize('eng_r', final => true), mergetree.optimize('eng_s', final => true), mergetree.optimize('eng_c', final => true);
    END IF;
    COMMIT;
    SET LOCAL mergetree.final = on;
    INSERT INTO eng_log VALUES (step, same_rows('SELECT * FROM eng_r', 'SELECT * FROM eng_r_want')
                                   AND same_rows('SELECT * FROM eng_s', 'SELECT * FROM eng_s_want')
                                   AND same_rows('SELECT * FROM eng_c', 'SELECT * FROM eng_c_want(false)'));
    COMMIT;
  END LOOP;
END $$;
CREATE VIEW eng_result AS
  SELECT count(*) AS steps, count(*) FILTER (WHERE NOT ok) AS differing,
         (SELECT count(*) FROM mergetree.parts WHERE table_name IN ('eng_r'::regclass, 'eng_s'::regclass, 'eng_c'::regclass)) < count(*) AS merged
  FROM eng_log;
CALL eng_random(40, 0.25);
SELECT * FROM eng_result;
CALL eng_random(40, -0.5);
SELECT * FROM eng_result;
-- Again with the merge workers racing the inserts and reads.
ALTER TABLE eng_r SET (background_merges = on);
ALTER TABLE eng_s SET (background_merges = on);
ALTER TABLE eng_c SET (background_merges = on);
ALTER SYSTEM SET mergetree.background_merges = on;
SELECT pg_reload_conf();
CALL eng_random(60, 0.75, optimize => false);
SELECT steps, differing FROM eng_result;
\ir include/settled.sql
SELECT settled('eng_r', 3) AND settled('eng_s', 3) AND settled('eng_c', 3) AS settled;
SET mergetree.final = on;
SELECT same_rows('SELECT * FROM eng_r', 'SELECT * FROM eng_r_want') AS replacing_merged,
       same_rows('SELECT * FROM eng_s', 'SELECT * FROM eng_s_want') AS summing_merged,
       same_rows('SELECT * FROM eng_c', 'SELECT * FROM eng_c_want(false)') AS collapsing_merged;
RESET mergetree.final;
ALTER SYSTEM RESET mergetree.background_merges;
SELECT pg_reload_conf();

-- Options: checked at CREATE, shown by \d+, followed by renames, kept from drops.
\d+ eng_v
ALTER TABLE eng_r RENAME COLUMN ver TO version;
SELECT reloptions FROM pg_class WHERE oid = 'eng_r'::regclass;
ALTER TABLE eng_r DROP COLUMN del;
ALTER TABLE eng_r SET (engine = 'replacing');
CREATE TABLE eng_bad (k int, s text) USING mergetree WITH (order_by = 'k', engine = 'collapsing(s)');
CREATE TABLE eng_bad (k int, s int) USING mergetree WITH (order_by = 'k', engine = 'collapsing(k)');
CREATE TABLE eng_bad (k int, s int) USING mergetree WITH (order_by = 'k', engine = 'replacingmergetree(s, s)');
CREATE TABLE eng_bad (k int, s text) USING mergetree WITH (order_by = 'k', engine = 'summing(s)');
CREATE TABLE eng_bad (k int, s numeric) USING mergetree WITH (order_by = 'k', engine = 'replacing(s)');
CREATE TABLE eng_bad (k int, s int) USING mergetree WITH (order_by = 'k', engine = 'versioned_collapsing(s)');
CREATE TABLE eng_bad (k int, s int) USING mergetree WITH (order_by = 'k', engine = 'summing(nope)');
CREATE TABLE eng_bad (k int, s int) USING mergetree WITH (engine = 'summing');
CREATE TABLE eng_bad (k int, s int, t text) USING mergetree WITH (order_by = 'k', engine = 'VersionedCollapsingMergeTree(s, t)');
CREATE TABLE eng_bad (k int, s int) USING mergetree WITH (order_by = 'k', final = on);
CREATE TABLE eng_ok (k int, s int) USING mergetree WITH (order_by = 'k', engine = 'SummingMergeTree((s))');
SELECT reloptions FROM pg_class WHERE oid = 'eng_ok'::regclass;

SET client_min_messages = warning;
DROP TABLE eng_r, eng_rh, eng_rn, eng_rnh, eng_rp, eng_rph, eng_s, eng_sh, eng_so, eng_c, eng_ch, eng_v, eng_vh, eng_ok, eng_a, eng_u, eng_raw CASCADE;
RESET client_min_messages;
SELECT orphan_parts();
SET client_min_messages = warning;
DROP SCHEMA engines CASCADE;
RESET client_min_messages;
RESET search_path;
