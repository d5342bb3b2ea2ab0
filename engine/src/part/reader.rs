//! Reading a part: its header and metadata (any format version written so far), its
//! dictionaries (read once, shared by the readers of one part), its granules' blocks.

use super::legacy::{v2, v3};
use super::*;
use bincode::Options as _;

/// What opening a part learns: its metadata and, once read, its dictionaries. Parts never
/// change in place, so readers of the same part may share one (a cache keeps them across
/// queries); `meta_crc` tells a stale entry from the part now at the same place.
pub struct PartHandle {
    meta: PartMeta,
    meta_crc: u32,
    data_start: u64,
    /// Decoded dictionaries, read on first use.
    dicts: Vec<OnceLock<ColumnData>>,
    /// Trained ZSTD dictionaries of framed columns, read on first use.
    frame_dicts: Vec<OnceLock<ZstdDictionary>>,
}

impl PartHandle {
    pub fn meta(&self) -> &PartMeta {
        &self.meta
    }
    /// Bytes of metadata, for a cache's accounting (dictionaries excluded).
    pub fn meta_bytes(&self) -> u64 {
        self.data_start
    }
}

/// Reads a part through a [`BlockStore`].
pub struct PartReader<S: BlockStore> {
    store: S,
    handle: Arc<PartHandle>,
}

#[cfg(test)]
impl PartReader<crate::store::VecStore> {
    pub(crate) fn store_bytes(&self) -> &[u8] {
        &self.store.0
    }
}

impl<S: BlockStore> PartReader<S> {
    pub fn open(store: S) -> Result<Self> {
        Self::open_cached(store, None)
    }

    /// Opens a part reusing `cached` when it describes the very part in `store` (same
    /// metadata checksum); only the header is read then.
    pub fn open_cached(store: S, cached: Option<Arc<PartHandle>>) -> Result<Self> {
        let header = store.read(0, HEADER_LEN)?;
        if &header[..4] != MAGIC {
            return Err(Error::corrupt("part header", "bad magic"));
        }
        let meta_len = u32::from_le_bytes(header[4..8].try_into().unwrap_or_default()) as usize;
        let meta_crc = u32::from_le_bytes(header[8..12].try_into().unwrap_or_default());
        let data_start = (HEADER_LEN + meta_len) as u64;
        if let Some(h) = cached.filter(|h| h.meta_crc == meta_crc && h.data_start == data_start) {
            return Ok(PartReader { store, handle: h });
        }
        if data_start > store.len() {
            return Err(Error::corrupt("part header", "metadata length past the end of the part"));
        }
        let meta_bytes = store.read(HEADER_LEN as u64, meta_len)?;
        if crc32fast::hash(&meta_bytes) != meta_crc {
            return Err(Error::corrupt("part metadata", "checksum mismatch"));
        }
        let options = bincode::DefaultOptions::new().with_fixint_encoding().allow_trailing_bytes().with_limit(meta_len as u64);
        let version = meta_bytes.get(..2).map_or(0, |v| u16::from_le_bytes([v[0], v[1]]));
        let meta: PartMeta = if version == 2 {
            options.deserialize::<v2::PartMeta>(&meta_bytes).map(Into::into)
        } else if version == 3 {
            options.deserialize::<v3::PartMeta>(&meta_bytes).map(Into::into)
        } else {
            options.deserialize(&meta_bytes)
        }
        .map_err(|e| Error::corrupt("part metadata", e.to_string()))?;
        meta.validate(store.len() - data_start)?;
        let dicts = meta.columns.iter().map(|_| OnceLock::new()).collect();
        let frame_dicts = meta.columns.iter().map(|_| OnceLock::new()).collect();
        Ok(PartReader { store, handle: Arc::new(PartHandle { meta, meta_crc, data_start, dicts, frame_dicts }) })
    }

    /// The store the part is read from.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The shareable state of this part, for a cache.
    pub fn handle(&self) -> Arc<PartHandle> {
        self.handle.clone()
    }

    /// A reader of the same part over another store (a [`crate::store::PrefetchStore`]
    /// of its bytes), sharing the metadata and dictionaries already read.
    pub fn with_store<T: BlockStore>(&self, store: T) -> PartReader<T> {
        PartReader { store, handle: self.handle.clone() }
    }

    /// The byte ranges (offset, length) a reader needs to decode column `col` of the
    /// granules `granules`: their blocks, and the column's dictionary and trained frame
    /// dictionary (read once per part; prefetch them with the first granules).
    pub fn byte_ranges(&self, col: usize, granules: &[usize], dictionaries: bool) -> Result<Vec<(u64, usize)>> {
        let c = self.meta().columns.get(col).ok_or_else(|| Error::Invalid(format!("no column {col} in part")))?;
        let at = |m: &Mark| (self.handle.data_start + m.offset, m.compressed_len as usize);
        let mut out = Vec::with_capacity(granules.len() + 2);
        for &g in granules {
            let mark = c.marks.get(g).ok_or_else(|| Error::Invalid(format!("no granule {g} in part")))?;
            if mark.compressed_len > 0 {
                out.push(at(mark));
            }
        }
        if dictionaries {
            out.extend(c.dictionary.as_ref().map(|d| at(&d.mark)));
            out.extend(c.frame_dictionary.as_ref().map(at));
        }
        Ok(out)
    }

