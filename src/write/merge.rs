//! Merging parts: the engine's k-way merge over a partition's parts, written back as one
//! part that replaces them in the catalog within the merging transaction (readers see the
//! old parts or the new one, never both). `optimize.rs` runs merges in the foreground,
//! the background workers (src/background) in their own transactions.

use super::flush::{primary_key, register_part, sort_key, writer_settings, Origin, Target};
use crate::catalog::{self, PartRow};
use crate::datum::{self, DatumColumn, TablePlan};
use crate::options::TableOptions;
use crate::storage::blob::PageWriter;
use crate::storage::part_cache;
use crate::storage::spill::SpillFile;
use super::progress::Progress;
use mergetree::merge::algorithm::{Collapser, Combiner, GroupStarts, KeyEq, Mode, NoCombiner};
use mergetree::merge::part_run::PartRun;
use mergetree::merge::plan::stream_layout;
use mergetree::merge::row_sources::RowSources;
use mergetree::part::deleted::DeletedRows;
use mergetree::merge::selector::{self, Candidate, SelectorSettings};
use mergetree::merge::{MergeKey, Merger, OpaqueOrder};
use mergetree::part::stream::StreamWriter;
use mergetree::{ColumnData, SortKind};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cmp::Ordering;

/// The lock merges hold on their table: inserts, reads and other merges go on (parts are
/// claimed one by one), DDL, TRUNCATE and CREATE INDEX wait.
pub const MERGE_LOCK: u32 = pg_sys::RowExclusiveLock;

/// Whether some backend waits for a lock on table `relid` that conflicts with
/// MERGE_LOCK (TRUNCATE, DROP, ALTER TABLE, CREATE INDEX). LockHasWaitersRelation cannot
/// tell: it needs the lock in the shared lock table, and a RowExclusiveLock is usually
/// held in the backend's fast-path slots instead. The lock manager's status is a copy
/// of every lock, read once per merged batch.
pub(crate) fn ddl_waits(relid: pg_sys::Oid) -> bool {
    // SAFETY: GetLockStatusData returns a palloc'd snapshot of the lock table, read here
    // and freed with the memory context.
    unsafe {
        let data = pg_sys::GetLockStatusData();
        let locks = std::slice::from_raw_parts((*data).locks, (*data).nelements.max(0) as usize);
        locks.iter().any(|l| {
            l.locktag.locktag_type == pg_sys::LockTagType::LOCKTAG_RELATION as u8
                && l.locktag.locktag_field1 == pg_sys::MyDatabaseId.to_u32()
                && l.locktag.locktag_field2 == relid.to_u32()
                && l.waitLockMode >= pg_sys::ShareLock as i32
        })
    }
}

/// Input bytes under which a background merge encodes fast.
const SMALL_MERGE_BYTES: i64 = 1 << 20;

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

impl KeyEq for OpaqueKeys<'_> {
    fn differs(&mut self, column: usize, col: &ColumnData, rows: &[usize]) -> Vec<bool> {
        let Some(finfo) = self.finfo[column] else {
            return rows.iter().map(|&i| col.value(i - 1) != col.value(i)).collect();
        };
        let d = datum::to_datums(&self.plan.columns[column], col.clone());
        let collation = self.plan.columns[column].collation;
        rows.iter()
            .map(|&i| {
                // SAFETY: rows i - 1 and i are non-NULL values of the column's type (the
                // caller asks only for those), alive while `d` is; the function is the
                // type's btree comparator.
                unsafe { pg_sys::FunctionCall2Coll(finfo, collation, d.datums[i - 1], d.datums[i]) }.value() as i32 != 0
            })
            .collect()
    }
}

/// The table's engine applied to merged batches: key groups found (opaque key columns
/// compared by their btree functions), each group reduced by the algorithm.
pub struct EngineMerge<'a> {
    starts: GroupStarts,
    collapser: Collapser,
    keys: OpaqueKeys<'a>,
    /// Aggregating tables' Postgres combine functions (NoCombiner without any).
    combiner: Box<dyn Combiner + 'a>,
}

