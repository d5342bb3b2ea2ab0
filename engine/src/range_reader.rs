//! Granules of a part -> filtered column batches (ClickHouse's MergeTreeRangeReader): the
//! one granule source of every reader (the scan that hands rows to Postgres, the
//! aggregation that folds them into groups). The filter runs like PREWHERE: one conjunct
//! at a time, cheapest columns first, each column decoded only for the rows still
//! selected; equalities on a prefix of the part's sort key are found by binary search.
//! A dictionary-encoded column comes out as codes into the part's dictionary, so no
//! string is rebuilt for filtering or grouping.

use crate::column::{Bitmap, ColumnData, ColumnType, SortKind};
use crate::granule::Decoded;
use crate::part::deleted::{DeletedRows, GranuleMask};
use crate::part::PartMeta;
use crate::predicate::{FilterColumn, Predicate};
use crate::{BlockStore, PartReader, Result};

/// A column a reader wants, by the id parts store it under, with its value for rows of
/// parts written before it existed (None: NULL). `scaled`: a numeric column the reader
/// takes as integers scaled by 10^s (8 bytes each) from parts that store it so.
#[derive(Clone, Debug)]
pub struct ReadColumn {
    pub id: u32,
    pub ty: ColumnType,
    pub missing: Option<Vec<u8>>,
    pub scaled: Option<u16>,
}

/// A column of a granule as read: values, or codes into a dictionary (the part's, for a
/// part that dictionary-encodes the column; the block's runs, for a block stored as runs).
pub enum Fetched<'a> {
    Values(ColumnData),
    Codes { codes: Vec<u32>, validity: Option<Bitmap>, dict: Dictionary<'a> },
}

/// The values codes index.
pub enum Dictionary<'a> {
    /// The part's dictionary: the same for every granule of the part, so a reader may
    /// keep what it derives per code for the whole part.
    Part(&'a ColumnData),
    /// A block's run values: this granule's alone (not sorted; a value may repeat).
    Block(ColumnData),
}

impl Dictionary<'_> {
    pub fn of_part(&self) -> bool {
        matches!(self, Dictionary::Part(_))
    }
}

impl std::ops::Deref for Dictionary<'_> {
    type Target = ColumnData;
    fn deref(&self) -> &ColumnData {
        match self {
            Dictionary::Part(d) => d,
            Dictionary::Block(d) => d,
        }
    }
}

impl Fetched<'_> {
    pub fn filter_column(&self) -> FilterColumn<'_> {
        match self {
            Fetched::Values(c) => FilterColumn::Values(c),
            Fetched::Codes { codes, validity, dict } => FilterColumn::Dict { codes, validity: validity.as_ref(), dict },
        }
    }

    /// Whether row `r` is NULL (its validity alone, no value looked at).
    #[inline]
    pub fn is_null(&self, r: u32) -> bool {
        match self {
            Fetched::Values(c) => c.is_null(r as usize),
            Fetched::Codes { validity, .. } => validity.as_ref().is_some_and(|v| !v.get(r as usize)),
        }
    }

    /// Row `r`'s value, None for NULL.
    pub fn get(&self, r: u32) -> Option<&[u8]> {
        let r = r as usize;
        match self {
            Fetched::Values(c) => c.get(r),
            Fetched::Codes { codes, validity, dict } => {
                if validity.as_ref().is_some_and(|v| !v.get(r)) {
                    None
                } else {
                    Some(dict.value(codes[r] as usize))
                }
            }
        }
    }

    /// The values themselves (a dictionary column's codes looked up).
    pub fn into_values(self) -> ColumnData {
        match self {
            Fetched::Values(c) => c,
            // Runs were checked to expand within a block's size when decoded.
            Fetched::Codes { codes, validity, dict: Dictionary::Block(dict) } => crate::granule::runs::expand(&dict, &codes, validity),
            Fetched::Codes { codes, validity, dict } => {
                let mut out = ColumnData::new(dict.column_type());
                for (i, &c) in codes.iter().enumerate() {
                    if validity.as_ref().is_some_and(|v| !v.get(i)) {
                        out.push_null();
                    } else {
                        out.push(dict.value(c as usize));
                    }
                }
                out
            }
        }
    }
}

