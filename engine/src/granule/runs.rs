//! Runs of a variable-length column in one block. A granule of a column its part is
//! sorted by (or a column fixed within runs of a sort key before it: a user's events)
//! repeats each value over a run of rows. Such a block stores each run's value once and a
//! bitmap of the rows where runs start: ZSTD has a fraction of the bytes to inflate, and
//! a reader may take the runs as codes into the block's own dictionary of run values
//! (one hash, one comparison per run, as for a part's dictionary) instead of a string
//! per row. Written only where it pays (two rows a run or more); NULL rows belong to no
//! run and never start one.
//!
//! Layout, after the block's validity: `[u32 runs][u32 length per run][value bytes]
//! [run-start bitmap, one bit per row]`.

use crate::column::{Bitmap, ColumnData, ColumnType, Values};
use crate::error::{Error, Result};

/// The rows where a run starts (non-NULL rows whose value differs from the previous
/// non-NULL row's), or None when runs would not pay.
fn run_starts(col: &ColumnData) -> Option<Vec<u32>> {
    let mut starts = Vec::new();
    let mut prev: Option<&[u8]> = None;
    let mut valid = 0usize;
    for i in 0..col.len() {
        let Some(v) = col.get(i) else { continue };
        valid += 1;
        if prev != Some(v) {
            starts.push(i as u32);
            prev = Some(v);
        }
    }
    (valid > 0 && starts.len() * 2 <= valid).then_some(starts)
}

/// Appends `col`'s values as runs to `out` when runs pay; false (nothing written) when not.
pub fn encode(col: &ColumnData, out: &mut Vec<u8>) -> bool {
    if col.column_type() != ColumnType::Var {
        return false;
    }
    let Some(starts) = run_starts(col) else { return false };
    out.extend_from_slice(&(starts.len() as u32).to_le_bytes());
    for &s in &starts {
        out.extend_from_slice(&(col.value(s as usize).len() as u32).to_le_bytes());
    }
    for &s in &starts {
        out.extend_from_slice(col.value(s as usize));
    }
    let mut bits = vec![0u8; col.len().div_ceil(8)];
    for &s in &starts {
        bits[s as usize / 8] |= 1 << (s % 8);
    }
    out.extend_from_slice(&bits);
    true
}

/// Each row's run (the run starts up to and including it, less one; a NULL row takes the
/// run before it, or 0) and the index of the last run, from the run-start bitmap.
fn row_runs(bits: &[u8], rows: usize, validity: Option<&Bitmap>) -> std::result::Result<(Vec<u32>, i64), &'static str> {
    let mut codes = Vec::with_capacity(rows);
    let Some(validity) = validity else {
        // No NULLs (the common case): the first row starts a run, then a sum of bits.
        if bits[0] & 1 == 0 {
            return Err("a value before the first run");
        }
        let mut starts = 0u32;
        codes.extend((0..rows).map(|r| {
            starts += (bits[r >> 3] >> (r & 7)) as u32 & 1;
            starts - 1
        }));
        return Ok((codes, starts as i64 - 1));
    };
    let mut run: i64 = -1;
    for r in 0..rows {
        let valid = validity.get(r);
        if bits[r >> 3] >> (r & 7) & 1 == 1 {
            if !valid {
                return Err("a run starts at a NULL row");
            }
            run += 1;
        } else if valid && run < 0 {
            return Err("a value before the first run");
        }
        codes.push(run.max(0) as u32);
    }
    Ok((codes, run))
}

/// A block's runs: each run's value (a dictionary local to the block, not sorted, values
/// may repeat) and each row's run (NULL rows: the run before them, or 0).
#[derive(Clone, Debug, PartialEq)]
pub struct Runs {
    pub values: ColumnData,
    pub codes: Vec<u32>,
    pub validity: Option<Bitmap>,
}

