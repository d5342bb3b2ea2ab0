//! #[pg_test]s: behaviour inside Postgres that SQL alone cannot reach: damaged pages, the metapage
//! and the part catalog agreeing, estimates the planner gets.

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn setup(rows: i32) {
        Spi::run("CREATE TABLE t (a int, b text) USING mergetree WITH (order_by = 'a', index_granularity = 100)").unwrap();
        Spi::run(&format!("INSERT INTO t SELECT g, 'value ' || g FROM generate_series(1, {rows}) g")).unwrap();
        // A test runs in one transaction: write the buffered rows as parts, as a commit would.
        crate::write::xact::flush_all_now();
    }

    #[pg_test]
    fn rows_read_back_in_order_by_key() {
        Spi::run("CREATE TABLE t (a int, b text) USING mergetree WITH (order_by = 'a')").unwrap();
        Spi::run("INSERT INTO t SELECT (g * 7919) % 1000, 'v' || g FROM generate_series(1, 1000) g").unwrap();
        crate::write::xact::flush_all_now();
        // Within one part rows are stored sorted by order_by: a scan returns them in key order.
        let sorted = Spi::get_one::<bool>(
            "SELECT bool_and(a >= prev) FROM (SELECT a, lag(a, 1, -1) OVER () AS prev FROM t) s",
        )
        .unwrap();
        assert_eq!(sorted, Some(true));
        assert_eq!(Spi::get_one::<i64>("SELECT sum(a)::int8 FROM t").unwrap(), Some(499500));
    }

    #[pg_test]
    fn catalog_and_pages_agree() {
        setup(5000);
        let (rows, blocks) = Spi::get_two::<i64, i64>(
            "SELECT sum(rows)::int8, sum(nblocks)::int8 FROM mergetree.part_catalog WHERE relid = 't'::regclass",
        )
        .unwrap();
        assert_eq!(rows, Some(5000));
        // Block 0 is the metapage; every other block belongs to a part.
        let rel_blocks = Spi::get_one::<i64>("SELECT pg_relation_size('t') / current_setting('block_size')::int8").unwrap();
        assert_eq!(rel_blocks, Some(blocks.unwrap() + 1));
    }

    #[pg_test]
    fn planner_sees_row_count_without_analyze() {
        setup(12345);
        let plan = Spi::get_one::<pgrx::Json>("EXPLAIN (FORMAT JSON) SELECT * FROM t").unwrap().unwrap();
        let rows = plan.0[0]["Plan"]["Plan Rows"].as_f64().unwrap();
        assert_eq!(rows, 12345.0);
        // Rows still buffered in this transaction count too.
        Spi::run("INSERT INTO t SELECT g, 'more' FROM generate_series(1, 55) g").unwrap();
        let plan = Spi::get_one::<pgrx::Json>("EXPLAIN (FORMAT JSON) SELECT * FROM t").unwrap().unwrap();
        assert_eq!(plan.0[0]["Plan"]["Plan Rows"].as_f64().unwrap(), 12400.0);
    }

    /// Overwrites one data page of the table's first part with garbage (WAL-logged, like a
    /// page damaged on disk and then read back).
    fn damage_first_part(table: &str) {
        // The part's last block holds column data (its first blocks hold the metadata).
        let block = Spi::get_one::<i64>(&format!(
            "SELECT start_block + nblocks - 1 FROM mergetree.part_catalog WHERE relid = '{table}'::regclass ORDER BY part_id LIMIT 1"
        ))
        .unwrap()
        .unwrap();
        // SAFETY: the relation is opened and closed here; the block exists and is locked exclusively.
        unsafe {
            let oid = Spi::get_one::<pg_sys::Oid>(&format!("SELECT '{table}'::regclass::oid")).unwrap().unwrap();
            let rel = pg_sys::relation_open(oid, pg_sys::AccessExclusiveLock as i32);
            let buf = crate::storage::buffer::PinnedBuffer::read(
                rel,
                block as u32,
                pg_sys::ReadBufferMode::RBM_NORMAL,
                Some(pg_sys::BUFFER_LOCK_EXCLUSIVE as i32),
            );
            crate::storage::blob::write_page(rel, &buf, &vec![0xA5u8; crate::storage::PAYLOAD]);
            drop(buf);
            pg_sys::relation_close(rel, pg_sys::AccessExclusiveLock as i32);
        }
    }

    #[pg_test(error = "mergetree table \"t\": corrupt data in column block: checksum mismatch")]
    fn damaged_page_is_a_clear_error() {
        setup(20000);
        damage_first_part("t");
        Spi::run("SELECT count(b) FROM t").unwrap();
    }

    #[pg_test(error = "mergetree table \"t\": corrupt data in part metadata: checksum mismatch")]
    fn damaged_metadata_is_a_clear_error() {
        setup(20000);
        let start = Spi::get_one::<i64>("SELECT min(start_block) FROM mergetree.part_catalog WHERE relid = 't'::regclass").unwrap().unwrap();
        // SAFETY: as in damage_first_part, on the part's first block (header and metadata).
        unsafe {
            let oid = Spi::get_one::<pg_sys::Oid>("SELECT 't'::regclass::oid").unwrap().unwrap();
            let rel = pg_sys::relation_open(oid, pg_sys::AccessExclusiveLock as i32);
            let buf = crate::storage::buffer::PinnedBuffer::read(rel, start as u32, pg_sys::ReadBufferMode::RBM_NORMAL, Some(pg_sys::BUFFER_LOCK_EXCLUSIVE as i32));
            let mut bytes = vec![0u8; 64];
            bytes[..4].copy_from_slice(b"MTP1");
            bytes[4..8].copy_from_slice(&40u32.to_le_bytes());
            crate::storage::blob::write_page(rel, &buf, &bytes);
            drop(buf);
            pg_sys::relation_close(rel, pg_sys::AccessExclusiveLock as i32);
        }
        // count(*) alone is answered from the catalog's row counts; sum(a) reads the part.
        Spi::run("SELECT sum(a) FROM t").unwrap();
    }

    #[pg_test]
    fn verify_lists_damaged_parts() {
        setup(20000);
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM mergetree.verify('t')").unwrap(), Some(0));
        damage_first_part("t");
        let problems = Spi::get_one::<i64>("SELECT count(*) FROM mergetree.verify('t')").unwrap().unwrap();
        assert!(problems > 0, "verify must report the damaged granules");
    }

    #[pg_test]
    fn tids_round_trip() {
        for row in [0u64, 1, 290, 291, 1 << 33, crate::datum::BUFFER_ROW_BASE + 5] {
            let tid = crate::datum::row_id_to_tid(row);
            assert!(tid.ip_posid >= 1 && tid.ip_posid <= 291);
            assert_eq!(crate::datum::tid_to_row_id(&tid), Some(row));
        }
    }

    #[pg_test]
    fn vacuum_frees_pages_of_aborted_parts() {
        Spi::run("CREATE TABLE t (a int) USING mergetree").unwrap();
        Spi::run("INSERT INTO t VALUES (1)").unwrap();
        // A part written and then rolled back (subtransaction) leaves orphaned pages.
        Spi::run(
            "DO $$ BEGIN
               BEGIN
                 SET LOCAL mergetree.insert_buffer_size = '1MB';
                 INSERT INTO t SELECT g FROM generate_series(1, 500000) g;
                 RAISE EXCEPTION 'roll back';
               EXCEPTION WHEN raise_exception THEN NULL;
               END;
             END $$",
        )
        .unwrap();
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM t").unwrap(), Some(1));
        // SAFETY: reads the size and metapage of an open relation.
        let (before, after, free) = unsafe {
            let oid = Spi::get_one::<pg_sys::Oid>("SELECT 't'::regclass::oid").unwrap().unwrap();
            let rel = pg_sys::relation_open(oid, pg_sys::AccessShareLock as i32);
            let blocks = || pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM);
            let before = blocks();
            crate::am::vacuum::relation_vacuum(rel, std::ptr::null_mut(), std::ptr::null_mut());
            let after = blocks();
            let meta = crate::storage::metapage::read(rel, "t").unwrap();
            pg_sys::relation_close(rel, pg_sys::AccessShareLock as i32);
            (before, after, meta.free.iter().map(|&(_, n)| n as u64).sum::<u64>())
        };
        // The aborted parts were written last (the committed row is still in the
        // transaction's buffer): their pages are cut off the end of the file (a free
        // extent before the end would be listed instead).
        assert_eq!(free, 0, "no free extent left inside the file");
        assert!(after < before, "the file shrinks from {before} blocks (now {after})");
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM t").unwrap(), Some(1));
        Spi::run("INSERT INTO t VALUES (2)").unwrap();
        assert_eq!(Spi::get_one::<i64>("SELECT sum(a)::int8 FROM t").unwrap(), Some(3));
    }
}