impl<'a> EngineMerge<'a> {
    /// None for a table without an engine.
    ///
    /// # Safety
    /// `rel` is open.
    pub unsafe fn new(rel: pg_sys::Relation, plan: &'a TablePlan, options: &TableOptions, keys: &[MergeKey], mode: Mode) -> Option<Self> {
        let algorithm = options.engine.algorithm(plan, &options.order_by)?;
        // SAFETY: per the caller.
        let combiner: Box<dyn Combiner + 'a> = match unsafe { super::combine::FunctionCombiner::new(rel, plan, options) } {
            Some(c) => Box::new(c),
            None => Box::new(NoCombiner),
        };
        Some(EngineMerge { starts: GroupStarts::new(keys.to_vec()), collapser: Collapser::new(algorithm, mode), keys: OpaqueKeys::new(plan, keys, 0), combiner })
    }

    /// Columns whose merged values are computed (no dictionary or scale from the inputs).
    pub fn computed_columns(&self) -> Vec<usize> {
        self.collapser.engine().computed_columns()
    }

    /// The rows of the key groups `batch` completes.
    pub fn push(&mut self, batch: Vec<ColumnData>) -> mergetree::Result<Vec<ColumnData>> {
        let starts = self.starts.starts(&batch, &mut self.keys);
        self.collapser.push(batch, &starts, self.combiner.as_mut())
    }

    /// The last group's rows.
    pub fn finish(&mut self) -> mergetree::Result<Option<Vec<ColumnData>>> {
        self.collapser.finish(self.combiner.as_mut())
    }

    /// Rows in, rows out so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.collapser.rows_in, self.collapser.rows_out)
    }
}

/// Raises an error of a table's engine (a sum out of its column's range) with what to do.
pub fn report_engine(table: &str, e: mergetree::Error) -> ! {
    match e {
        mergetree::Error::NumericRange(m) => crate::error::raise_with_hint(
            PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            format!("mergetree table \"{table}\": {m}"),
            "Summed columns must hold the sums of a key's values: use bigint or numeric.".into(),
        ),
        e => crate::error::report(table, e),
    }
}

/// The comparison of opaque key columns for a merge of `runs` runs.
pub fn opaque_keys<'a>(plan: &'a TablePlan, keys: &[MergeKey], runs: usize) -> impl OpaqueOrder + 'a {
    OpaqueKeys::new(plan, keys, runs)
}

/// The sort key of `plan` as the merge compares it.
pub fn merge_keys(plan: &TablePlan, options: &TableOptions) -> Vec<MergeKey> {
    sort_key(plan, options).into_iter().map(|k| MergeKey { column: k, kind: plan.columns[k].sort }).collect()
}

