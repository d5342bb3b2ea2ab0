//! FINAL reads (ClickHouse's `SELECT ... FINAL`): the rows the table would hold if every
//! partition had been merged by optimize(final). Per partition, its parts and the
//! transaction's buffered rows of it go through one k-way merge, reduced by the table's
//! engine as a FINAL read does (`Mode::Read`). The result stands in for the parts the way
//! buffered rows do, so the row emitter, the aggregation node and metadata answers all
//! read it, and the query's filters apply after the merge: a filter on a non-key column
//! must not pick an older version of a row that a newer one replaced.
//!
//! Partitions merge in parallel on the engine threads, a wave of them at a time: the
//! backend reads each wave's granules into memory first (pages are read only there).
//! Keys the engine cannot compare itself (collations, numeric) and aggregating tables'
//! Postgres combine functions need the backend, so those tables merge partition after
//! partition on it. Conjuncts of the query's filter over sort key columns only prune parts
//! and granules before the merge: every row of a key that passes them is in a granule
//! they keep, and what the engine makes of a key keeps that key. The merged rows are held
//! in memory for the statement (a latest-state table's rows, not a raw event stream's,
//! are what FINAL is for).

use crate::catalog::PartRow;
use crate::datum::TablePlan;
use crate::options::TableOptions;
use crate::storage::part_cache;
use crate::write::flush::{sort_key, sort_rows};
use crate::write::merge::{merge_keys, report_engine, EngineMerge};
use mergetree::merge::algorithm::{BytesEq, Collapser, GroupStarts, Mode, NoCombiner, TableEngine};
use mergetree::merge::part_run::PartRun;
use mergetree::merge::{MergeKey, Merger, NoOpaque, OpaqueOrder, RunSource};
use mergetree::predicate::Predicate;
use mergetree::range_reader::{self, PartColumns, ReadColumn};
use mergetree::store::PrefetchStore;
use mergetree::{select, BlockStore, ColumnData, ColumnType, PartReader, SortKind};
use pgrx::pg_sys;

/// Rows the merge hands over at a time.
const BATCH_ROWS: usize = 65536;

/// A merge input with each row's row id as a last column.
enum Run<S: BlockStore> {
    /// A part's granules; `first_ids`: the row id of each one's first row, in order.
    Part { run: PartRun<S>, first_ids: std::vec::IntoIter<u64> },
    /// A part's granules read as the scan reads them: the filter's columns first, the
    /// others only for the rows that pass. The filter is on key columns only, so the
    /// rows it drops belong to keys whose merged rows it would drop too.
    Filtered(Box<FilteredPart<S>>),
    Rows(Option<Vec<ColumnData>>),
}

struct FilteredPart<S: BlockStore> {
    reader: PartReader<S>,
    map: PartColumns,
    cols: Vec<ReadColumn>,
    conjuncts: Vec<(Predicate, Vec<usize>)>,
    granules: std::vec::IntoIter<usize>,
    /// Row id of each granule's first row.
    starts: Vec<u64>,
}

impl<S: BlockStore> FilteredPart<S> {
    fn next_batch(&mut self) -> mergetree::Result<Option<Vec<ColumnData>>> {
        let all: Vec<usize> = (0..self.cols.len()).collect();
        for g in self.granules.by_ref() {
            let Some(b) = range_reader::read_granule(&self.reader, &self.map, &self.cols, &self.conjuncts, &all, g)? else { continue };
            let mut batch: Vec<ColumnData> = b.columns.into_iter().map(|f| f.map_or_else(|| ColumnData::new(ColumnType::Var), |f| f.into_values().take(&b.selection))).collect();
            batch.push(ids(b.selection.iter().map(|&r| self.starts[g] + r as u64).collect()));
            return Ok(Some(batch));
        }
        Ok(None)
    }
}

impl<S: BlockStore> RunSource for Run<S> {
    fn next_batch(&mut self) -> mergetree::Result<Option<Vec<ColumnData>>> {
        match self {
            Run::Part { run, first_ids } => Ok(run.next_batch()?.map(|mut batch| {
                let n = batch.first().map_or(0, ColumnData::len) as u64;
                let first = first_ids.next().unwrap_or_default();
                batch.push(ids((first..first + n).collect()));
                batch
            })),
            Run::Filtered(part) => part.next_batch(),
            Run::Rows(rows) => Ok(rows.take()),
        }
    }
}

