//! Executing MergeTreeAgg: prune as a scan does, read the needed byte ranges of a few
//! granules at a time on the backend's thread, decode, filter and aggregate them on
//! engine threads, merge the partial states, then emit one row per group. Or, when the
//! groups outgrow the memory budget, run Postgres' own plan (the child) instead.

use super::compute;
use super::passes::{self, Progress};
use super::join_reader;
use super::output::{self, Output};
use super::{PRIVATE_FILTERS, PRIVATE_PLAN, PRIVATE_QUALS, PRIVATE_RELID};
use super::{AggOp, KeyExpr, NodePlan};
use crate::ffi::list_ptrs;
use crate::scan::quals;
use crate::scan::source::Source;
use mergetree::predicate::Predicate;
use pgrx::pg_sys;
use pgrx::prelude::*;

pub static mut EXEC_METHODS: pg_sys::CustomExecMethods = pg_sys::CustomExecMethods {
    CustomName: c"MergeTreeAgg".as_ptr(),
    BeginCustomScan: Some(begin),
    ExecCustomScan: Some(exec),
    EndCustomScan: Some(end),
    ReScanCustomScan: Some(rescan),
    MarkPosCustomScan: None,
    RestrPosCustomScan: None,
    EstimateDSMCustomScan: None,
    InitializeDSMCustomScan: None,
    ReInitializeDSMCustomScan: None,
    InitializeWorkerCustomScan: None,
    ShutdownCustomScan: None,
    ExplainCustomScan: Some(explain),
};


/// The result rows, and what happened for EXPLAIN ANALYZE.
#[derive(Default)]
struct Run {
    output: Option<Output>,
    next: usize,
    progress: Progress,
    from_metadata: u64,
}

#[repr(C)]
struct AggState {
    css: pg_sys::CustomScanState,
    run: *mut Run,
    /// Set by ReScan: the next fetch aggregates again (parameters may have changed).
    restart: bool,
    /// The joined relation's grouping values of the current run (a child of the query's
    /// context, deleted when the next run starts).
    joined: pg_sys::MemoryContext,
}

unsafe fn state<'a>(node: *mut pg_sys::CustomScanState) -> &'a mut AggState {
    // SAFETY: made by create_state.
    unsafe { &mut *(node as *mut AggState) }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn create_state(_cscan: *mut pg_sys::CustomScan) -> *mut pg_sys::Node {
    // SAFETY: AggState is repr(C) and begins with the CustomScanState.
    unsafe { crate::ffi::new_custom_state::<AggState>(&raw const EXEC_METHODS) }
}

unsafe fn cscan_of(node: *mut pg_sys::CustomScanState) -> *mut pg_sys::CustomScan {
    // SAFETY: the node's plan is our CustomScan.
    unsafe { (*node).ss.ps.plan as *mut pg_sys::CustomScan }
}

unsafe fn node_plan(node: *mut pg_sys::CustomScanState) -> NodePlan {
    // SAFETY: custom_private[PRIVATE_PLAN] is the String path.rs put there.
    unsafe {
        let s = list_ptrs::<pg_sys::String>((*cscan_of(node)).custom_private)[PRIVATE_PLAN];
        crate::ffi::cstr((*s).sval).and_then(|t| NodePlan::from_text(&t)).expect("MergeTreeAgg plan")
    }
}

unsafe fn fallback_child(node: *mut pg_sys::CustomScanState) -> *mut pg_sys::PlanState {
    // SAFETY: begin put the child's state in custom_ps.
    unsafe { list_ptrs::<pg_sys::PlanState>((*node).custom_ps)[0] }
}

#[pg_guard]
unsafe extern "C-unwind" fn begin(node: *mut pg_sys::CustomScanState, estate: *mut pg_sys::EState, eflags: i32) {
    // SAFETY: ExecInitCustomScan set up the node; the child plan is Postgres' own.
    unsafe {
        // The fallback, and the joined relation's scan when there is one.
        for child in list_ptrs::<pg_sys::Plan>((*cscan_of(node)).custom_plans) {
            let ps = pg_sys::ExecInitNode(child, estate, eflags);
            (*node).custom_ps = pg_sys::lappend((*node).custom_ps, ps.cast());
        }
    }
}

/// Engine predicates of plan-time expressions (pushed quals, FILTERs), parameters
/// evaluated now; a constant true is None.
unsafe fn predicates(node: *mut pg_sys::CustomScanState, plan: &crate::datum::TablePlan, exprs: &[*mut pg_sys::Node]) -> Vec<Option<Predicate>> {
    // SAFETY: the expressions passed quals::pushable at plan time; custom_private holds
    // the relation index of their Vars.
    unsafe {
        let private = list_ptrs::<pg_sys::Node>((*cscan_of(node)).custom_private);
        let relid = (*(private[PRIVATE_RELID] as *mut pg_sys::Integer)).ival as pg_sys::Index;
        let econtext = (*node).ss.ps.ps_ExprContext;
        let old = pg_sys::MemoryContextSwitchTo((*econtext).ecxt_per_tuple_memory);
        let ps = exprs
            .iter()
            .map(|&e| {
                let always = (*e).type_ == pg_sys::NodeTag::T_Const && {
                    let c = e as *mut pg_sys::Const;
                    !(*c).constisnull && (*c).consttype == pg_sys::BOOLOID && (*c).constvalue.value() != 0
                };
                (!always).then(|| quals::build(e, relid, plan, &raw mut (*node).ss.ps, econtext))
            })
            .collect();
        pg_sys::MemoryContextSwitchTo(old);
        pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory);
        ps
    }
}

