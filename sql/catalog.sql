-- The access method and the part catalog.
CREATE FUNCTION mergetree.mergetree_am_handler(internal) RETURNS table_am_handler
    AS 'MODULE_PATHNAME', 'mergetree_am_handler' LANGUAGE C STRICT;
CREATE ACCESS METHOD mergetree TYPE TABLE HANDLER mergetree.mergetree_am_handler;
COMMENT ON ACCESS METHOD mergetree IS 'ClickHouse-style MergeTree: columnar, compressed, sorted, sparse-indexed parts';

-- Everyone may look into the schema; what each view and function shows is checked per
-- table below (the privileges of the equivalent SELECT).
GRANT USAGE ON SCHEMA mergetree TO PUBLIC;

-- One row per part. A part is visible to a snapshot exactly when its row is: inserting,
-- replacing or dropping parts is an ordinary transaction on this table (MVCC).
-- Parts belong to a table's storage (relfilenode), which ALTER TABLE, CLUSTER and VACUUM
-- FULL swap between relations; relid is the table the part was written for.
-- Column order is read by position in src/catalog/mod.rs.
CREATE TABLE mergetree.part_catalog (
    relid oid NOT NULL,
    relfilenode oid NOT NULL,
    part_id bigint NOT NULL,
    part_name text NOT NULL,
    partition text NOT NULL,
    level integer NOT NULL,
    rows bigint NOT NULL,
    first_row bigint NOT NULL,
    start_block bigint NOT NULL,
    nblocks bigint NOT NULL,
    part_bytes bigint NOT NULL,
    uncompressed_bytes bigint NOT NULL,
    created timestamptz NOT NULL,
    partition_value bytea,
    -- What merges need (ClickHouse's part info): the partition's id as part names spell
    -- it, the range of insert block numbers the part's rows came from (an insert's part
    -- has one block number, a merged part the union of its inputs'), and the mutation
    -- version its rows reflect.
    partition_id text NOT NULL,
    min_block bigint NOT NULL,
    max_block bigint NOT NULL,
    mutation bigint NOT NULL
);
REVOKE ALL ON mergetree.part_catalog FROM PUBLIC;
-- A table's parts are found through its storage, never by reading every table's parts.
CREATE INDEX part_catalog_storage_idx ON mergetree.part_catalog (relfilenode, part_id);

-- Deleted rows (lightweight DELETE and UPDATE's old versions): one row per deleting
-- transaction and part, a roaring bitmap of the part's row numbers. A snapshot sees the
-- rows deleted exactly when it sees the mask's row (MVCC); merges drop the rows and the
-- masks with their parts.
-- Column order is read by position in src/catalog/deleted.rs.
CREATE TABLE mergetree.deleted_rows_catalog (
    relfilenode oid NOT NULL,
    part_id bigint NOT NULL,
    rows bigint NOT NULL,
    by_update boolean NOT NULL,
    mask bytea NOT NULL
);
REVOKE ALL ON mergetree.deleted_rows_catalog FROM PUBLIC;
CREATE INDEX deleted_rows_catalog_storage_idx ON mergetree.deleted_rows_catalog (relfilenode, part_id);

-- The views show the parts of tables the user may SELECT from, and, as pg_stats does,
-- none of a table whose row-level security applies to the user (row counts and
-- partition values would tell about rows the policies hide). security_barrier: the
-- user's own conditions run only on rows that passed those checks.
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

-- Skip indexes (CREATE INDEX ... USING mergetree_skip): one row per index and part, the
-- part's summary of each index granule. Like parts, rows are visible by MVCC; a part
-- without a row (none yet) is simply not skipped by that index.
-- Column order is read by position in src/skip/catalog.rs.
CREATE TABLE mergetree.skip_index_catalog (
    index_oid oid NOT NULL,
    relfilenode oid NOT NULL,
    part_id bigint NOT NULL,
    data bytea NOT NULL
);
REVOKE ALL ON mergetree.skip_index_catalog FROM PUBLIC;
CREATE INDEX skip_index_catalog_index_idx ON mergetree.skip_index_catalog (index_oid, relfilenode, part_id);

CREATE FUNCTION mergetree.mergetree_skip_handler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME', 'mergetree_skip_handler' LANGUAGE C STRICT;
CREATE ACCESS METHOD mergetree_skip TYPE INDEX HANDLER mergetree.mergetree_skip_handler;
COMMENT ON ACCESS METHOD mergetree_skip IS 'data-skipping indexes of mergetree tables: minmax, set, bloom_filter, ngrambf, tokenbf';

-- An index method needs an operator class per column type. These carry no operators: the
-- planner never uses a skip index as an ordinary index; MergeTreeScan reads it.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'money',
        'text', 'varchar', 'bpchar', 'name', 'bytea', 'bool', 'uuid', 'oid',
        'date', 'time', 'timetz', 'timestamp', 'timestamptz', 'interval', 'inet', 'cidr',
        'macaddr', 'jsonb', 'json']
    LOOP
        EXECUTE format('CREATE OPERATOR CLASS mergetree.%s_skip_ops DEFAULT FOR TYPE %s USING mergetree_skip AS STORAGE %s',
                       replace(t, '"', ''), t, t);
    END LOOP;
END
$$;

-- One row per skip index and visible part: its type, granularity and size.
CREATE VIEW mergetree.skip_indexes WITH (security_barrier) AS
SELECT i.indrelid::regclass AS table_name, s.index_oid::regclass AS index_name, p.part_name,
       octet_length(s.data) AS bytes
FROM mergetree.skip_index_catalog s
JOIN pg_index i ON i.indexrelid = s.index_oid
JOIN pg_class r ON r.oid = i.indrelid AND r.relfilenode = s.relfilenode
JOIN mergetree.part_catalog p ON p.relfilenode = s.relfilenode AND p.part_id = s.part_id
WHERE has_table_privilege(r.oid, 'SELECT')
  AND (NOT r.relrowsecurity OR NOT row_security_active(r.oid));
GRANT SELECT ON mergetree.skip_indexes TO PUBLIC;

-- History of merges and dropped partitions (ClickHouse's system.part_log), written in the
-- transaction that merged or dropped: a rolled-back merge leaves no row. Inserts are not
-- logged (each part's row in part_catalog says when it was written).
CREATE TABLE mergetree.part_log_data (
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
CREATE VIEW mergetree.part_log WITH (security_barrier) AS
SELECT l.event_time, l.event_type, r.oid::regclass AS table_name, l.partition, l.part_name,
       l.source_parts, l.rows, l.bytes, l.duration_ms, l.background
FROM mergetree.part_log_data l
JOIN pg_class r ON r.oid = l.relid
WHERE has_table_privilege(r.oid, 'SELECT')
  AND (NOT r.relrowsecurity OR NOT row_security_active(r.oid));
GRANT SELECT ON mergetree.part_log TO PUBLIC;

-- Merges running now in this database, foreground and background (system.merges).
CREATE VIEW mergetree.merges AS
SELECT m.table_name::regclass AS table_name, m.partition, m.parts, m.rows_done, m.rows_total,
       m.elapsed_seconds, m.memory_bytes, m.pid, m.background
FROM mergetree.merges_list() m;
GRANT SELECT ON mergetree.merges TO PUBLIC;

-- Dropped tables take their part rows with them; dropped skip indexes their summaries.
-- Rows are kept by storage, so what goes is every row whose storage no mergetree table
-- owns any more: the dropped tables' and, after a rewrite (ALTER TABLE, CLUSTER, VACUUM
-- FULL), the old storage's. A storage being filled by a transaction not yet committed is
-- invisible here, and so are its rows.
-- Also called after statements that may rewrite tables (src/hooks/alter.rs): Postgres
-- drops a rewritten table's old storage without telling event triggers. Removing rows
-- no one can use is safe for anyone to ask for.
CREATE FUNCTION mergetree.purge_orphans() RETURNS void LANGUAGE sql
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

CREATE FUNCTION mergetree.on_sql_drop() RETURNS event_trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects()
               WHERE classid = 'pg_class'::regclass AND objsubid = 0) THEN
        PERFORM mergetree.purge_orphans();
    END IF;
END
$$;
CREATE EVENT TRIGGER mergetree_on_sql_drop ON sql_drop EXECUTE FUNCTION mergetree.on_sql_drop();

-- Checks every visible part of a table; no rows means healthy. Needs SELECT on the table.
CREATE FUNCTION mergetree.verify(tbl regclass) RETURNS TABLE (part_name text, problem text)
LANGUAGE sql STRICT AS $$ SELECT * FROM mergetree.verify_oid(tbl::oid) $$;

-- Merges now, in this transaction: without final, one merge per partition that the merge
-- selector finds worth it; with final, each partition's parts into one part. Owner only.
CREATE FUNCTION mergetree.optimize(tbl regclass, partition text DEFAULT NULL, final boolean DEFAULT false, cleanup boolean DEFAULT false)
RETURNS void LANGUAGE sql AS $$ SELECT FROM mergetree.optimize_oid(tbl::oid, partition, coalesce(final, false), coalesce(cleanup, false)) WHERE tbl IS NOT NULL $$;

-- Removes a partition's parts (the value as the partition expression gives it, in its
-- type's input syntax) in this transaction; returns the rows dropped. Needs TRUNCATE.
CREATE FUNCTION mergetree.drop_partition(tbl regclass, value text) RETURNS bigint
LANGUAGE sql STRICT AS $$ SELECT mergetree.drop_partition_oid(tbl::oid, value) $$;

-- One row per table, visible part and column: the codec chain each part chose and its sizes.
CREATE VIEW mergetree.columns WITH (security_barrier) AS
SELECT c.oid::regclass AS table_name, pc.part_name, pc.column_name, pc.codec,
       pc.compressed_bytes, pc.uncompressed_bytes,
       round(pc.uncompressed_bytes::numeric / greatest(pc.compressed_bytes, 1), 2) AS ratio,
       pc.framed_granules
FROM (SELECT c.oid FROM pg_class c
      JOIN pg_am a ON a.oid = c.relam AND a.amname = 'mergetree'
      WHERE has_table_privilege(c.oid, 'SELECT')
        AND (NOT c.relrowsecurity OR NOT row_security_active(c.oid))
      OFFSET 0) c
CROSS JOIN LATERAL mergetree.part_columns(c.oid) pc;
GRANT SELECT ON mergetree.columns TO PUBLIC;
