//! Frames: a granule's column block cut into row ranges that are compressed one by one,
//! as ClickHouse cuts a column file into compressed blocks of at least
//! `min_compress_block_size`. A reader that needs a few rows of a wide granule (one
//! user's events among 8192 rows of JSON) decompresses only the frames holding them.
//!
//! ```text
//! +------+----------+-------------------------------------------+-------------------+
//! | 0xF0 | frames   | per frame: rows, len, raw_len, crc32      | frame blocks      |
//! | 1 B  | u16 LE   | 4 x u32 LE each                           | classic blocks    |
//! +------+----------+-------------------------------------------+-------------------+
//! ```
//! A classic block starts with its codec tag (below 0xF0), so one byte tells the two
//! apart. The mark's CRC covers the header; each frame's CRC covers its own block, so a
//! partial read checks everything it decodes and nothing else.

use super::{read_block_decoded, write_block, write_block_with, Mark};
use crate::codec::{zstd_dict, CodecChain, Compression, ZstdDictionary};
use crate::column::{Bitmap, ColumnData, ColumnType, Values};
use crate::error::{Error, Result};
use std::borrow::Cow;

pub const TAG_FRAMED: u8 = 0xF0;
/// Frames hold at least this many rows...
pub const MIN_FRAME_ROWS: usize = 1024;
/// ...and at least this many bytes before compression. A point lookup pays most for text
/// and JSON (ZSTD at 1-2 GB/s); short ids in frames of 1,024 rows (~15 KB) even compress
/// better than whole granules at ZSTD(9).
pub const MIN_FRAME_BYTES: usize = 8 << 10;
/// Fixed-width values decode several times faster, but a lookup that needs five
/// timestamps of a granule should not decode 8,192 of them. Frames of 2,048 8-byte values
/// lose about 1% under T64 and LZ4; smaller ones slow whole-column scans (a call, a
/// checksum and a copy per frame) by 5-15%.
pub const MIN_FIXED_FRAME_BYTES: usize = 16 << 10;
const FIXED: usize = 3;
const ENTRY: usize = 16;
/// Bytes read first when only some rows are wanted: the header of any framed block of a
/// default granule, or a whole small classic block, in one read.
pub const PREFIX: usize = 4096;

/// Rows per frame for a column: the smallest power of two from [`MIN_FRAME_ROWS`] whose
/// frames reach [`MIN_FRAME_BYTES`] (or [`MIN_FIXED_FRAME_BYTES`]) at the column's average
/// row width.
pub fn frame_rows(col: &ColumnData) -> usize {
    let per_row = (col.data_bytes() / col.len().max(1)).max(1);
    let min_bytes = match col.column_type() {
        ColumnType::Var => MIN_FRAME_BYTES,
        ColumnType::Fixed { .. } => MIN_FIXED_FRAME_BYTES,
    };
    let mut rows = MIN_FRAME_ROWS;
    while rows * per_row < min_bytes {
        rows *= 2;
    }
    rows
}

/// Frames may make a granule's block at most this much larger (per mille): JSON events lose
/// 4-7% in frames of 1,024 rows (the benchmark's 4.4%), sorted short ids 0-3% (a big
/// part's first granule, one org's first users, alone 6%) and timestamps about 1%; free
/// text such as TPC-H's comments loses 10% and is better left whole.
pub const MAX_FRAMING_COST_PERMILLE: usize = 80;

/// Granules (of `granules`) a part judges framing on: the first, middle and last.
pub fn sample_granules(granules: usize) -> Vec<usize> {
    let mut g = vec![0, granules / 2, granules.saturating_sub(1)];
    g.dedup();
    g.retain(|&i| i < granules);
    g
}

/// Frames with a trained dictionary hold a quarter or half of the rows of plain ones, at
/// least this many: 512 JSON events (~46 KB) decode in 60% of the time of 1,024.
pub const MIN_DICTIONARY_FRAME_ROWS: usize = 256;

/// How a column's granules are written in a part.
#[derive(Debug)]
pub struct FramePlan {
    /// Rows per frame; `usize::MAX` for whole blocks.
    pub rows: usize,
    /// The trained ZSTD dictionary the frames are compressed with.
    pub dictionary: Option<ZstdDictionary>,
}

