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
