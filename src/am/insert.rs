//! tuple_insert, multi_insert: rows go to the transaction's buffer; a full buffer is
//! written out as parts.

use crate::write::{buffer, flush};
use pgrx::pg_sys;

/// # Safety
/// `rel` is open and `slot` holds one of its rows.
unsafe fn insert_one(rel: pg_sys::Relation, slot: *mut pg_sys::TupleTableSlot, cid: pg_sys::CommandId) {
    // SAFETY: per the caller.
    unsafe {
        let limit = crate::gucs::insert_buffer_bytes();
        buffer::with_buffer(rel, |b| {
            b.push(slot, cid);
            (*slot).tts_tableOid = (*rel).rd_id;
            if b.bytes >= b.floor + limit {
                flush::flush(rel, b, false);
                b.floor = b.bytes;
            }
        });
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn tuple_insert(
    rel: pg_sys::Relation,
    slot: *mut pg_sys::TupleTableSlot,
    cid: pg_sys::CommandId,
    _options: i32,
    _bistate: *mut pg_sys::BulkInsertStateData,
) {
    // SAFETY: Postgres passes an open relation and a slot of its row type.
    unsafe { insert_one(rel, slot, cid) }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn multi_insert(
    rel: pg_sys::Relation,
    slots: *mut *mut pg_sys::TupleTableSlot,
    nslots: i32,
    cid: pg_sys::CommandId,
    _options: i32,
    _bistate: *mut pg_sys::BulkInsertStateData,
) {
    // SAFETY: `slots` has `nslots` valid slots of rel's row type.
    unsafe {
        for i in 0..nslots as usize {
            insert_one(rel, *slots.add(i), cid);
        }
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn finish_bulk_insert(_rel: pg_sys::Relation, _options: i32) {
    // Buffered rows stay buffered until commit so a transaction writes few parts.
}
