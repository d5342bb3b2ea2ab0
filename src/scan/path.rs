//! Planning: a CustomPath for every mergetree base relation (set_rel_pathlist hook), and
//! its CustomScan plan with the pushed clauses in `custom_exprs` (so setrefs fixes their
//! parameters) and the columns to read in `custom_private`.

use super::{exec, quals};
use crate::datum::TablePlan;
use crate::ffi::list_ptrs;
use crate::options::TableOptions;
use pgrx::pg_sys;
use pgrx::prelude::*;

pub static mut PATH_METHODS: pg_sys::CustomPathMethods = pg_sys::CustomPathMethods {
    CustomName: c"MergeTreeScan".as_ptr(),
    PlanCustomPath: Some(plan_custom_path),
    ReparameterizeCustomPathByChild: None,
};

pub static mut SCAN_METHODS: pg_sys::CustomScanMethods = pg_sys::CustomScanMethods {
    CustomName: c"MergeTreeScan".as_ptr(),
    CreateCustomScanState: Some(exec::create_scan_state),
};

/// A MergeTreeScan path over `rel` with the given parameterization, size and costs.
unsafe fn new_path(rel: *mut pg_sys::RelOptInfo, param_info: *mut pg_sys::ParamPathInfo, rows: f64, startup: f64, total: f64) -> *mut pg_sys::CustomPath {
    // SAFETY: a zeroed CustomPath in planner memory, filled like create_seqscan_path does.
    unsafe {
        let path = pg_sys::palloc0(std::mem::size_of::<pg_sys::CustomPath>()) as *mut pg_sys::CustomPath;
        (*path).path.type_ = pg_sys::NodeTag::T_CustomPath;
        (*path).path.pathtype = pg_sys::NodeTag::T_CustomScan;
        (*path).path.parent = rel;
        (*path).path.pathtarget = (*rel).reltarget;
        (*path).path.param_info = param_info;
        (*path).path.rows = rows;
        (*path).path.startup_cost = startup;
        (*path).path.total_cost = total;
        // The node projects (ExecScan): no Result node above it, and the output's JSON field
        // extractions can be computed by the scan (see project.rs).
        (*path).flags = pg_sys::CUSTOMPATH_SUPPORT_PROJECTION;
        (*path).methods = &raw const PATH_METHODS;
        path
    }
}

/// Adds the MergeTreeScan path to a mergetree relation and drops the sequential scan:
/// every query on the table goes through the node (the setting turns it off). TID scans
/// (`WHERE ctid = ...`) stay: a fetch by TID reads one granule.
///
/// # Safety
/// Called from set_rel_pathlist with valid planner structures.
pub unsafe fn add_path(root: *mut pg_sys::PlannerInfo, rel: *mut pg_sys::RelOptInfo) {
    // SAFETY: planner structures are valid during path generation.
    unsafe {
        let seq_cost = list_ptrs::<pg_sys::Path>((*rel).pathlist)
            .into_iter()
            .filter(|p| (**p).pathtype == pg_sys::NodeTag::T_SeqScan && (**p).param_info.is_null())
            .map(|p| ((*p).startup_cost, (*p).total_cost))
            .next();
        let Some((startup, total)) = seq_cost else { return };
        let ppi = pg_sys::get_baserel_parampathinfo(root, rel, (*rel).lateral_relids);
        // The table's sort key and columns, read once for every path below.
        let oid = (*(*(*root).simple_rte_array.add((*rel).relid as usize))).relid;
        let r = pg_sys::relation_open(oid, pg_sys::NoLock as i32);
        let opts = crate::options::for_relation(r);
        let plan = crate::datum::table_plan(r);
        pg_sys::relation_close(r, pg_sys::NoLock as i32);
        // Reading fewer columns than a heap scan, and only the granules the primary index
        // keeps: never more expensive, and much cheaper for filters on the sort key (so a
        // point query is not planned as a parallel scan of the whole table).
        let frac = key_fraction(root, rel, &opts, &plan);
        let run = (total - startup) * 0.5 * frac;
        let path = new_path(rel, ppi, (*rel).rows, startup, startup + run);
        let tid_paths: Vec<*mut pg_sys::Path> =
            list_ptrs::<pg_sys::Path>((*rel).pathlist).into_iter().filter(|p| (**p).pathtype == pg_sys::NodeTag::T_TidScan).collect();
        (*rel).pathlist = std::ptr::null_mut();
        pg_sys::add_path(rel, path as *mut pg_sys::Path);
        for p in tid_paths {
            pg_sys::add_path(rel, p);
        }
        add_parameterized_paths(root, rel, &opts, &plan, startup, total);
        if (*rel).consider_parallel && (*rel).lateral_relids.is_null() {
            add_partial_path(rel, startup, startup + run * 2.0);
        }
    }
}

