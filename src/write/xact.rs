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
            for (key, mut buf) in buffer::take_all() {
                if buf.rows() == 0 {
                    continue;
                }
                // SAFETY: the owner is looked up by storage; storage no table owns any
                // more (dropped, truncated, rewritten) has no rows to keep.
                unsafe {
                    let Some(rel) = open_owner(key, buf.relid) else { continue };
                    buf.sync(rel);
                    super::encode_ahead::flush(rel, &mut buf, true);
                    pg_sys::relation_close(rel, pg_sys::RowExclusiveLock as i32);
                }
            }
            // After the buffers: rows written as parts just now may carry deletes.
            crate::catalog::deleted::flush_pending();
        }
        pg_sys::XactEvent::XACT_EVENT_ABORT | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT | pg_sys::XactEvent::XACT_EVENT_COMMIT => {
            drop(buffer::take_all());
            crate::catalog::deleted::discard_pending();
            super::successors::clear();
            super::dml::reset();
            super::progress::rewriting(None);
            crate::catalog::invalidate();
            // A CREATE TABLE AS that failed leaves its options behind (hooks/utility.rs).
            crate::options::PENDING.with(|p| *p.borrow_mut() = None);
        }
        _ => {}
    }
}

/// The table that owns storage `key` now, opened: usually `relid`, the table the rows
/// were inserted into; after a rewrite, the table the new storage was swapped into.
///
/// # Safety
/// Called inside a transaction.
unsafe fn open_owner(key: buffer::StorageKey, relid: pg_sys::Oid) -> Option<pg_sys::Relation> {
    // SAFETY: per the caller; relations are opened with the lock inserts take.
    unsafe {
        let lock = pg_sys::RowExclusiveLock as i32;
        let rel = pg_sys::try_relation_open(relid, lock);
        if !rel.is_null() {
            if buffer::storage_key(rel) == key {
                return Some(rel);
            }
            pg_sys::relation_close(rel, lock);
        }
        let owner = crate::ffi::RelidByRelfilenode(key.spc, key.node);
        if owner == pg_sys::InvalidOid || !crate::ffi::is_mergetree(owner) {
            return None;
        }
        let rel = pg_sys::try_relation_open(owner, lock);
        if rel.is_null() {
            return None;
        }
        if buffer::storage_key(rel) == key {
            Some(rel)
        } else {
            pg_sys::relation_close(rel, lock);
            None
        }
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
        pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB => {
            buffer::for_each(|b| {
                let subxids = b.subxids.clone();
                b.retain(|i| subxids[i] != my);
                b.deleted.retain(|_, d| d.1 != my);
            });
            crate::catalog::deleted::subxact_abort(my);
            super::successors::subxact_abort(my);
            super::dml::reset();
            // Part rows of the aborted subtransaction are gone for every snapshot.
            crate::catalog::invalidate();
            crate::options::PENDING.with(|p| *p.borrow_mut() = None);
        }
        pg_sys::SubXactEvent::SUBXACT_EVENT_COMMIT_SUB => {
            buffer::for_each(|b| {
                for s in b.subxids.iter_mut().filter(|s| **s == my) {
                    *s = parent;
                }
                b.deleted.values_mut().filter(|d| d.1 == my).for_each(|d| d.1 = parent);
            });
            crate::catalog::deleted::subxact_commit(my, parent);
            super::successors::subxact_commit(my, parent);
        }
        _ => {}
    }
}

/// Writes every buffered row of this transaction as parts now (tests use it to reach
/// parts without committing).
#[cfg(any(test, feature = "pg_test"))]
pub fn flush_all_now() {
    for (key, mut buf) in buffer::take_all() {
        // SAFETY: the tables are open in this transaction.
        unsafe {
            let Some(rel) = open_owner(key, buf.relid) else { continue };
            buf.sync(rel);
            super::encode_ahead::flush(rel, &mut buf, true);
            pg_sys::relation_close(rel, pg_sys::RowExclusiveLock as i32);
        }
    }
}
