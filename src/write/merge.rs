//! Merging parts: the engine's k-way merge over a partition's parts, written back as one
//! part that replaces them in the catalog within the merging transaction (readers see the
//! old parts or the new one, never both). `mergetree.optimize` runs merges in the
//! foreground.

use super::flush::{primary_key, register_part, sort_key, writer_settings, Origin, Target};
use crate::catalog::{self, PartRow};
use crate::datum::{self, DatumColumn, TablePlan};
use crate::options::TableOptions;
use crate::storage::blob::PageWriter;
use crate::storage::part_cache;
use crate::storage::spill::SpillFile;
use mergetree::merge::part_run::PartRun;
use mergetree::merge::plan::stream_columns;
use mergetree::merge::selector::{self, Candidate, SelectorSettings};
use mergetree::merge::{MergeKey, Merger, OpaqueOrder};
use mergetree::part::stream::StreamWriter;
use mergetree::{ColumnData, SortKind};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cmp::Ordering;

/// Rows the merge hands over at a time.
const MERGE_BATCH_ROWS: usize = 65536;

/// Key columns the engine cannot order (collations, numeric...), compared with the type's
/// btree comparison function over Datums of each run's current batch.
struct OpaqueKeys<'a> {
    plan: &'a TablePlan,
    /// Per plan column: its comparison function, for opaque key columns.
    finfo: Vec<Option<*mut pg_sys::FmgrInfo>>,
    /// Per run, per plan column: Datums of the run's current batch.
    batches: Vec<Vec<Option<DatumColumn>>>,
}

impl<'a> OpaqueKeys<'a> {
    fn new(plan: &'a TablePlan, keys: &[MergeKey], runs: usize) -> Self {
        let mut finfo = vec![None; plan.columns.len()];
        for k in keys.iter().filter(|k| k.kind == SortKind::Opaque) {
            // SAFETY: type cache entries live for the backend's lifetime.
            finfo[k.column] = Some(unsafe { &raw mut (*pg_sys::lookup_type_cache(plan.columns[k.column].typid, pg_sys::TYPECACHE_CMP_PROC_FINFO as i32)).cmp_proc_finfo });
        }
        OpaqueKeys { plan, finfo, batches: (0..runs).map(|_| (0..plan.columns.len()).map(|_| None).collect()).collect() }
    }
}

impl OpaqueOrder for OpaqueKeys<'_> {
    fn loaded(&mut self, run: usize, batch: &[ColumnData]) {
        for (ci, f) in self.finfo.iter().enumerate() {
            if f.is_some() {
                self.batches[run][ci] = Some(datum::to_datums(&self.plan.columns[ci], batch[ci].clone()));
            }
        }
    }

    fn compare(&mut self, column: usize, a: (usize, usize), b: (usize, usize)) -> Ordering {
        let (Some(finfo), Some(x), Some(y)) = (self.finfo[column], &self.batches[a.0][column], &self.batches[b.0][column]) else {
            return Ordering::Equal;
        };
        // SAFETY: both Datums are non-NULL values of the column's type, alive while their
        // DatumColumns are; the function is the type's btree comparator.
        let r = unsafe { pg_sys::FunctionCall2Coll(finfo, self.plan.columns[column].collation, x.datums[a.1], y.datums[b.1]) };
        (r.value() as i32).cmp(&0)
    }
}

/// Merges `parts` (one partition's, visible, claimed by this transaction, in block order)
/// into one part and replaces their catalog rows with its row. Returns the new part.
/// Memory holds a granule batch per input and a stripe of the output; the output's
/// blocks wait in a temporary file until its size (so its extent) is known.
///
/// # Safety
/// `rel` is open and locked against DDL.
pub unsafe fn merge_parts(rel: pg_sys::Relation, plan: &TablePlan, options: &TableOptions, parts: &[PartRow]) -> PartRow {
    // SAFETY: per the caller.
    let table = unsafe { crate::ffi::relname(rel) };
    let cols = datum::read_columns(plan);
    let readers: Vec<_> = parts.iter().map(|p| part_cache::open(rel, p).unwrap_or_else(|e| crate::error::report(&table, e))).collect();
    let settings = writer_settings(plan, options);
    let pk = primary_key(plan, options);
    let missing: Vec<Option<Vec<u8>>> = plan.columns.iter().map(|c| c.missing.clone()).collect();
    let (columns, subcolumns) = stream_columns(&readers, &plan.specs(), &settings, &missing, &pk).unwrap_or_else(|e| crate::error::report(&table, e));
    let rows: u64 = parts.iter().map(|p| p.rows as u64).sum();
    crate::storage::threads::ensure();
    let mut writer = StreamWriter::new(settings, plan.specs(), columns, subcolumns, pk, rows as usize, SpillFile::new()).unwrap_or_else(|e| crate::error::report(&table, e));
    let sources: Vec<_> = readers.into_iter().map(|r| PartRun::new(r, cols.clone())).collect();
    let keys: Vec<MergeKey> = sort_key(plan, options).into_iter().map(|k| MergeKey { column: k, kind: plan.columns[k].sort }).collect();
    let opaque = OpaqueKeys::new(plan, &keys, parts.len());
    let mut merger = Merger::new(sources, keys, plan.columns.len(), opaque).unwrap_or_else(|e| crate::error::report(&table, e));
    while let Some(batch) = merger.next_batch(MERGE_BATCH_ROWS).unwrap_or_else(|e| crate::error::report(&table, e)) {
        pgrx::check_for_interrupts!();
        writer.push(&batch).unwrap_or_else(|e| crate::error::report(&table, e));
    }
    let (header, meta, mut spill) = writer.finish().unwrap_or_else(|e| crate::error::report(&table, e));
    if meta.rows != rows {
        crate::error::report(&table, mergetree::Error::corrupt("merge", format!("merged {} rows out of parts holding {rows}", meta.rows)));
    }
    let target = Target { plan, options, partition: parts[0].partition.clone(), partition_value: parts[0].partition_value.clone() };
    let origin = Origin::Merge {
        min_block: parts.iter().map(|p| p.min_block).min().unwrap_or(0),
        max_block: parts.iter().map(|p| p.max_block).max().unwrap_or(0),
        level: parts.iter().map(|p| p.level).max().unwrap_or(0) + 1,
    };
    // SAFETY: per the caller; the command id is this transaction's, and the new part's
    // blocks are its own until it commits.
    unsafe {
        let cid = pg_sys::GetCurrentCommandId(true);
        let part = register_part(rel, &target, &meta, header.len() + spill.len() as usize, cid, origin);
        let mut pages = PageWriter::new(rel, part.start_block as u32);
        pages.write(&header);
        spill.replay(|bytes| pages.write(bytes));
        pages.finish();
        crate::skip::on_stored_part(rel, plan, &part, cid);
        catalog::remove(parts);
        part
    }
}

