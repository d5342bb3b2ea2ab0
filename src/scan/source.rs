//! What a scan of a mergetree table reads, shared by MergeTreeScan and MergeTreeAgg: the
//! parts the snapshot sees, each opened once, and for each the granules that may match
//! the pushed predicate (part min/max, the sparse primary index, skip indexes); the rows
//! the transaction still buffers; counters for EXPLAIN ANALYZE.

use crate::catalog::{self, PartRow};
use crate::datum::{self, TablePlan};
use crate::skip;
use crate::storage::blob::PageStore;
use crate::storage::part_cache;
use crate::write::buffer;
use mergetree::predicate::Predicate;
use mergetree::range_reader::{self, Fetched, PartColumns, ReadColumn};
use mergetree::{select, ColumnData, PartReader};
use pgrx::pg_sys;
use pgrx::prelude::*;

/// Counters for EXPLAIN ANALYZE.
#[derive(Default, Clone, Copy)]
pub struct Stats {
    pub parts_total: u64,
    pub parts_read: u64,
    pub granules_total: u64,
    pub granules_read: u64,
    /// Granules the primary index kept but a skip index dropped.
    pub granules_skipped: u64,
    pub rows_removed: u64,
    /// A FINAL read: rows merged, rows it made of them.
    pub is_final: bool,
    pub final_rows: (u64, u64),
    pub final_threads: u64,
}

impl Stats {
    /// EXPLAIN ANALYZE's line for a FINAL read.
    pub fn final_merge(&self) -> String {
        let (rows_in, rows_out) = self.final_rows;
        match self.final_threads {
            0 | 1 => format!("{rows_in} rows into {rows_out}"),
            t => format!("{rows_in} rows into {rows_out}, partitions on {t} threads"),
        }
    }
}

/// Whether range table entry `rti` of the executor's query is aliased `final`.
///
/// # Safety
/// `estate` is a running executor's state and `rti` one of its range table indexes.
pub unsafe fn aliased_final(estate: *mut pg_sys::EState, rti: pg_sys::Index) -> bool {
    // SAFETY: per the caller; the alias is the parser's, NUL-terminated.
    unsafe {
        let rtes = crate::ffi::list_ptrs::<pg_sys::RangeTblEntry>((*estate).es_range_table);
        let Some(&rte) = rtes.get((rti as usize).wrapping_sub(1)) else { return false };
        !(*rte).alias.is_null() && crate::ffi::cstr((*(*rte).alias).aliasname).as_deref() == Some("final")
    }
}

/// Whether range table entry `rti` is a relation the executor's statement updates or
/// deletes from (UPDATE, DELETE, MERGE, also in WITH): its scan finds the stored rows to
/// change, never FINAL rows (ClickHouse's lightweight DELETE, too, masks every row that
/// matches, not a merged view of them).
///
/// # Safety
/// `estate` is a running executor's state.
pub unsafe fn changed_by_statement(estate: *mut pg_sys::EState, rti: pg_sys::Index) -> bool {
    // SAFETY: per the caller; the planned statement lives as long as the executor.
    unsafe {
        let stmt = (*estate).es_plannedstmt;
        !stmt.is_null() && crate::ffi::list_ints((*stmt).resultRelations).contains(&(rti as i32))
    }
}

/// A part whose metadata has been read, with the place of each plan column in it.
pub struct OpenPart {
    pub reader: PartReader<PageStore>,
    pub columns: PartColumns,
}

pub struct Source {
    pub rel: pg_sys::Relation,
    pub table: String,
    pub plan: TablePlan,
    /// The plan's columns as the engine reads them.
    pub read_cols: Vec<ReadColumn>,
    pub predicate: Option<Predicate>,
    /// The predicate's top-level conjuncts, each with the plan columns it reads.
    pub conjuncts: Vec<(Predicate, Vec<usize>)>,
    filter_cols: Vec<usize>,
    pub parts: Vec<PartRow>,
    /// Parts opened so far, by index in `parts`.
    opened: Vec<Option<OpenPart>>,
    /// The rows this statement may see of those the transaction buffered, in the plan's
    /// columns, with their row ids.
    pub buffered: Option<(Vec<ColumnData>, Vec<u64>)>,
    /// Next part to consider, and the part being read (index in `parts`) with its granules.
    part: usize,
    pub current: Option<usize>,
    pub granules: Vec<usize>,
    pub stats: Stats,
    snapshot: pg_sys::Snapshot,
    /// Skip indexes on filter columns, loaded at the first part that has a filter.
    skip: Option<Option<skip::Pruner>>,
    /// What a FINAL read merges (None: not one), and the merge of the current run.
    final_input: Option<FinalInput>,
    final_stream: Option<super::final_read::FinalStream>,
    /// The FINAL rows counted before the current run (EXPLAIN ANALYZE adds up runs).
    final_base: (u64, u64),
    /// Whether this run has handed out the buffered rows.
    extra_taken: bool,
}

