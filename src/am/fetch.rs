//! Rows by TID: `tuple_fetch_row_version` (TID scans, AFTER ROW triggers, foreign-key
//! checks, EvalPlanQual, row locks), the parts DELETE finds rows in, and the visibility
//! callbacks around them.
//!
//! A row id (see `datum::row_id_to_tid`) names a row of one part of the table's storage
//! (row ids are never reused within a storage), or a row this transaction still buffers.
//! Fetches come one row at a time, often many in a row (a trigger per inserted row), so
//! the parts a snapshot sees and the last decoded granule are kept between calls, keyed
//! by storage, snapshot contents and the catalog generation (`catalog::invalidate`).
//! The slot is always materialized: it owns its values, whatever happens to the caches.

use crate::catalog::{self, PartRow};
use crate::datum::{self, DatumColumn, TablePlan};
use crate::ffi;
use crate::write::buffer;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;

/// What a snapshot sees of the catalog, as far as it can be told from its contents.
#[derive(Clone, PartialEq, Eq)]
enum SnapshotKey {
    Mvcc { xmin: u32, xmax: u32, curcid: u32, xip: Vec<u32>, subxip: Vec<u32>, suboverflowed: bool },
    /// SnapshotAny (after-trigger fetches): every part not rolled back.
    Any,
}

/// # Safety
/// `snapshot` is valid.
unsafe fn snapshot_key(snapshot: pg_sys::Snapshot) -> Option<SnapshotKey> {
    // SAFETY: per the caller; xip/subxip hold xcnt/subxcnt entries.
    unsafe {
        let s = &*snapshot;
        match s.snapshot_type {
            pg_sys::SnapshotType::SNAPSHOT_MVCC => {
                let slice = |p: *mut pg_sys::TransactionId, n: u32| -> Vec<u32> {
                    if p.is_null() || n == 0 {
                        Vec::new()
                    } else {
                        std::slice::from_raw_parts(p, n as usize).iter().map(|x| x.into_inner()).collect()
                    }
                };
                Some(SnapshotKey::Mvcc {
                    xmin: s.xmin.into_inner(),
                    xmax: s.xmax.into_inner(),
                    curcid: s.curcid,
                    xip: slice(s.xip, s.xcnt),
                    subxip: slice(s.subxip, s.subxcnt as u32),
                    suboverflowed: s.suboverflowed,
                })
            }
            pg_sys::SnapshotType::SNAPSHOT_ANY => Some(SnapshotKey::Any),
            _ => None,
        }
    }
}

/// A granule decoded for fetches: every column of the plan, as Datums.
struct Granule {
    part_id: i64,
    start_block: i64,
    first_row: u64,
    cols: Vec<DatumColumn>,
    /// The one row decoded (None: all of them). A fetch decodes just its row; a second
    /// fetch in the same granule decodes it whole (fetches by TID come in runs: triggers,
    /// UPDATE's old rows), so scattered fetches do not decode 8,192 rows each.
    only: Option<u32>,
}

/// The parts of one storage a snapshot sees, sorted by first row id.
struct View {
    node: pg_sys::Oid,
    snapshot: SnapshotKey,
    generation: u64,
    sig: datum::Signature,
    plan: TablePlan,
    parts: Vec<PartRow>,
    granule: Option<Granule>,
}

/// Views of the last few tables fetched from.
const MAX_VIEWS: usize = 8;

thread_local! {
    static VIEWS: RefCell<Vec<View>> = const { RefCell::new(Vec::new()) };
}

/// # Safety
/// `rel` is open and `snapshot` valid.
unsafe fn load_parts(rel: pg_sys::Relation, key: &SnapshotKey, snapshot: pg_sys::Snapshot) -> Vec<PartRow> {
    // SAFETY: per the caller.
    let mut parts = unsafe {
        match key {
            SnapshotKey::Any => catalog::live_parts(rel),
            SnapshotKey::Mvcc { .. } => catalog::visible_parts(rel, snapshot),
        }
    };
    parts.sort_by_key(|p| p.first_row);
    parts
}

