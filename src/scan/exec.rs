//! Execution of MergeTreeScan: prune parts and granules with the pushed predicate, decode
//! the filter columns of each remaining granule, evaluate the predicate on them, and
//! decode the other needed columns only when some row survives.

use super::quals;
use super::source::{Source, Stats};
use crate::datum::{self, DatumColumn, TablePlan};
use crate::ffi::list_ptrs;
use mergetree::predicate::Predicate;
use mergetree::range_reader::{self, Dictionary, Fetched};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::rc::Rc;

pub static mut EXEC_METHODS: pg_sys::CustomExecMethods = pg_sys::CustomExecMethods {
    CustomName: c"MergeTreeScan".as_ptr(),
    BeginCustomScan: Some(begin),
    ExecCustomScan: Some(exec),
    EndCustomScan: Some(end),
    ReScanCustomScan: Some(rescan),
    MarkPosCustomScan: None,
    RestrPosCustomScan: None,
    EstimateDSMCustomScan: Some(estimate_dsm),
    InitializeDSMCustomScan: Some(initialize_dsm),
    ReInitializeDSMCustomScan: Some(reinitialize_dsm),
    InitializeWorkerCustomScan: Some(initialize_worker),
    ShutdownCustomScan: None,
    ExplainCustomScan: Some(explain),
};

/// The current batch: decoded columns of one granule (or the buffered rows) and the rows
/// that passed the filter. `cols` hold the passing rows only, in `rows` order.
struct Batch {
    cols: Vec<Option<DatumColumn>>,
    rows: Vec<u32>,
    next: usize,
    first_row_id: u64,
    row_ids: Option<Vec<u64>>,
}

/// One MergeTreeScan's state. It lives across rescans: the visible parts, their metadata
/// and the buffered rows do not change within a query; a rescan only re-evaluates the
/// parameters.
struct ScanRun {
    src: Source,
    /// Plan column indexes to emit (filter-only columns are decoded but never emitted).
    needed: Vec<usize>,
    /// Per part: its dictionaries as Datums, per plan column, made on first use.
    dicts: Vec<Vec<std::cell::OnceCell<Rc<DatumColumn>>>>,
    gpos: usize,
    batch: Option<Batch>,
    buffered_done: bool,
    /// Parallel scans: every (part, granule) to read, claimed through the shared counter.
    units: Option<(Vec<(usize, usize)>, *mut Shared)>,
}

/// Shared by the leader and the workers of a parallel scan (in dynamic shared memory):
/// the next unit (a granule of the pruned list every process computes the same way under
/// the shared snapshot) to hand out.
#[repr(C)]
struct Shared {
    next: std::sync::atomic::AtomicU64,
}

#[repr(C)]
struct ScanState {
    css: pg_sys::CustomScanState,
    shared: *mut Shared,
    run: *mut ScanRun,
    /// Set by ReScan: the next fetch starts over with fresh parameters.
    restart: bool,
    /// JSON fields of the output the scan extracts itself, if any.
    json: *mut super::project::JsonFields,
}

#[pg_guard]
pub unsafe extern "C-unwind" fn create_scan_state(cscan: *mut pg_sys::CustomScan) -> *mut pg_sys::Node {
    let _ = cscan;
    // SAFETY: ScanState is repr(C) and begins with the CustomScanState.
    unsafe { crate::ffi::new_custom_state::<ScanState>(&raw const EXEC_METHODS) }
}

unsafe fn state<'a>(node: *mut pg_sys::CustomScanState) -> &'a mut ScanState {
    // SAFETY: created by create_scan_state.
    unsafe { &mut *(node as *mut ScanState) }
}

/// `custom_private` holds two attribute-number lists (see path.rs): the columns read...
const READ: usize = 0;
/// ...and those emitted (the output and the kept quals use them).
const EMITTED: usize = 1;

/// The attribute numbers of `custom_private`'s list `which`.
unsafe fn private_attnos(cscan: *mut pg_sys::CustomScan, which: usize) -> Vec<i16> {
    // SAFETY: plan_custom_path made custom_private a list of two integer lists.
    unsafe {
        let list = list_ptrs::<pg_sys::List>((*cscan).custom_private)[which];
        if list.is_null() {
            return Vec::new();
        }
        (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).int_value as i16).collect()
    }
}