/// Merges `parts` (one partition's, visible, claimed by this transaction, in block order)
/// into one part and replaces their catalog rows with its row. Returns the new part.
/// Memory holds a granule batch per input and a stripe of the output; the output's
/// blocks wait in a temporary file until its size (so its extent) is known.
///
/// With `yield_to_ddl` (background merges), gives up (`NotMerged::DdlWaits`) as soon as
/// another transaction waits for a lock on the table that the merge's lock conflicts with
/// (TRUNCATE, DROP, ALTER TABLE): the caller aborts the merge's transaction.
/// `NotMerged::WritersChanged`: a writer (DELETE, UPDATE) held the table or deleted rows of
/// the inputs meanwhile; the caller aborts, and the parts are merged on a later try.
///
/// A table with an engine keeps what its algorithm leaves of each key (with `cleanup`,
/// all of a partition's parts merging, without replacing's deleted winners).
///
/// # Safety
/// `rel` is open and locked (RowExclusiveLock) against DDL.
pub unsafe fn merge_parts(rel: pg_sys::Relation, plan: &TablePlan, options: &TableOptions, parts: &[PartRow], yield_to_ddl: bool, cleanup: bool) -> Result<Option<PartRow>, NotMerged> {
    // SAFETY: per the caller.
    if yield_to_ddl && !unsafe { room_for(rel, parts) } {
        return Err(NotMerged::NoSpace);
    }
    // SAFETY: per the caller.
    let table = unsafe { crate::ffi::relname(rel) };
    let cols = datum::read_columns(plan);
    let readers: Vec<_> = parts.iter().map(|p| part_cache::open(rel, p).unwrap_or_else(|e| crate::error::report(&table, e))).collect();
    // SAFETY: per the caller.
    let mut ttl = unsafe { super::ttl::Ttl::new(rel, plan, options.ttl.as_deref()) };
    if let Some(t) = ttl.as_mut() {
        t.prepare_for_parts(readers.iter().map(|r| r.meta()));
    }
    // Background merges of small parts (the tiny parts of single-row inserts, merged
    // every few moments and merged again as they grow) encode fast, as inserts do: the
    // full codec choice at ZSTD(9) was most of their CPU, which the inserts need.
    // Merges past SMALL_MERGE_BYTES and optimize() take the full choice.
    let small = yield_to_ddl && parts.iter().map(|p| p.part_bytes).sum::<i64>() < SMALL_MERGE_BYTES;
    let settings = writer_settings(plan, options, small);
    let pk = primary_key(plan, options);
    let missing: Vec<Option<Vec<u8>>> = plan.columns.iter().map(|c| c.missing.clone()).collect();
    let keys = merge_keys(plan, options);
    // SAFETY: per the caller.
    let mut engine = unsafe { EngineMerge::new(rel, plan, options, &keys, if cleanup { Mode::Cleanup } else { Mode::Merge }) };
    let mut layout = stream_layout(&readers, &plan.specs(), &settings, &missing, &pk).unwrap_or_else(|e| crate::error::report(&table, e));
    for c in engine.as_ref().map_or(Vec::new(), EngineMerge::computed_columns) {
        layout.columns[c] = Default::default();
    }
    let rows: u64 = parts.iter().map(|p| p.live_rows() as u64).sum();
    crate::storage::threads::ensure();
    let mut writer = StreamWriter::new(settings, layout, SpillFile::new()).unwrap_or_else(|e| crate::error::report(&table, e));
    let sources: Vec<_> = readers.into_iter().zip(parts).map(|(r, p)| PartRun::new(r, cols.clone()).without(p.deleted.clone())).collect();
    let opaque = OpaqueKeys::new(plan, &keys, parts.len());
    let mut merger = Merger::new(sources, keys, plan.columns.len(), opaque).unwrap_or_else(|e| crate::error::report(&table, e));
    let started = std::time::Instant::now();
    // SAFETY: `rel` is open.
    let progress = Progress::start(unsafe { (*rel).rd_id }, &parts[0].partition, parts.len(), rows, yield_to_ddl);
    let mut done = 0u64;
    let (mut expired, mut written) = (0u64, 0u64);
    while let Some(batch) = merger.next_batch(MERGE_BATCH_ROWS).unwrap_or_else(|e| crate::error::report(&table, e)) {
        pgrx::check_for_interrupts!();
        done += batch.first().map_or(0, |c| c.len() as u64);
        progress.update(done, (writer.buffered_bytes() + merger.buffered_bytes()) as u64);
        // SAFETY: `rel` is open.
        if yield_to_ddl && ddl_waits(unsafe { (*rel).rd_id }) {
            return Err(NotMerged::DdlWaits);
        }
        let batch = match engine.as_mut() {
            Some(e) => e.push(batch).unwrap_or_else(|e| report_engine(&table, e)),
            None => batch,
        };
        let batch = drop_expired(ttl.as_mut(), batch, &mut expired);
        if batch.first().is_some_and(|c| !c.is_empty()) {
            written += batch[0].len() as u64;
            writer.push(&batch).unwrap_or_else(|e| crate::error::report(&table, e));
        }
    }
    if let Some(last) = engine.as_mut().and_then(|e| e.finish().unwrap_or_else(|e| report_engine(&table, e))) {
        let last = drop_expired(ttl.as_mut(), last, &mut expired);
        if last.first().is_some_and(|c| !c.is_empty()) {
            written += last[0].len() as u64;
            writer.push(&last).unwrap_or_else(|e| crate::error::report(&table, e));
        }
    }
    let (rows_in, rows_out) = engine.as_ref().map_or((done, done), EngineMerge::counts);
    if rows_in != rows || written + expired != rows_out {
        crate::error::report(&table, mergetree::Error::corrupt("merge", format!("merged {rows_in} rows out of parts holding {rows} into {written} rows and {expired} expired ({rows_out} expected)")));
    }
    // SAFETY: per the caller.
    let carried = match unsafe { settle_with_writers(rel, parts, yield_to_ddl) } {
        Settled::Busy => return Err(NotMerged::WritersChanged),
        Settled::Unchanged => None,
        // Rows of the inputs deleted while a background merge ran: carried to the merged
        // part where every input row became one output row (no engine folding keys, none
        // expired). optimize() merges again instead, dropping them (its caller asked for
        // a clean part).
        Settled::Deleted(now) if yield_to_ddl && engine.is_none() && expired == 0 => {
            Some(carry_deletes(parts, &now, merger.row_sources()).ok_or(NotMerged::WritersChanged)?)
        }
        Settled::Deleted(_) => return Err(NotMerged::WritersChanged),
    };
    if written == 0 {
        // Nothing is left (every row expired, collapsed away or deleted): the inputs just go.
        // SAFETY: per the caller.
        unsafe { remove_parts(rel, parts, "merge", started.elapsed(), yield_to_ddl) };
        return Ok(None);
    }
    let (header, meta, mut spill) = writer.finish().unwrap_or_else(|e| crate::error::report(&table, e));
    if meta.rows != written {
        crate::error::report(&table, mergetree::Error::corrupt("merge", format!("wrote {} rows of {written}", meta.rows)));
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
        if let Some(masks) = carried.filter(|m| !m.all().is_empty()) {
            catalog::deleted::insert_masks((*rel).rd_node.relNode, part.part_id, &masks);
        }
        catalog::log_event(&catalog::PartEvent {
            kind: "merge",
            relid: (*rel).rd_id,
            partition: &part.partition,
            part_name: Some(&part.part_name),
            sources: parts.iter().map(|p| p.part_name.clone()).collect(),
            rows: part.rows,
            bytes: part.part_bytes,
            duration: started.elapsed(),
            background: yield_to_ddl,
        });
        Ok(Some(part))
    }
}