/// Chooses, on `samples` (granules spread over a part of `part_rows` rows), how to cut a
/// column's granules. Frames of `frame_rows` are taken when they cost at most
/// [`MAX_FRAMING_COST_PERMILLE`] over whole blocks. For ZSTD text, frames of a quarter (else
/// half) of those rows with a dictionary trained on the samples replace them when they are
/// no larger, dictionary included at the samples' share of the part: the dictionary buys
/// smaller frames but never costs space. The benchmark's JSON events get 256-row frames
/// that way, as small as plain 1,024-row ones; sorted short ids stay in plain frames.
/// `train`: whether a dictionary may be trained (not for an insert's fast part).
pub fn plan(samples: &[ColumnData], chain: &CodecChain, frame_rows: usize, part_rows: usize, train: bool) -> FramePlan {
    let whole_blocks = FramePlan { rows: usize::MAX, dictionary: None };
    if samples.is_empty() {
        return whole_blocks;
    }
    let whole: usize = samples.iter().map(|s| write_block(s, chain).0.len()).sum();
    let plain: usize = samples.iter().map(|s| write(s, chain, frame_rows, None).0.len()).sum();
    if plain * 1000 > whole * (1000 + MAX_FRAMING_COST_PERMILLE) {
        return whole_blocks;
    }
    let sample_rows: usize = samples.iter().map(ColumnData::len).sum();
    if train && matches!(chain.compression, Compression::Zstd(_)) && samples[0].column_type() == ColumnType::Var {
        // Trained on encoded runs of 64 rows, what frames hold (lengths, then bytes): 2%
        // better on JSON than training on single values. Every other run: training time
        // grows with its input, and half of three granules is plenty.
        let training: Vec<Vec<u8>> = samples
            .iter()
            .flat_map(|s| (0..s.len()).step_by(128).map(move |r| super::encode_block(&s.slice(r, (r + 64).min(s.len())), chain)))
            .collect();
        let training = training.iter().map(Vec::as_slice);
        // About 1.5% of the column's size in the part.
        let size = (whole * part_rows.max(sample_rows) / sample_rows / 64).clamp(zstd_dict::MIN_DICTIONARY_BYTES, zstd_dict::DICTIONARY_BYTES);
        if let Some(d) = ZstdDictionary::train(training, size) {
            let share = d.bytes().len() * sample_rows / part_rows.max(sample_rows);
            let quarter = (frame_rows / 4).max(MIN_DICTIONARY_FRAME_ROWS);
            // Frames stay at least MIN_FRAME_BYTES raw: each costs a call that sets up the
            // dictionary's tables, which on a 2 KB frame of numbers outweighs the decoding.
            let per_row = samples.iter().map(|s| s.data_bytes()).sum::<usize>() / sample_rows.max(1);
            for rows in [quarter, quarter * 2].into_iter().filter(|&r| r < frame_rows && r * per_row >= MIN_FRAME_BYTES) {
                let framed: usize = samples.iter().map(|s| write(s, chain, rows, Some(&d)).0.len()).sum();
                if framed + share <= plain {
                    return FramePlan { rows, dictionary: Some(d) };
                }
            }
        }
    }
    FramePlan { rows: frame_rows, dictionary: None }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameEntry {
    pub rows: u32,
    pub len: u32,
    pub raw_len: u32,
    pub crc32: u32,
}

/// A framed block's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub frames: Vec<FrameEntry>,
}

impl FrameHeader {
    /// Bytes of the header whose first bytes are `prefix` (at least 3).
    pub fn len_from_prefix(prefix: &[u8]) -> Result<usize> {
        match prefix {
            [TAG_FRAMED, a, b, ..] => Ok(FIXED + ENTRY * u16::from_le_bytes([*a, *b]) as usize),
            _ => Err(Error::corrupt("framed block", "bad header")),
        }
    }

    pub fn byte_len(&self) -> usize {
        FIXED + ENTRY * self.frames.len()
    }

