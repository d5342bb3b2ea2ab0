//! The engine family's merging algorithms (ClickHouse's Replacing, Summing, Collapsing and
//! VersionedCollapsing sorted algorithms): what a merge, `optimize(final)` or a FINAL read
//! leaves of each group of rows with equal sort keys. Rows arrive in key order, a batch at
//! a time, in the merge's order (older parts first, insertion order within a part); a
//! group may continue into the next batch, so its rows wait in `pending` until a new key
//! starts.

use super::MergeKey;
use crate::column::{compare_values, sign_extend, ColumnData, SortKind};
use crate::error::{Error, Result};
use crate::numeric::{self, Numeric};
use std::cmp::Ordering;

/// A table's engine (the `engine` option), by batch column positions.
#[derive(Clone, Debug, PartialEq)]
pub enum TableEngine {
    /// One row per key: the highest `version` (the last on ties or without one). A
    /// winner whose `is_deleted` is set goes in final merges and FINAL reads.
    Replacing { version: Option<(usize, SortKind)>, is_deleted: Option<usize> },
    /// One row per key: the first row with `columns` summed; a row whose sums are all
    /// zero goes.
    Summing { columns: Vec<(usize, SumKind)> },
    /// Rows with sign 1 (state) and -1 (cancel) of a key cancel out.
    Collapsing { sign: usize },
    /// Within a key (whose last sort column is the version), each row cancels the latest
    /// unmatched row of the opposite sign.
    VersionedCollapsing { sign: usize },
    /// One row per key: `columns` combined (aggregate states merged, sums, min, max...),
    /// the others the first row's.
    Aggregating { columns: Vec<(usize, Combine)> },
}

/// How an aggregating table combines a column's values of one key (NULLs skipped; all
/// NULL gives NULL).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Combine {
    Sum(SumKind),
    Min(SortKind),
    Max(SortKind),
    /// The first non-NULL value.
    Any,
    /// A function the caller applies ([`Combiner`]): a Postgres `(state, state) -> state`.
    External,
}

/// Combines values the engine cannot (aggregate states, through Postgres functions).
pub trait Combiner {
    /// One value from the non-NULL values of `col` (a batch's column at `column`) at
    /// `rows` (two or more), stored as the column stores values.
    fn combine(&mut self, column: usize, col: &ColumnData, rows: &[u32]) -> Result<Vec<u8>>;
}

/// For engines without external combinations.
pub struct NoCombiner;

impl Combiner for NoCombiner {
    fn combine(&mut self, _: usize, _: &ColumnData, _: &[u32]) -> Result<Vec<u8>> {
        Err(Error::Invalid("no combiner for an aggregating column".into()))
    }
}

impl TableEngine {
    /// Columns whose merged values are new (sums): a merged part cannot take their
    /// dictionaries or scales from its inputs.
    pub fn computed_columns(&self) -> Vec<usize> {
        match self {
            TableEngine::Summing { columns } => columns.iter().map(|(c, _)| *c).collect(),
            TableEngine::Aggregating { columns } => columns.iter().map(|(c, _)| *c).collect(),
            _ => Vec::new(),
        }
    }
}

/// How a summed column adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SumKind {
    /// int2, int4, int8 (the width is the column's); a sum out of range is an error, as
    /// Postgres' `+` raises one.
    Int,
    /// float4, float8.
    Float,
    /// Postgres numeric's stored bytes.
    Numeric,
}

/// What the merged rows are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A merge (also optimize(final)): rows that still matter to rows arriving later
    /// stay: replacing's winners marked deleted (they hide older versions inserted
    /// after the merge) and collapsing's unmatched cancel rows.
    Merge,
    /// A FINAL read: what the user sees, without those.
    Read,
    /// optimize(final, cleanup): a merge of every part that also drops replacing's
    /// winners marked deleted (ClickHouse's OPTIMIZE ... FINAL CLEANUP).
    Cleanup,
}

/// Key equality for sort columns the engine cannot compare (collations, numeric).
pub trait KeyEq {
    /// For each `i` in `rows` (both `i - 1` and `i` non-NULL in `col`, the batch's key
    /// column at `column`): whether the two values differ.
    fn differs(&mut self, column: usize, col: &ColumnData, rows: &[usize]) -> Vec<bool>;
}

