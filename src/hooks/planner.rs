//! Keeps mergetree scans out of parallel plans: a worker cannot see the leader's
//! buffered rows, and the scan has no parallel dispenser yet.

use pgrx::pg_sys;
use pgrx::prelude::*;

static mut PREV: pg_sys::set_rel_pathlist_hook_type = None;

pub unsafe fn install() {
    // SAFETY: single-threaded backend start-up.
    unsafe {
        PREV = pg_sys::set_rel_pathlist_hook;
        pg_sys::set_rel_pathlist_hook = Some(set_rel_pathlist);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn set_rel_pathlist(root: *mut pg_sys::PlannerInfo, rel: *mut pg_sys::RelOptInfo, rti: pg_sys::Index, rte: *mut pg_sys::RangeTblEntry) {
    // SAFETY: forwards Postgres' arguments; edits only this rel's path lists.
    unsafe {
        if let Some(prev) = PREV {
            prev(root, rel, rti, rte);
        }
        if (*rte).rtekind == pg_sys::RTEKind::RTE_RELATION && crate::am::is_mergetree((*rte).relid) {
            // Heap's block-range parallel scans do not apply to parts.
            (*rel).partial_pathlist = std::ptr::null_mut();
            let custom = crate::gucs::CUSTOM_SCAN.get() && (*rel).reloptkind == pg_sys::RelOptKind::RELOPT_BASEREL;
            // Workers cannot see this transaction's buffered rows.
            if !custom || crate::write::buffer::buffered_row_count((*rte).relid) > 0 {
                (*rel).consider_parallel = false;
            }
            if custom {
                crate::scan::path::add_path(root, rel);
            }
        }
    }
}
