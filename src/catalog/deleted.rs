//! Deleted rows (lightweight DELETE): `mergetree.deleted_rows_catalog` holds, per
//! deleting transaction and part, a mask of the part's rows it deleted. A snapshot sees
//! a row as deleted exactly when it sees the mask's catalog row (MVCC, like part rows):
//! a rolled-back DELETE leaves nothing, a concurrent reader sees all of one or none.
//!
//! A transaction's own deletes wait in memory (`PENDING`), tagged with their command and
//! subtransaction, until its commit writes them as catalog rows: its later commands see
//! them, earlier snapshots (cursors) do not, and a rolled-back savepoint drops its own.

use super::{index_scan, rekey, Catalog, PartRow};
use mergetree::part::deleted::DeletedRows;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::Arc;

const DELETED: &CStr = c"deleted_rows_catalog";
/// The index on (relfilenode, part_id).
const DELETED_BY_STORAGE: &CStr = c"deleted_rows_catalog_storage_idx";
const NATTS: usize = 5;
/// Column number of the table's relfilenode.
const RELFILENODE: i16 = 1;

/// Whether this database's catalog has the table: one made by an earlier version of the
/// extension has no masks, and its tables are read, merged and dropped as before (only a
/// DELETE fails, asking for the extension to be created again).
fn exists() -> bool {
    super::find_catalog(DELETED).is_some()
}

/// Masks of one part, by what deleted the rows (UPDATE or DELETE: concurrent writers
/// learn which of the two happened, as heap tells them).
#[derive(Default, Clone)]
pub struct PartMasks {
    pub deleted: DeletedRows,
    pub updated: DeletedRows,
}

impl PartMasks {
    pub fn contains(&self, row: u32) -> Option<bool> {
        if self.updated.contains(row) {
            Some(true)
        } else if self.deleted.contains(row) {
            Some(false)
        } else {
            None
        }
    }

    pub fn all(&self) -> DeletedRows {
        let mut all = self.deleted.clone();
        all.union_with(&self.updated);
        all
    }
}

/// One batch of this transaction's deletes in a part: one command of one subtransaction.
struct Pending {
    part_id: i64,
    by_update: bool,
    cid: pg_sys::CommandId,
    subxid: pg_sys::SubTransactionId,
    rows: DeletedRows,
}

thread_local! {
    /// This transaction's deletes, by table storage (relfilenode).
    static PENDING: RefCell<HashMap<pg_sys::Oid, Vec<Pending>>> = RefCell::new(HashMap::new());
}

/// The command of this transaction that deleted row `row` of part `part_id`, if any.
pub fn deleted_by_me(node: pg_sys::Oid, part_id: i64, row: u32) -> Option<pg_sys::CommandId> {
    PENDING.with(|p| p.borrow().get(&node).and_then(|v| v.iter().find(|e| e.part_id == part_id && e.rows.contains(row)).map(|e| e.cid)))
}

/// Records that this transaction's command `cid` deletes row `row` of part `part_id`.
pub fn add(node: pg_sys::Oid, part_id: i64, row: u32, cid: pg_sys::CommandId, subxid: pg_sys::SubTransactionId, by_update: bool) {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        let list = p.entry(node).or_default();
        // Rows come part by part: the last batch is usually the one.
        let at = list.iter().rposition(|e| e.part_id == part_id && e.cid == cid && e.subxid == subxid && e.by_update == by_update);
        let i = at.unwrap_or_else(|| {
            list.push(Pending { part_id, by_update, cid, subxid, rows: DeletedRows::new() });
            list.len() - 1
        });
        list[i].rows.insert(row);
    });
}

/// Whether this transaction deleted rows of storage `node` not yet committed.
pub fn has_pending(node: pg_sys::Oid) -> bool {
    PENDING.with(|p| p.borrow().get(&node).is_some_and(|v| !v.is_empty()))
}

/// Drops the deletes of an aborted subtransaction.
pub fn subxact_abort(my: pg_sys::SubTransactionId) {
    PENDING.with(|p| p.borrow_mut().values_mut().for_each(|v| v.retain(|e| e.subxid != my)));
}