/// Why a merge was not installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotMerged {
    /// DDL waits for the table: the merge gave way.
    DdlWaits,
    /// A writer held the table, or deleted rows of the inputs, while the merge ran.
    WritersChanged,
    /// The table's filesystem has less room than the inputs take: a background merge
    /// waits (ClickHouse's space reservation) rather than fill the disk and fail.
    NoSpace,
}

/// Whether the table's filesystem holds a merge of `parts` (as much again as they take,
/// plus a margin).
///
/// # Safety
/// `rel` is open.
unsafe fn room_for(rel: pg_sys::Relation, parts: &[PartRow]) -> bool {
    let needed: u64 = parts.iter().map(|p| p.part_bytes.max(0) as u64).sum();
    // SAFETY: per the caller.
    needed <= unsafe { merge_room(rel) }
}

/// Bytes of inputs a merge of `rel`'s parts may take: its filesystem's free space less a
/// margin (the merged part takes about as much as its inputs until they go).
///
/// # Safety
/// `rel` is open.
pub unsafe fn merge_room(rel: pg_sys::Relation) -> u64 {
    const MARGIN: u64 = 16 << 20;
    // SAFETY: per the caller.
    unsafe { crate::ffi::free_disk_bytes(rel) }.map_or(u64::MAX, |free| free.saturating_sub(MARGIN))
}

