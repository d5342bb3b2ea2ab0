//! Trained ZSTD dictionaries for a column's frames. A small frame loses what ZSTD learns
//! from history (the keys and shapes every JSON document repeats); a dictionary trained on
//! the part's own rows gives it back, so frames can be a quarter of the size (a point
//! lookup decodes a quarter as much) for about the space of the larger frames. One per
//! column of a part, stored as a block of its own (`ColumnMeta::frame_dictionary`).

use crate::error::{Error, Result};
use std::sync::OnceLock;
use zstd::zstd_safe::{CCtx, CDict, DCtx, DDict};

/// Largest dictionary: ZSTD's advice is about 100x smaller than the data it serves, and a
/// big part's JSON column is megabytes; smaller parts get smaller ones.
pub const DICTIONARY_BYTES: usize = 16 << 10;
/// Smallest dictionary worth training.
pub const MIN_DICTIONARY_BYTES: usize = 2 << 10;
/// Samples handed to the trainer, at most.
const MAX_SAMPLES: usize = 8192;

pub struct ZstdDictionary {
    bytes: Vec<u8>,
    ddict: DDict<'static>,
    /// Built on first compression, at the level of the column's chain.
    cdict: OnceLock<(i32, CDict<'static>)>,
}

impl std::fmt::Debug for ZstdDictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ZstdDictionary({} bytes)", self.bytes.len())
    }
}

impl ZstdDictionary {
    /// A dictionary from its stored bytes (checked by the caller's CRC).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        // ZSTD_createDDict accepts any bytes (raw content); a dictionary id mismatch with a
        // frame is reported when decoding it.
        if bytes.is_empty() {
            return Err(Error::corrupt("zstd dictionary", "empty"));
        }
        let ddict = DDict::create(&bytes);
        Ok(ZstdDictionary { bytes, ddict, cdict: OnceLock::new() })
    }

    /// Trains a dictionary of at most `max_bytes` on samples (`None` when they are too few
    /// or too alike).
    pub fn train<'a>(samples: impl Iterator<Item = &'a [u8]>, max_bytes: usize) -> Option<Self> {
        let samples: Vec<&[u8]> = samples.filter(|r| r.len() >= 8).take(MAX_SAMPLES).collect();
        if samples.len() < 64 {
            return None;
        }
        let bytes = zstd::dict::from_samples(&samples, max_bytes).ok()?;
        Self::from_bytes(bytes).ok()
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `raw` compressed at `level` with this dictionary (a bare ZSTD frame).
    pub fn compress(&self, level: i32, raw: &[u8]) -> Option<Vec<u8>> {
        let (l, cdict) = self.cdict.get_or_init(|| (level, CDict::create(&self.bytes, level)));
        if *l != level {
            return None;
        }
        thread_local! {
            static CCTX: std::cell::RefCell<CCtx<'static>> = std::cell::RefCell::new(CCtx::create());
        }
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(raw.len()));
        CCTX.with(|c| c.borrow_mut().compress_using_cdict(&mut out, raw, cdict)).ok()?;
        Some(out)
    }

    /// Decodes a frame compressed with this dictionary into exactly `raw_len` bytes.
    pub fn decompress(&self, frame: &[u8], raw_len: usize) -> Result<Vec<u8>> {
        thread_local! {
            // One context per thread: creating one per frame costs more than decoding it.
            static DCTX: std::cell::RefCell<DCtx<'static>> = std::cell::RefCell::new(DCtx::create());
        }
        let mut out = Vec::with_capacity(raw_len);
        DCTX.with(|d| d.borrow_mut().decompress_using_ddict(&mut out, frame, &self.ddict))
            .map_err(|code| Error::corrupt("block", format!("zstd with dictionary: {}", zstd::zstd_safe::get_error_name(code))))?;
        Ok(out)
    }
}
