//! A part's byte stream on a contiguous extent of pages: writing it (WAL-logged) and
//! reading byte ranges back (`PageStore`, the engine's `BlockStore`).

use super::buffer::PinnedBuffer;
use super::{HEADER, PAYLOAD};
use mergetree::{BlockStore, Error, Result};
use pgrx::pg_sys;

/// Blocks needed for `len` bytes of part data.
pub fn blocks_for(len: usize) -> u32 {
    len.div_ceil(PAYLOAD).max(1) as u32
}

/// Replaces the contents of the exclusively locked `buf` with `data` (at most PAYLOAD
/// bytes), logging a full-page image.
///
/// # Safety
/// `buf` is pinned and exclusively locked, and belongs to `rel`.
pub unsafe fn write_page(rel: pg_sys::Relation, buf: &PinnedBuffer, data: &[u8]) {
    debug_assert!(data.len() <= PAYLOAD);
    // SAFETY: per the caller; GenericXLog gives us a private copy of the page to edit.
    unsafe {
        let state = pg_sys::GenericXLogStart(rel);
        let page = pg_sys::GenericXLogRegisterBuffer(state, buf.raw(), pg_sys::GENERIC_XLOG_FULL_IMAGE as i32);
        pg_sys::PageInit(page, pg_sys::BLCKSZ as usize, 0);
        std::ptr::copy_nonoverlapping(data.as_ptr(), (page as *mut u8).add(HEADER), data.len());
        // pd_lower marks the end of the data so the page image skips only the unused tail.
        (*(page as *mut pg_sys::PageHeaderData)).pd_lower = (HEADER + data.len()) as u16;
        pg_sys::GenericXLogFinish(state);
    }
}

/// Grows the relation so that blocks below `end` exist (as empty pages).
///
/// # Safety
/// `rel` is open; the caller holds the metapage lock (the only extender).
pub unsafe fn extend_to(rel: pg_sys::Relation, end: u32) {
    // SAFETY: per the caller.
    unsafe {
        pg_sys::LockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
        while pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM) < end {
            drop(PinnedBuffer::read(rel, pg_sys::InvalidBlockNumber, pg_sys::ReadBufferMode::RBM_NORMAL, None));
        }
        pg_sys::UnlockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
    }
}

/// Writes `bytes` on the blocks starting at `start` (already allocated to this part).
///
/// # Safety
/// `rel` is open and the blocks exist and belong to this (not yet visible) part.
pub unsafe fn write_part(rel: pg_sys::Relation, start: u32, bytes: &[u8]) {
    // SAFETY: per the caller.
    unsafe {
        let mut w = PageWriter::new(rel, start);
        w.write(bytes);
        w.finish();
    }
}

/// Writes a part's bytes page by page as they come, on blocks from `start` on.
pub struct PageWriter {
    rel: pg_sys::Relation,
    next: u32,
    page: Vec<u8>,
}

impl PageWriter {
    /// # Safety
    /// `rel` is open and the blocks the bytes will fill exist and belong to one (not yet
    /// visible) part.
    pub unsafe fn new(rel: pg_sys::Relation, start: u32) -> Self {
        PageWriter { rel, next: start, page: Vec::with_capacity(PAYLOAD) }
    }

    pub fn write(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = (PAYLOAD - self.page.len()).min(bytes.len());
            self.page.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.page.len() == PAYLOAD {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        pgrx::check_for_interrupts!();
        // SAFETY: per `new`, the block exists; zero-and-lock gives us an exclusive, blank
        // buffer.
        unsafe {
            let buf = PinnedBuffer::read(self.rel, self.next, pg_sys::ReadBufferMode::RBM_ZERO_AND_LOCK, None);
            write_page(self.rel, &buf, &self.page);
        }
        self.next += 1;
        self.page.clear();
    }

    /// Writes the last, partly filled page.
    pub fn finish(mut self) {
        if !self.page.is_empty() {
            self.flush();
        }
    }
}

/// Reads a part's bytes from its extent of pages.
pub struct PageStore {
    pub rel: pg_sys::Relation,
    pub start_block: u32,
    pub nblocks: u32,
    pub len: u64,
}

impl BlockStore for PageStore {
    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        if offset + len as u64 > self.len {
            return Err(Error::corrupt("part", format!("read of {len} bytes at {offset} past the part's {} bytes", self.len)));
        }
        let mut out = Vec::with_capacity(len);
        let mut pos = offset as usize;
        let end = pos + len;
        while pos < end {
            let blk = (pos / PAYLOAD) as u32;
            let in_page = pos % PAYLOAD;
            let take = (PAYLOAD - in_page).min(end - pos);
            if blk >= self.nblocks {
                return Err(Error::corrupt("part", "byte range past the part's blocks"));
            }
            // SAFETY: `rel` is open for the scan's lifetime; the block is part of a visible part.
            unsafe {
                let buf = PinnedBuffer::read(self.rel, self.start_block + blk, pg_sys::ReadBufferMode::RBM_NORMAL, Some(pg_sys::BUFFER_LOCK_SHARE as i32));
                let page = buf.page() as *const u8;
                let lower = (*(page as *const pg_sys::PageHeaderData)).pd_lower as usize;
                if lower < HEADER + in_page + take {
                    return Err(Error::corrupt(
                        "part",
                        format!("block {} holds {} bytes, expected at least {}", self.start_block + blk, lower.saturating_sub(HEADER), in_page + take),
                    ));
                }
                out.extend_from_slice(std::slice::from_raw_parts(page.add(HEADER + in_page), take));
            }
            pos += take;
        }
        Ok(out)
    }

    fn len(&self) -> u64 {
        self.len
    }
}
