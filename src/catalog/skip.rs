//! `mergetree.skip_index_catalog`: one row per skip index and part, holding the part's
//! serialized skip index. Rows are read under the scan's snapshot, like part rows.

use super::{delete_rows, index_scan, rekey, Catalog};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::CStr;

const SKIP: &CStr = c"skip_index_catalog";
/// The index on (index_oid, relfilenode, part_id).
const SKIP_BY_INDEX: &CStr = c"skip_index_catalog_index_idx";
const NATTS: usize = 4;

/// Adds the summary of part `part_id` (of the table's `relfilenode`) for index `index_oid`,
/// as command `cid`.
pub fn insert(index_oid: pg_sys::Oid, relfilenode: pg_sys::Oid, part_id: i64, data: &[u8], cid: pg_sys::CommandId) {
    let cat = Catalog::open(SKIP, pg_sys::RowExclusiveLock);
    let mut values: [pg_sys::Datum; NATTS] = [
        index_oid.into_datum().unwrap(),
        relfilenode.into_datum().unwrap(),
        part_id.into_datum().unwrap(),
        data.into_datum().unwrap(),
    ];
    cat.insert(&mut values, &mut [false; NATTS], cid);
    super::invalidate();
}

/// Column number of the table's relfilenode.
const RELFILENODE: i16 = 2;

/// Deletes every summary over the table storage `relfilenode` (TRUNCATE, new storage).
pub fn delete_storage(relfilenode: pg_sys::Oid) {
    delete_rows(SKIP, RELFILENODE, relfilenode);
}

/// Deletes the summaries of parts `part_ids` of the table storage `relfilenode` (parts
/// merged or dropped by this transaction).
pub fn delete_parts(relfilenode: pg_sys::Oid, part_ids: &[i64]) {
    super::delete_part_rows(SKIP, NATTS, RELFILENODE, 2, relfilenode, part_ids);
}

/// Summaries over storage `old` now describe the same parts in storage `new`.
pub fn move_storage(old: pg_sys::Oid, new: pg_sys::Oid) {
    rekey(SKIP, RELFILENODE, old, new);
}

/// Deletes every summary of index `index_oid` (before a rebuild).
pub fn delete_index(index_oid: pg_sys::Oid) {
    delete_rows(SKIP, 1, index_oid);
}

/// Calls `f(part_id, fetch)` for each summary of `index_oid` over the table's `relfilenode`
/// that `snapshot` sees; `fetch` detoasts and returns the bytes, so callers that already
/// hold a part's summary never read it again.
///
/// # Safety
/// `snapshot` is a valid registered or active snapshot.
pub unsafe fn for_each(index_oid: pg_sys::Oid, relfilenode: pg_sys::Oid, snapshot: pg_sys::Snapshot, mut f: impl FnMut(i64, &dyn Fn() -> Vec<u8>)) {
    // SAFETY: per the caller; datums are used while the tuple is pinned by the scan.
    unsafe {
        index_scan(SKIP, SKIP_BY_INDEX, 1, index_oid, snapshot, pg_sys::AccessShareLock, |cat, tup| {
            let mut values = [pg_sys::Datum::from(0); NATTS];
            let mut nulls = [false; NATTS];
            pg_sys::heap_deform_tuple(tup, (*cat.0).rd_att, values.as_mut_ptr(), nulls.as_mut_ptr());
            if pg_sys::Oid::from_datum(values[1], nulls[1]) != Some(relfilenode) {
                return;
            }
            let part_id = i64::from_datum(values[2], nulls[2]).unwrap_or(-1);
            let fetch = || Vec::<u8>::from_datum(values[3], nulls[3]).unwrap_or_default();
            f(part_id, &fetch);
        });
    }
}
