//! Planning MergeTreeAgg: in the grouping stage, when the input is one mergetree table
//! (or its join to one other relation, join.rs) whose filters the scan can evaluate, and
//! every grouping key and aggregate (aggref.rs) is one the node computes exactly as
//! Postgres does, a CustomPath for the grouped relation.

use super::aggref::{agg_out, const_of, value_kind};
use super::join::{self, JoinInput};
use super::{AggOp, JoinPlan, KeyExpr, NodePlan, PRIVATE_RELID};
use crate::datum::{self, TablePlan};
use crate::ffi::list_ptrs;
use crate::scan::quals::{self, var_of};
use mergetree::datetime::{ExtractField, TruncUnit};
use pgrx::pg_sys;
use pgrx::prelude::*;

pub static mut PATH_METHODS: pg_sys::CustomPathMethods =
    pg_sys::CustomPathMethods { CustomName: c"MergeTreeAgg".as_ptr(), PlanCustomPath: Some(plan_custom_path), ReparameterizeCustomPathByChild: None };

pub static mut SCAN_METHODS: pg_sys::CustomScanMethods =
    pg_sys::CustomScanMethods { CustomName: c"MergeTreeAgg".as_ptr(), CreateCustomScanState: Some(super::exec::create_state) };

/// The path's custom_private is the plan's (mod.rs: PRIVATE_*) plus HAVING and the scan
/// tuple's atoms (moved into the plan's qual and custom_scan_tlist).
const PATH_HAVING: usize = 4;
const PATH_ATOMS: usize = 5;


/// A non-NULL text constant, lower-cased as date_trunc and extract lower-case their units
/// and fields (ASCII letters only: the Kelvin sign is no "k").
///
/// # Safety
/// `n` is an expression node.
unsafe fn const_lower_text(n: *mut pg_sys::Node) -> Option<String> {
    // SAFETY: per the caller; a text Const's value is a text Datum.
    unsafe { pgrx::FromDatum::from_datum((*const_of(n)?).constvalue, false).map(|t: String| t.to_ascii_lowercase()) }
}

/// A grouping key the node computes: a column, `ts::date`, `date_trunc(unit, ts)` or
/// `extract(field FROM ts)` of a timestamp column, or a JSON field of a text column (without time zone: these do not depend on the session's TimeZone).
unsafe fn key_expr(e: *mut pg_sys::Node, relid: pg_sys::Index, plan: &TablePlan) -> Option<KeyExpr> {
    // SAFETY: `e` is a grouping expression of the query; catalog lookups.
    unsafe {
        if let Some(v) = var_of(e, relid) {
            let ci = plan.index_of_attnum((*v).varattno)?;
            value_kind(plan, ci, pg_sys::exprCollation(e), (*v).vartypmod, false)?;
            return Some(KeyExpr::Column((*v).varattno));
        }
        // `text::jsonb ->> 'key'` (or ::json): grouped by its bytes, under a deterministic collation.
        if let Some((attnum, key, collation)) = crate::scan::project::match_field(e, relid) {
            let deterministic = collation == pg_sys::InvalidOid || pg_sys::get_collation_isdeterministic(collation);
            return deterministic.then_some(KeyExpr::JsonField(attnum, key));
        }
        if (*e).type_ != pg_sys::NodeTag::T_FuncExpr {
            return None;
        }
        let f = e as *mut pg_sys::FuncExpr;
        let args = list_ptrs::<pg_sys::Node>((*f).args);
        let timestamp_col = |n: *mut pg_sys::Node| {
            let v = var_of(n, relid)?;
            let ci = plan.index_of_attnum((*v).varattno)?;
            (plan.columns[ci].typid == pg_sys::TIMESTAMPOID).then_some((*v).varattno)
        };
        match ((*f).funcid.to_u32(), args.as_slice()) {
            (pg_sys::F_DATE_TIMESTAMP, [ts]) => Some(KeyExpr::DateOf(timestamp_col(*ts)?)),
            (pg_sys::F_DATE_TRUNC_TEXT_TIMESTAMP, [unit, ts]) => Some(KeyExpr::Trunc(TruncUnit::parse(&const_lower_text(*unit)?)?, timestamp_col(*ts)?)),
            (pg_sys::F_EXTRACT_TEXT_TIMESTAMP, [field, ts]) => Some(KeyExpr::Extract(ExtractField::parse(&const_lower_text(*field)?)?, timestamp_col(*ts)?)),
            _ => None,
        }
    }
}

