//! The streaming part writer (a merge's output): rows arrive in sorted batches and leave
//! through a sink as granule blocks, a stripe of granules at a time, so memory holds one
//! stripe, not the part. Marks point anywhere in the data region, so each stripe lays its
//! columns out one after another; a column's granules stay contiguous within a stripe.
//! The metadata comes last, as the header the caller puts in front of the blocks.
//!
//! What a whole-part writer decides from all of a part's rows is decided up front by the
//! caller (a merge knows it from its inputs): a column's dictionary (the union of the
//! inputs'), its scale (the inputs'), its JSON subcolumns (keys every input stores, so
//! exact for every document). The codec chain and frames are chosen on the first stripe.

use super::{choose_chain, header, min_max, oldest_version, scaled, ColumnMeta, ColumnSpec, DictBlock, PartMeta, Subcolumn, WriterSettings, SUBCOLUMN_ID};
use crate::codec::{dict, CodecChain, ZstdDictionary};
use crate::column::{compare_values, ColumnData, ColumnType, SortKind};
use crate::error::{Error, Result};
use crate::granule::{self, frames, Mark};
use hashbrown::HashMap;
use rayon::prelude::*;

/// Where a part's data blocks go, in order.
pub trait PartSink {
    fn write(&mut self, bytes: &[u8]) -> Result<()>;
}

impl PartSink for Vec<u8> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// A stored column as decided before its first row.
#[derive(Clone, Debug, Default)]
pub struct StreamColumn {
    /// Store codes into this dictionary (sorted distinct values holding every value).
    pub dictionary: Option<ColumnData>,
    /// Store numerics as integers scaled by 10^s (every value has display scale s).
    pub scale: Option<u16>,
}

/// A JSON subcolumn to write: `source ->> key` of the table column at index `source`.
#[derive(Clone, Debug)]
pub struct StreamSubcolumn {
    pub source: usize,
    pub key: Vec<u8>,
    pub column: StreamColumn,
}

/// Value bytes buffered before a stripe is written.
const STRIPE_BYTES: usize = 32 << 20;

struct Encoder {
    meta: ColumnMeta,
    /// The order of the column's values (min/max), before dictionary or scaling.
    sort: SortKind,
    codes: Option<HashMap<Vec<u8>, u32>>,
    code_width: u16,
    scale: Option<u16>,
    frame_rows: usize,
    zstd: Option<ZstdDictionary>,
}

impl Encoder {
    /// The granule as stored: codes, scaled integers or the values.
    fn target(&self, values: &ColumnData) -> Result<ColumnData> {
        if let Some(codes) = &self.codes {
            let mut out = ColumnData::new(ColumnType::Fixed { width: self.code_width });
            for i in 0..values.len() {
                match values.get(i) {
                    None => out.push_null(),
                    Some(v) => {
                        let code = codes.get(v).ok_or_else(|| Error::Invalid("a merged value is missing from the merged dictionary".into()))?;
                        out.push(&code.to_le_bytes()[..self.code_width as usize]);
                    }
                }
            }
            return Ok(out);
        }
        if let Some(s) = self.scale {
            return scaled::scale_to(values, s).ok_or_else(|| Error::Invalid(format!("a merged numeric is not exactly one of scale {s}")));
        }
        Ok(values.clone())
    }

    fn record(&mut self, values: &ColumnData) {
        self.meta.null_count += values.validity.as_ref().map_or(0, |v| (v.len() - v.count_set()) as u64);
        self.meta.uncompressed_bytes += (values.data_bytes() + values.len().div_ceil(8)) as u64;
        if self.scale.is_some() {
            return;
        }
        let (lo, hi) = min_max(values, self.sort);
        let kind = self.sort;
        let keep = |acc: &mut Option<Vec<u8>>, v: Option<Vec<u8>>, wanted: std::cmp::Ordering| {
            if let Some(v) = v {
                if acc.as_ref().is_none_or(|m| compare_values(kind, &v, m) == wanted) {
                    *acc = Some(v);
                }
            }
        };
        keep(&mut self.meta.min, lo, std::cmp::Ordering::Less);
        keep(&mut self.meta.max, hi, std::cmp::Ordering::Greater);
    }
}

/// What a streamed part holds, decided before its first row.
#[derive(Clone, Debug)]
pub struct StreamLayout {
    pub specs: Vec<ColumnSpec>,
    /// One per spec.
    pub columns: Vec<StreamColumn>,
    pub subcolumns: Vec<StreamSubcolumn>,
    pub primary_key: Vec<usize>,
    /// About how many rows will come (sizes the trained dictionaries of frames).
    pub expected_rows: usize,
}

pub struct StreamWriter<K: PartSink> {
    settings: WriterSettings,
    layout: StreamLayout,
    pending: Vec<ColumnData>,
    encoders: Vec<Encoder>,
    granule_rows: Vec<u32>,
    primary_index: Vec<Vec<Option<Vec<u8>>>>,
    offset: u64,
    stripe_bytes: usize,
    sink: K,
}

