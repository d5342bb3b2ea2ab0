//! Block compression. A compressed block starts with a one-byte codec tag so a reader
//! never needs outside knowledge to decode it; sizes come from the mark that points at
//! the block, which bounds every allocation a corrupt block could ask for.

use super::zstd_dict::ZstdDictionary;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Compression {
    None,
    #[default]
    Lz4,
    /// ZSTD at a level from 1 to 22.
    Zstd(i32),
}

const TAG_NONE: u8 = 0;
const TAG_LZ4: u8 = 1;
const TAG_ZSTD: u8 = 2;
/// ZSTD with the column's trained dictionary (see `zstd_dict`).
const TAG_ZSTD_DICT: u8 = 3;

impl Compression {
    /// `lz4`, `zstd`, `zstd(5)`, `none`.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "lz4" => return Ok(Compression::Lz4),
            "none" => return Ok(Compression::None),
            "zstd" => return Ok(Compression::Zstd(1)),
            _ => {}
        }
        if let Some(level) = t.strip_prefix("zstd(").and_then(|r| r.strip_suffix(')')) {
            return match level.trim().parse::<i32>() {
                Ok(l) if (1..=22).contains(&l) => Ok(Compression::Zstd(l)),
                _ => Err(format!("ZSTD level must be an integer from 1 to 22, not \"{level}\"")),
            };
        }
        Err(format!("unknown codec \"{s}\" (known: Delta, DoubleDelta, Gorilla, T64, GCD, LZ4, ZSTD(level), NONE)"))
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::None => f.write_str("NONE"),
            Compression::Lz4 => f.write_str("LZ4"),
            Compression::Zstd(l) => write!(f, "ZSTD({l})"),
        }
    }
}

/// A block the codec shrinks by less than 1/16 of its bytes is stored raw (tag NONE):
/// bit-packed values (T64 of random timestamps) are close to incompressible, and LZ4 over
/// them costs a decompression (a copy of every literal) on every read to save nothing.
fn pays(raw: &[u8], compressed_len: usize) -> bool {
    compressed_len + 1 < raw.len() - raw.len() / 16
}

pub fn compress(c: Compression, raw: &[u8]) -> Vec<u8> {
    let out = compress_as(c, raw);
    if c != Compression::None && !pays(raw, out.len() - 1) {
        return compress_as(Compression::None, raw);
    }
    out
}

fn compress_as(c: Compression, raw: &[u8]) -> Vec<u8> {
    match c {
        Compression::None => {
            let mut out = Vec::with_capacity(raw.len() + 1);
            out.push(TAG_NONE);
            out.extend_from_slice(raw);
            out
        }
        Compression::Lz4 => {
            let mut out = vec![TAG_LZ4];
            out.extend_from_slice(&lz4_flex::block::compress(raw));
            out
        }
        Compression::Zstd(level) => match zstd_compress(raw, level) {
            Ok(z) => {
                let mut out = Vec::with_capacity(z.len() + 1);
                out.push(TAG_ZSTD);
                out.extend_from_slice(&z);
                out
            }
            Err(_) => compress_as(Compression::None, raw),
        },
    }
}

thread_local! {
    /// A compression context per thread, kept: creating one per block (a few hundred kB
    /// of tables at high levels) costs more than compressing a small block.
    static ZSTD_ENCODER: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { std::cell::RefCell::new(None) };
}

fn zstd_compress(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    ZSTD_ENCODER.with(|e| {
        let mut e = e.borrow_mut();
        if e.as_ref().is_none_or(|(l, _)| *l != level) {
            *e = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match e.as_mut() {
            Some((_, c)) => c.compress(raw),
            None => zstd::bulk::compress(raw, level),
        }
    })
}

/// [`compress`], with the column's trained dictionary where the codec is ZSTD.
pub fn compress_with(c: Compression, raw: &[u8], dict: Option<&ZstdDictionary>) -> Vec<u8> {
    if let (Compression::Zstd(level), Some(d)) = (c, dict) {
        if let Some(z) = d.compress(level, raw).filter(|z| pays(raw, z.len())) {
            let mut out = Vec::with_capacity(z.len() + 1);
            out.push(TAG_ZSTD_DICT);
            out.extend_from_slice(&z);
            return out;
        }
    }
    compress(c, raw)
}

thread_local! {
    static ZSTD_DECODER: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { std::cell::RefCell::new(None) };
}

/// Decodes a block whose uncompressed size is known to be `raw_len` (a raw block is
/// borrowed, not copied).
pub fn decompress(block: &[u8], raw_len: usize) -> Result<Cow<'_, [u8]>> {
    decompress_with(block, raw_len, None)
}

/// [`decompress`] for a column that may have a trained dictionary.
pub fn decompress_with<'b>(block: &'b [u8], raw_len: usize, dict: Option<&ZstdDictionary>) -> Result<Cow<'b, [u8]>> {
    let (&tag, body) = block.split_first().ok_or_else(|| Error::corrupt("block", "empty block"))?;
    let out = match tag {
        TAG_NONE if body.len() == raw_len => return Ok(Cow::Borrowed(body)),
        TAG_NONE => body.to_vec(),
        TAG_LZ4 => lz4_flex::block::decompress(body, raw_len).map_err(|e| Error::corrupt("block", format!("lz4: {e}")))?,
        TAG_ZSTD => ZSTD_DECODER.with(|d| {
            // One decompression context per thread: creating one per block costs more
            // than decoding a small block.
            let mut d = d.borrow_mut();
            let d = match &mut *d {
                Some(d) => d,
                None => d.insert(zstd::bulk::Decompressor::new().map_err(|e| Error::corrupt("block", format!("zstd: {e}")))?),
            };
            d.decompress(body, raw_len).map_err(|e| Error::corrupt("block", format!("zstd: {e}")))
        })?,
        TAG_ZSTD_DICT => match dict {
            Some(d) => d.decompress(body, raw_len)?,
            None => return Err(Error::corrupt("block", "compressed with a ZSTD dictionary the column does not have")),
        },
        t => return Err(Error::corrupt("block", format!("unknown codec tag {t}"))),
    };
    if out.len() != raw_len {
        return Err(Error::corrupt("block", format!("decoded {} bytes, expected {raw_len}", out.len())));
    }
    Ok(Cow::Owned(out))
}