/// What find_aggregates collects: the output's aggregates, given its grouping keys.
struct Found {
    keys: Vec<*mut pg_sys::Node>,
    aggs: Vec<*mut pg_sys::Node>,
    /// False once something other than a key, an aggregate or an expression of them shows.
    ok: bool,
}

/// Collects the Aggrefs of an output or HAVING expression; a column outside both the
/// keys and the aggregates (or a subquery, which the node cannot see into) clears `ok`.
#[pg_guard]
unsafe extern "C-unwind" fn find_aggregates(node: *mut pg_sys::Node, context: *mut std::ffi::c_void) -> bool {
    // SAFETY: `context` is the Found of analyze; nodes are the planner's expressions.
    unsafe {
        let found = &mut *(context as *mut Found);
        if node.is_null() || !found.ok {
            return !found.ok;
        }
        if found.keys.iter().chain(&found.aggs).any(|&k| pg_sys::equal(k.cast(), node.cast())) {
            return false;
        }
        match (*node).type_ {
            pg_sys::NodeTag::T_Aggref => {
                found.aggs.push(node);
                false
            }
            pg_sys::NodeTag::T_Var
            | pg_sys::NodeTag::T_SubPlan
            | pg_sys::NodeTag::T_AlternativeSubPlan
            | pg_sys::NodeTag::T_SubLink
            | pg_sys::NodeTag::T_GroupingFunc
            | pg_sys::NodeTag::T_PlaceHolderVar => {
                found.ok = false;
                true
            }
            _ => pg_sys::expression_tree_walker(node, Some(find_aggregates), context),
        }
    }
}

/// What the node would compute for this grouping (or, for `distinct`, this SELECT
/// DISTINCT: its keys and no aggregates): the plan and the atoms of its output (grouping
/// columns, then aggregates), or None when it cannot.
unsafe fn analyze(
    root: *mut pg_sys::PlannerInfo,
    relid: pg_sys::Index,
    join: Option<&JoinInput>,
    output: *mut pg_sys::RelOptInfo,
    extra: *mut pg_sys::GroupPathExtraData,
    plan: &TablePlan,
    distinct: bool,
) -> Option<(NodePlan, Vec<*mut pg_sys::Node>)> {
    // SAFETY: planner structures are valid in the grouping and distinct stages.
    unsafe {
        let parse = (*root).parse;
        if !(*parse).groupingSets.is_null() || (*parse).hasTargetSRFs {
            return None;
        }
        // DISTINCT over the table's rows (not over groups, not DISTINCT ON).
        if distinct && ((*parse).hasDistinctOn || (*parse).hasAggs || !(*parse).groupClause.is_null() || (*parse).hasWindowFuncs) {
            return None;
        }
        // Grouping keys: plain columns compared by bytes or value, or functions of them.
        let tlist = if extra.is_null() || (*extra).targetList.is_null() { (*parse).targetList } else { (*extra).targetList };
        let mut keys = Vec::new();
        let mut atoms: Vec<*mut pg_sys::Node> = Vec::new();
        let clauses = if distinct { (*parse).distinctClause } else { (*parse).groupClause };
        let mut joined = Vec::new();
        for sgc in list_ptrs::<pg_sys::SortGroupClause>(clauses) {
            let e = pg_sys::get_sortgroupclause_expr(sgc, tlist);
            let key = match (key_expr(e, relid, plan), join) {
                (Some(k), _) => k,
                (None, Some(j)) => {
                    joined.push(join::other_key(root, j, e, sgc)?);
                    KeyExpr::Joined(joined.len() - 1)
                }
                (None, None) => return None,
            };
            keys.push(key);
            atoms.push(e);
        }
        // Aggregates of the output and of HAVING; anything else must be made of keys.
        let having = if extra.is_null() { std::ptr::null_mut() } else { (*extra).havingQual };
        let mut found = Found { keys: atoms.clone(), aggs: Vec::new(), ok: true };
        for e in [(*output_target(root, output, distinct)).exprs as *mut pg_sys::Node, having] {
            find_aggregates(e, &mut found as *mut Found as *mut std::ffi::c_void);
        }
        if !found.ok {
            return None;
        }
        let mut aggs = Vec::new();
        for n in found.aggs {
            if join.is_some_and(|j| !join::reads_only_table(root, j, n)) {
                return None;
            }
            aggs.push(agg_out(n as *mut pg_sys::Aggref, relid, plan)?);
            atoms.push(n);
        }
        let join = match join {
            Some(j) => {
                plan.index_of_attnum(j.key)?;
                Some(JoinPlan { key: j.key, other_key: j.other_key, bytes: j.bytes, groups: joined, condition: j.condition.clone() })
            }
            None => None,
        };
        Some((NodePlan { keys, aggs, est_bytes: 0, est_distinct_bytes: 0, est_sketch_bytes: 0, join }, atoms))
    }
}

