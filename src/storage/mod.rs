//! Parts in the relation's own pages, through the buffer manager and WAL.
//!
//! ```text
//! block 0          metapage: counters (next block, row id, part id) and free extents
//! block 1..        part data: each part is one contiguous extent of blocks; every page
//!                  holds PAYLOAD bytes of the part's byte stream after its page header
//! ```
//! Which extents hold live parts is known only from the part catalog (MVCC); the
//! metapage's free list is rebuilt by VACUUM from it. Pages are written whole with
//! GenericXLog full-page images, so crash recovery and streaming replicas get them.

pub mod blob;
pub mod budget_cache;
pub mod buffer;
pub mod metapage;
pub mod part_cache;
pub mod spill;
pub mod threads;

/// Bytes of part data a page holds: everything after the standard page header.
pub const PAYLOAD: usize = pgrx::pg_sys::BLCKSZ as usize - HEADER;
pub const HEADER: usize = std::mem::offset_of!(pgrx::pg_sys::PageHeaderData, pd_linp);