/// Takes the writers' lock (write/dml.rs) for the rest of the merge's transaction (in
/// the background only if it is free), then checks that no rows of the inputs were
/// deleted since the merge read them: such rows would come back in the merged part.
/// False: the merge must not be installed (it is done again later).
///
/// # Safety
/// `rel` is open.
unsafe fn settle_with_writers(rel: pg_sys::Relation, parts: &[PartRow], background: bool) -> Settled {
    // SAFETY: per the caller.
    unsafe {
        let relid = (*rel).rd_id;
        let lock = super::dml::WRITER_LOCK as i32;
        if background {
            // A writer's statement is short: wait for it a little (giving way to DDL)
            // rather than throw the merge away.
            let mut waited = 0;
            while !pg_sys::ConditionalLockRelationOid(relid, lock) {
                if waited >= WRITER_WAIT_MS || ddl_waits(relid) {
                    return Settled::Busy;
                }
                pg_sys::pg_usleep(10_000);
                pgrx::check_for_interrupts!();
                waited += 10;
            }
        } else {
            pg_sys::LockRelationOid(relid, lock);
        }
        let now = catalog::deleted::latest(rel);
        let count = |p: &PartRow| now.get(&p.part_id).map_or(0, |m| m.all().len());
        if parts.iter().all(|p| count(p) == p.deleted.as_ref().map_or(0, |d| d.len())) {
            return Settled::Unchanged;
        }
        Settled::Deleted(now)
    }
}

/// How long a background merge waits for a writer to finish before giving up.
const WRITER_WAIT_MS: u32 = 2000;

enum Settled {
    /// A writer holds the table.
    Busy,
    Unchanged,
    /// Rows of the inputs were deleted since the merge read them: every mask of the table
    /// now, by part.
    Deleted(std::collections::HashMap<i64, catalog::deleted::PartMasks>),
}

/// The masks of the merged part for rows deleted from the inputs while the merge ran (each
/// kind, DELETE's and UPDATE's, kept apart); None when a row cannot be placed.
fn carry_deletes(parts: &[PartRow], now: &std::collections::HashMap<i64, catalog::deleted::PartMasks>, sources: &RowSources) -> Option<catalog::deleted::PartMasks> {
    let none = DeletedRows::new();
    let since = |pick: fn(&catalog::deleted::PartMasks) -> &DeletedRows| -> Vec<DeletedRows> {
        parts
            .iter()
            .map(|p| now.get(&p.part_id).map_or_else(DeletedRows::new, |m| pick(m).difference(p.deleted.as_deref().unwrap_or(&none))))
            .collect()
    };
    let dropped: Vec<Option<&DeletedRows>> = parts.iter().map(|p| p.deleted.as_deref()).collect();
    Some(catalog::deleted::PartMasks {
        deleted: sources.output_rows(&since(|m| &m.deleted), &dropped)?,
        updated: sources.output_rows(&since(|m| &m.updated), &dropped)?,
    })
}

/// The rows of `batch` whose TTL has not passed (all without a TTL); counts the others.
fn drop_expired(ttl: Option<&mut super::ttl::Ttl>, batch: Vec<ColumnData>, expired: &mut u64) -> Vec<ColumnData> {
    let Some(ttl) = ttl else { return batch };
    let Some(col) = batch.get(ttl.column) else { return batch };
    let gone = ttl.expired_rows(col);
    let keep: Vec<u32> = (0..gone.len()).filter(|&r| !gone[r]).map(|r| r as u32).collect();
    if keep.len() == gone.len() {
        return batch;
    }
    *expired += (gone.len() - keep.len()) as u64;
    batch.iter().map(|c| c.take(&keep)).collect()
}

