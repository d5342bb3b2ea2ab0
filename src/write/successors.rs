//! Where this transaction's UPDATEs put each row's new version: heap links the old
//! version to the new one (t_ctid), which `WHERE CURRENT OF` follows after an earlier
//! update of the cursor's row; a mergetree row has no room for a link, so the links live
//! here until the transaction ends (rolled back with the subtransaction that made them).

use pgrx::pg_sys;
use std::cell::RefCell;
use std::collections::HashMap;

struct Link {
    new: u64,
    subxid: pg_sys::SubTransactionId,
}

thread_local! {
    /// (storage, old row id) -> the new version's row id.
    static LINKS: RefCell<HashMap<(pg_sys::Oid, u64), Link>> = RefCell::new(HashMap::new());
}

/// Row `old` of storage `node` was updated into row `new` by subtransaction `subxid`.
pub fn record(node: pg_sys::Oid, old: u64, new: u64, subxid: pg_sys::SubTransactionId) {
    LINKS.with(|l| l.borrow_mut().insert((node, old), Link { new, subxid }));
}

/// The latest version of row `row` this transaction made (the row itself if none).
pub fn latest(node: pg_sys::Oid, row: u64) -> u64 {
    LINKS.with(|l| {
        let l = l.borrow();
        let mut at = row;
        // A chain is at most one link per update of the row in this transaction.
        for _ in 0..l.len() {
            match l.get(&(node, at)) {
                Some(link) => at = link.new,
                None => break,
            }
        }
        at
    })
}

pub fn subxact_abort(my: pg_sys::SubTransactionId) {
    LINKS.with(|l| l.borrow_mut().retain(|_, link| link.subxid != my));
}

pub fn subxact_commit(my: pg_sys::SubTransactionId, parent: pg_sys::SubTransactionId) {
    LINKS.with(|l| l.borrow_mut().values_mut().filter(|link| link.subxid == my).for_each(|link| link.subxid = parent));
}

/// The transaction ended.
pub fn clear() {
    LINKS.with(|l| l.borrow_mut().clear());
}