    /// Parses and checks the header against the mark and the granule's `rows`.
    pub fn parse(bytes: &[u8], mark: &Mark, rows: usize) -> Result<FrameHeader> {
        let bad = |d: &str| Error::corrupt("framed block", d.to_string());
        let len = Self::len_from_prefix(bytes)?;
        if bytes.len() < len || len > mark.compressed_len as usize {
            return Err(bad("truncated header"));
        }
        if crc32fast::hash(&bytes[..len]) != mark.crc32 {
            return Err(bad("header checksum mismatch"));
        }
        let frames: Vec<FrameEntry> = bytes[FIXED..len]
            .chunks_exact(ENTRY)
            .map(|e| {
                let u = |i: usize| u32::from_le_bytes([e[i], e[i + 1], e[i + 2], e[i + 3]]);
                FrameEntry { rows: u(0), len: u(4), raw_len: u(8), crc32: u(12) }
            })
            .collect();
        let sum = |f: fn(&FrameEntry) -> u32| frames.iter().map(|e| f(e) as u64).sum::<u64>();
        if frames.is_empty() || frames.iter().any(|e| e.rows == 0) || sum(|e| e.rows) != rows as u64 {
            return Err(bad("frame rows do not add up to the granule's"));
        }
        if len as u64 + sum(|e| e.len) != mark.compressed_len as u64 || sum(|e| e.raw_len) != mark.uncompressed_len as u64 {
            return Err(bad("frame sizes do not add up to the block's"));
        }
        Ok(FrameHeader { frames })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.byte_len());
        out.push(TAG_FRAMED);
        out.extend_from_slice(&(self.frames.len() as u16).to_le_bytes());
        for e in &self.frames {
            for v in [e.rows, e.len, e.raw_len, e.crc32] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Each frame's first row and first byte (from the start of the block).
    fn layout(&self) -> Vec<(usize, usize)> {
        let (mut row, mut byte) = (0usize, self.byte_len());
        self.frames
            .iter()
            .map(|e| {
                let here = (row, byte);
                row += e.rows as usize;
                byte += e.len as usize;
                here
            })
            .collect()
    }
}

/// Writes `col` as frames of `frame_rows` rows; returns the block, the sum of the frames'
/// raw lengths and the header's CRC.
pub fn write(col: &ColumnData, chain: &CodecChain, frame_rows: usize, dict: Option<&ZstdDictionary>) -> (Vec<u8>, u32, u32) {
    let n = col.len();
    let frame_rows = frame_rows.max(n.div_ceil(u16::MAX as usize)).max(1);
    let mut frames = Vec::new();
    let mut bodies = Vec::new();
    for start in (0..n).step_by(frame_rows) {
        let end = (start + frame_rows).min(n);
        let (body, raw_len, crc32) = write_block_with(&col.slice(start, end), chain, dict);
        frames.push(FrameEntry { rows: (end - start) as u32, len: body.len() as u32, raw_len, crc32 });
        bodies.push(body);
    }
    let header = FrameHeader { frames };
    let mut out = header.encode();
    let crc = crc32fast::hash(&out);
    for b in bodies {
        out.extend_from_slice(&b);
    }
    (out, header.frames.iter().map(|e| e.raw_len).sum(), crc)
}

/// Decodes the frames of a framed block holding any of `wanted` (sorted row numbers;
/// `None` = all rows). `fetch(offset, len)` gives bytes of the block (borrowed when the
/// caller holds them already). Rows of frames left out come back as NULLs, so a caller
/// that only looks at wanted rows never sees them.
pub fn read<'b>(
    header: &FrameHeader,
    mut fetch: impl FnMut(usize, usize) -> Result<Cow<'b, [u8]>>,
    ty: ColumnType,
    chain: &CodecChain,
    wanted: Option<&[u32]>,
    dict: Option<&ZstdDictionary>,
) -> Result<ColumnData> {
    let layout = header.layout();
    // The wanted rows inside frame `f`, as a slice of `wanted`.
    let wanted_in = |f: usize| {
        wanted.map(|w| {
            let (first, rows) = (layout[f].0 as u32, header.frames[f].rows);
            &w[w.partition_point(|&r| r < first)..w.partition_point(|&r| r < first + rows)]
        })
    };
    let needed: Vec<bool> = (0..layout.len()).map(|f| wanted_in(f).is_none_or(|w| !w.is_empty())).collect();
    let mut pieces: Vec<(usize, Option<ColumnData>)> = Vec::with_capacity(layout.len());
    let mut f = 0;
    while f < layout.len() {
        if !needed[f] {
            pieces.push((header.frames[f].rows as usize, None));
            f += 1;
            continue;
        }
        // One read for each run of needed frames.
        let mut end = f;
        while end < layout.len() && needed[end] {
            end += 1;
        }
        let run_len: usize = header.frames[f..end].iter().map(|e| e.len as usize).sum();
        let bytes = fetch(layout[f].1, run_len)?;
        let mut at = 0;
        for k in f..end {
            let e = &header.frames[k];
            let frame_mark = Mark { offset: 0, compressed_len: e.len, uncompressed_len: e.raw_len, crc32: e.crc32 };
            let body = bytes.get(at..at + e.len as usize).ok_or_else(|| Error::corrupt("framed block", "short read"))?;
            // Wanted rows counted from the frame's first row.
            let local: Option<Vec<u32>> = wanted_in(k).map(|w| w.iter().map(|&r| r - layout[k].0 as u32).collect());
            pieces.push((e.rows as usize, Some(read_block_decoded(body, &frame_mark, ty, e.rows as usize, chain, local.as_deref(), dict)?.into_values())));
            at += e.len as usize;
        }
        f = end;
    }
    assemble(ty, pieces)
}

