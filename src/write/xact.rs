//! Transaction hooks: flush buffers before commit, drop them on abort, and drop a
//! subtransaction's rows when it rolls back.

use super::buffer;
use pgrx::pg_sys;

pub fn init() {
    // SAFETY: registering static callbacks once per backend (from _PG_init).
    unsafe {
        pg_sys::RegisterXactCallback(Some(xact_callback), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(subxact_callback), std::ptr::null_mut());
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn xact_callback(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    match event {
        pg_sys::XactEvent::XACT_EVENT_PRE_COMMIT | pg_sys::XactEvent::XACT_EVENT_PRE_PREPARE => {
            for (relid, mut buf) in buffer::take_all() {
                if buf.rows() == 0 {
                    continue;
                }
                // SAFETY: a table dropped in this transaction is skipped (NULL).
                unsafe {
                    let rel = pg_sys::try_relation_open(relid, pg_sys::RowExclusiveLock as i32);
                    if rel.is_null() {
                        continue;
                    }
                    super::flush::flush(rel, &mut buf, true);
                    pg_sys::relation_close(rel, pg_sys::RowExclusiveLock as i32);
                }
            }
        }
        pg_sys::XactEvent::XACT_EVENT_ABORT | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT | pg_sys::XactEvent::XACT_EVENT_COMMIT => {
            drop(buffer::take_all());
        }
        _ => {}
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn subxact_callback(
    event: pg_sys::SubXactEvent::Type,
    my: pg_sys::SubTransactionId,
    parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    match event {
        pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB => buffer::for_each(|b| {
            let subxids = b.subxids.clone();
            b.retain(|i| subxids[i] != my);
        }),
        pg_sys::SubXactEvent::SUBXACT_EVENT_COMMIT_SUB => buffer::for_each(|b| {
            for s in b.subxids.iter_mut().filter(|s| **s == my) {
                *s = parent;
            }
        }),
        _ => {}
    }
}

/// Writes every buffered row of this transaction as parts now (tests use it to reach
/// parts without committing).
#[cfg(any(test, feature = "pg_test"))]
pub fn flush_all_now() {
    for (relid, mut buf) in buffer::take_all() {
        // SAFETY: the tables are open in this transaction.
        unsafe {
            let rel = pg_sys::relation_open(relid, pg_sys::RowExclusiveLock as i32);
            super::flush::flush(rel, &mut buf, true);
            pg_sys::relation_close(rel, pg_sys::RowExclusiveLock as i32);
        }
    }
}