/// For keys without opaque columns.
pub struct BytesEq;

impl KeyEq for BytesEq {
    fn differs(&mut self, _: usize, col: &ColumnData, rows: &[usize]) -> Vec<bool> {
        rows.iter().map(|&i| col.value(i - 1) != col.value(i)).collect()
    }
}

/// Where key groups start in a stream of sorted batches.
pub struct GroupStarts {
    keys: Vec<MergeKey>,
    /// The previous batch's last row, key columns only.
    last: Option<Vec<ColumnData>>,
}

impl GroupStarts {
    pub fn new(keys: Vec<MergeKey>) -> Self {
        GroupStarts { keys, last: None }
    }

    /// Per row of `batch`: whether it starts a new key group.
    pub fn starts(&mut self, batch: &[ColumnData], eq: &mut dyn KeyEq) -> Vec<bool> {
        let rows = batch.first().map_or(0, ColumnData::len);
        if rows == 0 {
            return Vec::new();
        }
        let mut starts = vec![false; rows];
        match &self.last {
            None => starts[0] = true,
            // The first row against the previous batch's last: a two-row column per key.
            Some(last) => {
                for (k, prev) in self.keys.iter().zip(last) {
                    let mut pair = prev.clone();
                    pair.extend_range(&batch[k.column], 0, 1);
                    let mut differs = [false; 2];
                    mark_changes(k, &pair, &mut differs, eq);
                    if differs[1] {
                        starts[0] = true;
                        break;
                    }
                }
            }
        }
        for k in &self.keys {
            mark_changes(k, &batch[k.column], &mut starts, eq);
        }
        self.last = Some(self.keys.iter().map(|k| batch[k.column].slice(rows - 1, rows)).collect());
        starts
    }
}

/// Sets `differs[i]` (i >= 1, not set yet) where key column `col`'s row i differs from
/// row i - 1: NULLs equal each other, columns the engine cannot compare are asked of `eq`.
fn mark_changes(k: &MergeKey, col: &ColumnData, differs: &mut [bool], eq: &mut dyn KeyEq) {
    let mut ask = Vec::new();
    for i in 1..col.len() {
        if differs[i] {
            continue;
        }
        match (col.get(i - 1), col.get(i)) {
            (None, None) => {}
            (None, Some(_)) | (Some(_), None) => differs[i] = true,
            (Some(a), Some(b)) => match k.kind {
                SortKind::Opaque => ask.push(i),
                kind => differs[i] = compare_values(kind, a, b) != Ordering::Equal,
            },
        }
    }
    if !ask.is_empty() {
        for (i, d) in ask.iter().zip(eq.differs(k.column, col, &ask)) {
            differs[*i] = d;
        }
    }
}

/// Applies a table engine to sorted batches.
pub struct Collapser {
    engine: TableEngine,
    mode: Mode,
    /// The rows of the key group still open at the end of the last batch.
    pending: Option<Vec<ColumnData>>,
    /// Rows in and out, for the caller's checks.
    pub rows_in: u64,
    pub rows_out: u64,
}

impl Collapser {
    pub fn new(engine: TableEngine, mode: Mode) -> Self {
        Collapser { engine, mode, pending: None, rows_in: 0, rows_out: 0 }
    }

    pub fn engine(&self) -> &TableEngine {
        &self.engine
    }

    /// Takes a batch and where its key groups start (`GroupStarts`); returns the rows of
    /// the groups it completed (empty columns when none).
    pub fn push(&mut self, batch: Vec<ColumnData>, starts: &[bool], combiner: &mut dyn Combiner) -> Result<Vec<ColumnData>> {
        let rows = batch.first().map_or(0, ColumnData::len);
        self.rows_in += rows as u64;
        let mut out: Vec<ColumnData> = batch.iter().map(|c| ColumnData::new(c.column_type())).collect();
        if rows == 0 {
            return Ok(out);
        }
        let bounds: Vec<usize> = (0..rows).filter(|&i| starts[i]).chain(std::iter::once(rows)).collect();
        // The rows before the first start continue the pending group.
        let first = bounds[0];
        if first > 0 || !starts[0] {
            let p = self.pending.get_or_insert_with(|| batch.iter().map(|c| ColumnData::new(c.column_type())).collect());
            for (pc, c) in p.iter_mut().zip(&batch) {
                pc.extend_range(c, 0, first);
            }
        }
        if first < rows {
            // A new key starts: the pending group is complete.
            if let Some(p) = self.pending.take() {
                let n = p.first().map_or(0, ColumnData::len);
                self.emit(&p, &[(0, n)], &mut out, combiner)?;
            }
            let groups: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
            let (done, open) = groups.split_at(groups.len() - 1);
            self.emit(&batch, done, &mut out, combiner)?;
            let (s, e) = open[0];
            self.pending = Some(batch.iter().map(|c| c.slice(s, e)).collect());
        }
        self.rows_out += out.first().map_or(0, ColumnData::len) as u64;
        Ok(out)
    }