fn ids(values: Vec<u64>) -> ColumnData {
    let mut c = ColumnData::new(ColumnType::Fixed { width: 8 });
    values.iter().for_each(|v| c.push(&v.to_le_bytes()));
    c
}

/// What a FINAL read read and made, for EXPLAIN ANALYZE.
#[derive(Default, Clone, Copy)]
pub struct FinalStats {
    pub parts_total: u64,
    pub parts_read: u64,
    pub granules_total: u64,
    pub granules_read: u64,
    pub rows_in: u64,
    pub rows_out: u64,
    /// Engine threads the partitions merged on (0: on the backend, one after another).
    pub threads: u64,
}

/// A part's granules to merge.
struct PartInput<S: BlockStore> {
    reader: PartReader<S>,
    granules: Vec<usize>,
    /// Row id of each granule's first row.
    starts: Vec<u64>,
    deleted: Option<std::sync::Arc<mergetree::part::deleted::DeletedRows>>,
}

impl<S: BlockStore> PartInput<S> {
    fn into_run(self, cols: &[ReadColumn], prune: Option<&Predicate>) -> Run<S> {
        // Deleted rows go before the merge (an older version of a deleted row wins, as
        // in ClickHouse); the filtered read leaves them out and keeps the others' ids.
        match (prune, &self.deleted) {
            (Some(_), _) | (None, Some(_)) => Run::Filtered(Box::new(FilteredPart {
                map: PartColumns::new(self.reader.meta(), cols).with_deleted(self.reader.meta(), self.deleted.clone()),
                reader: self.reader,
                cols: cols.to_vec(),
                conjuncts: range_reader::conjuncts_of(prune),
                granules: self.granules.into_iter(),
                starts: self.starts,
            })),
            (None, None) => {
                let first_ids: Vec<u64> = self.granules.iter().map(|&g| self.starts[g]).collect();
                Run::Part { run: PartRun::with_granules(self.reader, cols.to_vec(), self.granules), first_ids: first_ids.into_iter() }
            }
        }
    }
}

/// One partition's inputs: its parts (in block order) and its buffered rows, sorted.
struct Group<S: BlockStore> {
    parts: Vec<PartInput<S>>,
    buffered: Option<Vec<ColumnData>>,
}

/// The engine's algorithm with keys it compares by itself and no Postgres combine function.
struct EngineOnly {
    starts: GroupStarts,
    collapser: Collapser,
}

impl EngineOnly {
    fn push(&mut self, batch: Vec<ColumnData>) -> mergetree::Result<Vec<ColumnData>> {
        let starts = self.starts.starts(&batch, &mut BytesEq);
        self.collapser.push(batch, &starts, &mut NoCombiner)
    }
    fn finish(&mut self) -> mergetree::Result<Option<Vec<ColumnData>>> {
        self.collapser.finish(&mut NoCombiner)
    }
}

/// Merges a partition's runs into `out` (the plan's columns and the row ids), on an
/// engine thread; returns the rows that went in.
fn merge_group<S: BlockStore>(runs: Vec<Run<S>>, keys: &[MergeKey], columns: usize, reduce: &mut EngineOnly, out: &mut [ColumnData]) -> mergetree::Result<u64> {
    let mut merger = Merger::new(runs, keys.to_vec(), columns, NoOpaque)?;
    while let Some(batch) = merger.next_batch(BATCH_ROWS)? {
        for (o, c) in out.iter_mut().zip(reduce.push(batch)?) {
            o.append(&c);
        }
    }
    if let Some(last) = reduce.finish()? {
        for (o, c) in out.iter_mut().zip(last) {
            o.append(&c);
        }
    }
    Ok(reduce.collapser.rows_in)
}

fn empty_output(plan: &TablePlan) -> Vec<ColumnData> {
    let mut out: Vec<ColumnData> = plan.columns.iter().map(|c| ColumnData::new(c.ty)).collect();
    out.push(ColumnData::new(ColumnType::Fixed { width: 8 }));
    out
}

/// What a FINAL read is asked for: the table, the parts and buffered rows it merges
/// (plan columns, row ids; `partitions`: each buffered row's partition value) and a
/// filter over sort key columns only, whose rejected parts, granules and rows are not read.
pub struct FinalRequest<'a> {
    pub rel: pg_sys::Relation,
    pub table: &'a str,
    pub plan: &'a TablePlan,
    pub options: &'a TableOptions,
    pub parts: &'a [PartRow],
    pub buffered: Option<&'a (Vec<ColumnData>, Vec<u64>)>,
    pub partitions: &'a [Option<Vec<u8>>],
    pub prune: Option<&'a Predicate>,
}

