//! Granules and marks. A granule is the unit of reading: `index_granularity` rows (fewer
//! when their bytes pass `index_granularity_bytes`). Each column of each granule is one
//! block; its mark says where the block is and how to check it. A wide column's block is
//! cut into frames (see [`frames`]) so a reader can decode only the rows it needs.

pub mod frames;
pub mod runs;

use crate::codec::{self, CodecChain, ZstdDictionary};
use crate::column::{Bitmap, ColumnData, ColumnType, Values};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Where one column's block of one granule lives inside the part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// Byte offset from the start of the part.
    pub offset: u64,
    pub compressed_len: u32,
    pub uncompressed_len: u32,
    pub crc32: u32,
}

/// Splits `rows` into granules of at most `granularity` rows and about `max_bytes`
/// bytes (a granule always holds at least one row). Returns the row count of each.
pub fn split_granules(columns: &[ColumnData], rows: usize, granularity: usize, max_bytes: usize) -> Vec<u32> {
    let granularity = granularity.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while start < rows {
        let mut end = start;
        let mut bytes = 0usize;
        while end < rows && end - start < granularity {
            let row_bytes: usize = columns.iter().map(|c| c.value(end).len() + 1).sum();
            if end > start && bytes + row_bytes > max_bytes {
                break;
            }
            bytes += row_bytes;
            end += 1;
        }
        out.push((end - start) as u32);
        start = end;
    }
    out
}

/// The block's first byte: whether a validity bitmap follows, and whether the values are
/// stored as runs ([`runs`]).
const HAS_NULLS: u8 = 1;
pub(crate) const RUNS: u8 = 2;

/// Serialises rows of one column as an uncompressed block:
/// `[flags u8][validity bitmap?][fixed values through the chain's transforms | u32 lengths + bytes | runs]`.
pub fn encode_block(col: &ColumnData, chain: &CodecChain) -> Vec<u8> {
    let n = col.len();
    let mut out = Vec::with_capacity(col.data_bytes() + n / 8 + 8);
    match &col.validity {
        Some(v) if v.count_set() != n => {
            out.push(HAS_NULLS);
            out.extend_from_slice(&v.to_bytes());
        }
        _ => out.push(0),
    }
    if runs::encode(col, &mut out) {
        out[0] |= RUNS;
        return out;
    }
    match &col.values {
        Values::Fixed { data, width } => {
            if chain.transforms.is_empty() {
                out.extend_from_slice(data)
            } else {
                out.extend_from_slice(&chain.encode_values(data, *width))
            }
        }
        Values::Var { offsets, data } => {
            for w in offsets.windows(2) {
                out.extend_from_slice(&(w[1] - w[0]).to_le_bytes());
            }
            out.extend_from_slice(data);
        }
    }
    out
}

/// Inverse of [`encode_block`] for `rows` rows of type `ty`.
pub fn decode_block(raw: &[u8], ty: ColumnType, rows: usize, chain: &CodecChain) -> Result<ColumnData> {
    decode_block_rows(raw, ty, rows, chain, None)
}

/// A block as decoded: its values, or (a block of runs) the runs themselves.
pub enum Decoded {
    Values(ColumnData),
    Runs(runs::Runs),
}

impl Decoded {
    pub fn into_values(self) -> ColumnData {
        match self {
            Decoded::Values(c) => c,
            Decoded::Runs(r) => r.expand(),
        }
    }
}

/// [`decode_block`] for a reader that needs only the rows in `wanted` (sorted; `None` =
/// all): the values of other rows may be left unspecified.
pub fn decode_block_rows(raw: &[u8], ty: ColumnType, rows: usize, chain: &CodecChain, wanted: Option<&[u32]>) -> Result<ColumnData> {
    Ok(decode_block_runs(raw, ty, rows, chain, wanted)?.into_values())
}

