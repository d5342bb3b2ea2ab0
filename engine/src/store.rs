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

/// Byte ranges of a part copied out ahead of time, so that granules can be decoded away
/// from the thread that reads the part's pages (the Postgres backend): a reader over it
/// serves reads that fall inside one of the ranges.
pub struct PrefetchStore {
    /// (start, bytes), sorted by start, not overlapping.
    ranges: Vec<(u64, Vec<u8>)>,
    len: u64,
}

impl PrefetchStore {
    /// The ranges `wanted` (offset, length) of `store`, each read once (overlaps merged).
    pub fn fetch<S: BlockStore>(store: &S, mut wanted: Vec<(u64, usize)>) -> Result<PrefetchStore> {
        wanted.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(wanted.len());
        for (start, len) in wanted {
            let end = start + len as u64;
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        let ranges = merged.into_iter().map(|(s, e)| Ok((s, store.read(s, (e - s) as usize)?))).collect::<Result<_>>()?;
        Ok(PrefetchStore { ranges, len: store.len() })
    }
}

impl BlockStore for PrefetchStore {
    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let i = self.ranges.partition_point(|(s, _)| *s <= offset);
        let hit = i.checked_sub(1).map(|i| &self.ranges[i]).filter(|(s, b)| offset + len as u64 <= s + b.len() as u64);
        match hit {
            Some((s, b)) => {
                let at = (offset - s) as usize;
                Ok(b[at..at + len].to_vec())
            }
            None => Err(Error::Invalid(format!("read of {len} bytes at {offset} was not prefetched"))),
        }
    }
    fn len(&self) -> u64 {
        self.len
    }
}