/// A committed subtransaction's deletes belong to its parent.
pub fn subxact_commit(my: pg_sys::SubTransactionId, parent: pg_sys::SubTransactionId) {
    PENDING.with(|p| p.borrow_mut().values_mut().flat_map(|v| v.iter_mut()).filter(|e| e.subxid == my).for_each(|e| e.subxid = parent));
}

/// Forgets every pending delete (the transaction ended).
pub fn discard_pending() {
    PENDING.with(|p| p.borrow_mut().clear());
}

/// Writes this transaction's deletes as catalog rows (before commit): one row per part
/// and kind. Parts this transaction removed since (merged, dropped, truncated) need none.
pub fn flush_pending() {
    let all = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    for (node, list) in all {
        if list.is_empty() {
            continue;
        }
        let live = live_part_ids(node);
        let mut merged: HashMap<(i64, bool), DeletedRows> = HashMap::new();
        for e in list.iter().filter(|e| live.contains(&e.part_id)) {
            merged.entry((e.part_id, e.by_update)).or_default().union_with(&e.rows);
        }
        if merged.is_empty() {
            continue;
        }
        let cat = Catalog::open(DELETED, pg_sys::RowExclusiveLock);
        // SAFETY: reads transaction state.
        let cid = unsafe { pg_sys::GetCurrentCommandId(true) };
        for ((part_id, by_update), rows) in merged {
            insert_mask(&cat, node, part_id, by_update, &rows, cid);
        }
    }
    super::invalidate();
}

fn insert_mask(cat: &Catalog, node: pg_sys::Oid, part_id: i64, by_update: bool, rows: &DeletedRows, cid: pg_sys::CommandId) {
    let bytes = rows.to_bytes();
    let mut values: [pg_sys::Datum; NATTS] = [
        node.into_datum().unwrap(),
        part_id.into_datum().unwrap(),
        (rows.len() as i64).into_datum().unwrap(),
        by_update.into_datum().unwrap(),
        bytes.as_slice().into_datum().unwrap(),
    ];
    cat.insert(&mut values, &mut [false; NATTS], cid);
}

/// Records `masks` for part `part_id` of storage `node` in this transaction: the rows a
/// merge's output holds of inputs that were deleted while it ran (see `merge_parts`).
pub fn insert_masks(node: pg_sys::Oid, part_id: i64, masks: &PartMasks) {
    let cat = Catalog::open(DELETED, pg_sys::RowExclusiveLock);
    // SAFETY: reads transaction state.
    let cid = unsafe { pg_sys::GetCurrentCommandId(true) };
    for (by_update, rows) in [(false, &masks.deleted), (true, &masks.updated)] {
        if !rows.is_empty() {
            insert_mask(&cat, node, part_id, by_update, rows, cid);
        }
    }
    super::invalidate();
}

/// Ids of the parts of storage `node` that exist for this transaction now (committed,
/// or written by it, and not removed by it).
fn live_part_ids(node: pg_sys::Oid) -> Vec<i64> {
    let mut ids = Vec::new();
    // SAFETY: SnapshotSelf sees committed rows and this transaction's own changes; the
    // part id is read while the scan holds the tuple.
    unsafe {
        index_scan(super::PARTS, super::PARTS_BY_STORAGE, super::att::RELFILENODE, node, &raw mut pg_sys::SnapshotSelfData, pg_sys::AccessShareLock, |cat, tup| {
            ids.push(super::decode(cat, tup).part_id);
        });
    }
    ids
}

/// Every mask of storage `node` that `snapshot` sees, by part.
///
/// # Safety
/// `snapshot` is a valid registered or active snapshot.
pub unsafe fn committed(node: pg_sys::Oid, snapshot: pg_sys::Snapshot) -> HashMap<i64, PartMasks> {
    let mut out: HashMap<i64, PartMasks> = HashMap::new();
    if !exists() {
        return out;
    }
    // SAFETY: per the caller; datums are decoded while the scan holds the tuple.
    unsafe {
        index_scan(DELETED, DELETED_BY_STORAGE, RELFILENODE, node, snapshot, pg_sys::AccessShareLock, |cat, tup| {
            let mut values = [pg_sys::Datum::from(0); NATTS];
            let mut nulls = [false; NATTS];
            pg_sys::heap_deform_tuple(tup, (*cat.0).rd_att, values.as_mut_ptr(), nulls.as_mut_ptr());
            let part_id = i64::from_datum(values[1], nulls[1]).unwrap_or(-1);
            let by_update = bool::from_datum(values[3], nulls[3]).unwrap_or(false);
            let bytes = <&[u8]>::from_datum(values[4], nulls[4]).unwrap_or_default();
            let rows = DeletedRows::from_bytes(bytes).unwrap_or_else(|e| {
                crate::error::report(&format!("(storage {})", node.to_u32()), e)
            });
            let m = out.entry(part_id).or_default();
            if by_update { m.updated.union_with(&rows) } else { m.deleted.union_with(&rows) }
        });
    }
    out
}