/// Decodes the runs layout (`rest`, after the validity) of a block of `rows` rows.
pub fn decode(rest: &[u8], rows: usize, validity: Option<Bitmap>) -> Result<Runs> {
    let bad = |d: &str| Error::corrupt("column block runs", d.to_string());
    let (count, rest) = rest.split_first_chunk::<4>().ok_or_else(|| bad("truncated run count"))?;
    let count = u32::from_le_bytes(*count) as usize;
    if count == 0 || count > rows {
        return Err(bad("run count out of range"));
    }
    let bitmap_len = rows.div_ceil(8);
    if rest.len() < count * 4 + bitmap_len {
        return Err(bad("truncated runs"));
    }
    let (lens, rest) = rest.split_at(count * 4);
    let (data, bits) = rest.split_at(rest.len() - bitmap_len);
    let mut offsets = Vec::with_capacity(count + 1);
    let mut total = 0u64;
    offsets.push(0u32);
    for l in lens.chunks_exact(4) {
        total += u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as u64;
        offsets.push(total.min(u32::MAX as u64) as u32);
    }
    if total != data.len() as u64 {
        return Err(bad("run lengths do not cover the values"));
    }
    let (codes, run) = row_runs(bits, rows, validity.as_ref()).map_err(bad)?;
    if run + 1 != count as i64 || bits[bitmap_len - 1] as u32 >> (rows - (bitmap_len - 1) * 8) != 0 {
        return Err(bad("run starts do not match the run count"));
    }
    // Damaged runs could claim more bytes than a block may hold: an error here, so that
    // expanding them never allocates that much.
    let longest = offsets.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0) as u64;
    if longest * rows as u64 > u32::MAX as u64 {
        let lens = |c: u32| (offsets[c as usize + 1] - offsets[c as usize]) as u64;
        let total: u64 = codes.iter().enumerate().filter(|&(r, _)| validity.as_ref().is_none_or(|v| v.get(r))).map(|(_, &c)| lens(c)).sum();
        if total > u32::MAX as u64 {
            return Err(bad("runs expand past a block's size"));
        }
    }
    let values = ColumnData { values: Values::Var { offsets, data: data.to_vec() }, validity: None };
    Ok(Runs { values, codes, validity })
}

impl Runs {
    /// The column, a value per row.
    pub fn expand(self) -> ColumnData {
        expand(&self.values, &self.codes, self.validity)
    }
}