/// A partition being merged on the backend, a batch at a time.
struct Current {
    merger: Merger<Run<crate::storage::blob::PageStore>, Box<dyn OpaqueOrder>>,
    engine: EngineMerge<'static>,
}

/// The FINAL rows of a request, handed out a batch at a time (plan columns and row ids),
/// per partition in the order partitions first appear, each in sort key order. On the
/// backend a partition streams: memory holds a granule batch per input. On the engine
/// threads a wave of partitions is merged at once and held until handed out, so a wave's
/// inputs must fit `mergetree.final_max_memory`.
pub struct FinalStream {
    // Fields that borrow `plan` come first: fields drop in declaration order.
    current: Option<Current>,
    ready: std::collections::VecDeque<Vec<ColumnData>>,
    groups: std::vec::IntoIter<Group<crate::storage::blob::PageStore>>,
    rel: pg_sys::Relation,
    table: String,
    options: TableOptions,
    keys: Vec<MergeKey>,
    cols: Vec<ReadColumn>,
    prune: Option<Predicate>,
    /// The engine alone, where partitions merge on the engine threads.
    on_threads: Option<TableEngine>,
    threads: usize,
    pub stats: FinalStats,
    plan: Box<TablePlan>,
}

impl FinalStream {
    /// Plans the read: the partitions' granules (pruned), nothing merged yet.
    ///
    /// # Safety
    /// `req.rel` is open; its parts are visible to the scan's snapshot; the stream is
    /// used while the relation stays open.
    pub unsafe fn new(req: FinalRequest) -> FinalStream {
        let cols = crate::datum::read_columns(req.plan);
        let mut stats = FinalStats::default();
        // SAFETY: per the caller.
        let groups = unsafe { gather(&req, &cols, &mut stats) };
        let keys = merge_keys(req.plan, req.options);
        let threads = crate::gucs::max_threads();
        let parallel = groups.len() > 1 && threads > 1 && keys.iter().all(|k| k.kind != SortKind::Opaque) && req.options.engine.functions().is_empty();
        let on_threads = req.options.engine.algorithm(req.plan, &req.options.order_by).filter(|_| parallel);
        if on_threads.is_some() {
            stats.threads = threads.min(groups.len()) as u64;
        }
        FinalStream {
            current: None,
            ready: Default::default(),
            groups: groups.into_iter(),
            rel: req.rel,
            table: req.table.to_string(),
            options: req.options.clone(),
            keys,
            cols,
            prune: req.prune.cloned(),
            on_threads,
            threads,
            stats,
            plan: Box::new(req.plan.clone()),
        }
    }