    /// The rows of the last group, once every batch is in.
    pub fn finish(&mut self, combiner: &mut dyn Combiner) -> Result<Option<Vec<ColumnData>>> {
        let Some(p) = self.pending.take() else { return Ok(None) };
        let n = p.first().map_or(0, ColumnData::len);
        let mut out: Vec<ColumnData> = p.iter().map(|c| ColumnData::new(c.column_type())).collect();
        self.emit(&p, &[(0, n)], &mut out, combiner)?;
        self.rows_out += out.first().map_or(0, ColumnData::len) as u64;
        Ok(Some(out))
    }

    /// Appends to `out` what each group (a row range of `cols`) leaves.
    fn emit(&self, cols: &[ColumnData], groups: &[(usize, usize)], out: &mut [ColumnData], combiner: &mut dyn Combiner) -> Result<()> {
        let mut keep: Vec<u32> = Vec::new();
        match &self.engine {
            TableEngine::Summing { columns } => return sum_groups(cols, groups, columns, out),
            TableEngine::Aggregating { columns } => return combine_groups(cols, groups, columns, out, combiner),
            TableEngine::Replacing { version, is_deleted } => {
                for &(s, e) in groups {
                    let mut best = s;
                    if let Some((v, kind)) = version {
                        for r in s + 1..e {
                            // Ties go to the later row; NULL versions are the lowest.
                            let newer = match (cols[*v].get(r), cols[*v].get(best)) {
                                (None, _) => false,
                                (Some(_), None) => true,
                                (Some(a), Some(b)) => compare_values(*kind, a, b) != Ordering::Less,
                            };
                            if newer {
                                best = r;
                            }
                        }
                    } else {
                        best = e - 1;
                    }
                    let deleted = is_deleted.is_some_and(|d| cols[d].get(best).is_some_and(|b| b.iter().any(|&x| x != 0)));
                    if !(deleted && matches!(self.mode, Mode::Read | Mode::Cleanup)) {
                        keep.push(best as u32);
                    }
                }
            }
            TableEngine::Collapsing { sign } => {
                for &(s, e) in groups {
                    let (mut pos, mut neg, mut first_neg, mut last_pos, mut last_positive) = (0usize, 0usize, None, None, false);
                    for r in s..e {
                        match sign_of(&cols[*sign], r)? {
                            1 => {
                                pos += 1;
                                last_pos = Some(r);
                                last_positive = true;
                            }
                            _ => {
                                neg += 1;
                                first_neg = first_neg.or(Some(r));
                                last_positive = false;
                            }
                        }
                    }
                    if !last_positive && pos == neg {
                        continue;
                    }
                    if pos <= neg && self.mode != Mode::Read {
                        keep.extend(first_neg.map(|r| r as u32));
                    }
                    if pos >= neg {
                        keep.extend(last_pos.map(|r| r as u32));
                    }
                }
            }
            TableEngine::VersionedCollapsing { sign } => {
                for &(s, e) in groups {
                    // The unmatched rows, all of one sign.
                    let mut stack: Vec<(u32, i64)> = Vec::new();
                    for r in s..e {
                        let sg = sign_of(&cols[*sign], r)?;
                        match stack.last() {
                            Some(&(_, top)) if top != sg => {
                                stack.pop();
                            }
                            _ => stack.push((r as u32, sg)),
                        }
                    }
                    // FINAL reads keep unmatched cancel rows too, as ClickHouse's do.
                    keep.extend(stack.iter().map(|(r, _)| *r));
                }
            }
        }
        for (o, c) in out.iter_mut().zip(cols) {
            o.append(&c.take(&keep));
        }
        Ok(())
    }
}

