-- pg_mergetree 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_mergetree UPDATE).
-- 0.1.0 is the version that landed before MergeTreeAgg, merges, engines and DELETE/UPDATE;
-- 0.2.0 adds them. Part files need no change (this build reads every part format 0.1.0
-- wrote); the catalog gains what merges and deletes record, filled in for existing parts.
-- tests/system/t_upgrade.sh checks that an updated database has exactly the objects a new
-- CREATE EXTENSION makes, and that a 0.1.0 cluster's tables read back equal to heap.
-- Builds landed during the wave also called themselves 0.1.0 and already hold some of
-- these objects: every step is written to be a no-op where its object exists (IF NOT
-- EXISTS, OR REPLACE, views and changed signatures dropped and made again).
\echo Use "ALTER EXTENSION pg_mergetree UPDATE" to load this file. \quit

-- Parts: the partition id, the block range and the mutation version part names spell
-- (ClickHouse's part info). A 0.1.0 part was written by one insert: its name already reads
-- <partition id>_<block>_<block>_<level>.
ALTER TABLE mergetree.part_catalog
    ADD COLUMN IF NOT EXISTS partition_id text,
    ADD COLUMN IF NOT EXISTS min_block bigint,
    ADD COLUMN IF NOT EXISTS max_block bigint,
    ADD COLUMN IF NOT EXISTS mutation bigint;
UPDATE mergetree.part_catalog c
SET (partition_id, min_block, max_block, mutation) =
    (SELECT m[1], m[2]::bigint, m[3]::bigint, 0
     FROM regexp_match(c.part_name, '^(.*)_([0-9]+)_([0-9]+)_[0-9]+$') AS m)
WHERE c.partition_id IS NULL;
-- A name that does not parse leaves a NULL: SET NOT NULL then stops the update, changing
-- nothing, rather than guess.
ALTER TABLE mergetree.part_catalog
    ALTER COLUMN partition_id SET NOT NULL,
    ALTER COLUMN min_block SET NOT NULL,
    ALTER COLUMN max_block SET NOT NULL,
    ALTER COLUMN mutation SET NOT NULL;
CREATE INDEX IF NOT EXISTS part_catalog_storage_idx ON mergetree.part_catalog (relfilenode, part_id);
CREATE INDEX IF NOT EXISTS skip_index_catalog_index_idx ON mergetree.skip_index_catalog (index_oid, relfilenode, part_id);

-- Deleted rows (DELETE and UPDATE).
CREATE TABLE IF NOT EXISTS mergetree.deleted_rows_catalog (
    relfilenode oid NOT NULL,
    part_id bigint NOT NULL,
    rows bigint NOT NULL,
    by_update boolean NOT NULL,
    mask bytea NOT NULL
);
REVOKE ALL ON mergetree.deleted_rows_catalog FROM PUBLIC;
CREATE INDEX IF NOT EXISTS deleted_rows_catalog_storage_idx ON mergetree.deleted_rows_catalog (relfilenode, part_id);

-- The parts view shows the new columns (in the middle: the view is made again).
DROP VIEW IF EXISTS mergetree.parts;
CREATE VIEW mergetree.parts WITH (security_barrier) AS
SELECT r.oid::regclass AS table_name,
       c.partition,
       c.part_name,
       c.partition_id,
       c.min_block,
       c.max_block,
       c.level,
       c.rows,
       c.nblocks * current_setting('block_size')::bigint AS bytes_on_disk,
       c.part_bytes AS compressed_bytes,
       c.uncompressed_bytes,
       round(c.uncompressed_bytes::numeric / greatest(c.part_bytes, 1), 2) AS compression_ratio,
       c.created
FROM mergetree.part_catalog c
JOIN pg_class r ON r.relfilenode = c.relfilenode
JOIN pg_am a ON a.oid = r.relam AND a.amname = 'mergetree'
WHERE has_table_privilege(r.oid, 'SELECT')
  AND (NOT r.relrowsecurity OR NOT row_security_active(r.oid));
GRANT SELECT ON mergetree.parts TO PUBLIC;

-- Merges: history, progress, and the functions behind optimize and drop_partition
-- (earlier builds' signatures, and the view over merges_list, go first).
DROP VIEW IF EXISTS mergetree.merges;
DROP FUNCTION IF EXISTS mergetree.merges_list();
DROP FUNCTION IF EXISTS mergetree.optimize(regclass, text, boolean);
DROP FUNCTION IF EXISTS mergetree.optimize_oid(oid, text, boolean);
-- pg_mergetree::write::drop_partition::drop_partition_oid
CREATE OR REPLACE FUNCTION "drop_partition_oid"(
	"tbl" oid, /* pg_sys :: Oid */
	"value" TEXT /* & str */
) RETURNS bigint /* i64 */
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'drop_partition_oid_wrapper';

-- pg_mergetree::write::progress::merges_list
CREATE OR REPLACE FUNCTION "merges_list"() RETURNS TABLE (
	"table_name" oid,  /* pg_sys :: Oid */
	"partition" TEXT,  /* String */
	"parts" INT,  /* i32 */
	"rows_done" bigint,  /* i64 */
	"rows_total" bigint,  /* i64 */
	"elapsed_seconds" double precision,  /* f64 */
	"memory_bytes" bigint,  /* i64 */
	"pid" INT,  /* i32 */
	"background" bool  /* bool */
)
STRICT
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'merges_list_wrapper';

-- pg_mergetree::write::optimize::optimize_oid
CREATE OR REPLACE FUNCTION "optimize_oid"(
	"tbl" oid, /* pg_sys :: Oid */
	"partition" TEXT, /* Option < & str > */
	"full" bool, /* bool */
	"cleanup" bool /* bool */
) RETURNS bigint /* i64 */
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'optimize_oid_wrapper';

CREATE TABLE IF NOT EXISTS mergetree.part_log_data (
    event_time timestamptz NOT NULL,
    event_type text NOT NULL,
    relid oid NOT NULL,
    partition text NOT NULL,
    part_name text,
    source_parts text[] NOT NULL,
    rows bigint NOT NULL,
    bytes bigint NOT NULL,
    duration_ms double precision NOT NULL,
    background boolean NOT NULL
);
REVOKE ALL ON mergetree.part_log_data FROM PUBLIC;
DROP VIEW IF EXISTS mergetree.part_log;
CREATE VIEW mergetree.part_log WITH (security_barrier) AS
SELECT l.event_time, l.event_type, r.oid::regclass AS table_name, l.partition, l.part_name,
       l.source_parts, l.rows, l.bytes, l.duration_ms, l.background
FROM mergetree.part_log_data l
JOIN pg_class r ON r.oid = l.relid
WHERE has_table_privilege(r.oid, 'SELECT')
  AND (NOT r.relrowsecurity OR NOT row_security_active(r.oid));
GRANT SELECT ON mergetree.part_log TO PUBLIC;

-- Merges running now in this database, foreground and background (system.merges).
DROP VIEW IF EXISTS mergetree.merges;
CREATE VIEW mergetree.merges AS
SELECT m.table_name::regclass AS table_name, m.partition, m.parts, m.rows_done, m.rows_total,
       m.elapsed_seconds, m.memory_bytes, m.pid, m.background
FROM mergetree.merges_list() m;
GRANT SELECT ON mergetree.merges TO PUBLIC;

CREATE OR REPLACE FUNCTION mergetree.purge_orphans() RETURNS void LANGUAGE sql
SECURITY DEFINER SET search_path = pg_catalog AS $$
    DELETE FROM mergetree.part_catalog c
    WHERE NOT EXISTS (SELECT 1 FROM pg_class r JOIN pg_am a ON a.oid = r.relam
                      WHERE r.relfilenode = c.relfilenode AND a.amname = 'mergetree');
    DELETE FROM mergetree.part_log_data l
    WHERE NOT EXISTS (SELECT 1 FROM pg_class r WHERE r.oid = l.relid);
    DELETE FROM mergetree.skip_index_catalog s
    WHERE NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indexrelid = s.index_oid)
       OR NOT EXISTS (SELECT 1 FROM pg_class r JOIN pg_am a ON a.oid = r.relam
                      WHERE r.relfilenode = s.relfilenode AND a.amname = 'mergetree');
    DELETE FROM mergetree.deleted_rows_catalog d
    WHERE NOT EXISTS (SELECT 1 FROM pg_class r JOIN pg_am a ON a.oid = r.relam
                      WHERE r.relfilenode = d.relfilenode AND a.amname = 'mergetree');
$$;

DROP FUNCTION IF EXISTS mergetree.optimize(regclass, text, boolean);
CREATE OR REPLACE FUNCTION mergetree.optimize(tbl regclass, partition text DEFAULT NULL, final boolean DEFAULT false, cleanup boolean DEFAULT false)
RETURNS void LANGUAGE sql AS $$ SELECT FROM mergetree.optimize_oid(tbl::oid, partition, coalesce(final, false), coalesce(cleanup, false)) WHERE tbl IS NOT NULL $$;

CREATE OR REPLACE FUNCTION mergetree.drop_partition(tbl regclass, value text) RETURNS bigint
LANGUAGE sql STRICT AS $$ SELECT mergetree.drop_partition_oid(tbl::oid, value) $$;

-- Approximate aggregates and their sketches.
-- pg_mergetree::approx::quantile_combine
CREATE OR REPLACE FUNCTION "quantile_combine"(
	"a" internal, /* Option < Internal > */
	"b" internal /* Option < Internal > */
) RETURNS internal /* Internal */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'quantile_combine_wrapper';

-- pg_mergetree::approx::quantile_deserialize
CREATE OR REPLACE FUNCTION "quantile_deserialize"(
	"bytes" bytea, /* & [u8] */
	"_unused" internal /* Internal */
) RETURNS internal /* Internal */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'quantile_deserialize_wrapper';

-- pg_mergetree::approx::quantile_final
CREATE OR REPLACE FUNCTION "quantile_final"(
	"state" internal /* Option < Internal > */
) RETURNS double precision /* Option < f64 > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'quantile_final_wrapper';

-- pg_mergetree::approx::quantile_merge_trans
CREATE OR REPLACE FUNCTION "quantile_merge_trans"(
	"state" internal, /* Internal */
	"level" double precision, /* Option < f64 > */
	"sketch" bytea /* Option < & [u8] > */
) RETURNS internal /* Internal */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'quantile_merge_trans_wrapper';