/// The pushed clauses as one predicate, with parameters evaluated now.
unsafe fn predicate_of(node: *mut pg_sys::CustomScanState, plan: &TablePlan) -> Option<Predicate> {
    // SAFETY: called at a fetch with the executor's state (and parameters) set up.
    unsafe {
        let cscan = (*node).ss.ps.plan as *mut pg_sys::CustomScan;
        let clauses = list_ptrs::<pg_sys::Node>((*cscan).custom_exprs);
        if clauses.is_empty() {
            return None;
        }
        let econtext = (*node).ss.ps.ps_ExprContext;
        let relid = (*cscan).scan.scanrelid;
        let old = pg_sys::MemoryContextSwitchTo((*econtext).ecxt_per_tuple_memory);
        let ps: Vec<Predicate> = clauses.into_iter().map(|c| quals::build(c, relid, plan, &raw mut (*node).ss.ps, econtext)).collect();
        pg_sys::MemoryContextSwitchTo(old);
        pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory);
        Some(if ps.len() == 1 { ps.into_iter().next().expect("one") } else { Predicate::And(ps) })
    }
}

/// Builds the run: part list under the scan's snapshot, the predicate, and the buffered
/// rows this statement may see.
unsafe fn start(node: *mut pg_sys::CustomScanState) -> ScanRun {
    // SAFETY: called at the first fetch with the executor's state set up.
    unsafe {
        let rel = (*node).ss.ss_currentRelation;
        let cscan = (*node).ss.ps.plan as *mut pg_sys::CustomScan;
        let estate = (*node).ss.ps.state;
        let rti = (*cscan).scan.scanrelid;
        let src = Source::new(rel, (*estate).es_snapshot, super::source::aliased_final(estate, rti), super::source::changed_by_statement(estate, rti));
        // Only the emitted columns become Datums.
        let needed = private_attnos(cscan, EMITTED).into_iter().filter_map(|a| src.plan.index_of_attnum(a)).collect();
        let dicts = src.parts.iter().map(|_| Vec::new()).collect();
        let mut run = ScanRun { src, needed, dicts, gpos: 0, batch: None, buffered_done: false, units: None };
        run.restart(node);
        run
    }
}

impl ScanRun {
    /// Starts (over) with the parameters' current values; parts stay open.
    unsafe fn restart(&mut self, node: *mut pg_sys::CustomScanState) {
        // SAFETY: per predicate_of.
        let predicate = unsafe { predicate_of(node, &self.src.plan) };
        self.src.restart(predicate);
        self.gpos = 0;
        self.batch = None;
        self.buffered_done = false;
        self.units = None;
    }

    /// Prunes every part now and lists the granules to read, for a parallel scan.
    fn plan_units(&mut self, shared: *mut Shared) {
        let mut units = Vec::new();
        while self.src.next_part() {
            let pi = self.src.current.expect("opened");
            units.extend(self.src.granules.iter().map(|&g| (pi, g)));
        }
        self.units = Some((units, shared));
    }