impl<K: PartSink> StreamWriter<K> {
    pub fn new(settings: WriterSettings, layout: StreamLayout, sink: K) -> Result<Self> {
        let n = layout.specs.len();
        if layout.columns.len() != n || layout.subcolumns.iter().any(|s| s.source >= n) || layout.primary_key.iter().any(|&k| k >= n) {
            return Err(Error::Invalid("stream writer: columns do not match the specs".into()));
        }
        let pending = layout.specs.iter().map(|s| ColumnData::new(s.ty)).collect();
        Ok(StreamWriter { settings, layout, pending, encoders: Vec::new(), granule_rows: Vec::new(), primary_index: Vec::new(), offset: 0, stripe_bytes: STRIPE_BYTES, sink })
    }

    /// Writes stripes of about `bytes` value bytes (tests use small ones).
    pub fn with_stripe_bytes(mut self, bytes: usize) -> Self {
        self.stripe_bytes = bytes;
        self
    }

    /// Value bytes waiting for the next stripe.
    pub fn buffered_bytes(&self) -> usize {
        self.pending.iter().map(ColumnData::data_bytes).sum()
    }

    /// Adds sorted rows (after every row pushed before).
    pub fn push(&mut self, batch: &[ColumnData]) -> Result<()> {
        if batch.len() != self.pending.len() {
            return Err(Error::Invalid(format!("{} columns pushed to a writer of {}", batch.len(), self.pending.len())));
        }
        for (p, c) in self.pending.iter_mut().zip(batch) {
            p.append(c);
        }
        if self.pending.iter().map(ColumnData::data_bytes).sum::<usize>() >= self.stripe_bytes {
            self.write_stripe(false)?;
        }
        Ok(())
    }

    fn emit(&mut self, bytes: &[u8]) -> Result<Mark> {
        self.sink.write(bytes)?;
        let mark = Mark { offset: self.offset, compressed_len: bytes.len() as u32, uncompressed_len: 0, crc32: 0 };
        self.offset += bytes.len() as u64;
        Ok(mark)
    }

    /// Writes the pending rows' whole granules (all of them when `last`).
    fn write_stripe(&mut self, last: bool) -> Result<()> {
        let rows = self.pending.first().map_or(0, ColumnData::len);
        let s = &self.settings;
        let mut cuts = granule::split_granules(&self.pending, rows, s.index_granularity, s.index_granularity_bytes);
        if !last {
            // The last granule may still grow.
            cuts.pop();
        }
        let take: usize = cuts.iter().map(|&n| n as usize).sum();
        if take == 0 && !(last && self.encoders.is_empty()) {
            return Ok(());
        }
        let stripe: Vec<ColumnData> = self.pending.iter().map(|c| c.slice(0, take)).collect();
        self.pending = self.pending.iter().map(|c| c.slice(take, rows)).collect();
        let mut all = stripe;
        let subs: Vec<ColumnData> = self.layout.subcolumns.par_iter().map(|sub| super::json_subcolumns::extract_exact(&all[sub.source], &sub.key)).collect::<Result<_>>()?;
        all.extend(subs);
        let mut starts = Vec::with_capacity(cuts.len());
        let mut at = 0usize;
        for &n in &cuts {
            starts.push(at);
            at += n as usize;
        }
        if self.encoders.is_empty() {
            self.decide(&all, &cuts, &starts)?;
        }
        for &r in &starts {
            if !self.layout.primary_key.is_empty() {
                self.primary_index.push(self.layout.primary_key.iter().map(|&k| all[k].get(r).map(<[u8]>::to_vec)).collect());
            }
        }
        // Every granule of every column on the threads: one wide column (JSON text under
        // ZSTD) would otherwise keep a single core busy while the others wait.
        let jobs: Vec<(usize, usize)> = (0..all.len()).flat_map(|ci| (0..cuts.len()).map(move |g| (ci, g))).collect();
        let encoders = &self.encoders;
        let encoded: Vec<(Vec<u8>, u32, u32)> = jobs
            .par_iter()
            .map(|&(ci, g)| {
                let e = &encoders[ci];
                let values = all[ci].slice(starts[g], starts[g] + cuts[g] as usize);
                Ok(granule::write_granule(&e.target(&values)?, &e.meta.codec, e.frame_rows, e.zstd.as_ref()))
            })
            .collect::<Result<_>>()?;
        for (&(ci, _), (block, raw_len, crc)) in jobs.iter().zip(encoded) {
            let mark = Mark { uncompressed_len: raw_len, crc32: crc, ..self.emit(&block)? };
            self.encoders[ci].meta.compressed_bytes += block.len() as u64;
            self.encoders[ci].meta.marks.push(mark);
        }
        for (e, col) in self.encoders.iter_mut().zip(&all) {
            e.record(col);
        }
        self.granule_rows.extend(cuts);
        Ok(())
    }

