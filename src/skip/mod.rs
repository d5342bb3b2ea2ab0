//! Skip indexes of mergetree tables: `CREATE INDEX ... USING mergetree_skip (col) WITH
//! (type = 'bloom_filter(0.01)', granularity = 4)`. The engine (`mergetree::skip`) builds
//! and reads the summaries; here they are defined by Postgres indexes (`am`), stored per
//! part in `mergetree.skip_index_catalog`, written with every new part (`on_new_part`)
//! and applied by MergeTreeScan after primary-key pruning (`Pruner`).

pub mod am;

use crate::catalog::{self, skip as skip_catalog, PartRow};
use crate::datum::TablePlan;
use crate::error;
use crate::storage::budget_cache::BudgetCache;
use crate::storage::part_cache;
use crate::storage::blob::PageStore;
use mergetree::skip::{SkipIndex, SkipIndexBuilder, SkipIndexType};
use mergetree::store::PrefetchStore;
use mergetree::{ColumnData, PartMeta, PartReader};
use rayon::prelude::*;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// One skip index, as its Postgres index defines it.
#[derive(Clone, Debug)]
pub struct SkipDef {
    pub index_oid: pg_sys::Oid,
    /// The index's relfilenode: a new one (REINDEX) means new summaries.
    pub index_node: pg_sys::Oid,
    pub name: String,
    pub attnum: i16,
    pub ty: SkipIndexType,
    pub granularity: usize,
}

/// The skip index definition of `idx` if it is one of ours.
///
/// # Safety
/// `idx` is an open index relation.
pub unsafe fn def_of(idx: pg_sys::Relation, table: &str) -> Option<SkipDef> {
    // SAFETY: per the caller; rd_indam and rd_index are set for open indexes.
    unsafe {
        let am = pg_sys::get_index_am_oid(c"mergetree_skip".as_ptr(), true);
        if am == pg_sys::InvalidOid || (*(*idx).rd_rel).relam != am {
            return None;
        }
        let name = crate::ffi::relname(idx);
        let opts = am::options_text((*idx).rd_options as *const pg_sys::varlena);
        let Some((ty, granularity)) = opts else {
            error::raise_with_hint(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("skip index \"{name}\" on table \"{table}\" has no type"),
                "Give one: CREATE INDEX ... USING mergetree_skip (column) WITH (type = 'bloom_filter').".into(),
            );
        };
        let attnum = *(*(*idx).rd_index).indkey.values.as_ptr();
        Some(SkipDef { index_oid: (*idx).rd_id, index_node: (*idx).rd_node.relNode, name, attnum, ty, granularity })
    }
}

/// Every skip index of table `rel`.
///
/// # Safety
/// `rel` is open.
pub unsafe fn defs_of(rel: pg_sys::Relation) -> Vec<SkipDef> {
    let mut out = Vec::new();
    // SAFETY: per the caller; each index is opened and closed here, its lock kept to the
    // end of the transaction as the executor does.
    unsafe {
        if !(*(*rel).rd_rel).relhasindex {
            return out;
        }
        let table = crate::ffi::relname(rel);
        let list = pg_sys::RelationGetIndexList(rel);
        for oid in crate::ffi::list_oids(list) {
            let idx = pg_sys::index_open(oid, pg_sys::AccessShareLock as i32);
            if let Some(d) = def_of(idx, &table) {
                out.push(d);
            }
            pg_sys::index_close(idx, pg_sys::NoLock as i32);
        }
        pg_sys::list_free(list);
    }
    out
}



/// Writes the summaries of a part just written from `cols` (the plan's columns, sorted
/// as in the part), registered as command `cid` like the part's own catalog row.
///
/// # Safety
/// `rel` is open.
pub unsafe fn on_new_part(rel: pg_sys::Relation, plan: &TablePlan, cols: &[ColumnData], meta: &PartMeta, part_id: i64, cid: pg_sys::CommandId) {
    // SAFETY: per the caller.
    let (defs, node) = unsafe { (defs_of(rel), (*rel).rd_node.relNode) };
    for def in defs {
        let Some(ci) = plan.index_of_attnum(def.attnum) else { continue };
        let col = &cols[ci];
        let mut start = 0usize;
        let granules = meta.granule_rows.iter().map(|&n| {
            let g = col.slice(start, start + n as usize);
            start += n as usize;
            g
        });
        // SAFETY (relname): per the caller, `rel` is open.
        let index = build(&def, plan.columns[ci].sort, granules.map(Ok)).unwrap_or_else(|e| error::report(&unsafe { crate::ffi::relname(rel) }, e));
        let bytes = index.to_bytes();
        skip_catalog::insert(def.index_oid, node, part_id, &bytes, cid);
    }
}

