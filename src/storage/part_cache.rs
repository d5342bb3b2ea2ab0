//! A backend-local cache of opened parts: their metadata (primary index, marks, min/max)
//! and decoded dictionaries. Parts never change in place, so an entry stays right for as
//! long as the part exists; the part's header checksum, read on every open, tells an entry
//! from a different part that reuses the same place (after TRUNCATE or VACUUM).
//!
//! Without it every query re-reads and deserializes the metadata of every visible part,
//! which dominates short point queries (one user's timeline) on tables with many parts.

use crate::catalog::PartRow;
use crate::storage::blob::PageStore;
use crate::storage::budget_cache::BudgetCache;
use mergetree::part::PartHandle;
use mergetree::PartReader;
use pgrx::pg_sys;
use std::cell::RefCell;
use std::sync::Arc;

/// Metadata bytes kept per backend; past it the cache starts over.
const BUDGET_BYTES: usize = 64 << 20;

/// (tablespace, relfilenode, part id, first block): where a part lives.
type Key = (u32, u32, i64, i64);

thread_local! {
    static CACHE: RefCell<BudgetCache<Key, PartHandle>> = RefCell::new(BudgetCache::new(BUDGET_BYTES));
}

/// Opens part `p` of `rel`, from the cache when it holds the same part.
pub fn open(rel: pg_sys::Relation, p: &PartRow) -> mergetree::Result<PartReader<PageStore>> {
    let store = PageStore { rel, start_block: p.start_block as u32, nblocks: p.nblocks as u32, len: p.part_bytes as u64 };
    // SAFETY: `rel` is an open relation.
    let node = unsafe { (*rel).rd_node };
    let key = (node.spcNode.to_u32(), node.relNode.to_u32(), p.part_id, p.start_block);
    let cached = CACHE.with(|c| c.borrow().get(&key));
    let reader = PartReader::open_cached(store, cached.clone())?;
    let handle = reader.handle();
    // Store what was read unless it is the cached entry itself (a stale one is replaced).
    if !cached.is_some_and(|c| Arc::ptr_eq(&c, &handle)) {
        let size = handle.meta_bytes() as usize;
        CACHE.with(|c| c.borrow_mut().insert(key, handle, size));
    }
    Ok(reader)
}