/// A variable-length column from codes into `dict` (NULL rows where `validity` says),
/// whose expanded size is known to fit a block (checked when decoded).
pub fn expand(dict: &ColumnData, codes: &[u32], validity: Option<Bitmap>) -> ColumnData {
    let Values::Var { offsets: dict_offsets, data: dict_data } = &dict.values else {
        unreachable!("runs are of a variable-length column")
    };
    let valid = |r: usize| validity.as_ref().is_none_or(|v| v.get(r));
    let range = |c: u32| dict_offsets[c as usize] as usize..dict_offsets[c as usize + 1] as usize;
    let mut offsets = Vec::with_capacity(codes.len() + 1);
    offsets.push(0u32);
    let mut total = 0usize;
    for (r, &c) in codes.iter().enumerate() {
        if valid(r) {
            total += range(c).len();
        }
        offsets.push(total as u32);
    }
    let mut data = Vec::with_capacity(total);
    for (r, &c) in codes.iter().enumerate() {
        if valid(r) {
            data.extend_from_slice(&dict_data[range(c)]);
        }
    }
    ColumnData { values: Values::Var { offsets, data }, validity }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{CodecChain, Compression};
    use crate::granule::{decode_block, decode_block_runs, encode_block, Decoded, RUNS};
    use proptest::prelude::*;

    fn column(values: &[Option<Vec<u8>>]) -> ColumnData {
        let mut c = ColumnData::new(ColumnType::Var);
        for v in values {
            match v {
                Some(v) => c.push(v),
                None => c.push_null(),
            }
        }
        c
    }

    /// Values in runs (a sorted key's granule), some NULL.
    fn runs_of_values() -> impl Strategy<Value = Vec<Option<Vec<u8>>>> {
        proptest::collection::vec((proptest::option::weighted(0.9, proptest::collection::vec(0u8..3, 0..4)), 1usize..6), 0..80)
            .prop_map(|runs| runs.into_iter().flat_map(|(v, n)| std::iter::repeat_n(v, n)).collect())
    }

    proptest! {
        #[test]
        fn blocks_of_runs_read_back_as_written(values in runs_of_values()) {
            let col = column(&values);
            let chain = CodecChain::plain(Compression::None);
            let raw = encode_block(&col, &chain);
            prop_assert_eq!(&decode_block(&raw, ColumnType::Var, col.len(), &chain).unwrap(), &col);
            if let Decoded::Runs(r) = decode_block_runs(&raw, ColumnType::Var, col.len(), &chain, None).unwrap() {
                // Every row's code names its value; runs pay wherever they were written.
                prop_assert!(r.values.len() * 2 <= col.len());
                for (i, v) in values.iter().enumerate() {
                    if let Some(v) = v {
                        prop_assert_eq!(r.values.value(r.codes[i] as usize), &v[..]);
                    }
                }
                prop_assert_eq!(r.expand(), col);
            }
        }

        #[test]
        fn damaged_runs_are_an_error_not_a_panic(values in runs_of_values(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
            let col = column(&values);
            let chain = CodecChain::plain(Compression::None);
            let mut raw = encode_block(&col, &chain);
            let i = at.index(raw.len());
            if cut {
                raw.truncate(i);
            } else {
                raw[i] = byte;
            }
            // Any answer but a panic; an answer must be the right shape.
            if let Ok(c) = decode_block(&raw, ColumnType::Var, col.len(), &chain) {
                prop_assert_eq!(c.len(), col.len());
            }
        }
    }

    #[test]
    fn runs_are_written_only_where_they_pay() {
        let chain = CodecChain::plain(Compression::None);
        let sorted = column(&[b"a", b"a", b"b", b"b", b"b", b"c"].map(|v| Some(v.to_vec())));
        let distinct = column(&[b"a", b"b", b"c", b"d"].map(|v| Some(v.to_vec())));
        assert_eq!(encode_block(&sorted, &chain)[0] & RUNS, RUNS);
        assert_eq!(encode_block(&distinct, &chain)[0] & RUNS, 0);
        // Nor for an all-NULL column, nor for fixed-width values.
        assert_eq!(encode_block(&column(&[None, None, None]), &chain)[0] & RUNS, 0);
        let mut ints = ColumnData::new(ColumnType::Fixed { width: 4 });
        (0..8).for_each(|_| ints.push(&7i32.to_le_bytes()));
        assert_eq!(encode_block(&ints, &chain)[0] & RUNS, 0);
    }

    #[test]
    fn runs_that_would_expand_past_a_block_are_refused() {
        // One 1 MB value claimed by every one of 8192 rows: 8 GB expanded.
        let mut raw = vec![crate::granule::RUNS];
        raw.extend_from_slice(&1u32.to_le_bytes());
        raw.extend_from_slice(&(1u32 << 20).to_le_bytes());
        raw.extend(std::iter::repeat_n(b'x', 1 << 20));
        let mut bits = vec![0u8; 8192 / 8];
        bits[0] = 1;
        raw.extend_from_slice(&bits);
        let chain = CodecChain::plain(Compression::None);
        assert!(decode_block(&raw, ColumnType::Var, 8192, &chain).is_err());
        // The same with fewer rows is a fine block.
        let mut small = raw[..raw.len() - bits.len()].to_vec();
        small.push(1);
        assert_eq!(decode_block(&small, ColumnType::Var, 3, &chain).unwrap().len(), 3);
    }
}