/// The estimated fraction of the table the primary index keeps for the relation's own
/// filters: the selectivity of pushable clauses on a prefix of the `order_by` columns
/// (a clause on key column k counts when column k-1 is filtered too). At least a granule
/// per part remains, hence the floor.
unsafe fn key_fraction(root: *mut pg_sys::PlannerInfo, rel: *mut pg_sys::RelOptInfo, opts: &TableOptions, plan: &TablePlan) -> f64 {
    // SAFETY: planner structures are valid during path generation.
    unsafe {
        if (*rel).baserestrictinfo.is_null() || !crate::gucs::VECTORIZED_FILTERS.get() {
            return 1.0;
        }
        let offset = pg_sys::FirstLowInvalidHeapAttributeNumber;
        let infos = list_ptrs::<pg_sys::RestrictInfo>((*rel).baserestrictinfo);
        let mut chosen: *mut pg_sys::List = std::ptr::null_mut();
        for name in &opts.order_by {
            let Some(ci) = plan.index_of_name(name) else { break };
            let mut found = false;
            for &ri in &infos {
                let clause = (*ri).clause as *mut pg_sys::Node;
                if (*ri).security_level > 0 || !quals::pushable(clause, (*rel).relid, plan, false) {
                    continue;
                }
                let mut attrs: *mut pg_sys::Bitmapset = std::ptr::null_mut();
                pg_sys::pull_varattnos(clause, (*rel).relid, &mut attrs);
                if pg_sys::bms_num_members(attrs) == 1 && pg_sys::bms_is_member(plan.columns[ci].attnum as i32 - offset, attrs) {
                    chosen = pg_sys::lappend(chosen, ri.cast());
                    found = true;
                }
            }
            if !found {
                break;
            }
        }
        if chosen.is_null() {
            return 1.0;
        }
        let sel = pg_sys::clauselist_selectivity(root, chosen, (*rel).relid as i32, pg_sys::JoinType::JOIN_INNER, std::ptr::null_mut());
        sel.clamp(0.002, 1.0)
    }
}

/// Whether one of the parameterized clauses compares the leading `order_by` column: only
/// then does each outer value prune the inner scan to a few granules. Otherwise every
/// loop would read the whole table, and the path is not offered.
unsafe fn prunes_by_key(rel: *mut pg_sys::RelOptInfo, opts: &TableOptions, plan: &TablePlan, clauses: *mut pg_sys::List) -> bool {
    // SAFETY: planner structures are valid during path generation.
    unsafe {
        let Some(lead) = opts.order_by.first().and_then(|n| plan.index_of_name(n)) else { return false };
        list_ptrs::<pg_sys::RestrictInfo>(clauses).into_iter().any(|ri| {
            let clause = (*ri).clause as *mut pg_sys::Node;
            quals::pushable(clause, (*rel).relid, plan, false) && {
                let mut attrs: *mut pg_sys::Bitmapset = std::ptr::null_mut();
                pg_sys::pull_varattnos(clause, (*rel).relid, &mut attrs);
                pg_sys::bms_is_member(plan.columns[lead].attnum as i32 - pg_sys::FirstLowInvalidHeapAttributeNumber, attrs)
            }
        })
    }
}

/// A parallel-aware path: the leader and the workers share out the pruned granules.
unsafe fn add_partial_path(rel: *mut pg_sys::RelOptInfo, startup: f64, total: f64) {
    // SAFETY: planner structures are valid during path generation.
    unsafe {
        let workers = pg_sys::compute_parallel_worker(rel, (*rel).pages as f64, -1.0, pg_sys::max_parallel_workers_per_gather);
        if workers <= 0 {
            return;
        }
        // The leader also scans, at a share that shrinks with more workers (as for heap).
        let share = workers as f64 + if pg_sys::parallel_leader_participation { (1.0 - 0.3 * workers as f64).max(0.0) } else { 0.0 };
        let path = new_path(rel, std::ptr::null_mut(), (*rel).rows / share, startup, startup + (total - startup) * 0.5 / share);
        (*path).path.parallel_aware = true;
        (*path).path.parallel_safe = true;
        (*path).path.parallel_workers = workers;
        pg_sys::add_partial_path(rel, path as *mut pg_sys::Path);
    }
}

