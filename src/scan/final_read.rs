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

/// EXPLAIN ANALYZE's line for a FINAL read.
pub fn describe(st: &super::source::Stats) -> String {
    let (rows_in, rows_out) = st.final_rows;
    match st.final_threads {
        0 | 1 => format!("{rows_in} rows into {rows_out}"),
        t => format!("{rows_in} rows into {rows_out}, partitions on {t} threads"),
    }
}

/// A part's granules to merge.
struct PartInput<S: BlockStore> {
    reader: PartReader<S>,
    granules: Vec<usize>,
    /// Row id of each granule's first row.
    starts: Vec<u64>,
}

impl<S: BlockStore> PartInput<S> {
    fn into_run(self, cols: &[ReadColumn], prune: Option<&Predicate>) -> Run<S> {
        match prune {
            Some(p) => Run::Filtered(Box::new(FilteredPart {
                map: PartColumns::new(self.reader.meta(), cols),
                reader: self.reader,
                cols: cols.to_vec(),
                conjuncts: range_reader::conjuncts_of(Some(p)),
                granules: self.granules.into_iter(),
                starts: self.starts,
            })),
            None => {
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

/// What reduces a partition's merged batches: the Postgres layer's EngineMerge, or the
/// engine alone (on the engine threads).
trait Reduce {
    fn push(&mut self, batch: Vec<ColumnData>) -> mergetree::Result<Vec<ColumnData>>;
    fn finish(&mut self) -> mergetree::Result<Option<Vec<ColumnData>>>;
    fn rows_in(&self) -> u64;
}

impl Reduce for EngineMerge<'_> {
    fn push(&mut self, batch: Vec<ColumnData>) -> mergetree::Result<Vec<ColumnData>> {
        EngineMerge::push(self, batch)
    }
    fn finish(&mut self) -> mergetree::Result<Option<Vec<ColumnData>>> {
        EngineMerge::finish(self)
    }
    fn rows_in(&self) -> u64 {
        self.counts().0
    }
}

/// The engine's algorithm with keys it compares by itself and no Postgres combine function.
struct EngineOnly {
    starts: GroupStarts,
    collapser: Collapser,
}

impl Reduce for EngineOnly {
    fn push(&mut self, batch: Vec<ColumnData>) -> mergetree::Result<Vec<ColumnData>> {
        let starts = self.starts.starts(&batch, &mut BytesEq);
        self.collapser.push(batch, &starts, &mut NoCombiner)
    }
    fn finish(&mut self) -> mergetree::Result<Option<Vec<ColumnData>>> {
        self.collapser.finish(&mut NoCombiner)
    }
    fn rows_in(&self) -> u64 {
        self.collapser.rows_in
    }
}

/// Merges a partition's runs into `out` (the plan's columns and the row ids); returns the
/// rows that went in. `tick` runs once a batch (interrupt checks, on the backend).
fn merge_group<S: BlockStore, O: OpaqueOrder>(runs: Vec<Run<S>>, keys: &[MergeKey], columns: usize, opaque: O, reduce: &mut dyn Reduce, out: &mut [ColumnData], tick: &dyn Fn()) -> mergetree::Result<u64> {
    let mut merger = Merger::new(runs, keys.to_vec(), columns, opaque)?;
    while let Some(batch) = merger.next_batch(BATCH_ROWS)? {
        tick();
        for (o, c) in out.iter_mut().zip(reduce.push(batch)?) {
            o.append(&c);
        }
    }
    if let Some(last) = reduce.finish()? {
        for (o, c) in out.iter_mut().zip(last) {
            o.append(&c);
        }
    }
    Ok(reduce.rows_in())
}

fn empty_output(plan: &TablePlan) -> Vec<ColumnData> {
    let mut out: Vec<ColumnData> = plan.columns.iter().map(|c| ColumnData::new(c.ty)).collect();
    out.push(ColumnData::new(ColumnType::Fixed { width: 8 }));
    out
}

/// The FINAL rows of `parts` and the `buffered` rows (plan columns, row ids; `partitions`:
/// each buffered row's partition value), with their row ids: per partition in the order
/// partitions first appear, each in sort key order. `prune`: a filter over sort key
/// columns only, whose rejected parts and granules are not read.
///
/// # Safety
/// `rel` is open; `parts` are visible to the scan's snapshot.
#[allow(clippy::too_many_arguments)]
pub unsafe fn final_rows(
    rel: pg_sys::Relation,
    table: &str,
    plan: &TablePlan,
    options: &TableOptions,
    parts: &[PartRow],
    buffered: Option<&(Vec<ColumnData>, Vec<u64>)>,
    partitions: &[Option<Vec<u8>>],
    prune: Option<&Predicate>,
    stats: &mut FinalStats,
) -> (Vec<ColumnData>, Vec<u64>) {
    let cols = crate::datum::read_columns(plan);
    // SAFETY: per the caller.
    let mut groups = unsafe { gather(rel, table, plan, options, parts, buffered, partitions, prune, &cols, stats) };
    check_memory(table, &groups);
    let keys = merge_keys(plan, options);
    let threads = crate::gucs::max_threads();
    let algorithm = options.engine.algorithm(plan, &options.order_by);
    let on_threads = groups.len() > 1 && threads > 1 && keys.iter().all(|k| k.kind != SortKind::Opaque) && options.engine.functions().is_empty();
    let mut out = empty_output(plan);
    match algorithm {
        Some(engine) if on_threads => {
            stats.threads = stats.threads.max(threads.min(groups.len()) as u64);
            for wave in groups.chunks_mut(threads).map(|w| w.iter_mut().map(std::mem::take).collect::<Vec<_>>()) {
                pgrx::check_for_interrupts!();
                let prefetched: Vec<Group<PrefetchStore>> = wave.into_iter().map(|g| prefetch(g, plan, table)).collect();
                let merged = merge_on_threads(prefetched, &keys, plan, &engine, &cols, prune, threads);
                for result in merged {
                    let (cols_out, rows_in) = result.unwrap_or_else(|e| report_engine(table, e));
                    stats.rows_in += rows_in;
                    for (o, c) in out.iter_mut().zip(cols_out) {
                        o.append(&c);
                    }
                }
            }
        }
        _ => {
            for group in groups.into_iter().flatten() {
                let runs = runs_of(group, &cols, prune);
                if runs.is_empty() {
                    continue;
                }
                let opaque = crate::write::merge::opaque_keys(plan, &keys, runs.len());
                // SAFETY: per the caller.
                let Some(mut engine) = (unsafe { EngineMerge::new(rel, plan, options, &keys, Mode::Read) }) else {
                    crate::error::report(table, mergetree::Error::Invalid("FINAL read of a table without an engine".into()))
                };
                let tick = || {
                    pgrx::check_for_interrupts!();
                };
                stats.rows_in += merge_group(runs, &keys, plan.columns.len() + 1, opaque, &mut engine, &mut out, &tick).unwrap_or_else(|e| report_engine(table, e));
            }
        }
    }
    stats.rows_out += out.first().map_or(0, ColumnData::len) as u64;
    let id_col = out.pop().expect("the row id column");
    let row_ids = (0..id_col.len()).map(|i| u64::from_le_bytes(id_col.value(i).try_into().expect("8-byte row id"))).collect();
    (out, row_ids)
}

/// Refuses a FINAL read whose inputs (the granules read, uncompressed, and the buffered
/// rows) exceed `mergetree.final_max_memory`: the merged rows are held in memory.
fn check_memory(table: &str, groups: &[Option<Group<crate::storage::blob::PageStore>>]) {
    let mut bytes = 0u64;
    for g in groups.iter().flatten() {
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
            "Filter on the table's order_by columns (FINAL reads only the granules such a filter keeps), read without FINAL after mergetree.optimize(table, final => true), or raise mergetree.final_max_memory.".into(),
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

/// Each group's granules read into memory (dictionaries first, into the part's shared
/// state), so the engine threads can decode them.
fn prefetch(group: Option<Group<crate::storage::blob::PageStore>>, plan: &TablePlan, table: &str) -> Group<PrefetchStore> {
    let Some(group) = group else { return Group { parts: Vec::new(), buffered: None } };
    let cols = crate::datum::read_columns(plan);
    let parts = group
        .parts
        .into_iter()
        .map(|p| {
            let map = PartColumns::new(p.reader.meta(), &cols);
            let mut ranges = Vec::new();
            for c in map.map.iter().flatten() {
                p.reader.dictionary(*c).unwrap_or_else(|e| crate::error::report(table, e));
                p.reader.frame_dictionary(*c).unwrap_or_else(|e| crate::error::report(table, e));
                ranges.extend(p.reader.byte_ranges(*c, &p.granules, false).unwrap_or_else(|e| crate::error::report(table, e)));
            }
            let store = PrefetchStore::fetch(p.reader.store(), ranges).unwrap_or_else(|e| crate::error::report(table, e));
            PartInput { reader: p.reader.with_store(store), granules: p.granules, starts: p.starts }
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
                let rows_in = merge_group(runs, keys, columns, NoOpaque, &mut reduce, &mut out, &|| {})?;
                Ok((out, rows_in))
            })
            .collect()
    })
}

/// The partitions' inputs, in the order partitions first appear: each part's granules
/// the filter keeps (parts by block number) and the buffered rows of the partition,
/// sorted as a part would be (the newest run).
///
/// # Safety
/// As `final_rows`.
#[allow(clippy::too_many_arguments)]
unsafe fn gather(
    rel: pg_sys::Relation,
    table: &str,
    plan: &TablePlan,
    options: &TableOptions,
    parts: &[PartRow],
    buffered: Option<&(Vec<ColumnData>, Vec<u64>)>,
    partitions: &[Option<Vec<u8>>],
    prune: Option<&Predicate>,
    cols: &[ReadColumn],
    stats: &mut FinalStats,
) -> Vec<Option<Group<crate::storage::blob::PageStore>>> {
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
            inputs.push(PartInput { reader, granules, starts });
        }
        let buffered = buffered.filter(|_| !rows.is_empty()).map(|(bcols, bids)| {
            let batch: Vec<ColumnData> = bcols.iter().map(|c| c.take(&rows)).collect();
            let perm = sort_rows(plan, &batch, &key);
            let mut batch: Vec<ColumnData> = batch.iter().map(|c| c.take(&perm)).collect();
            batch.push(ids(perm.iter().map(|&i| bids[rows[i as usize] as usize]).collect()));
            batch
        });
        groups.push((!inputs.is_empty() || buffered.is_some()).then_some(Group { parts: inputs, buffered }));
    }
    groups
}