    /// Each column's encoding, chosen on the first stripe; writes the dictionaries'
    /// blocks.
    fn decide(&mut self, all: &[ColumnData], cuts: &[u32], starts: &[usize]) -> Result<()> {
        let l = &self.layout;
        let plans: Vec<(ColumnSpec, StreamColumn)> = l
            .specs
            .iter()
            .cloned()
            .zip(l.columns.iter().cloned())
            .chain(l.subcolumns.iter().enumerate().map(|(i, sub)| (ColumnSpec { id: SUBCOLUMN_ID + i as u32, ty: ColumnType::Var, sort: SortKind::Opaque }, sub.column.clone())))
            .collect();
        let s = self.settings.clone();
        let expected = l.expected_rows;
        let chosen: Vec<(Encoder, Option<Vec<u8>>)> = plans
            .into_par_iter()
            .zip(all)
            .enumerate()
            .map(|(ci, ((spec, plan), col))| {
                let setting = s.columns.get(ci).cloned().unwrap_or_default();
                let codes = plan.dictionary.as_ref().map(|d| (0..d.len()).map(|i| (d.value(i).to_vec(), i as u32)).collect::<HashMap<_, _>>());
                let code_width = plan.dictionary.as_ref().map_or(0, |d| dict::code_width(d.len()));
                let stored = match plan.scale {
                    Some(scale) => ColumnSpec { id: spec.id, ty: ColumnType::Fixed { width: 8 }, sort: SortKind::Scaled(scale) },
                    None => spec.clone(),
                };
                let mut e = Encoder {
                    meta: ColumnMeta {
                        spec: stored,
                        codec: CodecChain::plain(s.compression),
                        dictionary: None,
                        marks: Vec::new(),
                        compressed_bytes: 0,
                        uncompressed_bytes: 0,
                        null_count: 0,
                        min: None,
                        max: None,
                        frame_dictionary: None,
                    },
                    sort: spec.sort,
                    codes,
                    code_width,
                    scale: plan.scale,
                    frame_rows: usize::MAX,
                    zstd: None,
                };
                let target = e.target(col)?;
                let frame_rows = frames::frame_rows(&target);
                e.meta.codec = choose_chain(&s, &setting, &target, e.meta.spec.sort, e.codes.is_some(), frame_rows);
                let samples: Vec<ColumnData> = frames::sample_granules(cuts.len())
                    .into_iter()
                    .filter(|&g| cuts[g] as usize > frame_rows)
                    .map(|g| target.slice(starts[g], starts[g] + cuts[g] as usize))
                    .collect();
                let framing = frames::plan(&samples, &e.meta.codec, frame_rows, expected, !s.fast);
                (e.frame_rows, e.zstd) = (framing.rows, framing.dictionary);
                let dict_block = plan.dictionary.as_ref().map(|d| granule::write_block(d, &CodecChain::plain(e.meta.codec.compression)));
                let lead = dict_block.map(|(block, raw_len, crc)| {
                    e.meta.dictionary = Some(DictBlock { mark: Mark { offset: 0, compressed_len: 0, uncompressed_len: raw_len, crc32: crc }, values: plan.dictionary.as_ref().map_or(0, |d| d.len() as u32), code_width });
                    block
                });
                Ok((e, lead))
            })
            .collect::<Result<_>>()?;
        for (mut e, lead) in chosen {
            if let (Some(block), Some(d)) = (lead, e.meta.dictionary.as_mut()) {
                let (raw_len, crc) = (d.mark.uncompressed_len, d.mark.crc32);
                let mark = self.emit(&block)?;
                e.meta.compressed_bytes += block.len() as u64;
                d.mark = Mark { uncompressed_len: raw_len, crc32: crc, ..mark };
            }
            if let Some(z) = &e.zstd {
                let bytes = z.bytes().to_vec();
                let mark = self.emit(&bytes)?;
                e.meta.compressed_bytes += bytes.len() as u64;
                e.meta.frame_dictionary = Some(Mark { uncompressed_len: bytes.len() as u32, crc32: crc32fast::hash(&bytes), ..mark });
            }
            self.encoders.push(e);
        }
        Ok(())
    }

    /// Writes what is left; returns the part's header (to put before the blocks the sink
    /// received), its metadata and the sink.
    pub fn finish(mut self) -> Result<(Vec<u8>, PartMeta, K)> {
        self.write_stripe(true)?;
        let columns: Vec<ColumnMeta> = self.encoders.into_iter().map(|e| e.meta).collect();
        let l = &self.layout;
        let subcolumns: Vec<Subcolumn> = l.subcolumns.iter().enumerate().map(|(i, sub)| Subcolumn { source: l.specs[sub.source].id, key: sub.key.clone(), column: l.specs.len() + i }).collect();
        let meta = PartMeta {
            version: oldest_version(&columns, &subcolumns),
            rows: self.granule_rows.iter().map(|&n| n as u64).sum(),
            granule_rows: self.granule_rows,
            columns,
            primary_key: self.layout.primary_key,
            primary_index: self.primary_index,
            subcolumns,
        };
        meta.validate(self.offset)?;
        Ok((header(&meta, 0)?, meta, self.sink))
    }
}

#[cfg(test)]
mod tests;