/// Data granules an engine thread summarizes at a time (rounded up to whole index
/// granules, so the pieces append into one summary).
const GRANULES_PER_TASK: usize = 16;
/// Data granules read ahead at a time: their compressed bytes are held in memory.
const GRANULES_PER_WAVE: usize = 128;

/// Summarizes column `pc` of a stored part for `def`: the pages are read here, a wave of
/// tasks at a time, and decoded and summarized on engine threads (tokenizing documents
/// for a text index is most of CREATE INDEX's time). An index granularity past a wave's
/// worth of data granules is summarized a data granule at a time, here.
fn summarize_column(reader: &PartReader<PageStore>, pc: usize, def: &SkipDef, kind: mergetree::SortKind) -> mergetree::Result<SkipIndex> {
    let granules = reader.meta().granules();
    let step = GRANULES_PER_TASK.next_multiple_of(def.granularity.max(1));
    if step > GRANULES_PER_WAVE {
        return build(def, kind, (0..granules).map(|g| reader.read_granule(pc, g)));
    }
    // Read once per part, here: the engine threads share them through the part handle.
    reader.dictionary(pc)?;
    reader.frame_dictionary(pc)?;
    let pool = crate::storage::threads::pool(crate::gucs::max_threads());
    let starts: Vec<usize> = (0..granules).step_by(step).collect();
    let mut out: Option<SkipIndex> = None;
    for wave in starts.chunks(GRANULES_PER_WAVE / step) {
        let mut tasks = Vec::with_capacity(wave.len());
        for &start in wave {
            let gs: Vec<usize> = (start..(start + step).min(granules)).collect();
            let store = PrefetchStore::fetch(reader.store(), reader.byte_ranges(pc, &gs, false)?)?;
            tasks.push((reader.with_store(store), gs));
        }
        check_for_interrupts!();
        let pieces: Vec<mergetree::Result<SkipIndex>> = pool.install(|| {
            tasks.par_iter().map(|(r, gs)| build(def, kind, gs.iter().map(|&g| r.read_granule(pc, g)))).collect()
        });
        for piece in pieces {
            match out.as_mut() {
                None => out = Some(piece?),
                Some(o) => o.append(piece?)?,
            }
        }
    }
    match out {
        Some(index) => Ok(index),
        None => build(def, kind, std::iter::empty()),
    }
}

/// `def`'s summary of the granules given, in order, as they are decoded.
fn build(def: &SkipDef, kind: mergetree::SortKind, granules: impl Iterator<Item = mergetree::Result<ColumnData>>) -> mergetree::Result<SkipIndex> {
    let mut b = SkipIndexBuilder::new(def.ty.clone(), kind, def.granularity);
    for g in granules {
        b.add_granule(&g?);
    }
    Ok(b.finish())
}

/// Summarizes stored part `p` for index `def` (over a column of sort `kind`), reading the
/// column back. False for a part written before the column was added (it holds only its
/// default: no summary).
///
/// # Safety
/// `rel` is open.
unsafe fn summarize_stored(rel: pg_sys::Relation, table: &str, kind: mergetree::SortKind, def: &SkipDef, p: &PartRow, cid: pg_sys::CommandId) -> bool {
    let reader = part_cache::open(rel, p).unwrap_or_else(|e| error::report(table, e));
    let Some(pc) = reader.meta().columns.iter().position(|m| m.spec.id == def.attnum as u32) else { return false };
    let bytes = summarize_column(&reader, pc, def, kind).unwrap_or_else(|e| error::report(table, e)).to_bytes();
    // SAFETY: per the caller.
    skip_catalog::insert(def.index_oid, unsafe { (*rel).rd_node.relNode }, p.part_id, &bytes, cid);
    true
}

/// Writes the summaries of every skip index of `rel` for part `p`, just written without
/// its rows in memory (a merge), as command `cid` like the part's own catalog row.
///
/// # Safety
/// `rel` is open.
pub unsafe fn on_stored_part(rel: pg_sys::Relation, plan: &TablePlan, p: &PartRow, cid: pg_sys::CommandId) {
    // SAFETY: per the caller.
    unsafe {
        let table = crate::ffi::relname(rel);
        for def in defs_of(rel) {
            let Some(ci) = plan.index_of_attnum(def.attnum) else { continue };
            summarize_stored(rel, &table, plan.columns[ci].sort, &def, p, cid);
        }
    }
}