    pub fn meta(&self) -> &PartMeta {
        &self.handle.meta
    }

    fn block(&self, mark: &Mark) -> Result<Vec<u8>> {
        self.store.read(self.handle.data_start + mark.offset, mark.compressed_len as usize)
    }

    /// How many of column `col`'s granule blocks are cut into frames (see [`granule::frames`]).
    pub fn framed_granules(&self, col: usize) -> Result<usize> {
        let c = self.meta().columns.get(col).ok_or_else(|| Error::Invalid(format!("no column {col} in part")))?;
        let mut framed = 0;
        for mark in c.marks.iter().filter(|m| m.compressed_len > 0) {
            let tag = self.store.read(self.handle.data_start + mark.offset, 1)?;
            framed += usize::from(tag.first() == Some(&granule::frames::TAG_FRAMED));
        }
        Ok(framed)
    }

    /// The trained ZSTD dictionary of column `col`'s frames, if it has one.
    pub fn frame_dictionary(&self, col: usize) -> Result<Option<&ZstdDictionary>> {
        let Some(mark) = &self.handle.meta.columns[col].frame_dictionary else { return Ok(None) };
        if let Some(d) = self.handle.frame_dicts[col].get() {
            return Ok(Some(d));
        }
        let bytes = self.block(mark)?;
        if crc32fast::hash(&bytes) != mark.crc32 || bytes.len() != mark.compressed_len as usize {
            return Err(Error::corrupt("zstd dictionary", "checksum mismatch"));
        }
        let d = ZstdDictionary::from_bytes(bytes)?;
        Ok(Some(self.handle.frame_dicts[col].get_or_init(|| d)))
    }

    /// The dictionary of column `col`, if it has one.
    pub fn dictionary(&self, col: usize) -> Result<Option<&ColumnData>> {
        let c = &self.handle.meta.columns[col];
        let Some(d) = &c.dictionary else { return Ok(None) };
        if let Some(v) = self.handle.dicts[col].get() {
            return Ok(Some(v));
        }
        let values = granule::read_block(&self.block(&d.mark)?, &d.mark, ColumnType::Var, d.values as usize, &CodecChain::plain(c.codec.compression))?;
        Ok(Some(self.handle.dicts[col].get_or_init(|| values)))
    }

    /// Decodes column `col` (index into the part's columns) of granule `g`.
    pub fn read_granule(&self, col: usize, g: usize) -> Result<ColumnData> {
        self.read_granule_rows(col, g, None)
    }

    /// Decodes column `col` of granule `g` for at least the rows in `wanted` (sorted;
    /// `None` = all). Frames holding none of them are skipped; their rows read as NULL.
    pub fn read_granule_rows(&self, col: usize, g: usize, wanted: Option<&[u32]>) -> Result<ColumnData> {
        let (c, block) = self.granule_block(col, g, wanted)?;
        match (&c.dictionary, c.spec.sort) {
            (Some(_), _) => dict::decode(self.dictionary(col)?.expect("dictionary column"), &block),
            (None, SortKind::Scaled(scale)) => Ok(scaled::unscale(&block, scale)),
            (None, _) => Ok(block),
        }
    }

    /// Like [`read_granule_rows`](Self::read_granule_rows) for a numeric column stored
    /// as integers scaled by 10^`scale` in this part: the integers (8 bytes each).
    /// None when the part stores the column otherwise.
    pub fn read_granule_scaled(&self, col: usize, g: usize, scale: u16, wanted: Option<&[u32]>) -> Result<Option<ColumnData>> {
        if self.meta().columns.get(col).is_none_or(|c| c.spec.sort != SortKind::Scaled(scale)) {
            return Ok(None);
        }
        Ok(Some(self.granule_block(col, g, wanted)?.1))
    }

    /// Like [`read_granule_rows`](Self::read_granule_rows), leaving a block stored as
    /// runs as its runs (codes into the block's own run values).
    pub fn read_granule_decoded(&self, col: usize, g: usize, wanted: Option<&[u32]>) -> Result<granule::Decoded> {
        let c = self.meta().columns.get(col).ok_or_else(|| Error::Invalid(format!("no column {col} in part")))?;
        if c.dictionary.is_some() || c.spec.ty != ColumnType::Var {
            return self.read_granule_rows(col, g, wanted).map(granule::Decoded::Values);
        }
        Ok(self.granule_block_decoded(col, g, wanted)?.1)
    }

