//! Parts: immutable, sorted, column-oriented. Byte layout of a part:
//!
//! ```text
//! +-------+----------+----------+-----------------+--------------------------------+
//! | "MTP1"| meta_len | meta_crc | PartMeta bincode| blocks: column 0 granules 0..n, |
//! | 4 B   | u32 LE   | u32 LE   | meta_len bytes  | column 1 granules 0..n, ...     |
//! +-------+----------+----------+-----------------+--------------------------------+
//! ```
//! Mark offsets count from the first block, so the metadata's size never depends on them.

use crate::codec::dict::{self, DictMode};
use crate::codec::{choose, CodecChain, Compression, ZstdDictionary};
use crate::column::{compare_values, ColumnData, ColumnType, SortKind};
use crate::error::{Error, Result};
use crate::granule::{self, Mark};
use crate::store::BlockStore;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

pub const MAGIC: &[u8; 4] = b"MTP1";
pub const HEADER_LEN: usize = 12;
/// 3: columns may have a trained ZSTD dictionary for their frames (version 2: without).
/// 4: parts may have JSON subcolumns (`PartMeta::subcolumns`).
/// 5: numeric columns may be stored as scaled integers (`SortKind::Scaled`); the
/// metadata's layout is version 4's. Versions 2 and 3 are still read.
pub const FORMAT_VERSION: u16 = 5;

/// Column ids of JSON subcolumns start here (above any attribute number).
pub const SUBCOLUMN_ID: u32 = 0xF000_0000;

/// How a part is cut and compressed.
#[derive(Clone, Debug)]
pub struct WriterSettings {
    pub index_granularity: usize,
    pub index_granularity_bytes: usize,
    /// Block codec of every column without its own chain.
    pub compression: Compression,
    /// The user left the block codec to us: a column may get ZSTD(1) instead of
    /// `compression` where it saves enough (see `choose::block_codec`).
    pub auto_compression: bool,
    /// Per column (by position): a forced chain and the dictionary mode.
    pub columns: Vec<ColumnCodec>,
    /// Encode fast (an insert's part, merged later): where the automatic choice takes
    /// ZSTD it takes a fast level, and frames get no trained dictionary.
    pub fast: bool,
}

/// A column's codec settings; `chain: None` lets the writer choose per part.
#[derive(Clone, Debug, Default)]
pub struct ColumnCodec {
    pub chain: Option<CodecChain>,
    pub dict: DictMode,
    /// Text that may hold JSON objects: the writer looks for JSON subcolumns.
    pub json: bool,
    /// A numeric column: the writer stores it as scaled integers where it can
    /// (part/scaled.rs).
    pub numeric: bool,
}

impl Default for WriterSettings {
    fn default() -> Self {
        WriterSettings {
            index_granularity: 8192,
            index_granularity_bytes: 10 << 20,
            compression: Compression::Lz4,
            auto_compression: true,
            columns: Vec::new(),
            fast: false,
        }
    }
}