/// The output of the node: the grouped relation's target, or for SELECT DISTINCT the
/// target the planner gives the distinct stage (its relation has none of its own).
///
/// # Safety
/// Planner structures of the grouping or distinct stage.
unsafe fn output_target(root: *mut pg_sys::PlannerInfo, output: *mut pg_sys::RelOptInfo, distinct: bool) -> *mut pg_sys::PathTarget {
    // SAFETY: per the caller; grouping_planner sets upper_targets before the stages run.
    unsafe {
        if distinct {
            (*root).upper_targets[pg_sys::UpperRelationKind::UPPERREL_DISTINCT as usize]
        } else {
            (*output).reltarget
        }
    }
}

/// A shallow copy of a grouping path (its subpaths shared), or None for a kind of path
/// this does not know the size of.
unsafe fn copy_path(p: *mut pg_sys::Path) -> Option<*mut pg_sys::Path> {
    use pg_sys::NodeTag as T;
    // SAFETY: `p` is a path whose node tag says which struct it is.
    unsafe {
        let size = match (*p).type_ {
            T::T_AggPath => std::mem::size_of::<pg_sys::AggPath>(),
            T::T_GroupPath => std::mem::size_of::<pg_sys::GroupPath>(),
            T::T_SortPath => std::mem::size_of::<pg_sys::SortPath>(),
            T::T_IncrementalSortPath => std::mem::size_of::<pg_sys::IncrementalSortPath>(),
            T::T_ProjectionPath => std::mem::size_of::<pg_sys::ProjectionPath>(),
            T::T_UpperUniquePath => std::mem::size_of::<pg_sys::UpperUniquePath>(),
            T::T_GatherPath => std::mem::size_of::<pg_sys::GatherPath>(),
            T::T_GatherMergePath => std::mem::size_of::<pg_sys::GatherMergePath>(),
            T::T_MinMaxAggPath => std::mem::size_of::<pg_sys::MinMaxAggPath>(),
            _ => return None,
        };
        let copy = pg_sys::palloc(size) as *mut pg_sys::Path;
        std::ptr::copy_nonoverlapping(p as *const u8, copy as *mut u8, size);
        Some(copy)
    }
}