/// The parts and buffered rows (with their partitions) a FINAL read merges.
struct FinalInput {
    parts: Vec<PartRow>,
    buffered: Option<(Vec<ColumnData>, Vec<u64>)>,
    partitions: Vec<Option<Vec<u8>>>,
    options: crate::options::TableOptions,
}

impl Source {
    /// The parts and buffered rows of `rel` that `snapshot` sees (a scan starts: counted
    /// for the statistics collector, and predicate-locked under SERIALIZABLE).
    /// `changing`: the scan finds rows the statement changes (never read FINAL).
    /// `final_alias`: the query names the table with the alias `final` (`FROM t FINAL`,
    /// ClickHouse's syntax, parses so): a table with an engine is read FINAL.
    ///
    /// # Safety
    /// `rel` is open; `snapshot` is the query's, valid for the source's lifetime.
    pub unsafe fn new(rel: pg_sys::Relation, snapshot: pg_sys::Snapshot, final_alias: bool, changing: bool) -> Source {
        // SAFETY: per the caller.
        unsafe {
            let plan = datum::table_plan(rel);
            crate::ffi::count_scan(rel);
            crate::ffi::predicate_lock_read(rel, snapshot);
            let parts = catalog::visible_parts(rel, snapshot);
            let curcid = ((*snapshot).snapshot_type == pg_sys::SnapshotType::SNAPSHOT_MVCC).then(|| (*snapshot).curcid);
            // Buffered rows, in the plan's columns (attribute numbers; a column added
            // since reads as its default).
            let buffered = buffer::visible_rows(rel, curcid).map(|(cols, ids)| {
                let by_plan = plan
                    .columns
                    .iter()
                    .map(|c| match cols.iter().find(|(a, _)| *a == c.attnum) {
                        Some((_, d)) => d.clone(),
                        None => datum::missing_values(c, ids.len()),
                    })
                    .collect();
                (by_plan, ids)
            });
            let table = crate::ffi::relname(rel);
            let options = crate::options::for_relation(rel);
            // A FINAL read merges at each (re)start, when the filter is known: the parts
            // and buffered rows wait in `final_input`, and the merged rows stand in for them.
            let final_read = !changing && (options.reads_final() || (final_alias && options.engine != crate::options::Engine::Plain));
            let (parts, buffered, final_input) = if final_read {
                let partitions = if buffered.is_some() { buffer::visible_partitions(rel, curcid) } else { Vec::new() };
                (Vec::new(), None, Some(FinalInput { parts, buffered, partitions, options }))
            } else {
                (parts, buffered, None)
            };
            Source {
                read_cols: datum::read_columns(&plan),
                rel,
                table,
                opened: parts.iter().map(|_| None).collect(),
                plan,
                predicate: None,
                conjuncts: Vec::new(),
                filter_cols: Vec::new(),
                parts,
                buffered,
                part: 0,
                current: None,
                granules: Vec::new(),
                stats: Stats::default(),
                snapshot,
                skip: None,
                final_input,
                final_stream: None,
                final_base: (0, 0),
                extra_taken: false,
            }
        }
    }

    pub fn report(&self, e: mergetree::Error) -> ! {
        crate::error::report(&self.table, e)
    }

    /// Starts over with `predicate` (parameters evaluated anew); parts stay open.
    pub fn restart(&mut self, predicate: Option<Predicate>) {
        self.predicate = predicate;
        self.filter_cols.clear();
        if let Some(p) = &self.predicate {
            p.columns(&mut self.filter_cols);
        }
        self.conjuncts = range_reader::conjuncts_of(self.predicate.as_ref());
        self.stats.parts_total += self.parts.len() as u64;
        if let Some(fi) = &self.final_input {
            // Only conjuncts over sort key columns may prune before the merge.
            let key = crate::write::flush::sort_key(&self.plan, &fi.options);
            let mut on_key: Vec<Predicate> = self.conjuncts.iter().filter(|(_, cols)| cols.iter().all(|c| key.contains(c))).map(|(p, _)| p.clone()).collect();
            let prune = match on_key.len() {
                0 => None,
                1 => on_key.pop(),
                _ => Some(Predicate::And(on_key)),
            };
            let prune = prune.filter(|_| crate::gucs::PRIMARY_KEY_PRUNING.get());
            let req = super::final_read::FinalRequest {
                rel: self.rel,
                table: &self.table,
                plan: &self.plan,
                options: &fi.options,
                parts: &fi.parts,
                buffered: fi.buffered.as_ref(),
                partitions: &fi.partitions,
                prune: prune.as_ref(),
            };
            // SAFETY: the relation is open for the source's lifetime; the parts are
            // visible to the query's snapshot.
            let stream = unsafe { super::final_read::FinalStream::new(req) };
            let fs = stream.stats;
            self.stats.parts_total += fs.parts_total;
            self.stats.parts_read += fs.parts_read;
            self.stats.granules_total += fs.granules_total;
            self.stats.granules_read += fs.granules_read;
            self.stats.final_threads = self.stats.final_threads.max(fs.threads);
            self.stats.is_final = true;
            self.final_base = self.stats.final_rows;
            self.final_stream = Some(stream);
        }
        self.extra_taken = false;
        self.part = 0;
        self.current = None;
        self.granules.clear();
    }