/// Runs `f` on the view of `rel` for `snapshot` (made or refreshed as needed); with
/// `reload`, the part list is read again even if the view looks current (a row of a part
/// committed since, seen by SnapshotAny).
///
/// # Safety
/// `rel` is open and `snapshot` valid.
unsafe fn with_view<R>(rel: pg_sys::Relation, snapshot: pg_sys::Snapshot, reload: bool, f: impl FnOnce(&mut View) -> R) -> R {
    // SAFETY: per the caller.
    unsafe {
        let node = (*rel).rd_node.relNode;
        let generation = catalog::generation();
        let key = snapshot_key(snapshot);
        VIEWS.with(|v| {
            let mut views = v.borrow_mut();
            // A statement alternates snapshots (DELETE ... RETURNING locates rows under
            // its snapshot and fetches them under SnapshotAny): a view each.
            let pos = views.iter().position(|w| w.node == node && key.as_ref() == Some(&w.snapshot));
            let mut view = match pos {
                Some(i) => views.remove(i),
                None => View {
                    node,
                    snapshot: SnapshotKey::Any,
                    generation: u64::MAX,
                    sig: Vec::new(),
                    plan: TablePlan { columns: Vec::new(), natts: 0 },
                    parts: Vec::new(),
                    granule: None,
                },
            };
            if !datum::signature_matches(rel, &view.sig) {
                view.sig = datum::signature(rel);
                view.plan = datum::table_plan(rel);
                view.granule = None;
            }
            let current = key.as_ref().is_some_and(|k| *k == view.snapshot) && view.generation == generation;
            if reload || !current {
                let k = key.clone().unwrap_or(SnapshotKey::Any);
                view.parts = load_parts(rel, &k, snapshot);
                // Only snapshots whose contents say what they see can be reused.
                view.snapshot = k;
                view.generation = if key.is_some() { generation } else { u64::MAX };
            }
            let r = f(&mut view);
            views.insert(0, view);
            views.truncate(MAX_VIEWS);
            r
        })
    }
}

/// Stores row `i` of `cols` (one DatumColumn per plan column) into `slot` and makes the
/// slot own its values.
///
/// # Safety
/// `slot` has `rel`'s tuple descriptor.
unsafe fn store(rel: pg_sys::Relation, plan: &TablePlan, cols: &[DatumColumn], i: usize, row_id: u64, slot: *mut pg_sys::TupleTableSlot) {
    // SAFETY: per the caller; tts_values/tts_isnull have natts entries.
    unsafe {
        ffi::clear_slot(slot);
        let values = std::slice::from_raw_parts_mut((*slot).tts_values, plan.natts);
        let nulls = std::slice::from_raw_parts_mut((*slot).tts_isnull, plan.natts);
        nulls.fill(true);
        for (c, d) in plan.columns.iter().zip(cols) {
            let a = c.attnum as usize - 1;
            values[a] = d.datums[i];
            nulls[a] = d.nulls[i];
        }
        pg_sys::ExecStoreVirtualTuple(slot);
        ffi::materialize_slot(slot);
        (*slot).tts_tid = datum::row_id_to_tid(row_id);
        (*slot).tts_tableOid = (*rel).rd_id;
    }
}

/// The part of a row, as DELETE and UPDATE look for it.
pub struct PartRowRef {
    pub part_id: i64,
    /// The row's number within its part.
    pub offset: u32,
    /// Whether the snapshot sees the row deleted.
    pub masked: bool,
    /// The part was written by this transaction.
    pub mine: bool,
}

/// Which part `snapshot` sees holds row `row_id`.
///
/// # Safety
/// `rel` is open, `snapshot` valid.
pub unsafe fn part_of_row(rel: pg_sys::Relation, row_id: u64, snapshot: pg_sys::Snapshot) -> Option<PartRowRef> {
    // SAFETY: per the caller.
    unsafe {
        with_view(rel, snapshot, false, |v| {
            let i = v.parts.partition_point(|p| p.first_row as u64 <= row_id).checked_sub(1)?;
            let p = &v.parts[i];
            let offset = row_id.checked_sub(p.first_row as u64).filter(|&o| o < p.rows as u64)? as u32;
            let masked = p.deleted.as_ref().is_some_and(|d| d.contains(offset));
            Some(PartRowRef { part_id: p.part_id, offset, masked, mine: p.mine })
        })
    }
}