/// The memory the groups (`groups` of them) and the distinct values need, by Postgres'
/// estimates: a distinct aggregate holds one entry per (group, value) pair (the engine's
/// aggregate/distinct.rs).
unsafe fn estimated_bytes(root: *mut pg_sys::PlannerInfo, input: *mut pg_sys::RelOptInfo, plan: &NodePlan, atoms: &[*mut pg_sys::Node], groups: f64) -> (u64, u64, u64) {
    // SAFETY: planner structures of the grouping stage; atoms are the node's keys, then
    // its Aggrefs.
    unsafe {
        let mut distinct = 0.0;
        let mut sketches = 0.0;
        let groups = groups.max(1.0);
        let per_group_rows = (*input).rows.max(1.0) / groups;
        for (i, a) in plan.aggs.iter().enumerate() {
            if !matches!(a.op, AggOp::CountDistinct | AggOp::Uniq | AggOp::Quantile) {
                continue;
            }
            if a.op == AggOp::Quantile {
                // A quantile's buckets, some 16 bytes each: a few hundred for values
                // spread over orders of magnitude, at most one a row.
                sketches += groups * (per_group_rows.min(512.0) * 16.0 + 128.0);
                continue;
            }
            let aggref = atoms[plan.keys.len() + i] as *mut pg_sys::Aggref;
            let arg = (*list_ptrs::<pg_sys::TargetEntry>((*aggref).args)[0]).expr as *mut pg_sys::Node;
            let mut exprs: *mut pg_sys::List = std::ptr::null_mut();
            for &k in &atoms[..plan.keys.len()] {
                exprs = pg_sys::lappend(exprs, k.cast());
            }
            exprs = pg_sys::lappend(exprs, arg.cast());
            let pairs = pg_sys::estimate_num_groups(root, exprs, (*input).rows.max(1.0), std::ptr::null_mut(), std::ptr::null_mut());
            if a.op == AggOp::Uniq {
                // A group's mergetree.uniq keeps its first 2,048 distinct hashes in a hash
                // set (some 16 bytes each, 32 kB at most), then 8 kB of registers.
                sketches += groups * ((pairs / groups).min(2048.0) * 16.0).max(64.0);
                continue;
            }
            // Values that always fit 32 bits go into bitmaps (at most a few bytes each,
            // with the containers), others into a hash set of 24-byte entries.
            let per_value = match pg_sys::exprType(arg) {
                pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::DATEOID => 8.0,
                _ => 24.0,
            };
            distinct += pairs * per_value;
        }
        let all = groups * 100.0 + sketches + distinct;
        let bytes = |b: f64| b.min(u64::MAX as f64) as u64;
        (bytes(all), bytes(distinct), bytes(sketches))
    }
}