/// A collapsing table's sign: 1 or -1 (inserts check it; a part written otherwise is
/// refused rather than collapsed wrongly).
fn sign_of(col: &ColumnData, row: usize) -> Result<i64> {
    match col.get(row).map(sign_extend) {
        Some(s @ (1 | -1)) => Ok(s),
        other => Err(Error::Invalid(format!("sign {} where 1 or -1 was expected", other.map_or("NULL".to_string(), |s| s.to_string())))),
    }
}

/// Whether every value of a sign column is 1 or -1; the first row that is not, if any.
pub fn check_signs(col: &ColumnData) -> Option<usize> {
    (0..col.len()).find(|&r| sign_of(col, r).is_err())
}

/// Summing's output: each group's first row, its summed columns replaced by the sums;
/// groups whose sums are all zero left out.
fn sum_groups(cols: &[ColumnData], groups: &[(usize, usize)], summed: &[(usize, SumKind)], out: &mut [ColumnData]) -> Result<()> {
    let columns: Vec<usize> = summed.iter().map(|(c, _)| *c).collect();
    let all_zero = |values: &[Option<Vec<u8>>]| {
        !summed.is_empty() && values.iter().zip(summed).all(|(v, (_, kind))| v.as_deref().is_some_and(|v| is_zero(*kind, v)))
    };
    replace_per_group(cols, groups, &columns, out, |k, s, e| sum(&cols[summed[k].0], summed[k].1, s, e), |values| !all_zero(values))
}

/// Aggregating's output: each group's first row, its combined columns replaced.
fn combine_groups(cols: &[ColumnData], groups: &[(usize, usize)], combined: &[(usize, Combine)], out: &mut [ColumnData], combiner: &mut dyn Combiner) -> Result<()> {
    let columns: Vec<usize> = combined.iter().map(|(c, _)| *c).collect();
    let combine = |k: usize, s: usize, e: usize| -> Result<Option<Vec<u8>>> {
        let (c, how) = combined[k];
        let col = &cols[c];
        let present: Vec<u32> = (s..e).filter(|&r| !col.is_null(r)).map(|r| r as u32).collect();
        let pick = |better: Ordering, kind: SortKind| {
            let mut best = present[0] as usize;
            for &r in &present[1..] {
                if compare_values(kind, col.value(r as usize), col.value(best)) == better {
                    best = r as usize;
                }
            }
            col.value(best).to_vec()
        };
        Ok(match (how, present.len()) {
            (_, 0) => None,
            (Combine::Sum(kind), _) => sum(col, kind, s, e)?,
            (_, 1) | (Combine::Any, _) => Some(col.value(present[0] as usize).to_vec()),
            (Combine::Min(kind), _) => Some(pick(Ordering::Less, kind)),
            (Combine::Max(kind), _) => Some(pick(Ordering::Greater, kind)),
            (Combine::External, _) => Some(combiner.combine(c, col, &present)?),
        })
    };
    replace_per_group(cols, groups, &columns, out, combine, |_| true)
}

/// Appends to `out` one row per group (row range of `cols`) that `keep` accepts: the
/// group's first row with each of `columns` (k-th) replaced by `value(k, start, end)`
/// (None: NULL).
fn replace_per_group(
    cols: &[ColumnData],
    groups: &[(usize, usize)],
    columns: &[usize],
    out: &mut [ColumnData],
    mut value: impl FnMut(usize, usize, usize) -> Result<Option<Vec<u8>>>,
    keep: impl Fn(&[Option<Vec<u8>>]) -> bool,
) -> Result<()> {
    let mut replaced: Vec<ColumnData> = columns.iter().map(|c| ColumnData::new(cols[*c].column_type())).collect();
    let mut firsts = Vec::with_capacity(groups.len());
    for &(s, e) in groups {
        let values = (0..columns.len()).map(|k| value(k, s, e)).collect::<Result<Vec<_>>>()?;
        if !keep(&values) {
            continue;
        }
        firsts.push(s as u32);
        for (col, v) in replaced.iter_mut().zip(values) {
            match v {
                Some(v) => col.push(&v),
                None => col.push_null(),
            }
        }
    }
    for (ci, (o, c)) in out.iter_mut().zip(cols).enumerate() {
        match columns.iter().position(|x| *x == ci) {
            Some(k) => o.append(&replaced[k]),
            None => o.append(&c.take(&firsts)),
        }
    }
    Ok(())
}