    /// The next merged rows (plan columns, row ids), or None when every partition is done.
    pub fn next(&mut self) -> Option<(Vec<ColumnData>, Vec<u64>)> {
        loop {
            pgrx::check_for_interrupts!();
            if let Some(mut batch) = self.ready.pop_front() {
                let id_col = batch.pop().expect("the row id column");
                if id_col.is_empty() {
                    continue;
                }
                self.stats.rows_out += id_col.len() as u64;
                let ids = (0..id_col.len()).map(|i| u64::from_le_bytes(id_col.value(i).try_into().expect("8-byte row id"))).collect();
                return Some((batch, ids));
            }
            if let Some(cur) = self.current.as_mut() {
                let table = &self.table;
                match cur.merger.next_batch(BATCH_ROWS).unwrap_or_else(|e| crate::error::report(table, e)) {
                    Some(batch) => {
                        let out = cur.engine.push(batch).unwrap_or_else(|e| report_engine(table, e));
                        self.ready.push_back(out);
                    }
                    None => {
                        let last = cur.engine.finish().unwrap_or_else(|e| report_engine(table, e));
                        self.stats.rows_in += cur.engine.counts().0;
                        self.ready.extend(last);
                        self.current = None;
                    }
                }
                continue;
            }
            match &self.on_threads {
                Some(engine) => {
                    let wave: Vec<Group<crate::storage::blob::PageStore>> = self.groups.by_ref().take(self.threads).collect();
                    if wave.is_empty() {
                        return None;
                    }
                    check_memory(&self.table, &wave);
                    let prefetched: Vec<Group<PrefetchStore>> = wave.into_iter().map(|g| prefetch(g, &self.cols, &self.table)).collect();
                    for result in merge_on_threads(prefetched, &self.keys, &self.plan, engine, &self.cols, self.prune.as_ref(), self.threads) {
                        let (out, rows_in) = result.unwrap_or_else(|e| report_engine(&self.table, e));
                        self.stats.rows_in += rows_in;
                        self.ready.push_back(out);
                    }
                }
                None => {
                    let group = self.groups.next()?;
                    let runs = runs_of(group, &self.cols, self.prune.as_ref());
                    if runs.is_empty() {
                        continue;
                    }
                    // SAFETY: `plan` is boxed, so its address stays while the stream
                    // moves, and it is dropped after `current` (declared before it), the
                    // only holder of these borrows.
                    let plan: &'static TablePlan = unsafe { &*(self.plan.as_ref() as *const TablePlan) };
                    let opaque: Box<dyn OpaqueOrder> = Box::new(crate::write::merge::opaque_keys(plan, &self.keys, runs.len()));
                    let merger = Merger::new(runs, self.keys.clone(), plan.columns.len() + 1, opaque).unwrap_or_else(|e| crate::error::report(&self.table, e));
                    // SAFETY: the relation is open while the stream is used (`new`).
                    let Some(engine) = (unsafe { EngineMerge::new(self.rel, plan, &self.options, &self.keys, Mode::Read) }) else {
                        crate::error::report(&self.table, mergetree::Error::Invalid("FINAL read of a table without an engine".into()))
                    };
                    self.current = Some(Current { merger, engine });
                }
            }
        }
    }
}

/// Refuses to merge a wave of partitions on the engine threads whose inputs (the
/// granules read, uncompressed, and the buffered rows) exceed `mergetree.final_max_memory`:
/// the wave's merged rows are held in memory until handed out.
fn check_memory(table: &str, groups: &[Group<crate::storage::blob::PageStore>]) {
    let mut bytes = 0u64;
    for g in groups {
        for p in &g.parts {
            let meta = p.reader.meta();
            let share = p.granules.len() as f64 / meta.granules().max(1) as f64;
            bytes += (meta.uncompressed_bytes() as f64 * share) as u64;
        }
        bytes += g.buffered.as_ref().map_or(0, |b| b.iter().map(|c| c.data_bytes() as u64).sum());
    }
    let limit = crate::gucs::FINAL_MAX_MEMORY_KB.get().max(0) as u64 * 1024;
    if bytes > limit {
        crate::error::raise_with_hint(
            pgrx::PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("FINAL read of mergetree table \"{table}\" would hold about {} MB of rows, more than mergetree.final_max_memory ({} MB)", bytes >> 20, limit >> 20),
            "Filter on the table's order_by columns (FINAL reads only the granules such a filter keeps), lower mergetree.max_threads (fewer partitions at once; 1 streams them), or raise mergetree.final_max_memory.".into(),
        );
    }
}

fn runs_of<S: BlockStore>(group: Group<S>, cols: &[ReadColumn], prune: Option<&Predicate>) -> Vec<Run<S>> {
    let mut runs: Vec<Run<S>> = group.parts.into_iter().map(|p| p.into_run(cols, prune)).collect();
    if let Some(batch) = group.buffered {
        runs.push(Run::Rows(Some(batch)));
    }
    runs
}

/// A group's granules read into memory (dictionaries first, into the part's shared
/// state), so the engine threads can decode them.
fn prefetch(group: Group<crate::storage::blob::PageStore>, cols: &[ReadColumn], table: &str) -> Group<PrefetchStore> {
    let parts = group
        .parts
        .into_iter()
        .map(|p| {
            let map = PartColumns::new(p.reader.meta(), cols);
            let mut ranges = Vec::new();
            for c in map.map.iter().flatten() {
                p.reader.dictionary(*c).unwrap_or_else(|e| crate::error::report(table, e));
                p.reader.frame_dictionary(*c).unwrap_or_else(|e| crate::error::report(table, e));
                ranges.extend(p.reader.byte_ranges(*c, &p.granules, false).unwrap_or_else(|e| crate::error::report(table, e)));
            }
            let store = PrefetchStore::fetch(p.reader.store(), ranges).unwrap_or_else(|e| crate::error::report(table, e));
            PartInput { reader: p.reader.with_store(store), granules: p.granules, starts: p.starts, deleted: p.deleted }
        })
        .collect();
    Group { parts, buffered: group.buffered }
}

