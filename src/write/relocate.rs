//! Compacting the file: a part is one contiguous extent of blocks, and a merge writes
//! its output while its inputs are still live, so once merges settle the newest, largest
//! parts sit at the end of the file behind the free extents of the parts they replaced.
//! Merge workers then move the last part into free space before it (a page copy, no
//! re-encoding) and VACUUM or the next reclaim cuts the freed tail off the file, until
//! the file holds little more than its live parts.

use super::merge::ddl_waits;
use super::progress::Progress;
use crate::catalog::{self, PartRow};
use crate::storage::blob::{PageStore, PageWriter};
use crate::storage::buffer::PageLock;
use crate::storage::{metapage, PAYLOAD};
use mergetree::BlockStore;
use pgrx::pg_sys;

/// Pages copied at a time.
const COPY_PAGES: usize = 128;

pub enum Moved {
    /// A part moved (its copy commits with the transaction).
    Part,
    /// Nothing worth moving.
    Nothing,
    /// DDL waits for the table: the caller rolls the transaction back.
    Yielded,
}

/// Whether `rel`'s file holds enough besides the `visible` parts (pages of merged-away
/// or moved parts, free gaps) that reclaiming and compacting may give space back: idle
/// rounds of a merge worker skip the catalog scan of `reclaim` otherwise.
///
/// # Safety
/// `rel` is open.
pub unsafe fn worth_a_look(rel: pg_sys::Relation, visible: &[PartRow]) -> bool {
    // SAFETY: per the caller.
    let file = unsafe { pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM) } as u64;
    let live = 1 + visible.iter().map(|p| p.nblocks as u64).sum::<u64>();
    file.saturating_sub(live) >= metapage::MIN_COMPACT_BLOCKS
}

/// Moves the part at the end of `rel`'s file into a free extent before it, when that is
/// worth it (`Meta::part_to_move_down`). `visible` are the parts the transaction's
/// snapshot sees, `used` every extent some transaction may still read (from `reclaim`).
///
/// # Safety
/// `rel` is open and locked against DDL (the merge lock), in a transaction with an
/// active snapshot.
pub unsafe fn move_last_part(rel: pg_sys::Relation, visible: &[PartRow], used: &[(u32, u32)]) -> Moved {
    // SAFETY: per the caller, `rel` is open.
    let table = unsafe { crate::ffi::relname(rel) };
    // SAFETY: per the caller. The metapage lock serialises the allocation with writers
    // and VACUUM, and the part's row points at its new extent (so VACUUM keeps it)
    // before the lock goes.
    let (part, moved) = unsafe {
        let _lock = PageLock::exclusive(rel, metapage::META_BLOCK);
        let Some(mut meta) = metapage::read(rel, &table) else { return Moved::Nothing };
        let Some(start) = meta.part_to_move_down(used) else { return Moved::Nothing };
        // The last extent may be a part this snapshot does not see (being written, or
        // replaced but still read): it moves later, if at all.
        let Some(part) = visible.iter().find(|p| p.start_block == start as i64 && !p.mine) else { return Moved::Nothing };
        if !catalog::claim(std::slice::from_ref(part), false) {
            return Moved::Nothing;
        }
        let Some(target) = meta.allocate_below(part.nblocks as u32, start) else { return Moved::Nothing };
        metapage::write(rel, &meta);
        (part.clone(), catalog::move_part(part, target as i64))
    };
    let started = std::time::Instant::now();
    // SAFETY: `rel` is open.
    let progress = Progress::start(unsafe { (*rel).rd_id }, &part.partition, 1, part.rows as u64, true);
    let from = PageStore { rel, start_block: part.start_block as u32, nblocks: part.nblocks as u32, len: part.part_bytes as u64 };
    // SAFETY: the target blocks were allocated to the moved part above and exist (they
    // lie before the old extent); its row is not visible to anyone else until commit.
    let mut to = unsafe { PageWriter::new(rel, moved.start_block as u32) };
    let step = (COPY_PAGES * PAYLOAD) as u64;
    let mut at = 0u64;
    while at < from.len {
        // SAFETY: `rel` is open.
        if ddl_waits(unsafe { (*rel).rd_id }) {
            return Moved::Yielded;
        }
        let n = step.min(from.len - at);
        let bytes = from.read(at, n as usize).unwrap_or_else(|e| crate::error::report(&table, e));
        to.write(&bytes);
        at += n;
        progress.update(part.rows as u64 * at / from.len.max(1), 0);
    }
    to.finish();
    catalog::log_event(&catalog::PartEvent {
        kind: "move",
        // SAFETY: `rel` is open.
        relid: unsafe { (*rel).rd_id },
        partition: &part.partition,
        part_name: Some(&part.part_name),
        sources: vec![part.part_name.clone()],
        rows: part.rows,
        bytes: part.part_bytes,
        duration: started.elapsed(),
        background: true,
    });
    Moved::Part
}