fn is_zero(kind: SumKind, v: &[u8]) -> bool {
    match kind {
        SumKind::Int => sign_extend(v) == 0,
        SumKind::Float => crate::column::float_of(v) == 0.0,
        SumKind::Numeric => matches!(numeric::read(v), Some(Numeric::Finite { mantissa: 0, .. })),
    }
}

/// The sum of rows `s..e` of `col` (NULLs ignored; NULL when all are), stored as the
/// column stores values.
fn sum(col: &ColumnData, kind: SumKind, s: usize, e: usize) -> Result<Option<Vec<u8>>> {
    let values = (s..e).filter_map(|r| col.get(r));
    match kind {
        SumKind::Int => {
            let mut total: Option<i128> = None;
            let mut width = 8;
            for v in values {
                width = v.len();
                total = Some(total.unwrap_or(0) + sign_extend(v) as i128);
            }
            let Some(t) = total else { return Ok(None) };
            let (min, max, name) = match width {
                2 => (i16::MIN as i128, i16::MAX as i128, "smallint"),
                4 => (i32::MIN as i128, i32::MAX as i128, "integer"),
                _ => (i64::MIN as i128, i64::MAX as i128, "bigint"),
            };
            if t < min || t > max {
                return Err(Error::NumericRange(format!("the sum of a key's values is out of range for type {name}")));
            }
            Ok(Some((t as i64).to_le_bytes()[..width].to_vec()))
        }
        SumKind::Float => {
            let (mut total, mut any, mut width, mut inf_in) = (0f64, false, 8, false);
            for v in values {
                width = v.len();
                let f = crate::column::float_of(v);
                inf_in |= f.is_infinite();
                // float4 adds in single precision, as float4pl does.
                total = if width == 4 { (total as f32 + f as f32) as f64 } else { total + f };
                any = true;
            }
            if !any {
                return Ok(None);
            }
            if total.is_infinite() && !inf_in {
                return Err(Error::NumericRange("value out of range: overflow".into()));
            }
            Ok(Some(if width == 4 { (total as f32).to_le_bytes().to_vec() } else { total.to_le_bytes().to_vec() }))
        }
        SumKind::Numeric => sum_numeric(values),
    }
}

/// numeric's `+` over stored values: the result's display scale is the largest.
fn sum_numeric<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<Option<Vec<u8>>> {
    let (mut total, mut scale, mut any) = (0i128, 0u16, false);
    let (mut nan, mut pinf, mut ninf) = (false, false, false);
    let wide = || Error::Unsupported("summing numeric values of more than 38 digits".into());
    for v in values {
        any = true;
        match numeric::read(v) {
            Some(Numeric::Finite { mantissa, dscale }) => {
                if dscale > scale {
                    total = total.checked_mul(numeric::pow10((dscale - scale) as u32).ok_or_else(wide)?).ok_or_else(wide)?;
                    scale = dscale;
                }
                let m = mantissa.checked_mul(numeric::pow10((scale - dscale) as u32).ok_or_else(wide)?).ok_or_else(wide)?;
                total = total.checked_add(m).ok_or_else(wide)?;
            }
            Some(Numeric::NaN) => nan = true,
            Some(Numeric::PosInf) => pinf = true,
            Some(Numeric::NegInf) => ninf = true,
            Some(Numeric::Wide) => return Err(wide()),
            None => return Err(Error::corrupt("numeric value", "not a numeric")),
        }
    }
    if !any {
        return Ok(None);
    }
    Ok(Some(match (nan || (pinf && ninf), pinf, ninf) {
        (true, _, _) => numeric::special(Numeric::NaN),
        (_, true, _) => numeric::special(Numeric::PosInf),
        (_, _, true) => numeric::special(Numeric::NegInf),
        _ => {
            let mut out = Vec::new();
            if !numeric::encode_wide_into(total, scale, &mut out) {
                return Err(wide());
            }
            out
        }
    }))
}

#[cfg(test)]
#[path = "algorithm_tests.rs"]
mod tests;