/// Merges each group on an engine thread; results in the groups' order.
fn merge_on_threads(groups: Vec<Group<PrefetchStore>>, keys: &[MergeKey], plan: &TablePlan, engine: &TableEngine, cols: &[ReadColumn], prune: Option<&Predicate>, threads: usize) -> Vec<mergetree::Result<(Vec<ColumnData>, u64)>> {
    use rayon::prelude::*;
    let columns = plan.columns.len() + 1;
    let empty = empty_output(plan);
    crate::storage::threads::pool(threads).install(|| {
        groups
            .into_par_iter()
            .map(|group| {
                let runs = runs_of(group, cols, prune);
                let mut out = empty.clone();
                if runs.is_empty() {
                    return Ok((out, 0));
                }
                let mut reduce = EngineOnly { starts: GroupStarts::new(keys.to_vec()), collapser: Collapser::new(engine.clone(), Mode::Read) };
                let rows_in = merge_group(runs, keys, columns, &mut reduce, &mut out)?;
                Ok((out, rows_in))
            })
            .collect()
    })
}

/// The partitions' inputs (those with anything to read), in the order partitions first
/// appear: each part's granules
/// the filter keeps (parts by block number) and the buffered rows of the partition,
/// sorted as a part would be (the newest run).
///
/// # Safety
/// As `FinalStream::new`.
unsafe fn gather(req: &FinalRequest, cols: &[ReadColumn], stats: &mut FinalStats) -> Vec<Group<crate::storage::blob::PageStore>> {
    let FinalRequest { rel, table, plan, options, parts, buffered, partitions, prune } = *req;
    // Partitions by value, in the order they first appear: their parts and buffered rows.
    let mut values: Vec<&Option<Vec<u8>>> = Vec::new();
    let mut members: Vec<(Vec<&PartRow>, Vec<u32>)> = Vec::new();
    let mut slot = |value| match values.iter().position(|v| *v == value) {
        Some(i) => i,
        None => {
            values.push(value);
            members.push((Vec::new(), Vec::new()));
            members.len() - 1
        }
    };
    let part_slots: Vec<usize> = parts.iter().map(|p| slot(&p.partition_value)).collect();
    let row_slots: Vec<usize> = partitions.iter().map(|v| slot(v)).collect();
    for (p, i) in parts.iter().zip(part_slots) {
        members[i].0.push(p);
    }
    for (r, i) in row_slots.into_iter().enumerate() {
        members[i].1.push(r as u32);
    }
    let key = sort_key(plan, options);
    let mut groups = Vec::with_capacity(members.len());
    for (mut group_parts, rows) in members {
        group_parts.sort_by_key(|p| p.min_block);
        let mut inputs = Vec::new();
        for p in group_parts {
            // SAFETY: per the caller.
            let reader = part_cache::open(rel, p).unwrap_or_else(|e| crate::error::report(table, e));
            let meta = reader.meta();
            stats.parts_total += 1;
            stats.granules_total += meta.granules() as u64;
            let granules = match prune {
                Some(pred) => {
                    let map = PartColumns::new(meta, cols);
                    if !select::part_may_match(meta, pred, &map.map) {
                        continue;
                    }
                    select::select_granules(meta, pred, &map.map)
                }
                None => (0..meta.granules()).collect(),
            };
            if granules.is_empty() {
                continue;
            }
            stats.parts_read += 1;
            stats.granules_read += granules.len() as u64;
            let mut starts = Vec::with_capacity(meta.granules());
            let mut at = p.first_row as u64;
            for &n in &meta.granule_rows {
                starts.push(at);
                at += n as u64;
            }
            inputs.push(PartInput { reader, granules, starts, deleted: p.deleted.clone() });
        }
        let buffered = buffered.filter(|_| !rows.is_empty()).map(|(bcols, bids)| {
            let batch: Vec<ColumnData> = bcols.iter().map(|c| c.take(&rows)).collect();
            let perm = sort_rows(plan, &batch, &key);
            let mut batch: Vec<ColumnData> = batch.iter().map(|c| c.take(&perm)).collect();
            batch.push(ids(perm.iter().map(|&i| bids[rows[i as usize] as usize]).collect()));
            batch
        });
        if !inputs.is_empty() || buffered.is_some() {
            groups.push(Group { parts: inputs, buffered });
        }
    }
    groups
}
