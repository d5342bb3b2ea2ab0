//! FINAL reads (ClickHouse's `SELECT ... FINAL`): the rows the table would hold if every
//! partition had been merged by optimize(final). Per partition, its parts and the
//! transaction's buffered rows of it go through one k-way merge, reduced by the table's
//! engine as a FINAL read does (`Mode::Read`). The result stands in for the parts the way
//! buffered rows do, so the row emitter, the aggregation node and metadata answers all
//! read it, and the query's filters apply after the merge: a filter on a non-key column
//! must not pick an older version of a row that a newer one replaced.
//!
//! Conjuncts of the query's filter over sort key columns only prune parts and granules
//! before the merge: every row of a key that passes them is in a granule they keep, and
//! what the engine makes of a key keeps that key. The merged rows are held in memory for
//! the statement (a latest-state table's rows, not a raw event stream's, are what FINAL is
//! for).

use crate::catalog::PartRow;
use crate::datum::TablePlan;
use crate::options::TableOptions;
use crate::storage::blob::PageStore;
use crate::storage::part_cache;
use crate::write::flush::{sort_key, sort_rows};
use crate::write::merge::{merge_keys, EngineMerge};
use mergetree::merge::algorithm::Mode;
use mergetree::merge::part_run::PartRun;
use mergetree::merge::{Merger, RunSource};
use mergetree::predicate::Predicate;
use mergetree::range_reader::{self, PartColumns, ReadColumn};
use mergetree::{select, ColumnData, ColumnType};
use pgrx::pg_sys;

/// Rows the merge hands over at a time.
const BATCH_ROWS: usize = 65536;

/// A merge input with each row's row id as a last column.
enum Run {
    /// A part's granules; `first_ids`: the row id of each one's first row, in order.
    Part { run: PartRun<PageStore>, first_ids: std::vec::IntoIter<u64> },
    /// A part's granules read as the scan reads them: the filter's columns first, the
    /// others only for the rows that pass. The filter is on key columns only, so the
    /// rows it drops belong to keys whose merged rows it would drop too.
    Filtered(Box<FilteredPart>),
    Rows(Option<Vec<ColumnData>>),
}

struct FilteredPart {
    reader: mergetree::PartReader<PageStore>,
    map: PartColumns,
    cols: Vec<ReadColumn>,
    conjuncts: Vec<(Predicate, Vec<usize>)>,
    granules: std::vec::IntoIter<usize>,
    /// Row id of each granule's first row.
    starts: Vec<u64>,
}