/// The rows of each part of `rel` deleted for this transaction now: committed masks under
/// the latest snapshot and every delete of its own.
///
/// # Safety
/// `rel` is open.
pub unsafe fn latest(rel: pg_sys::Relation) -> HashMap<i64, PartMasks> {
    // SAFETY: per the caller; the snapshot is registered while used.
    unsafe {
        let node = (*rel).rd_node.relNode;
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
        let mut masks = committed(node, snapshot);
        pg_sys::UnregisterSnapshot(snapshot);
        PENDING.with(|p| {
            for e in p.borrow().get(&node).into_iter().flatten() {
                let m = masks.entry(e.part_id).or_default();
                if e.by_update { m.updated.union_with(&e.rows) } else { m.deleted.union_with(&e.rows) }
            }
        });
        masks
    }
}

/// Sets each part's `deleted` to the rows `snapshot` sees deleted: masks of committed
/// (or, in this transaction, earlier-command) deletes.
///
/// # Safety
/// `rel` is open and `snapshot` a valid registered or active snapshot.
pub unsafe fn attach(rel: pg_sys::Relation, snapshot: pg_sys::Snapshot, parts: &mut [PartRow]) {
    if parts.is_empty() {
        return;
    }
    // SAFETY: per the caller.
    let (node, curcid) = unsafe {
        let s = &*snapshot;
        ((*rel).rd_node.relNode, (s.snapshot_type == pg_sys::SnapshotType::SNAPSHOT_MVCC).then_some(s.curcid))
    };
    // SAFETY: per the caller.
    let mut masks: HashMap<i64, DeletedRows> = unsafe { committed(node, snapshot) }.into_iter().map(|(id, m)| (id, m.all())).collect();
    PENDING.with(|p| {
        for e in p.borrow().get(&node).into_iter().flatten() {
            if curcid.is_none_or(|c| e.cid < c) {
                masks.entry(e.part_id).or_default().union_with(&e.rows);
            }
        }
    });
    if masks.is_empty() {
        return;
    }
    for p in parts.iter_mut() {
        p.deleted = masks.remove(&p.part_id).filter(|m| !m.is_empty()).map(Arc::new);
    }
}

/// Deletes the masks of parts `part_ids` of storage `node` (parts this transaction
/// removes: merged, dropped). A writer's masks commit only under the table lock merges
/// install under, so none is being added meanwhile.
pub fn delete_parts(node: pg_sys::Oid, part_ids: &[i64]) {
    if !exists() {
        return;
    }
    super::delete_part_rows(DELETED, NATTS, RELFILENODE, 1, node, part_ids);
}

/// Deletes every mask of storage `node` (TRUNCATE, new storage).
pub fn delete_storage(node: pg_sys::Oid) {
    if exists() {
        super::delete_rows(DELETED, RELFILENODE, node);
    }
}

/// Masks over storage `old` now describe the same parts in storage `new`. Pending ones
/// are copied, not moved: a savepoint rolled back moves the table back to `old` (commit
/// writes masks only for parts that exist, so the copy that does not apply is dropped).
pub fn move_storage(old: pg_sys::Oid, new: pg_sys::Oid) {
    if exists() {
        rekey(DELETED, RELFILENODE, old, new);
    }
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        let copy: Vec<Pending> = p.get(&old).into_iter().flatten().map(|e| Pending { rows: e.rows.clone(), ..*e }).collect();
        p.entry(new).or_default().extend(copy);
    });
}