/// A table's visible parts grouped by partition, each group in block order. Parts this
/// transaction wrote are left out: rows it inserted keep the row ids its triggers and
/// constraint checks may still fetch them by.
fn partitions(parts: Vec<PartRow>) -> Vec<Vec<PartRow>> {
    let mut groups: Vec<Vec<PartRow>> = Vec::new();
    for p in parts.into_iter().filter(|p| !p.mine) {
        match groups.iter_mut().find(|g| g[0].partition_value == p.partition_value) {
            Some(g) => g.push(p),
            None => groups.push(vec![p]),
        }
    }
    for g in &mut groups {
        g.sort_by_key(|p| p.min_block);
    }
    groups
}

/// The runs of parts to merge in one partition: all of them with `final`, else the merge
/// selector's choice.
fn select(parts: &[PartRow], full: bool, now: i64) -> Option<(usize, usize)> {
    if full {
        return (parts.len() >= 2).then_some((0, parts.len()));
    }
    let candidates: Vec<Candidate> = parts
        .iter()
        .map(|p| Candidate { bytes: p.part_bytes as u64, age_secs: ((now - p.created) / 1_000_000).max(0) as u64 })
        .collect();
    selector::select(&candidates, &SelectorSettings::default())
}

/// The stored partition value a user names as text (as the partition expression
/// produces it, in the type's input syntax).
///
/// # Safety
/// `rel` is open.
unsafe fn partition_value(rel: pg_sys::Relation, table: &str, options: &TableOptions, text: &str) -> Option<Vec<u8>> {
    let Some(expr) = &options.partition_by else {
        crate::error::raise_with_hint(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("mergetree table \"{table}\" has no partitions"),
            "Leave the partition out: the table's parts form one partition.".into(),
        );
    };
    // SAFETY: per the caller.
    Some(unsafe { super::partition::Partitioner::new(rel, table, expr) }.parse(text))
}

/// `mergetree.optimize(tbl, partition, final)`: merges now, in this transaction. Without
/// `final`, one merge per partition that the merge selector finds worth it; with it, each
/// partition's parts into one. Only the table's owner may (as for VACUUM and CLUSTER).
#[pg_extern]
fn optimize_oid(tbl: pg_sys::Oid, partition: Option<&str>, full: bool) -> i64 {
    if !crate::ffi::is_mergetree(tbl) {
        crate::error::raise(PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE, format!("\"{}\" is not a mergetree table", crate::ffi::relid_name(tbl)));
    }
    // SAFETY: the relation is opened and closed here; its lock keeps DDL, TRUNCATE and
    // other merges of the table out until the transaction ends, while inserts and reads
    // go on. The snapshot is the statement's: a merge never includes rows the
    // transaction could not see.
    unsafe {
        let lock = pg_sys::ShareUpdateExclusiveLock as i32;
        let rel = pg_sys::relation_open(tbl, lock);
        if !pg_sys::pg_class_ownercheck(tbl, pg_sys::GetUserId()) {
            let name = std::ffi::CString::new(crate::ffi::relid_name(tbl)).unwrap_or_default();
            pg_sys::aclcheck_error(pg_sys::AclResult::ACLCHECK_NOT_OWNER, pg_sys::ObjectType::OBJECT_TABLE, name.as_ptr());
        }
        let table = crate::ffi::relname(rel);
        let plan = datum::table_plan(rel);
        let options = crate::options::for_relation(rel);
        let now = pg_sys::GetCurrentTimestamp();
        let wanted = partition.map(|p| partition_value(rel, &table, &options, p));
        let mut merged = 0i64;
        if !plan.columns.is_empty() {
            for group in partitions(catalog::visible_parts(rel, pg_sys::GetActiveSnapshot())) {
                if wanted.as_ref().is_some_and(|w| *w != group[0].partition_value) {
                    continue;
                }
                let Some((start, end)) = select(&group, full, now) else { continue };
                let run = &group[start..end];
                if !catalog::claim(run, true) {
                    crate::error::raise_with_hint(
                        PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
                        format!("could not merge parts of mergetree table \"{table}\": another transaction merged or dropped some of them"),
                        "Run mergetree.optimize again.".into(),
                    );
                }
                merge_parts(rel, &plan, &options, run);
                merged += run.len() as i64;
            }
        }
        pg_sys::relation_close(rel, lock);
        merged
    }
}