/// Builds `def` for every part of `rel` visible now (CREATE INDEX, REINDEX, TRUNCATE).
/// Returns (rows, parts) summarized.
///
/// # Safety
/// `rel` is open and locked against inserts (CREATE INDEX holds a ShareLock).
pub unsafe fn build_all(rel: pg_sys::Relation, plan: &TablePlan, def: &SkipDef) -> (f64, f64) {
    // SAFETY: per the caller; the snapshot is registered for the duration of the build.
    unsafe {
        let table = crate::ffi::relname(rel);
        let ci = plan.index_of_attnum(def.attnum).expect("indexed column is a table column");
        skip_catalog::delete_index(def.index_oid);
        pg_sys::CommandCounterIncrement();
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
        let parts = catalog::visible_parts(rel, snapshot);
        let cid = pg_sys::GetCurrentCommandId(true);
        let (mut rows, mut n) = (0.0, 0.0);
        for p in &parts {
            pgrx::check_for_interrupts!();
            if summarize_stored(rel, &table, plan.columns[ci].sort, def, p, cid) {
                rows += p.rows as f64;
                n += 1.0;
            }
        }
        pg_sys::UnregisterSnapshot(snapshot);
        (rows, n)
    }
}

/// (index oid, index relfilenode, table relfilenode, part id).
type Key = (u32, u32, u32, i64);

/// Summary bytes kept per backend; past it the cache starts over.
const CACHE_BUDGET: usize = 64 << 20;

thread_local! {
    /// Decoded summaries kept across queries: a key's summary never changes.
    static CACHE: RefCell<BudgetCache<Key, SkipIndex>> = RefCell::new(BudgetCache::new(CACHE_BUDGET));
}

/// One index's summaries for the parts a scan sees.
struct Loaded {
    /// Plan column the index covers.
    ci: usize,
    by_part: HashMap<i64, Arc<SkipIndex>>,
}

/// The skip indexes a scan's filter can use.
pub struct Pruner {
    indexes: Vec<Loaded>,
}

impl Pruner {
    /// Loads the summaries of every skip index on a column of `filter_cols` (plan column
    /// indexes), as `snapshot` sees them. None when there are none.
    ///
    /// # Safety
    /// `rel` is open and `snapshot` valid.
    pub unsafe fn load(rel: pg_sys::Relation, plan: &TablePlan, snapshot: pg_sys::Snapshot, filter_cols: &[usize]) -> Option<Pruner> {
        let mut indexes = Vec::new();
        // SAFETY: per the caller.
        unsafe {
            let node = (*rel).rd_node.relNode;
            for def in defs_of(rel) {
                let Some(ci) = plan.index_of_attnum(def.attnum).filter(|ci| filter_cols.contains(ci)) else { continue };
                let mut by_part = HashMap::new();
                skip_catalog::for_each(def.index_oid, node, snapshot, |part_id, fetch| {
                    let key = (def.index_oid.to_u32(), def.index_node.to_u32(), node.to_u32(), part_id);
                    let cached = CACHE.with(|c| c.borrow().get(&key));
                    let s = cached.or_else(|| {
                        // A summary that does not decode is only a lost chance to skip.
                        let s = Arc::new(SkipIndex::from_bytes(&fetch()).ok()?);
                        CACHE.with(|c| c.borrow_mut().insert(key, s.clone(), s.size_bytes()));
                        Some(s)
                    });
                    if let Some(s) = s {
                        by_part.insert(part_id, s);
                    }
                });
                indexes.push(Loaded { ci, by_part });
            }
        }
        (!indexes.is_empty()).then_some(Pruner { indexes })
    }

    /// Drops from `granules` (of part `part_id`) those a skip index proves cannot match;
    /// returns how many it dropped.
    pub fn prune(&self, part_id: i64, pred: &mergetree::predicate::Predicate, granules: &mut Vec<usize>) -> usize {
        let before = granules.len();
        for ix in &self.indexes {
            if let Some(s) = ix.by_part.get(&part_id) {
                granules.retain(|&g| s.granule_may_match(g, pred, ix.ci));
            }
        }
        before - granules.len()
    }
}