/// Describes one column the writer receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSpec {
    /// The caller's id for the column (the attribute number in Postgres).
    pub id: u32,
    pub ty: ColumnType,
    pub sort: SortKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMeta {
    pub spec: ColumnSpec,
    /// The chain every granule block of this column went through.
    pub codec: CodecChain,
    /// Dictionary-encoded columns: the block of sorted distinct values; granules hold codes.
    pub dictionary: Option<DictBlock>,
    pub marks: Vec<Mark>,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    pub null_count: u64,
    /// Smallest and largest non-NULL value, for columns whose order the engine knows.
    pub min: Option<Vec<u8>>,
    pub max: Option<Vec<u8>>,
    /// The block of the trained ZSTD dictionary the column's frames use, if any.
    pub frame_dictionary: Option<Mark>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DictBlock {
    pub mark: Mark,
    pub values: u32,
    /// Width in bytes of the codes in granule blocks.
    pub code_width: u16,
}

impl ColumnMeta {
    /// The chain as users see it, e.g. `Dictionary(200), LZ4`, `DoubleDelta, LZ4` or
    /// `Scaled(2), T64, LZ4` (numeric as integers scaled by 10^2).
    pub fn codec_description(&self) -> String {
        let chain = match (&self.dictionary, self.spec.sort) {
            (Some(d), _) => format!("Dictionary({}), {}", d.values, self.codec),
            (None, SortKind::Scaled(scale)) => format!("Scaled({scale}), {}", self.codec),
            (None, _) => self.codec.to_string(),
        };
        match &self.frame_dictionary {
            Some(m) => format!("{chain} with a {} KB trained dictionary", m.compressed_len.div_ceil(1024)),
            None => chain,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartMeta {
    pub version: u16,
    pub rows: u64,
    pub granule_rows: Vec<u32>,
    pub columns: Vec<ColumnMeta>,
    /// Indexes into `columns` of the primary key (a prefix of the sort key).
    pub primary_key: Vec<usize>,
    /// Sparse primary index: the key of each granule's first row (`None` = NULL).
    pub primary_index: Vec<Vec<Option<Vec<u8>>>>,
    /// JSON subcolumns (part/json_subcolumns.rs), stored in `columns` after the others.
    pub subcolumns: Vec<Subcolumn>,
}

/// A JSON subcolumn: `source ->> key` of every row, in `columns[column]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subcolumn {
    /// The id of the text column it comes from.
    pub source: u32,
    pub key: Vec<u8>,
    pub column: usize,
}

impl PartMeta {
    pub fn compressed_bytes(&self) -> u64 {
        self.columns.iter().map(|c| c.compressed_bytes).sum()
    }
    pub fn uncompressed_bytes(&self) -> u64 {
        self.columns.iter().map(|c| c.uncompressed_bytes).sum()
    }
    pub fn granules(&self) -> usize {
        self.granule_rows.len()
    }
    /// The column holding `source ->> key`, if the part has it.
    pub fn subcolumn(&self, source: u32, key: &[u8]) -> Option<usize> {
        self.subcolumns.iter().find(|s| s.source == source && s.key == key).map(|s| s.column)
    }
    /// First row number of each granule.
    pub fn granule_starts(&self) -> Vec<u64> {
        let mut s = 0u64;
        self.granule_rows
            .iter()
            .map(|&n| {
                let here = s;
                s += n as u64;
                here
            })
            .collect()
    }

    /// Internal consistency: row counts, mark counts, marks inside the data region.
    pub fn validate(&self, data_len: u64) -> Result<()> {
        let bad = |d: String| Err(Error::corrupt("part metadata", d));
        if !(2..=FORMAT_VERSION).contains(&self.version) {
            return bad(format!("format version {} (this build reads 2 to {FORMAT_VERSION})", self.version));
        }
        if self.granule_rows.iter().map(|&n| n as u64).sum::<u64>() != self.rows {
            return bad("granule row counts do not add up to the part's rows".into());
        }
        if self.primary_index.len() != self.granules() && !self.primary_key.is_empty() {
            return bad("primary index has the wrong number of entries".into());
        }
        for (i, c) in self.columns.iter().enumerate() {
            if c.marks.len() != self.granules() {
                return bad(format!("column {i} has {} marks for {} granules", c.marks.len(), self.granules()));
            }
            for m in c.marks.iter().chain(c.dictionary.as_ref().map(|d| &d.mark)).chain(c.frame_dictionary.as_ref()) {
                if m.offset.saturating_add(m.compressed_len as u64) > data_len {
                    return bad(format!("column {i} mark points past the end of the part"));
                }
            }
        }
        for (i, c) in self.columns.iter().enumerate() {
            if matches!(c.spec.sort, SortKind::Scaled(_)) && (self.version < 5 || c.spec.ty != (ColumnType::Fixed { width: 8 }) || c.dictionary.is_some()) {
                return bad(format!("column {i} is not a valid scaled numeric column"));
            }
        }
        for s in &self.subcolumns {
            if s.source >= SUBCOLUMN_ID || self.columns.get(s.column).is_none_or(|c| c.spec.ty != ColumnType::Var || c.spec.id < SUBCOLUMN_ID) {
                return bad(format!("JSON subcolumn {} is not a subcolumn", s.column));
            }
        }
        Ok(())
    }
}

pub struct PartWriter {
    settings: WriterSettings,
}

impl PartWriter {
    pub fn new(settings: WriterSettings) -> Self {
        PartWriter { settings }
    }

    /// Writes already-sorted `columns` (at least one) as a part.
    pub fn write(&self, specs: &[ColumnSpec], columns: &[ColumnData], primary_key: &[usize]) -> Result<(Vec<u8>, PartMeta)> {
        self.write_rows(specs, columns, columns.first().map_or(0, |c| c.len()), primary_key)
    }

    /// Writes `rows` already-sorted rows (`columns`) as a part. Columns compress in
    /// parallel. The row count is given, not taken from the columns: a table may have none.
    pub fn write_rows(&self, specs: &[ColumnSpec], columns: &[ColumnData], rows: usize, primary_key: &[usize]) -> Result<(Vec<u8>, PartMeta)> {
        if specs.len() != columns.len() {
            return Err(Error::Invalid(format!("{} column specs for {} columns", specs.len(), columns.len())));
        }
        if columns.iter().any(|c| c.len() != rows) {
            return Err(Error::Invalid("columns have different row counts".into()));
        }
        let s = &self.settings;
        let granule_rows = granule::split_granules(columns, rows, s.index_granularity, s.index_granularity_bytes);
        let mut starts = Vec::with_capacity(granule_rows.len());
        let mut acc = 0usize;
        for &n in &granule_rows {
            starts.push(acc);
            acc += n as usize;
        }

        // JSON subcolumns of the text columns, written after the table's columns.
        let found: Vec<Vec<(Vec<u8>, ColumnData)>> = crate::parallel::map(columns, rows, |ci, c| {
            if s.columns.get(ci).is_some_and(|cc| cc.json) { json_subcolumns::subcolumns(c) } else { Vec::new() }
        });
        let mut subcolumns = Vec::new();
        let mut sub_specs = Vec::new();
        let mut sub_data = Vec::new();
        for (ci, subs) in found.into_iter().enumerate() {
            for (key, data) in subs {
                let id = SUBCOLUMN_ID + subcolumns.len() as u32;
                subcolumns.push(Subcolumn { source: specs[ci].id, key, column: specs.len() + subcolumns.len() });
                sub_specs.push(ColumnSpec { id, ty: ColumnType::Var, sort: SortKind::Opaque });
                sub_data.push(data);
            }
        }
        let all: Vec<(&ColumnSpec, &ColumnData)> = specs.iter().zip(columns).chain(sub_specs.iter().zip(&sub_data)).collect();
        // Each column: an optional dictionary block, then one block per granule.
        let encoded: Vec<(Vec<Vec<u8>>, Vec<(u32, u32)>, ColumnMeta)> = crate::parallel::map(&all, rows, |ci, &(spec, col)| {
                let setting = s.columns.get(ci).cloned().unwrap_or_default();
                let dict_enc = dict::encode(col, setting.dict);
                // Numerics as scaled integers, where the codec is the writer's to choose
                // and the column is neither dictionary-encoded nor in the primary index
                // (whose entries are the values' bytes).
                let scaled = match setting.numeric && setting.chain.is_none() && dict_enc.is_none() && !primary_key.contains(&ci) {
                    true => scaled::scale(col),
                    false => None,
                };
                let stored_spec = match &scaled {
                    Some((_, scale)) => ColumnSpec { id: spec.id, ty: ColumnType::Fixed { width: 8 }, sort: SortKind::Scaled(*scale) },
                    None => spec.clone(),
                };
                let target = match (&dict_enc, &scaled) {
                    (Some(e), _) => &e.codes,
                    (None, Some((ints, _))) => ints,
                    (None, None) => col,
                };
                let frame_rows = granule::frames::frame_rows(target);
                let chain = choose_chain(s, &setting, target, stored_spec.sort, dict_enc.is_some(), frame_rows);
                // Frames must not cost much space: judged on granules spread over the part,
                // since its first rows (one key value's run) are often unlike the rest.
                let samples: Vec<ColumnData> = granule::frames::sample_granules(granule_rows.len())
                    .into_iter()
                    .filter(|&g| granule_rows[g] as usize > frame_rows)
                    .map(|g| target.slice(starts[g], starts[g] + granule_rows[g] as usize))
                    .collect();
                let framing = granule::frames::plan(&samples, &chain, frame_rows, rows, !s.fast);
                // Blocks in order: value dictionary, ZSTD dictionary, granules.
                let mut blocks = Vec::with_capacity(granule_rows.len() + 2);
                let mut info = Vec::with_capacity(granule_rows.len() + 2);
                let dictionary = dict_enc.as_ref().map(|e| {
                    let (block, raw_len, crc) = granule::write_block(&e.dict, &CodecChain::plain(chain.compression));
                    info.push((raw_len, crc));
                    blocks.push(block);
                    let code_width = match e.codes.column_type() {
                        ColumnType::Fixed { width } => width,
                        ColumnType::Var => 0,
                    };
                    DictBlock { mark: Mark { offset: 0, compressed_len: 0, uncompressed_len: 0, crc32: 0 }, values: e.dict.len() as u32, code_width }
                });
                let frame_dictionary = framing.dictionary.as_ref().map(|d| {
                    let bytes = d.bytes().to_vec();
                    info.push((bytes.len() as u32, crc32fast::hash(&bytes)));
                    blocks.push(bytes);
                    Mark { offset: 0, compressed_len: 0, uncompressed_len: 0, crc32: 0 }
                });
                // Granules compress in parallel too: one wide column (JSON text under ZSTD)
                // would otherwise keep a single core busy while the others wait.
                let granule_blocks: Vec<(Vec<u8>, u32, u32)> = crate::parallel::map(&granule_rows, rows, |g, &n| {
                    granule::write_granule(&target.slice(starts[g], starts[g] + n as usize), &chain, framing.rows, framing.dictionary.as_ref())
                });
                for (block, raw_len, crc) in granule_blocks {
                    info.push((raw_len, crc));
                    blocks.push(block);
                }
                // Scaled integers order as numerics do, but readers compare the numerics'
                // bytes: no extremes for them.
                let (min, max) = if scaled.is_some() { (None, None) } else { min_max(col, spec.sort) };
                let null_count = col.validity.as_ref().map_or(0, |v| (v.len() - v.count_set()) as u64);
                let meta = ColumnMeta {
                    spec: stored_spec,
                    codec: chain,
                    dictionary,
                    marks: Vec::new(),
                    compressed_bytes: blocks.iter().map(|b| b.len() as u64).sum(),
                    uncompressed_bytes: (col.data_bytes() + col.len().div_ceil(8)) as u64,
                    null_count,
                    min,
                    max,
                    frame_dictionary,
                };
                (blocks, info, meta)
            });

        let mut offset = 0u64;
        let mut metas = Vec::with_capacity(encoded.len());
        for (blocks, info, meta) in &encoded {
            let mut meta = meta.clone();
            let lead = usize::from(meta.dictionary.is_some());
            for (i, (block, &(raw_len, crc))) in blocks.iter().zip(info).enumerate() {
                let mark = Mark { offset, compressed_len: block.len() as u32, uncompressed_len: raw_len, crc32: crc };
                match (meta.dictionary.as_mut(), meta.frame_dictionary.as_mut()) {
                    (Some(d), _) if i == 0 => d.mark = mark,
                    (_, Some(z)) if i == lead => *z = mark,
                    _ => meta.marks.push(mark),
                }
                offset += block.len() as u64;
            }
            metas.push(meta);
        }
        let primary_index = if primary_key.is_empty() {
            Vec::new()
        } else {
            starts.iter().map(|&r| primary_key.iter().map(|&k| columns[k].get(r).map(|v| v.to_vec())).collect()).collect()
        };
        let meta = PartMeta {
            version: oldest_version(&metas, &subcolumns),
            rows: rows as u64,
            granule_rows,
            columns: metas,
            primary_key: primary_key.to_vec(),
            primary_index,
            subcolumns,
        };
        let mut out = header(&meta, offset as usize)?;
        for (blocks, _, _) in &encoded {
            for b in blocks {
                out.extend_from_slice(b);
            }
        }
        Ok((out, meta))
    }
}

/// The oldest format version that has what a part needs: such parts stay readable by
/// older builds.
pub(crate) fn oldest_version(columns: &[ColumnMeta], subcolumns: &[Subcolumn]) -> u16 {
    match (columns.iter().any(|c| matches!(c.spec.sort, SortKind::Scaled(_))), subcolumns.is_empty()) {
        (true, _) => 5,
        (false, false) => 4,
        (false, true) => 3,
    }
}

/// The part's first bytes: magic, metadata length and checksum, metadata; with room
/// for `data_len` bytes of blocks after it.
pub(crate) fn header(meta: &PartMeta, data_len: usize) -> Result<Vec<u8>> {
    let serialized = if meta.version == 3 { bincode::serialize(&v3::PartMeta::of(meta)) } else { bincode::serialize(meta) };
    let meta_bytes = serialized.map_err(|e| Error::Invalid(format!("serialize part metadata: {e}")))?;
    let mut out = Vec::with_capacity(HEADER_LEN + meta_bytes.len() + data_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(meta_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&meta_bytes).to_le_bytes());
    out.extend_from_slice(&meta_bytes);
    Ok(out)
}

/// Rows below which an insert's part takes the plain block codec without trying others.
const TINY_PART_ROWS: usize = 256;

/// A column's codec chain: the one forced by the settings, else for fixed-width values
/// (not dictionary codes) the transform `choose` picks on a sample of `target`, and the
/// block codec `block_codec` picks where the user left it to us.
pub(crate) fn choose_chain(s: &WriterSettings, setting: &ColumnCodec, target: &ColumnData, sort: SortKind, codes: bool, frame_rows: usize) -> CodecChain {
    let chain = match (&setting.chain, target.column_type()) {
        (Some(c), _) => return c.clone(),
        // A tiny insert's part (single-row inserts): trying chains would cost more than
        // the part, and its merge chooses again.
        (None, _) if s.fast && target.len() < TINY_PART_ROWS => return CodecChain::plain(s.compression),
        (None, ColumnType::Fixed { width }) if !codes => {
            let w = width as usize;
            let n = target.len().min(choose::SAMPLE_VALUES);
            let sample = match &target.values {
                crate::column::Values::Fixed { data, .. } => &data[..n * w],
                _ => &[][..],
            };
            choose::choose(sample, w, sort, s.compression, frame_rows)
        }
        _ => CodecChain::plain(s.compression),
    };
    if !s.auto_compression {
        return chain;
    }
    let n = target.len().min(choose::SAMPLE_VALUES);
    let frames: Vec<Vec<u8>> = (0..n).step_by(frame_rows).map(|r| granule::encode_block(&target.slice(r, (r + frame_rows).min(n)), &chain)).collect();
    let level = if s.fast { choose::FAST_ZSTD_LEVEL } else { choose::AUTO_ZSTD_LEVEL };
    CodecChain { compression: choose::block_codec(&frames, s.compression, level), ..chain }
}

pub(crate) fn min_max(col: &ColumnData, kind: SortKind) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    if kind == SortKind::Opaque {
        return (None, None);
    }
    let mut min: Option<&[u8]> = None;
    let mut max: Option<&[u8]> = None;
    for i in 0..col.len() {
        if let Some(v) = col.get(i) {
            if min.is_none_or(|m| compare_values(kind, v, m).is_lt()) {
                min = Some(v);
            }
            if max.is_none_or(|m| compare_values(kind, v, m).is_gt()) {
                max = Some(v);
            }
        }
    }
    (min.map(<[u8]>::to_vec), max.map(<[u8]>::to_vec))
}

mod json_subcolumns;
mod reader;
mod scaled;
pub mod chunk;
pub mod deleted;
pub mod stream;

mod legacy;
use legacy::v3;
pub use reader::{PartHandle, PartReader};

#[cfg(test)]
mod tests;