/// Fetches row `row_id` of a part `snapshot` sees (not deleted for it).
///
/// # Safety
/// `rel` is open, `snapshot` valid, `slot` of `rel`'s descriptor.
unsafe fn fetch_part_row(rel: pg_sys::Relation, row_id: u64, snapshot: pg_sys::Snapshot, slot: *mut pg_sys::TupleTableSlot) -> bool {
    let find = |v: &View| {
        let i = v.parts.partition_point(|p| p.first_row as u64 <= row_id);
        i.checked_sub(1).filter(|&i| row_id < (v.parts[i].first_row + v.parts[i].rows) as u64)
    };
    // SAFETY: per the caller.
    unsafe {
        let any = snapshot_key(snapshot) == Some(SnapshotKey::Any);
        with_view(rel, snapshot, false, |v| {
            let mut hit = find(v);
            if hit.is_none() && any {
                // A part committed since the view was made.
                v.parts = load_parts(rel, &SnapshotKey::Any, snapshot);
                hit = find(v);
            }
            let Some(pi) = hit else { return false };
            let p = &v.parts[pi];
            if p.deleted.as_ref().is_some_and(|d| d.contains((row_id - p.first_row as u64) as u32)) {
                return false;
            }
            let table = crate::ffi::relname(rel);
            let reader = crate::storage::part_cache::open(rel, p).unwrap_or_else(|e| crate::error::report(&table, e));
            let meta = reader.meta();
            let offset = row_id - p.first_row as u64;
            let starts = meta.granule_starts();
            let g = starts.partition_point(|&s| s <= offset) - 1;
            let first_row = p.first_row as u64 + starts[g];
            let r = (row_id - first_row) as u32;
            let same = v.granule.as_ref().is_some_and(|c| c.part_id == p.part_id && c.start_block == p.start_block && c.first_row == first_row);
            let usable = same && v.granule.as_ref().is_some_and(|c| c.only.is_none_or(|o| o == r));
            if !usable {
                let only = (!same).then_some(r);
                let cols = super::scan::decode_granule(&reader, &v.plan, g, only.as_ref().map(std::slice::from_ref), &table);
                v.granule = Some(Granule { part_id: p.part_id, start_block: p.start_block, first_row, cols, only });
            }
            let gr = v.granule.as_ref().expect("decoded above");
            store(rel, &v.plan, &gr.cols, if gr.only.is_some() { 0 } else { r as usize }, row_id, slot);
            true
        })
    }
}

/// Whether a row inserted by command `cid` of this transaction is visible to `snapshot`.
///
/// # Safety
/// `snapshot` is valid.
unsafe fn own_row_visible(cid: pg_sys::CommandId, snapshot: pg_sys::Snapshot) -> bool {
    // SAFETY: per the caller.
    unsafe { (*snapshot).snapshot_type != pg_sys::SnapshotType::SNAPSHOT_MVCC || cid < (*snapshot).curcid }
}