/// Removes `parts` (claimed by this transaction) whose rows are all gone, logging it as
/// `kind`.
///
/// # Safety
/// `rel` is open; the parts are claimed.
pub unsafe fn remove_parts(rel: pg_sys::Relation, parts: &[PartRow], kind: &'static str, duration: std::time::Duration, background: bool) {
    // SAFETY: per the caller.
    unsafe {
        catalog::remove(parts);
        catalog::log_event(&catalog::PartEvent {
            kind,
            relid: (*rel).rd_id,
            partition: &parts[0].partition,
            part_name: None,
            sources: parts.iter().map(|p| p.part_name.clone()).collect(),
            rows: 0,
            bytes: 0,
            duration,
            background,
        });
    }
}

/// Rounds of claiming parts in the foreground (optimize, drop_partition): a part a
/// concurrent merge holds is waited for, then the parts are looked at again.
pub const MAX_ROUNDS: usize = 5;

/// The parts of `rel` round `round` of claiming sees: under the statement's snapshot
/// first; after a concurrent merge took some (READ COMMITTED only, see `give_up_if_final`), under
/// the latest one.
///
/// # Safety
/// `rel` is open, inside a statement (an active snapshot exists).
pub unsafe fn parts_for_round(rel: pg_sys::Relation, round: usize) -> Vec<PartRow> {
    // SAFETY: per the caller; a later round's snapshot is registered while used.
    unsafe {
        if round == 0 {
            return catalog::visible_parts(rel, pg_sys::GetActiveSnapshot());
        }
        pg_sys::CommandCounterIncrement();
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
        let parts = catalog::visible_parts(rel, snapshot);
        pg_sys::UnregisterSnapshot(snapshot);
        parts
    }
}

/// After round `round` lost parts to another transaction: raises a serialization failure
/// where looking again is not allowed (REPEATABLE READ and SERIALIZABLE see one snapshot)
/// or the rounds are used up, as heap does for rows updated concurrently.
pub fn give_up_if_final(round: usize, what: &str) {
    // SAFETY: reads the transaction's isolation level.
    if unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32 || round + 1 == MAX_ROUNDS {
        crate::error::raise_with_hint(
            PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
            format!("could not {what}: another transaction merged or dropped some of its parts"),
            "Run the command again.".into(),
        );
    }
}

/// A table's visible parts grouped by partition, each group in block order. Parts this
/// transaction wrote are left out: rows it inserted keep the row ids its triggers and
/// constraint checks may still fetch them by.
pub fn partitions(parts: &[PartRow]) -> Vec<Vec<PartRow>> {
    let mut groups: Vec<Vec<PartRow>> = Vec::new();
    for p in parts.iter().filter(|p| !p.mine).cloned() {
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
pub fn select(parts: &[PartRow], full: bool, now: i64, options: &TableOptions) -> Option<(usize, usize)> {
    select_within(parts, full, now, options, options.max_bytes_to_merge)
}

/// [`select`] for merges of at most `max_bytes` of inputs (a background merge: what the
/// table's filesystem has room for, as ClickHouse's selector is given).
pub fn select_within(parts: &[PartRow], full: bool, now: i64, options: &TableOptions, max_bytes: u64) -> Option<(usize, usize)> {
    if full {
        // One part per partition, fully encoded: a lone insert part is re-encoded too
        // (and an engine applied to it), with a TTL any lone part (rows may have passed
        // it since it was written), and a part with deleted rows (dropped now).
        let lone_due = |p: &PartRow| p.level == 0 || options.ttl.is_some() || p.deleted.is_some();
        return (parts.len() >= 2 || parts.first().is_some_and(lone_due)).then_some((0, parts.len()));
    }
    let candidates: Vec<Candidate> = parts
        .iter()
        .map(|p| Candidate { bytes: p.part_bytes as u64, age_secs: ((now - p.created) / 1_000_000).max(0) as u64, level: p.level.max(0) as u32 })
        .collect();
    let settings = SelectorSettings { max_bytes_to_merge: max_bytes.min(options.max_bytes_to_merge), parts_to_lower_base: options.parts_to_delay_insert, ..Default::default() };
    selector::select(&candidates, &settings)
}
