//! VACUUM: pages of parts no transaction can see any more (aborted or crashed inserts,
//! and later replaced parts) go back to the metapage's free list for new parts.

use crate::catalog;
use crate::storage::buffer::PageLock;
use crate::storage::metapage;
use pgrx::pg_sys;

/// Gaps between referenced extents within [1, end).
pub fn free_extents(used: &mut [(u32, u32)], end: u32) -> Vec<(u32, u32)> {
    used.sort_unstable();
    let mut free = Vec::new();
    let mut at = 1u32;
    for &(start, len) in used.iter() {
        if start > at {
            free.push((at, start - at));
        }
        at = at.max(start.saturating_add(len));
    }
    if end > at {
        free.push((at, end - at));
    }
    free
}

/// Rebuilds the free list from the extents some transaction may still read: pages of
/// parts no snapshot can see any more go to new parts. VACUUM does it, and merge workers
/// between merges (tiny parts of single-row inserts then reuse the pages of parts merged
/// a moment ago instead of growing the file until the next VACUUM). Free blocks at the
/// end of the file are given back to the filesystem, as heap's VACUUM does. Returns the
/// extents still in use.
///
/// # Safety
/// `rel` is open, in a transaction.
pub unsafe fn reclaim(rel: pg_sys::Relation) -> Vec<(u32, u32)> {
    // SAFETY: per the caller; the metapage lock keeps writers from allocating (or
    // extending the file) while the free list is rebuilt and the file truncated.
    unsafe {
        let table = crate::ffi::relname(rel);
        let _lock = PageLock::exclusive(rel, metapage::META_BLOCK);
        let (mut used, removed_by) = catalog::referenced_extents(rel);
        if let Some(mut meta) = metapage::read(rel, &table) {
            let before = (meta.next_block, meta.free.clone());
            meta.set_free(free_extents(&mut used, meta.next_block));
            let end = meta.take_free_tail();
            // Unchanged (an idle table): no page write, no WAL.
            if before != (meta.next_block, meta.free.clone()) {
                // Standbys' snapshots may still read the freed parts: replay cancels
                // (after max_standby_streaming_delay) those that could, before any new
                // part's pages or the truncation reach them.
                if let Some(xid) = removed_by {
                    crate::ffi::log_standby_conflict(rel, xid);
                }
                metapage::write(rel, &meta);
            }
            if let Some(end) = end {
                truncate(rel, end);
            }
        }
        used
    }
}

/// Cuts the file at block `end`.
///
/// # Safety
/// `rel` is open, the metapage lock is held, and no part any snapshot may read has a
/// block at or past `end`.
unsafe fn truncate(rel: pg_sys::Relation, end: u32) {
    // SAFETY: per the caller. The truncation reaches the file at once, not through the
    // buffer manager, so the WAL that made these blocks free (the commit of the merge or
    // move that replaced their part, possibly asynchronous) is flushed first: a crash
    // can then not bring back a catalog row pointing at blocks that are gone. No backend
    // pins these blocks (no part that is read lives there), which dropping their buffers
    // requires.
    unsafe {
        if pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM) <= end {
            return;
        }
        pg_sys::XLogFlush(pg_sys::GetXLogInsertRecPtr());
        pg_sys::RelationTruncate(rel, end);
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_vacuum(rel: pg_sys::Relation, _params: *mut pg_sys::VacuumParams, _bstrategy: pg_sys::BufferAccessStrategy) {
    // SAFETY: VACUUM holds the relation open; the metapage lock keeps writers from
    // allocating while the free list is rebuilt.
    unsafe {
        reclaim(rel);
        // As heap's VACUUM does: the planner's size and row estimates in pg_class, and
        // the statistics collector's counters (which drive autovacuum and autoanalyze).
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
        let rows: i64 = catalog::visible_parts(rel, snapshot).iter().map(|p| p.live_rows()).sum();
        pg_sys::UnregisterSnapshot(snapshot);
        let pages = pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM);
        let (mut frozen_updated, mut minmulti_updated) = (false, false);
        pg_sys::vac_update_relstats(
            rel,
            pages,
            rows as f64,
            0,
            (*(*rel).rd_rel).relhasindex,
            pg_sys::InvalidTransactionId,
            0.into(),
            &mut frozen_updated,
            &mut minmulti_updated,
            false,
        );
        pg_sys::pgstat_report_vacuum((*rel).rd_id, (*(*rel).rd_rel).relisshared, rows, 0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn gaps() {
        assert_eq!(super::free_extents(&mut [(5, 2), (1, 2)], 10), vec![(3, 2), (7, 3)]);
        assert_eq!(super::free_extents(&mut [], 4), vec![(1, 3)]);
    }
}