/// Finds the row with row id `row_id` visible to `snapshot` and stores it in `slot`.
///
/// # Safety
/// `rel` is open, `slot` of its descriptor; `snapshot` NULL (the active one) or valid.
pub unsafe fn fetch_row(rel: pg_sys::Relation, row_id: u64, snapshot: pg_sys::Snapshot, slot: *mut pg_sys::TupleTableSlot) -> bool {
    enum Buffered {
        Stored,
        Moved(u64),
        Missing,
    }
    // SAFETY: per the caller.
    unsafe {
        let snapshot = if snapshot.is_null() { pg_sys::GetActiveSnapshot() } else { snapshot };
        ffi::count_fetch(rel);
        ffi::predicate_lock_read(rel, snapshot);
        if row_id < datum::BUFFER_ROW_BASE {
            return fetch_part_row(rel, row_id, snapshot, slot);
        }
        let seq = row_id - datum::BUFFER_ROW_BASE;
        let plan = with_view(rel, snapshot, false, |v| v.plan.clone());
        let curcid = ((*snapshot).snapshot_type == pg_sys::SnapshotType::SNAPSHOT_MVCC).then(|| (*snapshot).curcid);
        let any = (*snapshot).snapshot_type == pg_sys::SnapshotType::SNAPSHOT_ANY;
        let found = buffer::peek(rel, |b| match b.seqs.binary_search(&seq) {
            // SnapshotAny (after-row triggers, RETURNING of a deleted row) sees deleted rows.
            Ok(i) if own_row_visible(b.cids[i], snapshot) && (any || b.row_visible(i, curcid)) => {
                // The buffer's columns by attribute number, onto the table's.
                let cols: Vec<DatumColumn> = plan
                    .columns
                    .iter()
                    .map(|c| match b.plan.index_of_attnum(c.attnum) {
                        Some(bi) => datum::to_datums(c, b.columns[bi].take(&[i as u32])),
                        None => datum::missing_column(c, 1),
                    })
                    .collect();
                store(rel, &plan, &cols, 0, row_id, slot);
                Buffered::Stored
            }
            Ok(_) => Buffered::Missing,
            Err(_) => b.moved_row(seq).map_or(Buffered::Missing, Buffered::Moved),
        });
        match found {
            Some(Buffered::Stored) => true,
            Some(Buffered::Moved(part_row)) => {
                // Written as a part since: the same row under its part row id. The
                // caller keeps the TID it asked for.
                let ok = fetch_part_row(rel, part_row, snapshot, slot);
                if ok {
                    (*slot).tts_tid = datum::row_id_to_tid(row_id);
                }
                ok
            }
            _ => false,
        }
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_fetch_row_version(
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    snapshot: pg_sys::Snapshot,
    slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    // SAFETY: Postgres passes an open relation, a valid item pointer and a slot of the
    // relation's descriptor.
    unsafe {
        match datum::tid_to_row_id(&*tid) {
            Some(r) => fetch_row(rel, r, snapshot, slot),
            None => false,
        }
    }
}

/// Whether a TID can name a row of the table: a row id handed out by its storage (the
/// metapage's counter) or a row this transaction buffered. Whether the row is visible is
/// for the fetch to tell.
#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_tid_valid(scan: pg_sys::TableScanDesc, tid: pg_sys::ItemPointer) -> bool {
    // SAFETY: `scan` is a scan of an open relation; tid points at a valid item pointer.
    unsafe {
        let rel = (*scan).rs_rd;
        match datum::tid_to_row_id(&*tid) {
            Some(r) if r >= datum::BUFFER_ROW_BASE => buffer::peek(rel, |b| b.assigned(r - datum::BUFFER_ROW_BASE)).unwrap_or(false),
            Some(r) => crate::storage::metapage::read(rel, &ffi::relname(rel)).is_some_and(|m| r < m.next_row_id),
            None => false,
        }
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_get_latest_tid(scan: pg_sys::TableScanDesc, tid: pg_sys::ItemPointer) {
    // UPDATE writes the new version as a new row; this transaction's updates are linked
    // (successors.rs), as heap's t_ctid chain is. Others' are not followed: their new
    // versions are rows this snapshot does not see, as after a move to another partition.
    // SAFETY: Postgres passes its scan of an open relation and a TID to update in place.
    unsafe {
        let Some(row) = crate::datum::tid_to_row_id(&*tid) else { return };
        let latest = crate::write::successors::latest((*(*scan).rs_rd).rd_node.relNode, row);
        if latest != row {
            *tid = crate::datum::row_id_to_tid(latest);
        }
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn tuple_satisfies_snapshot(
    _rel: pg_sys::Relation,
    _slot: *mut pg_sys::TupleTableSlot,
    _snapshot: pg_sys::Snapshot,
) -> bool {
    // Visibility is per part, decided when the part list is read; a row in hand is visible.
    true
}

