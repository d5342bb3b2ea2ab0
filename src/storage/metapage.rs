//! Block 0: allocation counters and the free-extent list.

use super::buffer::PinnedBuffer;
use super::{HEADER, PAYLOAD};
use pgrx::pg_sys;
use serde::{Deserialize, Serialize};

pub const META_BLOCK: pg_sys::BlockNumber = 0;
const MAGIC: u32 = 0x4d54_4d50; // "MTMP"
const VERSION: u32 = 1;
/// Free extents kept; beyond this the smallest are forgotten until the next VACUUM.
const MAX_FREE_EXTENTS: usize = 800;
/// Free blocks (1 MiB) below which the file is not compacted: moving parts costs their
/// pages' writes and WAL.
pub const MIN_COMPACT_BLOCKS: u64 = 128;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    magic: u32,
    version: u32,
    /// First block never handed out.
    pub next_block: u32,
    pub next_row_id: u64,
    pub next_part_id: u64,
    /// (start, length) of extents no part uses.
    pub free: Vec<(u32, u32)>,
}

impl Meta {
    pub fn fresh() -> Self {
        Meta { magic: MAGIC, version: VERSION, next_block: 1, next_row_id: 0, next_part_id: 1, free: Vec::new() }
    }

    /// Takes `n` blocks: the first free extent that fits, else new blocks at the end.
    /// Returns the start and whether the relation must grow.
    pub fn allocate(&mut self, n: u32) -> (u32, bool) {
        if let Some(i) = self.free.iter().position(|&(_, len)| len >= n) {
            let (start, len) = self.free[i];
            if len == n {
                self.free.remove(i);
            } else {
                self.free[i] = (start + n, len - n);
            }
            return (start, false);
        }
        let start = self.next_block;
        self.next_block += n;
        (start, true)
    }

    /// Takes `n` blocks from the lowest free extent that holds them below block `limit`:
    /// where a part moves to when the file is compacted toward its start.
    pub fn allocate_below(&mut self, n: u32, limit: u32) -> Option<u32> {
        let i = self.free.iter().position(|&(start, len)| len >= n && start + n <= limit)?;
        let (start, len) = self.free[i];
        if len == n {
            self.free.remove(i);
        } else {
            self.free[i] = (start + n, len - n);
        }
        Some(start)
    }

    /// Drops the free extent that ends the file from the list and the counters: the new
    /// end of the file, which the caller truncates the relation to.
    pub fn take_free_tail(&mut self) -> Option<u32> {
        let &(start, len) = self.free.last()?;
        if start + len != self.next_block {
            return None;
        }
        self.free.pop();
        self.next_block = start;
        Some(start)
    }

    /// The start of the part worth moving toward the file's start, given every extent
    /// some transaction may still read (`used`): the last one in the file, when a free
    /// extent before it holds it and the free blocks are worth giving back (an eighth of
    /// the file and MIN_COMPACT_BLOCKS at least). Each move lowers the file's end, so
    /// moves never go back and forth.
    pub fn part_to_move_down(&self, used: &[(u32, u32)]) -> Option<u32> {
        let free: u64 = self.free.iter().map(|&(_, len)| len as u64).sum();
        if free < MIN_COMPACT_BLOCKS.max(self.next_block as u64 / 8) {
            return None;
        }
        let &(start, len) = used.iter().max_by_key(|&&(start, _)| start)?;
        self.free.iter().any(|&(s, l)| l >= len && s + len <= start).then_some(start)
    }

    pub fn set_free(&mut self, mut extents: Vec<(u32, u32)>) {
        if extents.len() > MAX_FREE_EXTENTS {
            extents.sort_by_key(|&(_, len)| std::cmp::Reverse(len));
            extents.truncate(MAX_FREE_EXTENTS);
            extents.sort();
        }
        self.free = extents;
    }
}

