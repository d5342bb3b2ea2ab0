//! Row changes: DELETE, UPDATE and row locks (write/dml.rs does the work); ON CONFLICT
//! and indexes are refused with clear errors naming the table.

use crate::error::unsupported;
use pgrx::pg_sys;

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn tuple_delete(
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    cid: pg_sys::CommandId,
    snapshot: pg_sys::Snapshot,
    _crosscheck: pg_sys::Snapshot,
    _wait: bool,
    tmfd: *mut pg_sys::TM_FailureData,
    changing_part: bool,
) -> pg_sys::TM_Result::Type {
    // SAFETY: Postgres passes an open relation, a valid TID and failure data to fill.
    unsafe {
        // A row moving to another partition of a partitioned table is an update.
        let r = crate::write::dml::delete_row(rel, tid, cid, snapshot, changing_part, tmfd);
        if r == pg_sys::TM_Result::TM_Ok {
            pg_sys::pgstat_count_heap_delete(rel);
        }
        r
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn tuple_update(
    rel: pg_sys::Relation,
    otid: pg_sys::ItemPointer,
    slot: *mut pg_sys::TupleTableSlot,
    cid: pg_sys::CommandId,
    snapshot: pg_sys::Snapshot,
    _crosscheck: pg_sys::Snapshot,
    _wait: bool,
    tmfd: *mut pg_sys::TM_FailureData,
    lockmode: *mut pg_sys::LockTupleMode::Type,
    update_indexes: *mut bool,
) -> pg_sys::TM_Result::Type {
    // SAFETY: Postgres passes an open relation, the old row's TID, the new row in `slot`
    // and out-parameters to fill.
    unsafe {
        *lockmode = pg_sys::LockTupleMode::LockTupleExclusive;
        *update_indexes = false;
        let r = crate::write::dml::delete_row(rel, otid, cid, snapshot, true, tmfd);
        if r == pg_sys::TM_Result::TM_Ok {
            crate::am::insert::insert_row(rel, slot, cid);
            // The old version leads to the new one (for WHERE CURRENT OF, see successors.rs).
            if let (Some(old), Some(new)) = (crate::datum::tid_to_row_id(&*otid), crate::datum::tid_to_row_id(&(*slot).tts_tid)) {
                crate::write::successors::record((*rel).rd_node.relNode, old, new, pg_sys::GetCurrentSubTransactionId());
            }
            pg_sys::pgstat_count_heap_update(rel, false);
        }
        r
    }
}

/// Row locks (SELECT ... FOR SHARE/UPDATE, EvalPlanQual): the table's writer lock (see
/// write/dml.rs), then the row, if no one deleted it, into `slot`.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn tuple_lock(
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    snapshot: pg_sys::Snapshot,
    slot: *mut pg_sys::TupleTableSlot,
    cid: pg_sys::CommandId,
    _mode: pg_sys::LockTupleMode::Type,
    wait_policy: pg_sys::LockWaitPolicy::Type,
    _flags: u8,
    tmfd: *mut pg_sys::TM_FailureData,
) -> pg_sys::TM_Result::Type {
    // SAFETY: Postgres passes an open relation, a valid TID, snapshot and slot.
    unsafe {
        let r = crate::write::dml::lock_row(rel, tid, cid, snapshot, wait_policy, tmfd);
        if r != pg_sys::TM_Result::TM_Ok {
            return r;
        }
        let Some(row) = crate::datum::tid_to_row_id(&*tid) else { return pg_sys::TM_Result::TM_Invisible };
        if super::fetch::fetch_row(rel, row, snapshot, slot) {
            pg_sys::TM_Result::TM_Ok
        } else {
            pg_sys::TM_Result::TM_Invisible
        }
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn tuple_insert_speculative(
    rel: pg_sys::Relation,
    _slot: *mut pg_sys::TupleTableSlot,
    _cid: pg_sys::CommandId,
    _options: i32,
    _bistate: *mut pg_sys::BulkInsertStateData,
    _token: u32,
) {
    // SAFETY: rel is open.
    unsupported(&unsafe { crate::ffi::relname(rel) }, "INSERT ... ON CONFLICT", "mergetree tables have no unique indexes; use a replacing engine (later) or deduplicate in the query.")
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn tuple_complete_speculative(rel: pg_sys::Relation, _slot: *mut pg_sys::TupleTableSlot, _token: u32, _ok: bool) {
    // SAFETY: rel is open.
    unsupported(&unsafe { crate::ffi::relname(rel) }, "INSERT ... ON CONFLICT", "")
}

pub const INDEX_HINT: &str = "mergetree tables are sorted by their order_by option and pruned with a sparse primary index; for other columns create a skip index: CREATE INDEX ... USING mergetree_skip (column) WITH (type = 'bloom_filter'). Ordinary indexes, PRIMARY KEY and UNIQUE constraints are not supported.";

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_begin(rel: pg_sys::Relation) -> *mut pg_sys::IndexFetchTableData {
    // SAFETY: rel is open.
    unsupported(&unsafe { crate::ffi::relname(rel) }, "index scans", INDEX_HINT)
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_reset(_data: *mut pg_sys::IndexFetchTableData) {}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_end(_data: *mut pg_sys::IndexFetchTableData) {}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn index_fetch_tuple(
    _scan: *mut pg_sys::IndexFetchTableData,
    _tid: pg_sys::ItemPointer,
    _snapshot: pg_sys::Snapshot,
    _slot: *mut pg_sys::TupleTableSlot,
    _call_again: *mut bool,
    _all_dead: *mut bool,
) -> bool {
    false
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn index_delete_tuples(rel: pg_sys::Relation, _state: *mut pg_sys::TM_IndexDeleteOp) -> pg_sys::TransactionId {
    // SAFETY: rel is open.
    unsupported(&unsafe { crate::ffi::relname(rel) }, "indexes", INDEX_HINT)
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn index_build_range_scan(
    table_rel: pg_sys::Relation,
    _index_rel: pg_sys::Relation,
    _index_info: *mut pg_sys::IndexInfo,
    _allow_sync: bool,
    _anyvisible: bool,
    _progress: bool,
    _start: pg_sys::BlockNumber,
    _num: pg_sys::BlockNumber,
    _callback: pg_sys::IndexBuildCallback,
    _state: *mut std::ffi::c_void,
    _scan: pg_sys::TableScanDesc,
) -> f64 {
    // SAFETY: rel is open.
    unsupported(&unsafe { crate::ffi::relname(table_rel) }, "CREATE INDEX (and PRIMARY KEY/UNIQUE constraints)", INDEX_HINT)
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn index_validate_scan(
    table_rel: pg_sys::Relation,
    _index_rel: pg_sys::Relation,
    _index_info: *mut pg_sys::IndexInfo,
    _snapshot: pg_sys::Snapshot,
    _state: *mut pg_sys::ValidateIndexState,
) {
    // SAFETY: rel is open.
    unsupported(&unsafe { crate::ffi::relname(table_rel) }, "CREATE INDEX CONCURRENTLY", INDEX_HINT)
}

