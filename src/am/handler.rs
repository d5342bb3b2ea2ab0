//! The TableAmRoutine: wiring only, one line per callback.

use super::{ddl, fetch, insert, modify, scan, vacuum};
use pgrx::pg_sys;
use std::sync::atomic::{AtomicPtr, Ordering};

static ROUTINE: AtomicPtr<pg_sys::TableAmRoutine> = AtomicPtr::new(std::ptr::null_mut());

fn routine() -> *mut pg_sys::TableAmRoutine {
    let p = ROUTINE.load(Ordering::Relaxed);
    if !p.is_null() {
        return p;
    }
    // SAFETY: a zeroed TableAmRoutine is all-None callbacks, filled in below.
    let mut r: pg_sys::TableAmRoutine = unsafe { std::mem::zeroed() };
    r.type_ = pg_sys::NodeTag::T_TableAmRoutine;
    r.slot_callbacks = Some(scan::slot_callbacks);
    r.scan_begin = Some(scan::scan_begin);
    r.scan_end = Some(scan::scan_end);
    r.scan_rescan = Some(scan::scan_rescan);
    r.scan_getnextslot = Some(scan::scan_getnextslot);
    r.parallelscan_estimate = Some(parallelscan_estimate);
    r.parallelscan_initialize = Some(parallelscan_initialize);
    r.parallelscan_reinitialize = Some(parallelscan_reinitialize);
    r.index_fetch_begin = Some(modify::index_fetch_begin);
    r.index_fetch_reset = Some(modify::index_fetch_reset);
    r.index_fetch_end = Some(modify::index_fetch_end);
    r.index_fetch_tuple = Some(modify::index_fetch_tuple);
    r.tuple_fetch_row_version = Some(fetch::tuple_fetch_row_version);
    r.tuple_tid_valid = Some(fetch::tuple_tid_valid);
    r.tuple_get_latest_tid = Some(fetch::tuple_get_latest_tid);
    r.tuple_satisfies_snapshot = Some(fetch::tuple_satisfies_snapshot);
    r.index_delete_tuples = Some(modify::index_delete_tuples);
    r.tuple_insert = Some(insert::tuple_insert);
    r.tuple_insert_speculative = Some(modify::tuple_insert_speculative);
    r.tuple_complete_speculative = Some(modify::tuple_complete_speculative);
    r.multi_insert = Some(insert::multi_insert);
    r.tuple_delete = Some(modify::tuple_delete);
    r.tuple_update = Some(modify::tuple_update);
    r.tuple_lock = Some(modify::tuple_lock);
    r.finish_bulk_insert = Some(insert::finish_bulk_insert);
    r.relation_set_new_filenode = Some(ddl::relation_set_new_filenode);
    r.relation_nontransactional_truncate = Some(ddl::relation_nontransactional_truncate);
    r.relation_copy_data = Some(ddl::relation_copy_data);
    r.relation_copy_for_cluster = Some(ddl::relation_copy_for_cluster);
    r.relation_vacuum = Some(vacuum::relation_vacuum);
    r.scan_analyze_next_block = Some(scan::scan_analyze_next_block);
    r.scan_analyze_next_tuple = Some(scan::scan_analyze_next_tuple);
    r.index_build_range_scan = Some(modify::index_build_range_scan);
    r.index_validate_scan = Some(modify::index_validate_scan);
    r.relation_size = Some(ddl::relation_size);
    r.relation_needs_toast_table = Some(ddl::relation_needs_toast_table);
    r.relation_toast_am = Some(ddl::relation_toast_am);
    r.relation_estimate_size = Some(ddl::relation_estimate_size);
    r.scan_sample_next_block = Some(scan::scan_sample_next_block);
    r.scan_sample_next_tuple = Some(scan::scan_sample_next_tuple);
    let p = Box::into_raw(Box::new(r));
    ROUTINE.store(p, Ordering::Relaxed);
    p
}

// Parallel sequential scans are kept out of plans (hooks/planner.rs): the one caller
// left is a parallel btree build (ALTER TABLE ... ADD PRIMARY KEY, say), refused here
// with the CREATE INDEX message rather than later in a worker.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn parallelscan_estimate(rel: pg_sys::Relation) -> usize {
    // SAFETY: rel is open.
    crate::error::unsupported(&unsafe { crate::ffi::relname(rel) }, "CREATE INDEX (and PRIMARY KEY/UNIQUE constraints)", super::modify::INDEX_HINT)
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn parallelscan_initialize(rel: pg_sys::Relation, p: pg_sys::ParallelTableScanDesc) -> usize {
    // SAFETY: forwards to the block-based helper.
    unsafe { pg_sys::table_block_parallelscan_initialize(rel, p) }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn parallelscan_reinitialize(rel: pg_sys::Relation, p: pg_sys::ParallelTableScanDesc) {
    // SAFETY: forwards to the block-based helper.
    unsafe { pg_sys::table_block_parallelscan_reinitialize(rel, p) }
}

#[unsafe(no_mangle)]
pub extern "C" fn pg_finfo_mergetree_am_handler() -> &'static pg_sys::Pg_finfo_record {
    static V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// `mergetree.mergetree_am_handler(internal) RETURNS table_am_handler`.
#[pgrx::pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn mergetree_am_handler(_fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    pg_sys::Datum::from(routine())
}