/// Reads the metapage; `None` when the relation has no blocks yet.
///
/// # Safety
/// `rel` must be open; the caller holds the metapage's page lock when it will write.
pub unsafe fn read(rel: pg_sys::Relation, table: &str) -> Option<Meta> {
    // SAFETY: rel is open.
    if unsafe { pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM) } == 0 {
        return None;
    }
    // SAFETY: block 0 exists.
    let buf = unsafe { PinnedBuffer::read(rel, META_BLOCK, pg_sys::ReadBufferMode::RBM_NORMAL, Some(pg_sys::BUFFER_LOCK_SHARE as i32)) };
    // SAFETY: a pinned, share-locked page of BLCKSZ bytes.
    let bytes = unsafe { std::slice::from_raw_parts((buf.page() as *const u8).add(HEADER), PAYLOAD) };
    let meta: Meta = bincode::deserialize(bytes).unwrap_or_else(|e| {
        crate::error::report(table, mergetree::Error::corrupt("metapage", e.to_string()))
    });
    if meta.magic != MAGIC || meta.version != VERSION {
        crate::error::report(table, mergetree::Error::corrupt("metapage", "bad magic or version"));
    }
    Some(meta)
}

/// Writes `meta` to block 0 (creating it if needed), WAL-logged.
///
/// # Safety
/// `rel` must be open and the metapage's page lock held.
pub unsafe fn write(rel: pg_sys::Relation, meta: &Meta) {
    let bytes = bincode::serialize(meta).expect("metapage serialises");
    assert!(bytes.len() <= PAYLOAD, "metapage overflow");
    // SAFETY: rel is open; the page lock serialises writers of block 0.
    unsafe {
        let exists = pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM) > 0;
        let buf = if exists {
            PinnedBuffer::read(rel, META_BLOCK, pg_sys::ReadBufferMode::RBM_NORMAL, Some(pg_sys::BUFFER_LOCK_EXCLUSIVE as i32))
        } else {
            pg_sys::LockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
            let b = PinnedBuffer::read(rel, pg_sys::InvalidBlockNumber, pg_sys::ReadBufferMode::RBM_NORMAL, Some(pg_sys::BUFFER_LOCK_EXCLUSIVE as i32));
            pg_sys::UnlockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
            b
        };
        super::blob::write_page(rel, &buf, &bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::Meta;

    fn meta(next_block: u32, free: Vec<(u32, u32)>) -> Meta {
        Meta { free, next_block, ..Meta::fresh() }
    }

    #[test]
    fn free_tail_is_cut_off() {
        let mut m = meta(100, vec![(10, 5), (60, 40)]);
        assert_eq!(m.take_free_tail(), Some(60));
        assert_eq!((m.next_block, m.free.clone()), (60, vec![(10, 5)]));
        assert_eq!(m.take_free_tail(), None);
        assert_eq!(meta(100, vec![]).take_free_tail(), None);
    }

    #[test]
    fn allocation_below_a_limit() {
        let mut m = meta(5000, vec![(1, 10), (20, 3000)]);
        assert_eq!(m.allocate_below(20, 3020), Some(20));
        assert_eq!(m.free, vec![(1, 10), (40, 2980)]);
        assert_eq!(m.allocate_below(3000, 5000), None);
        assert_eq!(m.allocate_below(10, 11), Some(1));
        assert_eq!(m.free, vec![(40, 2980)]);
    }

    #[test]
    fn the_last_part_moves_when_it_fits_before_itself() {
        // Blocks 1..2001 free, parts at 2001 (500 blocks) and 2501 (1500 blocks).
        let m = meta(4001, vec![(1, 2000)]);
        assert_eq!(m.part_to_move_down(&[(2001, 500), (2501, 1500)]), Some(2501));
        // The last part does not fit in any hole before it: nothing moves.
        let m = meta(4001, vec![(1, 1200), (1300, 700)]);
        assert_eq!(m.part_to_move_down(&[(1201, 99), (2000, 500), (2501, 1500)]), None);
        // Too little free space to be worth the writes.
        let m = meta(100_000, vec![(1, 2000)]);
        assert_eq!(m.part_to_move_down(&[(2001, 10), (99_000, 1000)]), None);
        assert_eq!(meta(10, vec![]).part_to_move_down(&[]), None);
    }
}