/// Adds a MergeTreeAgg path to `output` (the grouped relation, or for `distinct` the
/// SELECT DISTINCT relation: groups without aggregates) over `input`.
///
/// # Safety
/// Called from create_upper_paths_hook for UPPERREL_GROUP_AGG (with its `extra`) or
/// UPPERREL_DISTINCT (`extra` NULL) with its arguments.
pub unsafe fn add_paths(
    root: *mut pg_sys::PlannerInfo,
    input: *mut pg_sys::RelOptInfo,
    output: *mut pg_sys::RelOptInfo,
    extra: *mut pg_sys::GroupPathExtraData,
    distinct: bool,
) {
    // SAFETY: per the caller.
    unsafe {
        if !crate::gucs::AGGREGATE_SCAN.get() || !crate::gucs::CUSTOM_SCAN.get() {
            return;
        }
        // One table, or (grouping only) a join of one table to a relation whose lookup
        // fits the budget in at most MAX_JOIN_PARTS partitions.
        let join = if distinct { None } else { join::join_input(root, input) };
        let lookup_budget = (join::MAX_JOIN_PARTS as usize * pg_sys::get_hash_memory_limit()) as f64 / 1.25;
        if join.as_ref().is_some_and(|j| join::lookup_bytes(j) > lookup_budget) {
            return;
        }
        let table = join.as_ref().map_or(input, |j| j.table);
        let relid = (*table).relid;
        if relid == 0 || !matches!((*table).reloptkind, pg_sys::RelOptKind::RELOPT_BASEREL | pg_sys::RelOptKind::RELOPT_OTHER_MEMBER_REL) {
            return;
        }
        if !extra.is_null() && (*extra).patype == pg_sys::PartitionwiseAggregateType::PARTITIONWISE_AGGREGATE_PARTIAL {
            return;
        }
        let rte = *(*root).simple_rte_array.add(relid as usize);
        // TABLESAMPLE aggregates a sample: Postgres' SampleScan draws it.
        if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION || (*rte).inh || !(*rte).tablesample.is_null() || !crate::ffi::is_mergetree((*rte).relid) {
            return;
        }
        let r = pg_sys::relation_open((*rte).relid, pg_sys::NoLock as i32);
        let plan = datum::table_plan(r);
        pg_sys::relation_close(r, pg_sys::NoLock as i32);
        // Every filter must be one the scan evaluates (security quals: leakproof only).
        let infos = list_ptrs::<pg_sys::RestrictInfo>((*table).baserestrictinfo);
        let rls = infos.iter().any(|ri| (**ri).security_level > 0);
        let mut clauses: *mut pg_sys::List = std::ptr::null_mut();
        for ri in infos {
            if (*ri).pseudoconstant || !quals::pushable((*ri).clause as *mut pg_sys::Node, relid, &plan, rls) {
                return;
            }
            clauses = pg_sys::lappend(clauses, (*ri).clause.cast());
        }
        let Some((mut node_plan, atoms)) = analyze(root, relid, join.as_ref(), output, extra, &plan, distinct) else {
            return;
        };
        // The joined relation's distinct grouping values are held whole (partitions divide
        // only its keys): some 96 bytes each must fit the budget.
        if let Some(j) = &join {
            let mut exprs: *mut pg_sys::List = std::ptr::null_mut();
            for (k, &a) in node_plan.keys.iter().zip(&atoms) {
                if matches!(k, KeyExpr::Joined(_)) {
                    exprs = pg_sys::lappend(exprs, a.cast());
                }
            }
            if !exprs.is_null() {
                let groups = pg_sys::estimate_num_groups(root, exprs, (*j.other).rows.max(1.0), std::ptr::null_mut(), std::ptr::null_mut());
                if groups * 96.0 > pg_sys::get_hash_memory_limit() as f64 {
                    return;
                }
            }
        }
        // Postgres' own best plan for this grouping: the node's fallback.
        let Some(cheapest) = list_ptrs::<pg_sys::Path>((*output).pathlist).into_iter().min_by(|a, b| (**a).total_cost.total_cmp(&(**b).total_cost)) else {
            return;
        };
        // add_path frees the paths ours dominates, so the child is a copy.
        let Some(fallback) = copy_path(cheapest) else {
            return;
        };
        (node_plan.est_bytes, node_plan.est_distinct_bytes, node_plan.est_sketch_bytes) = estimated_bytes(root, input, &node_plan, &atoms, (*fallback).rows);
        let mut atom_list: *mut pg_sys::List = std::ptr::null_mut();
        for &a in &atoms {
            atom_list = pg_sys::lappend(atom_list, a.cast());
        }
        // Preprocessing left HAVING as an implicitly-ANDed list.
        let having = if extra.is_null() { std::ptr::null_mut() } else { (*extra).havingQual as *mut pg_sys::List };
        let text = std::ffi::CString::new(node_plan.to_text()).unwrap_or_default();
        let mut private: *mut pg_sys::List = std::ptr::null_mut();
        private = pg_sys::lappend(private, pg_sys::makeString(pg_sys::pstrdup(text.as_ptr())).cast());
        private = pg_sys::lappend(private, clauses.cast());
        private = pg_sys::lappend(private, pg_sys::makeInteger(relid as i32).cast());
        // Each aggregate's FILTER, in the order of the plan's aggregates.
        let mut filters: *mut pg_sys::List = std::ptr::null_mut();
        for &a in &atoms[node_plan.keys.len()..] {
            let f = (*(a as *mut pg_sys::Aggref)).aggfilter as *mut pg_sys::Node;
            let f = if f.is_null() { pg_sys::makeBoolConst(true, false) } else { f };
            filters = pg_sys::lappend(filters, f.cast());
        }
        private = pg_sys::lappend(private, filters.cast());
        private = pg_sys::lappend(private, having.cast());
        private = pg_sys::lappend(private, atom_list.cast());
        let path = pg_sys::palloc0(std::mem::size_of::<pg_sys::CustomPath>()) as *mut pg_sys::CustomPath;
        (*path).path.type_ = pg_sys::NodeTag::T_CustomPath;
        (*path).path.pathtype = pg_sys::NodeTag::T_CustomScan;
        (*path).path.parent = output;
        (*path).path.pathtarget = output_target(root, output, distinct);
        (*path).path.rows = (*fallback).rows;
        // Aggregating inside the scan skips the executor's per-row work: a fraction of
        // what Postgres' plan costs, so the node wins whenever it applies.
        (*path).path.startup_cost = (*fallback).startup_cost.min((*fallback).total_cost * 0.1);
        (*path).path.total_cost = (*fallback).total_cost * 0.1;
        (*path).flags = pg_sys::CUSTOMPATH_SUPPORT_PROJECTION;
        // The fallback, then the joined relation's scan.
        (*path).custom_paths = pg_sys::lappend(std::ptr::null_mut(), fallback.cast());
        if let Some(j) = &join {
            (*path).custom_paths = pg_sys::lappend((*path).custom_paths, j.other_path.cast());
        }
        (*path).custom_private = private;
        (*path).methods = &raw const PATH_METHODS;
        pg_sys::add_path(output, path as *mut pg_sys::Path);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn plan_custom_path(
    _root: *mut pg_sys::PlannerInfo,
    _rel: *mut pg_sys::RelOptInfo,
    best_path: *mut pg_sys::CustomPath,
    tlist: *mut pg_sys::List,
    _clauses: *mut pg_sys::List,
    custom_plans: *mut pg_sys::List,
) -> *mut pg_sys::Plan {
    // SAFETY: the path was made by add_paths with its custom_private layout.
    unsafe {
        let private = list_ptrs::<pg_sys::Node>((*best_path).custom_private);
        let relid = (*(private[PRIVATE_RELID] as *mut pg_sys::Integer)).ival as pg_sys::Index;
        let atoms = list_ptrs::<pg_sys::Node>(private[PATH_ATOMS] as *mut pg_sys::List);
        let mut scan_tlist: *mut pg_sys::List = std::ptr::null_mut();
        for (i, a) in atoms.into_iter().enumerate() {
            let te = pg_sys::makeTargetEntry(pg_sys::copyObjectImpl(a.cast()).cast(), (i + 1) as i16, std::ptr::null_mut(), false);
            scan_tlist = pg_sys::lappend(scan_tlist, te.cast());
        }
        let cscan = pg_sys::palloc0(std::mem::size_of::<pg_sys::CustomScan>()) as *mut pg_sys::CustomScan;
        (*cscan).scan.plan.type_ = pg_sys::NodeTag::T_CustomScan;
        (*cscan).scan.plan.targetlist = tlist;
        (*cscan).scan.plan.qual = private[PATH_HAVING] as *mut pg_sys::List;
        (*cscan).scan.scanrelid = relid;
        (*cscan).custom_scan_tlist = scan_tlist;
        (*cscan).custom_plans = custom_plans;
        (*cscan).custom_exprs = std::ptr::null_mut();
        // The plan, the pushed quals and FILTERs (kept out of custom_exprs: setrefs would
        // look their columns up in custom_scan_tlist) and the relation index their Vars
        // carry.
        let mut keep: *mut pg_sys::List = std::ptr::null_mut();
        for n in &private[..PATH_HAVING] {
            keep = pg_sys::lappend(keep, (*n).cast());
        }
        (*cscan).custom_private = keep;
        (*cscan).methods = &raw const SCAN_METHODS;
        cscan as *mut pg_sys::Plan
    }
}