    /// Column `col`'s block of granule `g`, decoded (at least the `wanted` rows): its
    /// values, or for a dictionary-encoded column its codes.
    fn granule_block(&self, col: usize, g: usize, wanted: Option<&[u32]>) -> Result<(&ColumnMeta, ColumnData)> {
        let (c, block) = self.granule_block_decoded(col, g, wanted)?;
        Ok((c, block.into_values()))
    }

    fn granule_block_decoded(&self, col: usize, g: usize, wanted: Option<&[u32]>) -> Result<(&ColumnMeta, granule::Decoded)> {
        let c = self.meta().columns.get(col).ok_or_else(|| Error::Invalid(format!("no column {col} in part")))?;
        let mark = c.marks.get(g).ok_or_else(|| Error::Invalid(format!("no granule {g} in part")))?;
        let rows = self.meta().granule_rows[g] as usize;
        let ty = c.dictionary.as_ref().map_or(c.spec.ty, |d| ColumnType::Fixed { width: d.code_width });
        let start = self.handle.data_start + mark.offset;
        let fetch = |at: usize, len: usize| self.store.read(start + at as u64, len);
        let dict = self.frame_dictionary(col)?;
        Ok((c, granule::read_rows_decoded(fetch, mark, ty, rows, &c.codec, wanted, dict)?))
    }

    /// Column `col` of granule `g` (at least its `wanted` rows) as dictionary codes (indexes
    /// into [`dictionary`](Self::dictionary)) plus validity, when the column is
    /// dictionary-encoded in this part; `None` otherwise. Readers that only hand values on
    /// (a scan's output) map codes to values prepared once per part instead of rebuilding
    /// every string.
    pub fn read_granule_codes(&self, col: usize, g: usize, wanted: Option<&[u32]>) -> Result<Option<(Vec<u32>, Option<crate::Bitmap>)>> {
        if self.meta().columns.get(col).is_some_and(|c| c.dictionary.is_none()) {
            return Ok(None);
        }
        let (_, codes) = self.granule_block(col, g, wanted)?;
        let rows = codes.len();
        let n = self.dictionary(col)?.map_or(0, |d| d.len());
        let crate::column::Values::Fixed { width, data } = &codes.values else {
            return Err(Error::corrupt("dictionary codes", "not fixed-width"));
        };
        let out: Vec<u32> = match *width {
            1 => data.iter().map(|&b| b as u32).collect(),
            2 => data.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]) as u32).collect(),
            4 => data.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            w => return Err(Error::corrupt("dictionary codes", format!("code width {w}"))),
        };
        // NULL rows carry code 0, valid whenever the dictionary is not empty; an empty one
        // (an all-NULL column) must have no value rows at all.
        let max = out.iter().copied().max().unwrap_or(0) as usize;
        if (n == 0 && codes.validity.as_ref().map_or(rows, |v| v.count_set()) > 0) || (n > 0 && max >= n) {
            return Err(Error::corrupt("dictionary codes", "code past the end of the dictionary"));
        }
        Ok(Some((out, codes.validity)))
    }

    /// Reads every block and checks it, and that the primary index is ordered and matches
    /// each granule's first row; returns one message per problem.
    pub fn verify(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let m = self.meta();
        for (k, &ci) in m.primary_key.iter().enumerate() {
            let Some(c) = m.columns.get(ci) else {
                problems.push(format!("primary key refers to missing column {ci}"));
                continue;
            };
            let mut first_rows = Vec::with_capacity(m.granules());
            for g in 0..m.granules() {
                match self.read_granule(ci, g) {
                    Ok(col) => first_rows.push(col.get(0).map(<[u8]>::to_vec)),
                    Err(_) => first_rows.push(None), // reported below with its block
                }
                if m.primary_index.get(g).and_then(|e| e.get(k)) != first_rows.last() {
                    problems.push(format!("column {} granule {g}: primary index entry differs from the granule's first row", c.spec.id));
                }
            }
            // Only the leading key column is ordered across granules by itself.
            if k == 0 && c.spec.sort != SortKind::Opaque {
                for (g, w) in m.primary_index.windows(2).enumerate() {
                    let ordered = match (&w[0][0], &w[1][0]) {
                        (Some(a), Some(b)) => compare_values(c.spec.sort, a, b).is_le(),
                        (None, Some(_)) => false,
                        _ => true,
                    };
                    if !ordered {
                        problems.push(format!("primary index out of order between granules {g} and {}", g + 1));
                    }
                }
            }
        }
        for (ci, c) in self.meta().columns.iter().enumerate() {
            if let Err(e) = self.dictionary(ci) {
                problems.push(format!("column {} dictionary: {e}", c.spec.id));
                continue;
            }
            for g in 0..self.meta().granules() {
                if let Err(e) = self.read_granule(ci, g) {
                    problems.push(format!("column {} granule {g}: {e}", c.spec.id));
                }
            }
        }
        problems
    }
}