/// [`decode_block_rows`] leaving a block of runs as its runs.
pub fn decode_block_runs(raw: &[u8], ty: ColumnType, rows: usize, chain: &CodecChain, wanted: Option<&[u32]>) -> Result<Decoded> {
    let bad = |d: &str| Error::corrupt("column block", d.to_string());
    let (&flag, mut rest) = raw.split_first().ok_or_else(|| bad("empty"))?;
    if flag & !(HAS_NULLS | RUNS) != 0 || (flag & RUNS != 0 && ty != ColumnType::Var) {
        return Err(bad("bad flags"));
    }
    let validity = match flag & HAS_NULLS {
        0 => None,
        _ => {
            let nb = rows.div_ceil(8);
            if rest.len() < nb {
                return Err(bad("truncated validity bitmap"));
            }
            let b = Bitmap::from_bytes(&rest[..nb], rows).ok_or_else(|| bad("bitmap"))?;
            rest = &rest[nb..];
            Some(b)
        }
    };
    if flag & RUNS != 0 {
        return Ok(Decoded::Runs(runs::decode(rest, rows, validity)?));
    }
    let values = match ty {
        ColumnType::Fixed { width } => {
            let width = width as usize;
            let data = match wanted {
                _ if chain.transforms.is_empty() => rest.to_vec(),
                Some(w) => chain.decode_values_rows(rest, width, rows, w)?,
                None => chain.decode_values(rest, width, rows)?,
            };
            if data.len() != rows * width {
                return Err(bad("fixed values have the wrong length"));
            }
            Values::Fixed { width, data }
        }
        ColumnType::Var => {
            if rest.len() < rows * 4 {
                return Err(bad("truncated lengths"));
            }
            let (lens, data) = rest.split_at(rows * 4);
            let mut offsets = Vec::with_capacity(rows + 1);
            let mut total: u64 = 0;
            offsets.push(0u32);
            for l in lens.chunks_exact(4) {
                total += u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as u64;
                if total > data.len() as u64 {
                    return Err(bad("value lengths exceed the block"));
                }
                offsets.push(total as u32);
            }
            if total != data.len() as u64 {
                return Err(bad("value lengths do not cover the block"));
            }
            Values::Var { offsets, data: data.to_vec() }
        }
    };
    Ok(Decoded::Values(ColumnData { values, validity }))
}

/// Encodes and compresses one column's granule; returns the block, its raw length and CRC.
pub fn write_block(col: &ColumnData, chain: &CodecChain) -> (Vec<u8>, u32, u32) {
    write_block_with(col, chain, None)
}

/// [`write_block`] with the column's trained ZSTD dictionary, if it has one.
fn write_block_with(col: &ColumnData, chain: &CodecChain, dict: Option<&ZstdDictionary>) -> (Vec<u8>, u32, u32) {
    let raw = encode_block(col, chain);
    let block = codec::compress_with(chain.compression, &raw, dict);
    let crc = crc32fast::hash(&block);
    (block, raw.len() as u32, crc)
}

/// Writes one column's granule: a classic block, or frames of `frame_rows` rows when the
/// granule holds more (compressed with `dict`, the column's trained dictionary, if any).
pub fn write_granule(col: &ColumnData, chain: &CodecChain, frame_rows: usize, dict: Option<&ZstdDictionary>) -> (Vec<u8>, u32, u32) {
    if col.len() > frame_rows {
        frames::write(col, chain, frame_rows, dict)
    } else {
        write_block(col, chain)
    }
}

/// Checks, decompresses and decodes one block pointed at by `mark` (classic or framed).
pub fn read_block(block: &[u8], mark: &Mark, ty: ColumnType, rows: usize, chain: &CodecChain) -> Result<ColumnData> {
    Ok(read_block_decoded(block, mark, ty, rows, chain, None, None)?.into_values())
}

/// [`read_block`] for a reader that needs only the rows in `wanted` (sorted; `None` = all),
/// of a column with the trained dictionary `dict`, if any, leaving a block of runs as its
/// runs (a framed block's frames are always values).
fn read_block_decoded(
    block: &[u8],
    mark: &Mark,
    ty: ColumnType,
    rows: usize,
    chain: &CodecChain,
    wanted: Option<&[u32]>,
    dict: Option<&ZstdDictionary>,
) -> Result<Decoded> {
    if block.len() != mark.compressed_len as usize {
        return Err(Error::corrupt("column block", "short read"));
    }
    if block.first() == Some(&frames::TAG_FRAMED) {
        let header = frames::FrameHeader::parse(block, mark, rows)?;
        // The header's sizes add up to the block's length, so every range is inside it.
        return frames::read(&header, |at, len| Ok(Cow::Borrowed(&block[at..at + len])), ty, chain, wanted, dict).map(Decoded::Values);
    }
    if crc32fast::hash(block) != mark.crc32 {
        return Err(Error::corrupt("column block", "checksum mismatch"));
    }
    let raw = codec::decompress_with(block, mark.uncompressed_len as usize, dict)?;
    decode_block_runs(&raw, ty, rows, chain, wanted)
}