impl FilteredPart {
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

impl RunSource for Run {
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

/// What a FINAL read read and made, for EXPLAIN ANALYZE.
#[derive(Default, Clone, Copy)]
pub struct FinalStats {
    pub parts_total: u64,
    pub parts_read: u64,
    pub granules_total: u64,
    pub granules_read: u64,
    pub rows_in: u64,
    pub rows_out: u64,
}

fn ids(values: Vec<u64>) -> ColumnData {
    let mut c = ColumnData::new(ColumnType::Fixed { width: 8 });
    values.iter().for_each(|v| c.push(&v.to_le_bytes()));
    c
}

/// A partition's value, its parts and its buffered rows (indexes).
type Group<'a> = (Option<Vec<u8>>, Vec<&'a PartRow>, Vec<u32>);

fn group_of(value: &Option<Vec<u8>>, groups: &mut Vec<Group>) -> usize {
    match groups.iter().position(|g| g.0 == *value) {
        Some(i) => i,
        None => {
            groups.push((value.clone(), Vec::new(), Vec::new()));
            groups.len() - 1
        }
    }
}

/// The FINAL rows of `parts` and the `buffered` rows (plan columns, row ids; `partitions`:
/// each buffered row's partition value), with their row ids: per partition in the order
/// partitions first appear, each in sort key order. `prune`: a filter over sort key
/// columns only, whose rejected parts and granules are not read.
///
/// # Safety
/// `rel` is open; `parts` are visible to the scan's snapshot.
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
    // Partitions, in the order they first appear; parts by block number within each.
    let mut groups: Vec<Group> = Vec::new();
    for p in parts {
        let g = group_of(&p.partition_value, &mut groups);
        groups[g].1.push(p);
    }
    for (i, value) in partitions.iter().enumerate() {
        let g = group_of(value, &mut groups);
        groups[g].2.push(i as u32);
    }
    let cols = crate::datum::read_columns(plan);
    let keys = merge_keys(plan, options);
    let key = sort_key(plan, options);
    let mut out: Vec<ColumnData> = plan.columns.iter().map(|c| ColumnData::new(c.ty)).collect();
    out.push(ColumnData::new(ColumnType::Fixed { width: 8 }));
    for (_, mut group_parts, rows) in groups {
        group_parts.sort_by_key(|p| p.min_block);
        let mut runs: Vec<Run> = Vec::new();
        for p in group_parts {
            let reader = part_cache::open(rel, p).unwrap_or_else(|e| crate::error::report(table, e));
            let meta = reader.meta();
            stats.parts_total += 1;
            stats.granules_total += meta.granules() as u64;
            let granules = match prune {
                Some(pred) => {
                    let map = PartColumns::new(meta, &cols);
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
            runs.push(match prune {
                Some(p) => Run::Filtered(Box::new(FilteredPart {
                    map: PartColumns::new(reader.meta(), &cols),
                    reader,
                    cols: cols.clone(),
                    conjuncts: range_reader::conjuncts_of(Some(p)),
                    granules: granules.into_iter(),
                    starts,
                })),
                None => {
                    let first_ids: Vec<u64> = granules.iter().map(|&g| starts[g]).collect();
                    Run::Part { run: PartRun::with_granules(reader, cols.clone(), granules), first_ids: first_ids.into_iter() }
                }
            });
        }
        if let Some((bcols, bids)) = buffered.filter(|_| !rows.is_empty()) {
            // The buffered rows of this partition, sorted as a part would be: the newest run.
            let mut batch: Vec<ColumnData> = bcols.iter().map(|c| c.take(&rows)).collect();
            let perm = sort_rows(plan, &batch, &key);
            batch = batch.iter().map(|c| c.take(&perm)).collect();
            batch.push(ids(perm.iter().map(|&i| bids[rows[i as usize] as usize]).collect()));
            runs.push(Run::Rows(Some(batch)));
        }
        if runs.is_empty() {
            continue;
        }
        let opaque = crate::write::merge::opaque_keys(plan, &keys, runs.len());
        let mut merger = Merger::new(runs, keys.clone(), plan.columns.len() + 1, opaque).unwrap_or_else(|e| crate::error::report(table, e));
        // SAFETY: per the caller.
        let Some(mut engine) = (unsafe { EngineMerge::new(rel, plan, options, &keys, Mode::Read) }) else {
            crate::error::report(table, mergetree::Error::Invalid("FINAL read of a table without an engine".into()))
        };
        while let Some(batch) = merger.next_batch(BATCH_ROWS).unwrap_or_else(|e| crate::error::report(table, e)) {
            pgrx::check_for_interrupts!();
            for (o, c) in out.iter_mut().zip(engine.push(batch).unwrap_or_else(|e| crate::write::merge::report_engine(table, e))) {
                o.append(&c);
            }
        }
        if let Some(last) = engine.finish().unwrap_or_else(|e| crate::write::merge::report_engine(table, e)) {
            for (o, c) in out.iter_mut().zip(last) {
                o.append(&c);
            }
        }
        stats.rows_in += engine.counts().0;
    }
    stats.rows_out += out.first().map_or(0, ColumnData::len) as u64;
    let id_col = out.pop().expect("the row id column");
    let row_ids = (0..id_col.len()).map(|i| u64::from_le_bytes(id_col.value(i).try_into().expect("8-byte row id"))).collect();
    (out, row_ids)
}
