//! Paths for mergetree relations: MergeTreeScan (scan/path.rs) for base relations and
//! partitions, never heap's block-based parallel scans, and no parallel plan while the
//! transaction has buffered or deleted rows of the table (workers cannot see them).

use pgrx::pg_sys;
use pgrx::prelude::*;

static mut PREV: pg_sys::set_rel_pathlist_hook_type = None;
static mut PREV_UPPER: pg_sys::create_upper_paths_hook_type = None;

pub unsafe fn install() {
    // SAFETY: single-threaded backend start-up.
    unsafe {
        PREV = pg_sys::set_rel_pathlist_hook;
        pg_sys::set_rel_pathlist_hook = Some(set_rel_pathlist);
        PREV_UPPER = pg_sys::create_upper_paths_hook;
        pg_sys::create_upper_paths_hook = Some(create_upper_paths);
    }
}

/// Grouping of one mergetree table: a MergeTreeAgg path (scan/agg/path.rs).
#[pg_guard]
unsafe extern "C-unwind" fn create_upper_paths(
    root: *mut pg_sys::PlannerInfo,
    stage: pg_sys::UpperRelationKind::Type,
    input: *mut pg_sys::RelOptInfo,
    output: *mut pg_sys::RelOptInfo,
    extra: *mut std::ffi::c_void,
) {
    // SAFETY: forwards Postgres' arguments; for UPPERREL_GROUP_AGG `extra` is the
    // grouping's GroupPathExtraData.
    unsafe {
        if let Some(prev) = PREV_UPPER {
            prev(root, stage, input, output, extra);
        }
        if crate::ffi::am_oid() != pg_sys::InvalidOid {
            match stage {
                pg_sys::UpperRelationKind::UPPERREL_GROUP_AGG => {
                    crate::scan::agg::path::add_paths(root, input, output, extra as *mut pg_sys::GroupPathExtraData, false)
                }
                // SELECT DISTINCT of one table's rows: groups without aggregates.
                pg_sys::UpperRelationKind::UPPERREL_DISTINCT => crate::scan::agg::path::add_paths(root, input, output, std::ptr::null_mut(), true),
                _ => {}
            }
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn set_rel_pathlist(root: *mut pg_sys::PlannerInfo, rel: *mut pg_sys::RelOptInfo, rti: pg_sys::Index, rte: *mut pg_sys::RangeTblEntry) {
    // SAFETY: forwards Postgres' arguments; edits only this rel's path lists.
    unsafe {
        if let Some(prev) = PREV {
            prev(root, rel, rti, rte);
        }
        if (*rte).rtekind == pg_sys::RTEKind::RTE_RELATION && crate::ffi::is_mergetree((*rte).relid) {
            // Heap's block-range parallel scans do not apply to parts.
            (*rel).partial_pathlist = std::ptr::null_mut();
            // Base relations, and members of partitioned tables and inheritance trees
            // (each partition is planned as an "other member" relation).
            let member = matches!((*rel).reloptkind, pg_sys::RelOptKind::RELOPT_BASEREL | pg_sys::RelOptKind::RELOPT_OTHER_MEMBER_REL);
            // Workers cannot see this transaction's buffered rows, nor read FINAL (the
            // merge of a partition's parts runs in one process).
            let r = pg_sys::relation_open((*rte).relid, pg_sys::NoLock as i32);
            // Rows this transaction buffered or deleted live in this backend's memory.
            let buffered = crate::write::buffer::buffered_row_count(r) > 0 || crate::catalog::deleted::has_pending((*r).rd_node.relNode);
            let opts = crate::options::for_relation(r);
            pg_sys::relation_close(r, pg_sys::NoLock as i32);
            // FINAL reads happen only in the node: the table AM's scan serves rewrites,
            // which must keep every row.
            let custom = member && (crate::gucs::CUSTOM_SCAN.get() || opts.reads_final());
            let engine = opts.engine != crate::options::Engine::Plain;
            if !custom || buffered || engine {
                (*rel).consider_parallel = false;
            }
            if custom {
                crate::scan::path::add_path(root, rel);
            }
        }
    }
}