    /// Opens the part at index `pi` (once).
    pub fn open(&mut self, pi: usize) {
        if self.opened[pi].is_none() {
            let p = &self.parts[pi];
            let reader = part_cache::open(self.rel, p).unwrap_or_else(|e| self.report(e));
            let columns = PartColumns::new(reader.meta(), &self.read_cols).with_deleted(reader.meta(), p.deleted.clone());
            self.opened[pi] = Some(OpenPart { reader, columns });
        }
    }

    /// The part at index `pi`, which `open` (or `next_part`) opened.
    pub fn part(&self, pi: usize) -> &OpenPart {
        self.opened[pi].as_ref().expect("part opened before use")
    }

    /// Moves to the next part that may match (`current`, with its `granules`); false when
    /// none is left.
    pub fn next_part(&mut self) -> bool {
        while self.part < self.parts.len() {
            check_for_interrupts!();
            let pi = self.part;
            self.part += 1;
            self.open(pi);
            let op = self.opened[pi].as_ref().expect("opened");
            let meta = op.reader.meta();
            self.stats.granules_total += meta.granules() as u64;
            let granules = match &self.predicate {
                Some(pred) => {
                    if crate::gucs::PART_PRUNING.get() && !select::part_may_match(meta, pred, &op.columns.map) {
                        continue;
                    }
                    let mut granules = if crate::gucs::PRIMARY_KEY_PRUNING.get() {
                        select::select_granules(meta, pred, &op.columns.map)
                    } else {
                        (0..meta.granules()).collect()
                    };
                    if crate::gucs::SKIP_INDEXES.get() {
                        if self.skip.is_none() {
                            // SAFETY: the relation is open and the snapshot is the query's.
                            self.skip = Some(unsafe { skip::Pruner::load(self.rel, &self.plan, self.snapshot, &self.filter_cols) });
                        }
                        if let Some(Some(pruner)) = &self.skip {
                            self.stats.granules_skipped += pruner.prune(self.parts[pi].part_id, pred, &mut granules) as u64;
                        }
                    }
                    granules
                }
                None => (0..meta.granules()).collect(),
            };
            self.stats.parts_read += 1;
            self.stats.granules_read += granules.len() as u64;
            self.granules = granules;
            self.current = Some(pi);
            return true;
        }
        false
    }

    /// Whether the source reads FINAL (its rows come from `next_rows`, merged).
    pub fn is_final(&self) -> bool {
        self.final_input.is_some()
    }

    /// The rows of this run that are not read from parts: the transaction's buffered
    /// rows (once), or a FINAL read's merged rows, a batch at a time (plan columns, row
    /// ids). None when there are no more.
    pub fn next_rows(&mut self) -> Option<(Vec<ColumnData>, Vec<u64>)> {
        if let Some(stream) = self.final_stream.as_mut() {
            let rows = stream.next();
            self.stats.final_rows = (self.final_base.0 + stream.stats.rows_in, self.final_base.1 + stream.stats.rows_out);
            return rows;
        }
        if self.extra_taken {
            return None;
        }
        self.extra_taken = true;
        self.buffered.clone()
    }

    /// The buffered rows (every column at hand in `columns`) that pass the predicate.
    pub fn filter_buffered(&self, columns: &mut [Option<Fetched<'_>>], rows: usize) -> Vec<u32> {
        // Buffered rows are in insertion order: no sort key to search.
        range_reader::filter(&self.conjuncts, columns, rows, &[], |_| 0, &mut |_, _| {
            Err(mergetree::Error::Invalid("buffered rows have every column".into()))
        })
        .unwrap_or_else(|e| self.report(e))
    }
}