/// The pushed quals as one predicate.
unsafe fn predicate(node: *mut pg_sys::CustomScanState, plan: &crate::datum::TablePlan) -> Option<Predicate> {
    // SAFETY: custom_private[PRIVATE_QUALS] is the list of pushed quals.
    unsafe {
        let private = list_ptrs::<pg_sys::Node>((*cscan_of(node)).custom_private);
        let clauses = list_ptrs::<pg_sys::Node>(private[PRIVATE_QUALS] as *mut pg_sys::List);
        let ps: Vec<Predicate> = predicates(node, plan, &clauses).into_iter().flatten().collect();
        match ps.len() {
            0 => None,
            1 => ps.into_iter().next(),
            _ => Some(Predicate::And(ps)),
        }
    }
}

/// Each aggregate's FILTER.
unsafe fn filters(node: *mut pg_sys::CustomScanState, plan: &crate::datum::TablePlan) -> Vec<Option<Predicate>> {
    // SAFETY: custom_private[PRIVATE_FILTERS] has one expression per aggregate.
    unsafe {
        let private = list_ptrs::<pg_sys::Node>((*cscan_of(node)).custom_private);
        predicates(node, plan, &list_ptrs::<pg_sys::Node>(private[PRIVATE_FILTERS] as *mut pg_sys::List))
    }
}

/// A CASE condition of a computed argument (kept as nodeToString's text in the plan).
unsafe fn case_condition(node: *mut pg_sys::CustomScanState, plan: &crate::datum::TablePlan, text: &str) -> Predicate {
    let text = std::ffi::CString::new(text).unwrap_or_default();
    // SAFETY: the text is a condition planning checked to be pushable, written by
    // nodeToString; stringToNode reads it back into the executor's memory.
    unsafe {
        let e = pg_sys::stringToNode(text.as_ptr()) as *mut pg_sys::Node;
        predicates(node, plan, &[e]).pop().flatten().unwrap_or(Predicate::Const(Some(true)))
    }
}