/// For equality join clauses `our_column = other.column`, a path parameterized by the
/// other relation: as the inner side of a nested loop, each outer row's value prunes
/// parts and granules like a constant would.
unsafe fn add_parameterized_paths(root: *mut pg_sys::PlannerInfo, rel: *mut pg_sys::RelOptInfo, opts: &TableOptions, plan: &TablePlan, startup: f64, total: f64) {
    // SAFETY: planner structures are valid during path generation.
    unsafe {
        // Join equalities live in equivalence classes, so ask for each other base relation
        // which clauses a path parameterized by it would get.
        for i in 1..(*root).simple_rel_array_size as usize {
            let other = *(*root).simple_rel_array.add(i);
            if other.is_null() || other == rel || (*other).reloptkind != pg_sys::RelOptKind::RELOPT_BASEREL {
                continue;
            }
            if pg_sys::bms_overlap((*other).relids, (*rel).lateral_referencers) {
                continue;
            }
            let required = pg_sys::bms_union((*other).relids, (*rel).lateral_relids);
            let ppi = pg_sys::get_baserel_parampathinfo(root, rel, required);
            if ppi.is_null() || (*ppi).ppi_clauses.is_null() || !prunes_by_key(rel, opts, plan, (*ppi).ppi_clauses) {
                continue;
            }
            // Cost by the fraction of rows the parameter keeps: pruning reads about that much.
            let frac = ((*ppi).ppi_rows / (*rel).tuples.max(1.0)).clamp(0.0001, 1.0);
            let path = new_path(rel, ppi, (*ppi).ppi_rows, startup, startup + (total - startup) * 0.5 * frac.max(0.01));
            pg_sys::add_path(rel, path as *mut pg_sys::Path);
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn plan_custom_path(
    _root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    _best_path: *mut pg_sys::CustomPath,
    tlist: *mut pg_sys::List,
    clauses: *mut pg_sys::List,
    _custom_plans: *mut pg_sys::List,
) -> *mut pg_sys::Plan {
    // SAFETY: planner structures are valid; the relation is locked by the planner.
    unsafe {
        let relid = (*rel).relid;
        let rte_oid = (*(*(*_root).simple_rte_array.add(relid as usize))).relid;
        let r = pg_sys::relation_open(rte_oid, pg_sys::NoLock as i32);
        let plan = crate::datum::table_plan(r);
        pg_sys::relation_close(r, pg_sys::NoLock as i32);

        let infos = list_ptrs::<pg_sys::RestrictInfo>(clauses);
        let rls = infos.iter().any(|ri| (**ri).security_level > 0);
        let enabled = crate::gucs::VECTORIZED_FILTERS.get();
        let mut pushed: *mut pg_sys::List = std::ptr::null_mut();
        let mut kept: *mut pg_sys::List = std::ptr::null_mut();
        for ri in infos {
            if (*ri).pseudoconstant {
                continue; // extract below keeps these for the gating Result node
            }
            let clause = (*ri).clause as *mut pg_sys::Node;
            if enabled && quals::pushable(clause, relid, &plan, rls) {
                pushed = pg_sys::lappend(pushed, clause.cast());
            } else {
                kept = pg_sys::lappend(kept, clause.cast());
            }
        }
        // Columns to emit: those the output and the kept quals use. Columns to read: those
        // plus the filter columns, which a filter-only column never leaves the scan as.
        let mut attrs: *mut pg_sys::Bitmapset = std::ptr::null_mut();
        // A projecting parent plans us without a tlist and sets its own afterwards; what it
        // can use is the relation's target.
        pg_sys::pull_varattnos(tlist as *mut pg_sys::Node, relid, &mut attrs);
        pg_sys::pull_varattnos((*(*rel).reltarget).exprs as *mut pg_sys::Node, relid, &mut attrs);
        pg_sys::pull_varattnos(kept as *mut pg_sys::Node, relid, &mut attrs);
        let emitted = attr_list(attrs, &plan);
        pg_sys::pull_varattnos(pushed as *mut pg_sys::Node, relid, &mut attrs);
        let read = attr_list(attrs, &plan);
        let cscan = pg_sys::palloc0(std::mem::size_of::<pg_sys::CustomScan>()) as *mut pg_sys::CustomScan;
        (*cscan).scan.plan.type_ = pg_sys::NodeTag::T_CustomScan;
        (*cscan).scan.plan.targetlist = tlist;
        (*cscan).scan.plan.qual = kept;
        (*cscan).scan.scanrelid = relid;
        (*cscan).custom_exprs = pushed;
        (*cscan).custom_private = pg_sys::lappend(pg_sys::lappend(std::ptr::null_mut(), read.cast()), emitted.cast());
        (*cscan).methods = &raw const SCAN_METHODS;
        cscan as *mut pg_sys::Plan
    }
}

/// The attribute numbers in `attrs` (from `pull_varattnos`) as an integer list; a
/// whole-row reference means every column.
unsafe fn attr_list(attrs: *mut pg_sys::Bitmapset, plan: &crate::datum::TablePlan) -> *mut pg_sys::List {
    // SAFETY: `attrs` is a valid (possibly empty) bitmapset in the planner's memory context.
    unsafe {
        let offset = pg_sys::FirstLowInvalidHeapAttributeNumber;
        let mut list: *mut pg_sys::List = std::ptr::null_mut();
        let mut m = -1;
        loop {
            m = pg_sys::bms_next_member(attrs, m);
            if m < 0 {
                break;
            }
            let attno = m + offset;
            if attno == 0 {
                list = std::ptr::null_mut();
                for c in &plan.columns {
                    list = pg_sys::lappend_int(list, c.attnum as i32);
                }
                return list;
            } else if attno > 0 {
                list = pg_sys::lappend_int(list, attno);
            }
        }
        list
    }
}