-- pg_mergetree::approx::quantile_serialize
CREATE OR REPLACE FUNCTION "quantile_serialize"(
	"state" internal /* Internal */
) RETURNS bytea /* Vec < u8 > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'quantile_serialize_wrapper';

-- pg_mergetree::approx::quantile_state_final
CREATE OR REPLACE FUNCTION "quantile_state_final"(
	"state" internal /* Option < Internal > */
) RETURNS bytea /* Vec < u8 > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'quantile_state_final_wrapper';

-- pg_mergetree::approx::quantile_state_trans
CREATE OR REPLACE FUNCTION "quantile_state_trans"(
	"state" internal, /* Internal */
	"value" double precision /* Option < f64 > */
) RETURNS internal /* Internal */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'quantile_state_trans_wrapper';

-- pg_mergetree::approx::quantile_trans
CREATE OR REPLACE FUNCTION "quantile_trans"(
	"state" internal, /* Internal */
	"level" double precision, /* Option < f64 > */
	"value" double precision /* Option < f64 > */
) RETURNS internal /* Internal */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'quantile_trans_wrapper';

-- pg_mergetree::approx::quantile_union
CREATE OR REPLACE FUNCTION "quantile_union"(
	"a" bytea, /* & [u8] */
	"b" bytea /* & [u8] */
) RETURNS bytea /* Vec < u8 > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'quantile_union_wrapper';

-- pg_mergetree::approx::uniq_combine
CREATE OR REPLACE FUNCTION "uniq_combine"(
	"a" internal, /* Option < Internal > */
	"b" internal /* Option < Internal > */
) RETURNS internal /* Internal */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'uniq_combine_wrapper';