/// Reads the granule block at `mark` decoding at least the rows in `wanted` (sorted; `None`
/// = all). `fetch(offset, len)` reads bytes of the block. In a framed block only the frames
/// holding wanted rows are read and decoded; their other rows come back as NULLs.
pub fn read_rows(
    fetch: impl FnMut(usize, usize) -> Result<Vec<u8>>,
    mark: &Mark,
    ty: ColumnType,
    rows: usize,
    chain: &CodecChain,
    wanted: Option<&[u32]>,
    dict: Option<&ZstdDictionary>,
) -> Result<ColumnData> {
    Ok(read_rows_decoded(fetch, mark, ty, rows, chain, wanted, dict)?.into_values())
}

/// [`read_rows`] leaving a block of runs as its runs.
pub fn read_rows_decoded(
    mut fetch: impl FnMut(usize, usize) -> Result<Vec<u8>>,
    mark: &Mark,
    ty: ColumnType,
    rows: usize,
    chain: &CodecChain,
    wanted: Option<&[u32]>,
    dict: Option<&ZstdDictionary>,
) -> Result<Decoded> {
    let len = mark.compressed_len as usize;
    let Some(wanted) = wanted else {
        return read_block_decoded(&fetch(0, len)?, mark, ty, rows, chain, None, dict);
    };
    let mut prefix = fetch(0, len.min(frames::PREFIX))?;
    if prefix.first() != Some(&frames::TAG_FRAMED) || len < 3 {
        if prefix.len() < len {
            prefix.extend_from_slice(&fetch(prefix.len(), len - prefix.len())?);
        }
        return read_block_decoded(&prefix, mark, ty, rows, chain, Some(wanted), dict);
    }
    let header_len = frames::FrameHeader::len_from_prefix(&prefix)?;
    if header_len > len {
        return Err(Error::corrupt("framed block", "header longer than the block"));
    }
    if prefix.len() < header_len {
        prefix.extend_from_slice(&fetch(prefix.len(), header_len - prefix.len())?);
    }
    let header = frames::FrameHeader::parse(&prefix, mark, rows)?;
    // Frames inside the prefix come from it; the rest are read.
    let from = |at: usize, n: usize| match prefix.get(at..at + n) {
        Some(b) => Ok(Cow::Borrowed(b)),
        None => fetch(at, n).map(Cow::Owned),
    };
    frames::read(&header, from, ty, chain, Some(wanted), dict).map(Decoded::Values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granules_respect_rows_and_bytes() {
        let mut c = ColumnData::new(ColumnType::Var);
        for i in 0..100 {
            c.push(&vec![b'x'; if i == 50 { 1000 } else { 10 }]);
        }
        let g = split_granules(std::slice::from_ref(&c), 100, 32, 500);
        assert_eq!(g.iter().sum::<u32>(), 100);
        assert!(g.iter().all(|&n| n <= 32));
        assert!(g.contains(&1), "the 1000-byte row sits alone: {g:?}");
    }

    #[test]
    fn block_roundtrip_fixed_with_nulls() {
        let mut c = ColumnData::new(ColumnType::Fixed { width: 4 });
        for i in 0..10i32 {
            if i % 4 == 0 {
                c.push_null()
            } else {
                c.push(&i.to_le_bytes())
            }
        }
        for chain in ["LZ4", "Delta, T64, ZSTD(2)", "DoubleDelta, NONE"] {
            let chain = CodecChain::parse(chain, codec::Compression::Lz4).unwrap();
            let (block, raw_len, crc) = write_block(&c, &chain);
            let mark = Mark { offset: 0, compressed_len: block.len() as u32, uncompressed_len: raw_len, crc32: crc };
            assert_eq!(read_block(&block, &mark, ColumnType::Fixed { width: 4 }, 10, &chain).unwrap(), c);
            let mut bad = block.clone();
            bad[1] ^= 0xff;
            assert!(matches!(read_block(&bad, &mark, ColumnType::Fixed { width: 4 }, 10, &chain), Err(Error::Corrupt { .. })));
        }
    }
}