/// The predicate's top-level conjuncts, each with the reader columns it reads.
pub fn conjuncts_of(predicate: Option<&Predicate>) -> Vec<(Predicate, Vec<usize>)> {
    predicate
        .map(|p| {
            p.conjuncts()
                .into_iter()
                .map(|c| {
                    let mut cols = Vec::new();
                    c.columns(&mut cols);
                    (c.clone(), cols)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Where each reader column is in one part, and the reader columns the part's rows are
/// sorted by (its primary key, as far as the reader has the columns).
pub struct PartColumns {
    pub map: Vec<Option<usize>>,
    pub sort_key: Vec<(usize, SortKind)>,
    /// The part's deleted rows, which no read returns.
    pub deleted: Option<GranuleMask>,
}

impl PartColumns {
    pub fn new(meta: &PartMeta, cols: &[ReadColumn]) -> PartColumns {
        let map: Vec<Option<usize>> = cols.iter().map(|c| meta.columns.iter().position(|m| m.spec.id == c.id)).collect();
        let sort_key = meta.primary_key.iter().map_while(|&pc| map.iter().position(|&m| m == Some(pc)).map(|ci| (ci, meta.columns[pc].spec.sort))).collect();
        PartColumns { map, sort_key, deleted: None }
    }

    /// Leaves the rows `deleted` names out of every read (nothing when it is empty).
    pub fn with_deleted(mut self, meta: &PartMeta, deleted: Option<std::sync::Arc<DeletedRows>>) -> Self {
        self.set_deleted(meta, deleted);
        self
    }

    pub fn set_deleted(&mut self, meta: &PartMeta, deleted: Option<std::sync::Arc<DeletedRows>>) {
        self.deleted = deleted.filter(|d| !d.is_empty()).map(|deleted| GranuleMask { deleted, starts: meta.granule_starts() });
    }
}

/// Column `ci` of granule `g` (at least the `wanted` rows): dictionary codes when the
/// part has them, else values; its missing value when the part predates it.
pub fn fetch<'a, S: BlockStore>(
    reader: &'a PartReader<S>,
    pc: &PartColumns,
    cols: &[ReadColumn],
    ci: usize,
    g: usize,
    wanted: Option<&[u32]>,
) -> Result<Fetched<'a>> {
    let rows = reader.meta().granule_rows[g] as usize;
    match pc.map[ci] {
        Some(col) => {
            if let Some(scale) = cols[ci].scaled {
                if let Some(ints) = reader.read_granule_scaled(col, g, scale, wanted)? {
                    return Ok(Fetched::Values(ints));
                }
            }
            fetch_part_column(reader, col, g, wanted)
        }
        None => Ok(Fetched::Values(ColumnData::filled(cols[ci].ty, cols[ci].missing.as_deref(), rows))),
    }
}

/// The part's column `col` (by its index in the part: a JSON subcolumn, say) of granule
/// `g`, as `fetch` gives it.
pub fn fetch_part_column<'a, S: BlockStore>(reader: &'a PartReader<S>, col: usize, g: usize, wanted: Option<&[u32]>) -> Result<Fetched<'a>> {
    if let Some((codes, validity)) = reader.read_granule_codes(col, g, wanted)? {
        let dict = reader.dictionary(col)?.ok_or_else(|| crate::Error::corrupt("part", "codes of a column without a dictionary"))?;
        return Ok(Fetched::Codes { codes, validity, dict: Dictionary::Part(dict) });
    }
    Ok(match reader.read_granule_decoded(col, g, wanted)? {
        Decoded::Values(c) => Fetched::Values(c),
        Decoded::Runs(r) => Fetched::Codes { codes: r.codes, validity: r.validity, dict: Dictionary::Block(r.values) },
    })
}

/// Evaluates the conjuncts over `rows` rows, cheapest columns first (`cost` of a reader
/// column), decoding each column (`fetch(ci, selected rows)`) only for the rows still
/// selected; the columns fetched stay in `pre`. `sort_key` lists reader columns the
/// rows are sorted by: equalities on a prefix of it select one run, by binary search.
/// Returns the passing rows.
pub fn filter<'a>(
    conjuncts: &[(Predicate, Vec<usize>)],
    pre: &mut [Option<Fetched<'a>>],
    rows: usize,
    sort_key: &[(usize, SortKind)],
    cost: impl Fn(usize) -> u64,
    fetch: &mut impl FnMut(usize, Option<&[u32]>) -> Result<Fetched<'a>>,
) -> Result<Vec<u32>> {
    let mut done = vec![false; conjuncts.len()];
    let mut selection: Option<Vec<u32>> = None;
    let mut range = 0..rows;
    for &(ci, kind) in sort_key {
        let equality = (0..conjuncts.len()).find_map(|k| match conjuncts[k].0.as_equality() {
            Some((c, kd, value)) if !done[k] && c == ci && kd == kind => Some((k, value)),
            _ => None,
        });
        let Some((k, value)) = equality else { break };
        if pre[ci].is_none() {
            pre[ci] = Some(fetch(ci, selection.as_deref())?);
        }
        range = pre[ci].as_ref().map_or(0..0, |f| f.filter_column().equal_range(range, kind, value));
        done[k] = true;
        if range.is_empty() {
            return Ok(Vec::new());
        }
        selection = Some((range.start as u32..range.end as u32).collect());
    }
    let mut order: Vec<usize> = (0..conjuncts.len()).filter(|&k| !done[k]).collect();
    order.sort_by_key(|&k| conjuncts[k].1.iter().map(|&ci| cost(ci)).sum::<u64>());
    for k in order {
        let (conj, cols) = &conjuncts[k];
        for &ci in cols {
            if pre[ci].is_none() {
                pre[ci] = Some(fetch(ci, selection.as_deref())?);
            }
        }
        let refs: Vec<Option<FilterColumn>> = pre.iter().map(|c| c.as_ref().map(Fetched::filter_column)).collect();
        // Only selected rows are evaluated: the others may not have been decoded.
        let kept = match &selection {
            None => conj.evaluate_rows(&refs, &(0..rows as u32).collect::<Vec<_>>()),
            Some(s) => conj.evaluate_rows(&refs, s),
        };
        if kept.is_empty() {
            return Ok(kept);
        }
        selection = Some(kept);
    }
    Ok(selection.unwrap_or_else(|| (0..rows as u32).collect()))
}

/// One granule after the filter: the fetched columns (the filter's, and those `needed`,
/// decoded at least for the selected rows) and the selected rows.
pub struct GranuleBatch<'a> {
    pub columns: Vec<Option<Fetched<'a>>>,
    pub selection: Vec<u32>,
    pub rows: usize,
}