-- pg_mergetree::approx::uniq_deserialize
CREATE OR REPLACE FUNCTION "uniq_deserialize"(
	"bytes" bytea, /* & [u8] */
	"_unused" internal /* Internal */
) RETURNS internal /* Internal */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'uniq_deserialize_wrapper';

-- pg_mergetree::approx::uniq_final
CREATE OR REPLACE FUNCTION "uniq_final"(
	"state" internal /* Option < Internal > */
) RETURNS bigint /* i64 */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'uniq_final_wrapper';

-- pg_mergetree::approx::uniq_merge_trans
CREATE OR REPLACE FUNCTION "uniq_merge_trans"(
	"state" internal, /* Internal */
	"sketch" bytea /* Option < & [u8] > */
) RETURNS internal /* Internal */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'uniq_merge_trans_wrapper';

-- pg_mergetree::approx::uniq_serialize
CREATE OR REPLACE FUNCTION "uniq_serialize"(
	"state" internal /* Internal */
) RETURNS bytea /* Vec < u8 > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'uniq_serialize_wrapper';

-- pg_mergetree::approx::uniq_state_final
CREATE OR REPLACE FUNCTION "uniq_state_final"(
	"state" internal /* Option < Internal > */
) RETURNS bytea /* Vec < u8 > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'uniq_state_final_wrapper';

-- pg_mergetree::approx::uniq_trans
CREATE OR REPLACE FUNCTION "uniq_trans"(
	"state" internal, /* Internal */
	"value" anyelement /* Option < AnyElement > */
) RETURNS internal /* Internal */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'uniq_trans_wrapper';

