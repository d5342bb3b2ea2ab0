//! Storage lifecycle: new relfilenodes (CREATE, TRUNCATE, rewrites), sizes, estimates.

use crate::catalog;
use crate::error::unsupported;
use crate::write::buffer;
use pgrx::pg_sys;

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_set_new_filenode(
    rel: pg_sys::Relation,
    newrnode: *const pg_sys::RelFileNode,
    persistence: std::ffi::c_char,
    freeze_xid: *mut pg_sys::TransactionId,
    minmulti: *mut pg_sys::MultiXactId,
) {
    // SAFETY: Postgres passes an open relation and out-parameters.
    unsafe {
        if persistence as u8 == pg_sys::RELPERSISTENCE_UNLOGGED {
            unsupported(
                &super::relname(rel),
                "UNLOGGED",
                "The part catalog is WAL-logged, so parts must be too; create a regular (logged) table.",
            );
        }
        // Part pages carry no transaction ids: nothing ever needs freezing.
        *freeze_xid = pg_sys::InvalidTransactionId;
        *minmulti = 0.into();
        let srel = pg_sys::RelationCreateStorage(*newrnode, persistence, true);
        pg_sys::smgrclose(srel);
        // The new file is empty: rows buffered or parts registered for the old one go
        // (transactionally, so a rolled-back TRUNCATE brings them back).
        buffer::discard((*rel).rd_id);
        catalog::delete_all((*rel).rd_id);
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_nontransactional_truncate(rel: pg_sys::Relation) {
    // SAFETY: TRUNCATE of a table created in this transaction; the file is ours alone.
    unsafe {
        buffer::discard((*rel).rd_id);
        catalog::delete_all((*rel).rd_id);
        pg_sys::RelationTruncate(rel, 0);
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_copy_data(rel: pg_sys::Relation, _newrnode: *const pg_sys::RelFileNode) {
    // SAFETY: rel is open.
    unsupported(&unsafe { super::relname(rel) }, "ALTER TABLE ... SET TABLESPACE", "Create the table in the target tablespace and copy the rows with INSERT ... SELECT.")
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_copy_for_cluster(
    old: pg_sys::Relation,
    _new: pg_sys::Relation,
    _old_index: pg_sys::Relation,
    _use_sort: bool,
    _oldest_xmin: pg_sys::TransactionId,
    _xid_cutoff: *mut pg_sys::TransactionId,
    _multi_cutoff: *mut pg_sys::MultiXactId,
    _num_tuples: *mut f64,
    _tups_vacuumed: *mut f64,
    _tups_recently_dead: *mut f64,
) {
    // SAFETY: rel is open.
    unsupported(&unsafe { super::relname(old) }, "VACUUM FULL and CLUSTER", "Parts are always sorted by order_by; plain VACUUM reclaims the pages of parts no snapshot can see.")
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_size(rel: pg_sys::Relation, fork: pg_sys::ForkNumber::Type) -> u64 {
    // SAFETY: rel is open; the block-based size is exactly our pages.
    unsafe { pg_sys::table_block_relation_size(rel, fork) }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_needs_toast_table(_rel: pg_sys::Relation) -> bool {
    // Large values live inside parts, compressed; no TOAST table.
    false
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_toast_am(_rel: pg_sys::Relation) -> pg_sys::Oid {
    pg_sys::Oid::from(pg_sys::HEAP_TABLE_AM_OID)
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_estimate_size(
    rel: pg_sys::Relation,
    _attr_widths: *mut i32,
    pages: *mut pg_sys::BlockNumber,
    tuples: *mut f64,
    allvisfrac: *mut f64,
) {
    // SAFETY: rel is open; the planner runs with an active snapshot (or we take the latest).
    unsafe {
        let snap = if pg_sys::ActiveSnapshotSet() { pg_sys::GetActiveSnapshot() } else { pg_sys::GetLatestSnapshot() };
        let rows: i64 = catalog::visible_parts(rel, snap).iter().map(|p| p.rows).sum();
        *tuples = (rows as usize + buffer::buffered_row_count((*rel).rd_id)) as f64;
        *pages = pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM);
        *allvisfrac = 0.0;
    }
}
