//! `BlockStore`: the only IO seam between the engine and the place parts live.
//! In Postgres it reads the relation's pages; in tests it is a `Vec<u8>`.

use crate::error::{Error, Result};

pub trait BlockStore {
    /// Reads `len` bytes at byte `offset` of the part.
    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>>;
    /// Total bytes the part occupies.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A part held in memory.
pub struct VecStore(pub Vec<u8>);

impl BlockStore for VecStore {
    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let start = usize::try_from(offset).map_err(|_| Error::corrupt("part", "offset overflow"))?;
        let end = start.checked_add(len).filter(|&e| e <= self.0.len()).ok_or_else(|| {
            Error::corrupt("part", format!("read of {len} bytes at {offset} past end {}", self.0.len()))
        })?;
        Ok(self.0[start..end].to_vec())
    }
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
}