/// Reads granule `g` of a part: filters it by `conjuncts`, then fetches the `needed`
/// reader columns for the rows that pass. None when no row passes. Deleted rows never
/// pass.
pub fn read_granule<'a, S: BlockStore>(
    reader: &'a PartReader<S>,
    pc: &PartColumns,
    cols: &[ReadColumn],
    conjuncts: &[(Predicate, Vec<usize>)],
    needed: &[usize],
    g: usize,
) -> Result<Option<GranuleBatch<'a>>> {
    let meta = reader.meta();
    let rows = meta.granule_rows[g] as usize;
    if pc.deleted.as_ref().is_some_and(|d| d.all_deleted(g, rows)) {
        return Ok(None);
    }
    let mut columns: Vec<Option<Fetched<'a>>> = (0..cols.len()).map(|_| None).collect();
    // A column's cost is its compressed size in this part; one the part lacks is free.
    let cost = |ci: usize| pc.map[ci].map_or(0, |c| meta.columns[c].compressed_bytes);
    let mut selection = filter(conjuncts, &mut columns, rows, &pc.sort_key, cost, &mut |ci, wanted| fetch(reader, pc, cols, ci, g, wanted))?;
    if let Some(d) = &pc.deleted {
        d.retain(g, &mut selection);
    }
    if selection.is_empty() {
        return Ok(None);
    }
    for &ci in needed {
        if columns[ci].is_none() {
            columns[ci] = Some(fetch(reader, pc, cols, ci, g, Some(&selection))?);
        }
    }
    Ok(Some(GranuleBatch { columns, selection, rows }))
}
