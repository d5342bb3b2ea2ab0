//! tuple_insert, multi_insert: rows go to the transaction's buffer; a full buffer is
//! written out as parts. Also the row copy of VACUUM FULL and CLUSTER.

use crate::write::{buffer, encode_ahead};
use pgrx::pg_sys;

/// Buffers the rows of `slots`, writing parts whenever the buffer fills. One visit to the
/// buffer for a batch: COPY hands over up to a thousand rows at a time.
///
/// # Safety
/// `rel` is open and every slot holds one of its rows.
unsafe fn insert_rows(rel: pg_sys::Relation, slots: &[*mut pg_sys::TupleTableSlot], cid: pg_sys::CommandId) {
    // SAFETY: per the caller.
    unsafe {
        let limit = crate::gucs::insert_buffer_bytes();
        buffer::with_buffer(rel, |b| {
            for &slot in slots {
                b.push(slot, cid);
                (*slot).tts_tableOid = (*rel).rd_id;
                if b.bytes >= b.floor + limit {
                    encode_ahead::flush(rel, b, false);
                    b.floor = b.bytes;
                } else {
                    encode_ahead::after_push(rel, b);
                }
            }
        });
    }
}

/// # Safety
/// `rel` is open and `slot` holds one of its rows.
pub unsafe fn insert_row(rel: pg_sys::Relation, slot: *mut pg_sys::TupleTableSlot, cid: pg_sys::CommandId) {
    // SAFETY: per the caller.
    unsafe { insert_rows(rel, &[slot], cid) }
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
    unsafe {
        crate::ffi::predicate_check_write(rel);
        insert_row(rel, slot, cid);
        pg_sys::pgstat_count_heap_insert(rel, 1);
    }
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
        crate::ffi::predicate_check_write(rel);
        insert_rows(rel, std::slice::from_raw_parts(slots, nslots.max(0) as usize), cid);
        pg_sys::pgstat_count_heap_insert(rel, nslots as i64);
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn finish_bulk_insert(rel: pg_sys::Relation, _options: i32) {
    // Buffered rows stay buffered until commit so a transaction writes few parts; a chunk
    // encoded ahead during the statement becomes parts now, in the statement's
    // subtransaction.
    // SAFETY: Postgres passes the open relation it inserted into.
    unsafe { buffer::with_existing(rel, |b| encode_ahead::drain(rel, b)) };
}

/// Inserts every row of `old` that `snapshot` sees (and every row this transaction
/// buffered for it) into `new`, which has the same columns, and writes them as parts of
/// `new` now. Returns the number of rows.
///
/// # Safety
/// Both relations are open; `snapshot` is registered.
pub unsafe fn copy_rows(old: pg_sys::Relation, new: pg_sys::Relation, snapshot: pg_sys::Snapshot) -> u64 {
    // SAFETY: per the caller; the slot is dropped before return.
    unsafe {
        crate::write::progress::rewriting(Some((*old).rd_id));
        let mut cursor = super::scan::Cursor::new(old, snapshot);
        crate::write::progress::rewriting(None);
        let slot = pg_sys::MakeSingleTupleTableSlot((*new).rd_att, &raw const pg_sys::TTSOpsVirtual);
        let cid = pg_sys::GetCurrentCommandId(true);
        let mut n = 0u64;
        while cursor.next_into(slot) {
            insert_row(new, slot, cid);
            n += 1;
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        buffer::with_existing(new, |b| encode_ahead::flush(new, b, false));
        n
    }
}