/// Runs the aggregation (or decides for the fallback).
#[pg_guard]
unsafe extern "C-unwind" fn compute(node: *mut pg_sys::CustomScanState) {
    // SAFETY: called from exec with the executor's state set up.
    unsafe {
        let s = state(node);
        let prior = if s.run.is_null() { Run::default() } else { std::mem::take(&mut *s.run) };
        let mut run = Run::default();
        run.progress.scan = prior.progress.scan;
        let plan = node_plan(node);
        let rel = (*node).ss.ss_currentRelation;
        let estate = (*node).ss.ps.state;
        let scanrelid = (*((*node).ss.ps.plan as *mut pg_sys::CustomScan)).scan.scanrelid;
        let mut src = Source::new(rel, (*estate).es_snapshot, crate::scan::source::aliased_final(estate, scanrelid), false);
        src.stats = run.progress.scan;
        let predicate = predicate(node, &src.plan);
        src.restart(predicate);
        // The joined relation as a lookup (its grouping values kept as long as the rows),
        // in partitions of its keys when it needs more than the budget. The node stands
        // for the Hash node and the aggregation of Postgres' plan, which have a budget
        // each: so do the lookup and the groups.
        let limit = pg_sys::get_hash_memory_limit();
        let query_cxt = (*(*node).ss.ps.state).es_query_cxt;
        // A rescan's run no longer needs the last run's values.
        if !s.joined.is_null() {
            pg_sys::MemoryContextDelete(s.joined);
            s.joined = std::ptr::null_mut();
        }
        let mut reader = plan.join.as_ref().map(|j| {
            s.joined = crate::ffi::memory_context(query_cxt, c"MergeTreeAgg joined values");
            join_reader::OtherReader::new(list_ptrs::<pg_sys::PlanState>((*node).custom_ps)[1], j, s.joined)
        });
        let lookup = reader.as_mut().map(|r| r.first_lookup(limit)).transpose();
        // pg_stat's tuples read: the rows aggregated (heap counts every row its scan returns).
        let (groups, read) = match (lookup, super::metadata::answer(&plan, &mut src)) {
            (Err(why), _) => {
                run.progress.fallback = Some(why);
                (None, 0)
            }
            (Ok(_), Some(a)) => {
                run.from_metadata = a.parts;
                (Some(a.groups), a.rows)
            }
            (Ok(lookup), None) => {
                run.progress.join_parts = lookup.as_ref().map_or(0, |l| l.1);
                let cond = |text: &str| case_condition(node, &src.plan, text);
                let mut es = compute::engine_spec(&plan, &src.plan, filters(node, &src.plan), &cond, lookup);
                let mut reload = |part: u32, parts: u32| reader.as_mut().and_then(|r| r.read(part, parts, limit).ok());
                let groups = passes::aggregate(&mut src, &mut es, (plan.est_bytes, plan.est_distinct_bytes, plan.est_sketch_bytes), limit, &mut run.progress, &mut reload)
                    .map(|gs| gs.into_iter().map(|g| es.fold(g)).collect());
                (groups, run.progress.rows_in)
            }
        };
        let others = reader.map(|r| r.groups).unwrap_or_default();
        run.progress.scan = src.stats;
        crate::ffi::count_rows_read(rel, read as i64);
        if let Some(groups) = groups {
            // By-reference results live in the query's memory, as long as the rows do.
            let old = pg_sys::MemoryContextSwitchTo(query_cxt);
            run.output = Some(output::datums(&plan, &src.plan, &groups, &others, &src.table));
            pg_sys::MemoryContextSwitchTo(old);
        }
        let mut ctx = pgrx::PgMemoryContexts::For(query_cxt);
        s.run = ctx.leak_and_drop_on_delete(run);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn next(ss: *mut pg_sys::ScanState) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: `ss` is our node; the scan slot has one attribute per output atom.
    unsafe {
        let node = ss as *mut pg_sys::CustomScanState;
        let run = &mut *state(node).run;
        let slot = (*ss).ss_ScanTupleSlot;
        pg_sys::ExecClearTuple(slot);
        let Some(out) = &run.output else { return slot };
        if run.next >= out.rows {
            return slot;
        }
        let i = run.next;
        run.next += 1;
        let natts = out.columns.len();
        let values = std::slice::from_raw_parts_mut((*slot).tts_values, natts);
        let nulls = std::slice::from_raw_parts_mut((*slot).tts_isnull, natts);
        for (a, c) in out.columns.iter().enumerate() {
            values[a] = c.datums[i];
            nulls[a] = c.nulls[i];
        }
        pg_sys::ExecStoreVirtualTuple(slot)
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn recheck(_ss: *mut pg_sys::ScanState, _slot: *mut pg_sys::TupleTableSlot) -> bool {
    true
}

/// The next row of Postgres' own plan, copied into our result slot (the parent expects
/// rows of our slot type).
#[pg_guard]
unsafe extern "C-unwind" fn fallback_next(node: *mut pg_sys::CustomScanState) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: the child was initialized by begin; the result slot has the plan's tlist.
    unsafe {
        let child = pg_sys::ExecProcNode(fallback_child(node));
        let result = (*node).ss.ps.ps_ResultTupleSlot;
        if child.is_null() || (*child).tts_flags & pg_sys::TTS_FLAG_EMPTY as u16 != 0 {
            return pg_sys::ExecClearTuple(result);
        }
        pg_sys::ExecCopySlot(result, child)
    }
}

/// Not guarded, and owning nothing to drop: ExecScan evaluates HAVING and the output
/// expressions, whose errors must reach Postgres as raised (see scan/exec.rs).
unsafe extern "C-unwind" fn exec(node: *mut pg_sys::CustomScanState) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: our node; compute and fallback_next are guarded.
    unsafe {
        let s = state(node);
        if s.run.is_null() || s.restart {
            s.restart = false;
            compute(node);
        }
        if (*s.run).output.is_none() {
            return fallback_next(node);
        }
        crate::ffi::ExecScan_unguarded(&raw mut (*node).ss, Some(next), Some(recheck))
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn end(node: *mut pg_sys::CustomScanState) {
    // SAFETY: the children were initialized by begin.
    unsafe {
        for child in list_ptrs::<pg_sys::PlanState>((*node).custom_ps) {
            pg_sys::ExecEndNode(child);
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn rescan(node: *mut pg_sys::CustomScanState) {
    // SAFETY: parameters may have changed: aggregate again at the next fetch.
    unsafe {
        state(node).restart = true;
        for child in list_ptrs::<pg_sys::PlanState>((*node).custom_ps) {
            pg_sys::ExecReScan(child);
        }
    }
}

unsafe fn property(es: *mut pg_sys::ExplainState, name: &std::ffi::CStr, value: &str) {
    let v = std::ffi::CString::new(value).unwrap_or_default();
    // SAFETY: EXPLAIN's state, valid during the call.
    unsafe { pg_sys::ExplainPropertyText(name.as_ptr(), v.as_ptr(), es) }
}

#[pg_guard]
unsafe extern "C-unwind" fn explain(node: *mut pg_sys::CustomScanState, _ancestors: *mut pg_sys::List, es: *mut pg_sys::ExplainState) {
    // SAFETY: EXPLAIN runs with the plan set up; the run exists once executed.
    unsafe {
        let plan = node_plan(node);
        let tp = crate::datum::table_plan((*node).ss.ss_currentRelation);
        let name = |a: i16| tp.index_of_attnum(a).map_or_else(|| a.to_string(), |i| tp.columns[i].name.clone());
        if !plan.keys.is_empty() {
            let key = |k: &KeyExpr| match *k {
                KeyExpr::Column(a) => name(a),
                KeyExpr::DateOf(a) => format!("({})::date", name(a)),
                KeyExpr::Trunc(unit, a) => format!("date_trunc('{}', {})", format!("{unit:?}").to_lowercase(), name(a)),
                KeyExpr::Extract(field, a) => format!("EXTRACT({} FROM {})", format!("{field:?}").to_lowercase(), name(a)),
                KeyExpr::JsonField(a, ref key) => format!("({} ->> '{}')", name(a), String::from_utf8_lossy(key)),
                KeyExpr::Joined(i) => plan.join.as_ref().map_or_else(String::new, |j| j.groups[i].name.clone()),
            };
            property(es, c"Group Keys", &plan.keys.iter().map(key).collect::<Vec<_>>().join(", "));
        }
        if let Some(j) = &plan.join {
            // Aggregated by the join key below the join, grouped by the match.
            property(es, c"Join", &format!("inner join on {}, rows aggregated before joining", j.condition));
        }
        let private = list_ptrs::<pg_sys::Node>((*cscan_of(node)).custom_private);
        let relid = (*(private[PRIVATE_RELID] as *mut pg_sys::Integer)).ival;
        let rel = (*node).ss.ss_currentRelation;
        let ctx = pg_sys::deparse_context_for(pg_sys::get_rel_name((*rel).rd_id), (*rel).rd_id);
        // Expressions' Vars carry the relation index of planning; deparsed with 1.
        let deparse = |e: *mut pg_sys::Node| {
            let e = pg_sys::copyObjectImpl(e.cast()) as *mut pg_sys::Node;
            pg_sys::ChangeVarNodes(e, relid, 1, 0);
            crate::ffi::cstr(pg_sys::deparse_expression(e, ctx, false, false)).unwrap_or_default()
        };
        let filters = list_ptrs::<pg_sys::Node>(private[PRIVATE_FILTERS] as *mut pg_sys::List);
        let aggs: Vec<String> = plan
            .aggs
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let cond = |text: &str| {
                    let text = std::ffi::CString::new(text).unwrap_or_default();
                    deparse(pg_sys::stringToNode(text.as_ptr()) as *mut pg_sys::Node)
                };
                let arg = o.arg.as_ref().map_or_else(|| name(o.attnum), |(e, _)| e.show(&name, &cond));
                let call = match o.op {
                    AggOp::CountStar => "count(*)".into(),
                    AggOp::CountDistinct => format!("count(DISTINCT {arg})"),
                    AggOp::PercentileCont | AggOp::PercentileDisc => {
                        let f = match o.fractions.is_empty() {
                            true => o.fraction.to_string(),
                            false => format!("ARRAY[{}]", o.fractions.iter().map(|f| f.map_or("NULL".into(), |f| f.to_string())).collect::<Vec<_>>().join(", ")),
                        };
                        let name = if o.op == AggOp::PercentileCont { "percentile_cont" } else { "percentile_disc" };
                        format!("{name}({f}) WITHIN GROUP (ORDER BY {arg})")
                    }
                    AggOp::Uniq => format!("mergetree.uniq({arg})"),
                    AggOp::Quantile => format!("mergetree.quantile({}, {arg})", o.fraction),
                    op => format!("{}({arg})", format!("{op:?}").to_lowercase().replace("booland", "bool_and").replace("boolor", "bool_or")),
                };
                match filters.get(i) {
                    Some(&f) if o.filtered => format!("{call} FILTER (WHERE {})", deparse(f)),
                    _ => call,
                }
            })
            .collect();
        // SELECT DISTINCT: keys only.
        if !aggs.is_empty() {
            property(es, c"Aggregates", &aggs.join(", "));
        }
        let quals = private[PRIVATE_QUALS] as *mut pg_sys::List;
        if !quals.is_null() {
            property(es, c"Vectorized Filter", &deparse(pg_sys::make_ands_explicit(quals) as *mut pg_sys::Node));
        }
        let s = state(node);
        if (*es).analyze && !s.run.is_null() {
            let run = &*s.run;
            let p = &run.progress;
            property(es, c"Threads", &p.threads.max(1).to_string());
            property(es, c"Groups", &run.output.as_ref().map_or(0, |o| o.rows).to_string());
            property(es, c"Rows Aggregated", &p.rows_in.to_string());
            property(es, c"Parts Read", &format!("{} of {}", p.scan.parts_read, p.scan.parts_total));
            property(es, c"Granules Read", &format!("{} of {}", p.scan.granules_read, p.scan.granules_total));
            if p.scan.is_final {
                property(es, c"Final Merge", &p.scan.final_merge());
            }
            if run.from_metadata > 0 {
                property(es, c"Parts Answered From Metadata", &run.from_metadata.to_string());
            }
            if p.json_subcolumn_parts > 0 {
                property(es, c"Parts With JSON Subcolumns", &p.json_subcolumn_parts.to_string());
            }
            if p.join_parts > 1 {
                property(es, c"Join Partitions", &p.join_parts.to_string());
            }
            if p.passes > 1 {
                property(es, c"Passes", &p.passes.to_string());
            }
            if let Some(why) = &p.fallback {
                property(es, c"Fallback", &format!("ran the plan below: {why}"));
            }
        }
    }
}