-- requires:
--   uniq_trans
--   uniq_combine
--   uniq_serialize
--   uniq_deserialize
--   uniq_final
--   quantile_trans
--   quantile_combine
--   quantile_serialize
--   quantile_deserialize
--   quantile_final


-- SSPACE: a state's size (uniq: its dense registers at most; quantile: typical), so the
-- planner sizes hash aggregation of many groups by it.
CREATE OR REPLACE AGGREGATE mergetree.uniq(anyelement) (
    SFUNC = mergetree.uniq_trans, STYPE = internal, SSPACE = 16416, FINALFUNC = mergetree.uniq_final,
    COMBINEFUNC = mergetree.uniq_combine, SERIALFUNC = mergetree.uniq_serialize,
    DESERIALFUNC = mergetree.uniq_deserialize, PARALLEL = SAFE
);
COMMENT ON AGGREGATE mergetree.uniq(anyelement) IS
    'Approximate count of distinct values (exact up to 2048, then HyperLogLog with 2^14 registers: standard error 0.81%)';
CREATE OR REPLACE AGGREGATE mergetree.quantile(float8, float8) (
    SFUNC = mergetree.quantile_trans, STYPE = internal, SSPACE = 4096, FINALFUNC = mergetree.quantile_final,
    COMBINEFUNC = mergetree.quantile_combine, SERIALFUNC = mergetree.quantile_serialize,
    DESERIALFUNC = mergetree.quantile_deserialize, PARALLEL = SAFE
);
COMMENT ON AGGREGATE mergetree.quantile(float8, float8) IS
    'Approximate quantile (DDSketch): within 1% of the value at the level''s rank';

-- pg_mergetree::approx::uniq_union
CREATE OR REPLACE FUNCTION "uniq_union"(
	"a" bytea, /* & [u8] */
	"b" bytea /* & [u8] */
) RETURNS bytea /* Vec < u8 > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'uniq_union_wrapper';

-- requires:
--   approximate_aggregates
--   uniq_state_final
--   uniq_merge_trans
--   uniq_union
--   quantile_state_trans
--   quantile_state_final
--   quantile_merge_trans
--   quantile_union


CREATE OR REPLACE AGGREGATE mergetree.uniq_state(anyelement) (
    SFUNC = mergetree.uniq_trans, STYPE = internal, SSPACE = 16416, FINALFUNC = mergetree.uniq_state_final,
    COMBINEFUNC = mergetree.uniq_combine, SERIALFUNC = mergetree.uniq_serialize,
    DESERIALFUNC = mergetree.uniq_deserialize, PARALLEL = SAFE
);
COMMENT ON AGGREGATE mergetree.uniq_state(anyelement) IS
    'The mergetree.uniq sketch of a group, as bytea (store it; combine with mergetree.uniq_union, answer with mergetree.uniq_merge)';
CREATE OR REPLACE AGGREGATE mergetree.uniq_merge(bytea) (
    SFUNC = mergetree.uniq_merge_trans, STYPE = internal, SSPACE = 16416, FINALFUNC = mergetree.uniq_final,
    COMBINEFUNC = mergetree.uniq_combine, SERIALFUNC = mergetree.uniq_serialize,
    DESERIALFUNC = mergetree.uniq_deserialize, PARALLEL = SAFE
);
COMMENT ON AGGREGATE mergetree.uniq_merge(bytea) IS
    'mergetree.uniq of the rows whose mergetree.uniq_state sketches are aggregated';
CREATE OR REPLACE AGGREGATE mergetree.quantile_state(float8) (
    SFUNC = mergetree.quantile_state_trans, STYPE = internal, SSPACE = 4096, FINALFUNC = mergetree.quantile_state_final,
    COMBINEFUNC = mergetree.quantile_combine, SERIALFUNC = mergetree.quantile_serialize,
    DESERIALFUNC = mergetree.quantile_deserialize, PARALLEL = SAFE
);
COMMENT ON AGGREGATE mergetree.quantile_state(float8) IS
    'The mergetree.quantile sketch of a group, as bytea (combine with mergetree.quantile_union, answer with mergetree.quantile_merge)';
CREATE OR REPLACE AGGREGATE mergetree.quantile_merge(float8, bytea) (
    SFUNC = mergetree.quantile_merge_trans, STYPE = internal, SSPACE = 4096, FINALFUNC = mergetree.quantile_final,
    COMBINEFUNC = mergetree.quantile_combine, SERIALFUNC = mergetree.quantile_serialize,
    DESERIALFUNC = mergetree.quantile_deserialize, PARALLEL = SAFE
);
COMMENT ON AGGREGATE mergetree.quantile_merge(float8, bytea) IS
    'mergetree.quantile at a level of the rows whose mergetree.quantile_state sketches are aggregated';