    /// The needed columns of the selected rows as Datums (a dictionary column through
    /// the part's dictionary, converted once per part: `dicts`).
    fn datum_columns(&self, columns: &mut [Option<Fetched<'_>>], selection: &[u32], dicts: Option<&[std::cell::OnceCell<Rc<DatumColumn>>]>) -> Vec<Option<DatumColumn>> {
        let mut cols: Vec<Option<DatumColumn>> = (0..self.src.plan.columns.len()).map(|_| None).collect();
        for &ci in &self.needed {
            let Some(data) = columns[ci].take() else { continue };
            let col = &self.src.plan.columns[ci];
            cols[ci] = Some(match (data, dicts) {
                (Fetched::Codes { codes, validity, dict: Dictionary::Part(dict) }, Some(dicts)) => {
                    let datums = dicts[ci].get_or_init(|| Rc::new(datum::to_datums(col, dict.clone())));
                    datum::from_dictionary(datums, &codes, validity.as_ref(), selection)
                }
                // A block's runs: each run's value converted once, for this granule only.
                (Fetched::Codes { codes, validity, dict: Dictionary::Block(dict) }, _) => {
                    datum::from_dictionary(&Rc::new(datum::to_datums(col, dict)), &codes, validity.as_ref(), selection)
                }
                (data, _) => datum::to_datums_of(col, data.into_values(), selection),
            });
        }
        cols
    }

    /// Filters and decodes granule `g` of part `pi`.
    fn granule_batch(&mut self, pi: usize, g: usize) -> Option<Batch> {
        self.src.open(pi);
        if self.dicts[pi].is_empty() {
            self.dicts[pi] = self.src.plan.columns.iter().map(|_| std::cell::OnceCell::new()).collect();
        }
        let src = &self.src;
        let op = src.part(pi);
        let meta = op.reader.meta();
        let rows = meta.granule_rows[g] as usize;
        let first: u64 = meta.granule_rows[..g].iter().map(|&n| n as u64).sum();
        let first_row_id = src.parts[pi].first_row as u64 + first;
        let read = range_reader::read_granule(&op.reader, &op.columns, &src.read_cols, &src.conjuncts, &self.needed, g)
            .unwrap_or_else(|e| crate::error::report(&src.table, e));
        let removed = read.as_ref().map_or(rows, |b| rows - b.selection.len());
        let batch = read.map(|mut b| {
            let cols = self.datum_columns(&mut b.columns, &b.selection, Some(&self.dicts[pi]));
            Batch { cols, rows: b.selection, next: 0, first_row_id, row_ids: None }
        });
        self.src.stats.rows_removed += removed as u64;
        batch
    }

    /// Parallel scans: claims units until one yields rows.
    fn next_parallel_batch(&mut self) -> bool {
        loop {
            check_for_interrupts!();
            let (units, shared) = self.units.as_ref().expect("parallel");
            // SAFETY: `shared` points into the parallel context's DSM for the scan's lifetime.
            let i = unsafe { (**shared).next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) } as usize;
            let Some(&(pi, g)) = units.get(i) else { return false };
            if let Some(b) = self.granule_batch(pi, g) {
                self.batch = Some(b);
                return true;
            }
        }
    }