/// Concatenates decoded frames; a frame left out becomes NULL rows.
fn assemble(ty: ColumnType, pieces: Vec<(usize, Option<ColumnData>)>) -> Result<ColumnData> {
    let rows: usize = pieces.iter().map(|p| p.0).sum();
    let mut out = ColumnData::new(ty);
    // A zero-width column's length lives in its validity alone.
    let nullable = ty == ColumnType::Fixed { width: 0 } || pieces.iter().any(|(_, c)| c.as_ref().is_none_or(|c| c.validity.is_some()));
    let mut validity = nullable.then(|| Bitmap::new_set(rows));
    // The first decoded piece's buffers become the column's (most granules have two to
    // four frames: that halves the copying at least); later pieces are appended.
    let mut at = 0;
    for (n, piece) in pieces {
        if let Some(c) = &piece {
            if c.len() != n || c.column_type() != ty {
                return Err(Error::corrupt("framed block", "frame decoded to the wrong shape"));
            }
        }
        if let Some(v) = validity.as_mut() {
            match &piece {
                None => v.clear_range(at, at + n),
                Some(c) => c.validity.iter().flat_map(Bitmap::clear_bits).for_each(|i| v.clear(at + i)),
            }
        }
        match (&mut out.values, piece.map(|c| c.values)) {
            (Values::Fixed { width, data }, None) => data.resize(data.len() + n * *width, 0),
            (Values::Fixed { width, data }, Some(Values::Fixed { data: d, .. })) => {
                if data.is_empty() {
                    *data = d;
                } else {
                    data.reserve(rows * *width - data.len());
                    data.extend_from_slice(&d);
                }
            }
            (Values::Var { offsets, data }, None) => offsets.resize(offsets.len() + n, data.len() as u32),
            (Values::Var { offsets, data }, Some(Values::Var { offsets: o, data: d })) => {
                if offsets.len() == 1 {
                    *offsets = o;
                } else {
                    let base = data.len() as u32;
                    offsets.reserve(rows + 1 - offsets.len());
                    offsets.extend(o[1..].iter().map(|x| x + base));
                }
                if data.is_empty() {
                    *data = d;
                } else {
                    data.extend_from_slice(&d);
                }
            }
            _ => return Err(Error::corrupt("framed block", "frame decoded to the wrong shape")),
        }
        at += n;
    }
    out.validity = validity;
    debug_assert_eq!(out.len(), rows);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Compression;
    use crate::granule::{read_block, read_rows, write_granule};
    use proptest::prelude::*;

    fn column(vals: &[Option<Vec<u8>>], fixed: bool) -> ColumnData {
        let mut c = ColumnData::new(if fixed { ColumnType::Fixed { width: 8 } } else { ColumnType::Var });
        for v in vals {
            match v {
                Some(v) if fixed => c.push(&(v.len() as i64 * 1000 + v.first().copied().unwrap_or(0) as i64).to_le_bytes()),
                Some(v) => c.push(v),
                None => c.push_null(),
            }
        }
        c
    }

    fn chain(i: usize, fixed: bool) -> CodecChain {
        let s = if fixed { ["LZ4", "ZSTD(3)", "T64", "GCD, T64", "Delta, LZ4", "GCD, Delta, T64, ZSTD(1)"][i % 6] } else { ["LZ4", "ZSTD(3)", "NONE"][i % 3] };
        CodecChain::parse(s, Compression::Lz4).unwrap()
    }

    fn mark_of(block: &[u8], raw: u32, crc: u32) -> Mark {
        Mark { offset: 0, compressed_len: block.len() as u32, uncompressed_len: raw, crc32: crc }
    }

    proptest! {
        /// Whole reads give the column back; partial reads give every wanted row back.
        #[test]
        fn frames_roundtrip(
            vals in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..30)), 1..400),
            fixed in any::<bool>(),
            c in 0usize..6,
            frame_rows in 1usize..60,
            pick in proptest::collection::vec(any::<bool>(), 400),
        ) {
            let col = column(&vals, fixed);
            let chain = chain(c, fixed);
            let (block, raw, crc) = write_granule(&col, &chain, frame_rows, None);
            prop_assert_eq!(block[0] == TAG_FRAMED, vals.len() > frame_rows);
            let mark = mark_of(&block, raw, crc);
            prop_assert_eq!(&read_block(&block, &mark, col.column_type(), vals.len(), &chain).unwrap(), &col);
            let wanted: Vec<u32> = (0..vals.len() as u32).filter(|&i| pick[i as usize]).collect();
            let mut reads = 0usize;
            let fetch = |at: usize, len: usize| { reads += len; Ok(block[at..at + len].to_vec()) };
            let got = read_rows(fetch, &mark, col.column_type(), vals.len(), &chain, Some(&wanted), None).unwrap();
            prop_assert_eq!(got.len(), vals.len());
            for &r in &wanted {
                prop_assert_eq!(got.get(r as usize), col.get(r as usize), "row {}", r);
            }
        }

        /// Every byte of a framed block is covered by a checksum: a whole read of a damaged
        /// block fails cleanly.
        #[test]
        fn damaged_frames_are_refused(
            vals in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..30)), 20..200),
            at in any::<usize>(),
            flip in 1u8..=255,
        ) {
            let col = column(&vals, false);
            let chain = chain(1, false);
            let (mut block, raw, crc) = write_granule(&col, &chain, 7, None);
            let mark = mark_of(&block, raw, crc);
            let i = at % block.len();
            block[i] ^= flip;
            prop_assert!(read_block(&block, &mark, ColumnType::Var, vals.len(), &chain).is_err());
        }
    }

    #[test]
    fn partial_read_decodes_only_needed_frames() {
        let mut col = ColumnData::new(ColumnType::Var);
        for i in 0..8192 {
            col.push(format!("{{\"page\":\"/p/{i}\",\"session\":\"{:x}\"}}", i * 7919).as_bytes());
        }
        let chain = CodecChain::plain(Compression::Zstd(3));
        let (block, raw, crc) = write_granule(&col, &chain, frame_rows(&col), None);
        let mark = mark_of(&block, raw, crc);
        let mut read = 0usize;
        let fetch = |at: usize, len: usize| {
            read += len;
            Ok(block[at..at + len].to_vec())
        };
        let got = read_rows(fetch, &mark, ColumnType::Var, 8192, &chain, Some(&[5000, 5001]), None).unwrap();
        assert_eq!(got.get(5000), col.get(5000));
        assert!(got.is_null(0), "rows of frames left out read as NULL");
        assert!(read < block.len() / 3, "read {read} of {} bytes", block.len());
    }

    /// Events-like JSON: with a dictionary trained on the part, frames of 256 or 512 rows are
    /// no larger than plain ones of 1,024, read back exactly, and refuse to decode without
    /// their dictionary or with another one.
    #[test]
    fn dictionary_frames() {
        let json = |seed: u64| {
            let mut col = ColumnData::new(ColumnType::Var);
            for i in 0..8192u64 {
                let h = (i + seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                col.push(crate::test_data::event_json(h).as_bytes());
            }
            col
        };
        let samples = [json(0), json(100_000), json(200_000)];
        let chain = CodecChain::plain(Compression::Zstd(9));
        let plan = plan(&samples, &chain, frame_rows(&samples[0]), 1 << 20, true);
        assert!(plan.rows < 1024, "{plan:?}");
        let dict = plan.dictionary.expect("a trained dictionary");
        let col = json(7);
        let (block, raw, crc) = write_granule(&col, &chain, plan.rows, Some(&dict));
        let mark = mark_of(&block, raw, crc);
        let fetch = |at: usize, len: usize| Ok(block[at..at + len].to_vec());
        assert_eq!(read_rows(fetch, &mark, ColumnType::Var, 8192, &chain, None, Some(&dict)).unwrap(), col);
        let got = read_rows(fetch, &mark, ColumnType::Var, 8192, &chain, Some(&[4000]), Some(&dict)).unwrap();
        assert_eq!(got.get(4000), col.get(4000));
        assert!(matches!(read_rows(fetch, &mark, ColumnType::Var, 8192, &chain, None, None), Err(Error::Corrupt { .. })));
        let other_rows: Vec<Vec<u8>> = (0..8192).map(|i| format!("other data {i} {}", i * 31).into_bytes()).collect();
        let other = ZstdDictionary::train(other_rows.iter().map(|v| v.as_slice()), 4096).unwrap();
        assert!(read_rows(fetch, &mark, ColumnType::Var, 8192, &chain, None, Some(&other)).is_err());
        // Plain ZSTD frames of another granule of the column, for comparison.
        let plain = write(&col, &chain, 1024, None).0.len();
        assert!(block.len() * 100 <= plain * 102, "{} vs {plain}", block.len());
    }

    #[test]
    fn json_events_are_worth_framing() {
        let mut col = ColumnData::new(ColumnType::Var);
        for i in 0..8192u64 {
            let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
            col.push(format!("{{\"page\":\"/p/{}\",\"browser\":\"chrome\",\"session\":\"{h:x}\"}}", i % 300).as_bytes());
        }
        let chain = CodecChain::plain(Compression::Zstd(9));
        assert!(plan(std::slice::from_ref(&col), &chain, frame_rows(&col), col.len(), true).rows < usize::MAX);
    }

    #[test]
    fn framing_is_judged_across_the_part() {
        assert_eq!(sample_granules(0), Vec::<usize>::new());
        assert_eq!(sample_granules(1), vec![0]);
        assert_eq!(sample_granules(2), vec![0, 1]);
        assert_eq!(sample_granules(122), vec![0, 61, 121]);
        // One long run first (a big part's first key value), varied ids after: the run
        // alone would refuse frames, the part as a whole takes them.
        let ids = |from: u64| {
            let mut c = ColumnData::new(ColumnType::Var);
            for i in 0..8192u64 {
                let gap = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58;
                c.push(format!("user_{}", from + i * 64 + gap).as_bytes());
            }
            c
        };
        let mut run = ColumnData::new(ColumnType::Var);
        for i in 0..8192u64 {
            run.push(if i < 8000 { b"user_1".to_vec() } else { format!("user_{i}").into_bytes() }.as_slice());
        }
        let chain = CodecChain::plain(Compression::Zstd(9));
        let rows = frame_rows(&ids(0));
        assert_eq!(plan(std::slice::from_ref(&run), &chain, rows, 1 << 20, true).rows, usize::MAX);
        assert!(plan(&[run, ids(100_000), ids(900_000)], &chain, rows, 1 << 20, true).rows < usize::MAX);
    }

    #[test]
    fn frame_rows_follow_row_width() {
        let mut codes = ColumnData::new(ColumnType::Fixed { width: 2 });
        let mut stamps = ColumnData::new(ColumnType::Fixed { width: 8 });
        let mut json = ColumnData::new(ColumnType::Var);
        let mut ids = ColumnData::new(ColumnType::Var);
        for _ in 0..100 {
            codes.push(&[1, 2]);
            stamps.push(&[0; 8]);
            json.push(&[b'x'; 90]);
            ids.push(b"user_123456");
        }
        assert_eq!(frame_rows(&codes), 8192, "2-byte codes: a whole default granule");
        assert_eq!(frame_rows(&stamps), 2048, "8-byte values: 16 KB");
        assert_eq!(frame_rows(&json), 1024);
        assert_eq!(frame_rows(&ids), 1024);
    }
}