    /// Loads the next batch with at least one surviving row.
    fn next_batch(&mut self) -> bool {
        if self.units.is_some() {
            return self.next_parallel_batch();
        }
        loop {
            check_for_interrupts!();
            if let (Some(pi), true) = (self.src.current, self.gpos < self.src.granules.len()) {
                let g = self.src.granules[self.gpos];
                self.gpos += 1;
                if let Some(b) = self.granule_batch(pi, g) {
                    self.batch = Some(b);
                    return true;
                }
                continue;
            }
            if self.src.next_part() {
                self.gpos = 0;
                continue;
            }
            if !self.buffered_done {
                // The buffered rows (copies: a rescan reads them again), or a FINAL
                // read's merged rows, a batch at a time.
                let Some((cols, ids)) = self.src.next_rows() else {
                    self.buffered_done = true;
                    return false;
                };
                let rows = ids.len();
                let mut pre: Vec<Option<Fetched>> = cols.into_iter().map(|c| Some(Fetched::Values(c))).collect();
                // Every column is at hand; no sort key to search (buffered rows are in
                // insertion order).
                let selection = self.src.filter_buffered(&mut pre, rows);
                self.src.stats.rows_removed += (rows - selection.len()) as u64;
                if !selection.is_empty() {
                    let cols = self.datum_columns(&mut pre, &selection, None);
                    self.batch = Some(Batch { cols, rows: selection, next: 0, first_row_id: 0, row_ids: Some(ids) });
                    return true;
                }
                continue;
            }
            return false;
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn begin(node: *mut pg_sys::CustomScanState, estate: *mut pg_sys::EState, _eflags: i32) {
    // The run starts on the first fetch: parameters (initplans, nested-loop outer values)
    // are only available then, as for an index scan's runtime keys. The projection is
    // settled now.
    // SAFETY: ExecInitCustomScan has set up the node, its slots and projection.
    unsafe {
        let emitted = private_attnos((*node).ss.ps.plan as *mut pg_sys::CustomScan, EMITTED);
        if let Some(fields) = super::project::setup(node, estate, &emitted) {
            state(node).json = pgrx::PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(fields);
        }
    }
}

/// The current run: started at the first fetch, restarted at the first fetch after a
/// rescan (new parameter values, same parts).
unsafe fn run_of<'a>(node: *mut pg_sys::CustomScanState) -> &'a mut ScanRun {
    // SAFETY: the run lives in the executor's memory context until the query ends.
    unsafe {
        let s = state(node);
        if s.run.is_null() {
            s.run = pgrx::PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(start(node));
        } else if s.restart {
            (*s.run).restart(node);
        } else {
            return &mut *s.run;
        }
        s.restart = false;
        if !s.shared.is_null() {
            (*s.run).plan_units(s.shared);
        }
        &mut *s.run
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn next(ss: *mut pg_sys::ScanState) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: `ss` is our CustomScanState; the slot has the relation's descriptor.
    unsafe {
        let node = ss as *mut pg_sys::CustomScanState;
        let slot = (*ss).ss_ScanTupleSlot;
        let run = run_of(node);
        loop {
            if let Some(b) = &mut run.batch {
                if b.next < b.rows.len() {
                    let k = b.next;
                    let i = b.rows[k] as usize;
                    b.next += 1;
                    pg_sys::ExecClearTuple(slot);
                    let natts = run.src.plan.natts;
                    let values = std::slice::from_raw_parts_mut((*slot).tts_values, natts);
                    let nulls = std::slice::from_raw_parts_mut((*slot).tts_isnull, natts);
                    nulls.fill(true);
                    for &ci in &run.needed {
                        let c = b.cols[ci].as_ref().expect("decoded");
                        let a = run.src.plan.columns[ci].attnum as usize - 1;
                        values[a] = c.datums[k];
                        nulls[a] = c.nulls[k];
                    }
                    pg_sys::ExecStoreVirtualTuple(slot);
                    let json = state(node).json;
                    if !json.is_null() {
                        (*json).fill(slot, (*node).ss.ps.ps_ExprContext);
                    }
                    let row_id = b.row_ids.as_ref().map_or(b.first_row_id + i as u64, |ids| ids[i]);
                    crate::ffi::count_rows_read(run.src.rel, 1);
                    (*slot).tts_tid = datum::row_id_to_tid(row_id);
                    (*slot).tts_tableOid = (*run.src.rel).rd_id;
                    return slot;
                }
                run.batch = None;
            }
            if !run.next_batch() {
                return pg_sys::ExecClearTuple(slot);
            }
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn recheck(_ss: *mut pg_sys::ScanState, _slot: *mut pg_sys::TupleTableSlot) -> bool {
    true
}

/// Not guarded, and owning nothing to drop: an ERROR raised by a qual or projection that
/// ExecScan evaluates (a user's function, say) reaches Postgres with its CONTEXT and other
/// fields, as from a heap scan. Our own code runs in `next`, which is guarded.
unsafe extern "C-unwind" fn exec(node: *mut pg_sys::CustomScanState) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: ExecScan applies the kept quals and the projection around `next`.
    unsafe { crate::ffi::ExecScan_unguarded(&raw mut (*node).ss, Some(next), Some(recheck)) }
}

#[pg_guard]
unsafe extern "C-unwind" fn end(_node: *mut pg_sys::CustomScanState) {
    // The run (and its counters, which EXPLAIN ANALYZE reads after this) is freed with the
    // query's memory.
}

#[pg_guard]
unsafe extern "C-unwind" fn rescan(node: *mut pg_sys::CustomScanState) {
    // SAFETY: parameters may have changed: the next fetch restarts the run with them.
    unsafe { state(node).restart = true };
}

#[pg_guard]
unsafe extern "C-unwind" fn explain(node: *mut pg_sys::CustomScanState, ancestors: *mut pg_sys::List, es: *mut pg_sys::ExplainState) {
    // SAFETY: explain runs with the plan and deparse context set up by EXPLAIN.
    unsafe {
        let cscan = (*node).ss.ps.plan as *mut pg_sys::CustomScan;
        let rel = (*node).ss.ss_currentRelation;
        let plan = datum::table_plan(rel);
        let names: Vec<String> = private_attnos(cscan, READ).into_iter().filter_map(|a| plan.index_of_attnum(a)).map(|ci| plan.columns[ci].name.clone()).collect();
        let cols = if names.is_empty() { "(none)".to_string() } else { names.join(", ") };
        let c = std::ffi::CString::new(cols).unwrap_or_default();
        pg_sys::ExplainPropertyText(c"Columns".as_ptr(), c.as_ptr(), es);
        let json = state(node).json;
        if !json.is_null() {
            let fields = std::ffi::CString::new((*json).describe(&plan)).unwrap_or_default();
            pg_sys::ExplainPropertyText(c"JSON Fields".as_ptr(), fields.as_ptr(), es);
        }
        if !(*cscan).custom_exprs.is_null() {
            let ctx = pg_sys::set_deparse_context_plan((*es).deparse_cxt, (*node).ss.ps.plan, ancestors);
            let expr = pg_sys::make_ands_explicit((*cscan).custom_exprs);
            let text = pg_sys::deparse_expression(expr as *mut pg_sys::Node, ctx, false, false);
            pg_sys::ExplainPropertyText(c"Vectorized Filter".as_ptr(), text, es);
        }
        if (*es).analyze {
            let s = state(node);
            let st = if s.run.is_null() { Stats::default() } else { (*s.run).src.stats };
            let parts = std::ffi::CString::new(format!("{} of {}", st.parts_read, st.parts_total)).unwrap_or_default();
            let granules = std::ffi::CString::new(format!("{} of {}", st.granules_read, st.granules_total)).unwrap_or_default();
            pg_sys::ExplainPropertyText(c"Parts Read".as_ptr(), parts.as_ptr(), es);
            pg_sys::ExplainPropertyText(c"Granules Read".as_ptr(), granules.as_ptr(), es);
            if st.granules_skipped > 0 {
                pg_sys::ExplainPropertyInteger(c"Granules Skipped by Skip Indexes".as_ptr(), std::ptr::null(), st.granules_skipped as i64, es);
            }
            if st.is_final {
                let merged = std::ffi::CString::new(st.final_merge()).unwrap_or_default();
                pg_sys::ExplainPropertyText(c"Final Merge".as_ptr(), merged.as_ptr(), es);
            }
            if !(*cscan).custom_exprs.is_null() {
                pg_sys::ExplainPropertyInteger(c"Rows Removed by Vectorized Filter".as_ptr(), std::ptr::null(), st.rows_removed as i64, es);
            }
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn estimate_dsm(_node: *mut pg_sys::CustomScanState, _pcxt: *mut pg_sys::ParallelContext) -> usize {
    std::mem::size_of::<Shared>()
}

#[pg_guard]
unsafe extern "C-unwind" fn initialize_dsm(node: *mut pg_sys::CustomScanState, _pcxt: *mut pg_sys::ParallelContext, coordinate: *mut std::ffi::c_void) {
    // SAFETY: `coordinate` is our DSM chunk of size_of::<Shared>() bytes.
    unsafe {
        let shared = coordinate as *mut Shared;
        std::ptr::write(shared, Shared { next: std::sync::atomic::AtomicU64::new(0) });
        state(node).shared = shared;
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn reinitialize_dsm(node: *mut pg_sys::CustomScanState, _pcxt: *mut pg_sys::ParallelContext, coordinate: *mut std::ffi::c_void) {
    // SAFETY: as in initialize_dsm; a rescan of the Gather starts the units over.
    unsafe {
        (*(coordinate as *mut Shared)).next.store(0, std::sync::atomic::Ordering::Relaxed);
        state(node).restart = true;
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn initialize_worker(node: *mut pg_sys::CustomScanState, _toc: *mut pg_sys::shm_toc, coordinate: *mut std::ffi::c_void) {
    // SAFETY: the leader initialised the chunk before starting workers.
    unsafe { state(node).shared = coordinate as *mut Shared };
}
