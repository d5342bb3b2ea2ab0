//! Filters the engine evaluates itself: comparisons of a column with constants, IN lists,
//! IS [NOT] NULL and AND/OR/NOT of those. Values are encoded like the column's own bytes
//! (integers compare numerically across widths, floats as f64, bytes lexicographically).
//!
//! Two uses: [`Predicate::evaluate`] on decoded batches (SQL three-valued logic: a row
//! passes only when the predicate is TRUE), and [`Predicate::may_match`] on value ranges
//! (part min/max, primary-index spans) to skip parts and granules before reading them.

use crate::column::{compare_values, Bitmap, ColumnData, SortKind};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

mod like;
pub use like::like;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// Whether a value comparing `o` to the constant satisfies the operator.
    pub fn holds(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Ne => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
        }
    }
}

/// `col` indexes the caller's column list (the scan's filter columns).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Predicate {
    Cmp { col: usize, kind: SortKind, op: CmpOp, value: Vec<u8> },
    /// `col IN (values)`; `has_null`: the list holds a NULL (non-matches are then NULL).
    In { col: usize, kind: SortKind, values: Vec<Vec<u8>>, has_null: bool },
    IsNull { col: usize, negated: bool },
    /// SQL LIKE on UTF-8 text: `%` any sequence, `_` one character, `\` escapes.
    /// `ascii_ci`: ILIKE as Postgres does it under a "C" ctype (ASCII letters fold).
    Like { col: usize, pattern: Vec<u8>, negated: bool, ascii_ci: bool },
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
    Not(Box<Predicate>),
    /// A constant outcome (e.g. a comparison with NULL): `None` is SQL NULL.
    Const(Option<bool>),
}

/// Three-valued results, one byte per row.
const F: u8 = 0;
const T: u8 = 1;
const N: u8 = 2;

/// A filter column as a scan holds it: decoded values, or a dictionary-encoded granule's
/// codes over the part's dictionary. Atoms on codes are evaluated once per distinct code
/// seen, never rebuilding a string per row.
#[derive(Clone, Copy)]
pub enum FilterColumn<'a> {
    Values(&'a ColumnData),
    Dict { codes: &'a [u32], validity: Option<&'a Bitmap>, dict: &'a ColumnData },
}

impl FilterColumn<'_> {
    /// Row `i`'s value, `None` for NULL.
    fn value_at(&self, i: usize) -> Option<&[u8]> {
        match self {
            FilterColumn::Values(c) => c.get(i),
            FilterColumn::Dict { codes, dict, .. } => (!self.is_null(i)).then(|| dict.value(codes[i] as usize)),
        }
    }

    /// The rows of `range` holding `value`, for a column sorted ascending over `range` by
    /// `kind` with NULLs last (a part's leading sort key, or the next one where those
    /// before it are fixed): two binary searches instead of a comparison per row.
    pub fn equal_range(&self, range: std::ops::Range<usize>, kind: SortKind, value: &[u8]) -> std::ops::Range<usize> {
        // Position of the first row in `range` for which `before(row)` is false.
        let search = |before: &dyn Fn(Ordering) -> bool| {
            let (mut lo, mut hi) = (range.start, range.end);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                let ord = match self.value_at(mid) {
                    None => Ordering::Greater, // NULLs sort last
                    Some(v) => compare_values(kind, v, value),
                };
                if before(ord) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        let start = search(&|o| o == Ordering::Less);
        let end = search(&|o| o != Ordering::Greater);
        start..end.max(start)
    }

    fn is_null(&self, i: usize) -> bool {
        match self {
            FilterColumn::Values(c) => c.is_null(i),
            FilterColumn::Dict { validity, .. } => validity.is_some_and(|v| !v.get(i)),
        }
    }

    /// `f` of the value of each row in `rows` (N for NULL rows), memoized per code for
    /// dictionaries.
    fn map_values(&self, rows: &[u32], mut f: impl FnMut(&[u8]) -> u8) -> Vec<u8> {
        match self {
            FilterColumn::Values(c) => rows.iter().map(|&i| c.get(i as usize).map_or(N, &mut f)).collect(),
            FilterColumn::Dict { codes, validity, dict } => {
                const UNKNOWN: u8 = u8::MAX;
                let mut memo = vec![UNKNOWN; dict.len()];
                let mut out = Vec::with_capacity(rows.len());
                // The hot loop of a filter on a key column: one lookup per row, the
                // function once per distinct code.
                for &i in rows {
                    let i = i as usize;
                    if validity.is_some_and(|v| !v.get(i)) {
                        out.push(N);
                        continue;
                    }
                    let c = codes[i] as usize;
                    let mut m = memo[c];
                    if m == UNKNOWN {
                        m = f(dict.value(c));
                        memo[c] = m;
                    }
                    out.push(m);
                }
                out
            }
        }
    }
}

/// `column op x` over the rows of a plain integer column (dates and times are integers):
/// the hot filter of range scans (TPC-H's ship dates), read at the column's width with
/// the constant decoded once. None for a column of another layout.
fn compare_ints(c: &ColumnData, rows: &[u32], op: CmpOp, x: i64) -> Option<Vec<u8>> {
    let crate::column::Values::Fixed { width, data } = &c.values else { return None };
    Some(match *width {
        8 => compare_each(c, rows, op, x, |r| i64::from_le_bytes(data[r * 8..r * 8 + 8].try_into().unwrap_or([0; 8]))),
        4 => compare_each(c, rows, op, x, |r| i32::from_le_bytes(data[r * 4..r * 4 + 4].try_into().unwrap_or([0; 4])) as i64),
        2 => compare_each(c, rows, op, x, |r| i16::from_le_bytes([data[r * 2], data[r * 2 + 1]]) as i64),
        _ => return None,
    })
}

#[inline(always)]
fn compare_each(c: &ColumnData, rows: &[u32], op: CmpOp, x: i64, get: impl Fn(usize) -> i64) -> Vec<u8> {
    rows.iter().map(|&r| if c.is_null(r as usize) { N } else { op.holds(get(r as usize).cmp(&x)) as u8 }).collect()
}

/// What is known of one column's values over some rows.
#[derive(Clone, Debug, Default)]
pub struct ValueRange {
    /// Smallest and largest non-NULL value; `None` = unknown (unbounded).
    pub min: Option<Vec<u8>>,
    pub max: Option<Vec<u8>>,
    pub may_have_null: bool,
    pub may_have_value: bool,
}

impl ValueRange {
    pub fn unknown() -> Self {
        ValueRange { min: None, max: None, may_have_null: true, may_have_value: true }
    }
}

impl Predicate {
    /// Whether the predicate is certainly TRUE for every row whose values lie in
    /// `ranges` (a part kept whole: its rows can be counted without reading them). False
    /// means "not known"; NULLs make a comparison NULL, so a column that may hold them
    /// never qualifies.
    pub fn all_match(&self, ranges: &dyn Fn(usize) -> ValueRange) -> bool {
        match self {
            Predicate::Const(c) => *c == Some(true),
            Predicate::Cmp { col, kind, op, value } => {
                let r = ranges(*col);
                let (Some(min), Some(max)) = (&r.min, &r.max) else { return false };
                if r.may_have_null || !r.may_have_value || matches!(kind, SortKind::Opaque | SortKind::Numeric) {
                    return false;
                }
                let (lo, hi) = (compare_values(*kind, min, value), compare_values(*kind, max, value));
                match op {
                    CmpOp::Eq => lo == Ordering::Equal && hi == Ordering::Equal,
                    CmpOp::Ne => hi == Ordering::Less || lo == Ordering::Greater,
                    CmpOp::Lt => hi == Ordering::Less,
                    CmpOp::Le => hi != Ordering::Greater,
                    CmpOp::Gt => lo == Ordering::Greater,
                    CmpOp::Ge => lo != Ordering::Less,
                }
            }
            Predicate::In { col, kind, values, .. } => values.iter().any(|v| Predicate::Cmp { col: *col, kind: *kind, op: CmpOp::Eq, value: v.clone() }.all_match(ranges)),
            Predicate::IsNull { col, negated } => {
                let r = ranges(*col);
                if *negated {
                    !r.may_have_null
                } else {
                    !r.may_have_value
                }
            }
            Predicate::And(ps) => ps.iter().all(|p| p.all_match(ranges)),
            Predicate::Or(ps) => ps.iter().any(|p| p.all_match(ranges)),
            Predicate::Like { .. } | Predicate::Not(_) => false,
        }
    }

    /// Columns (caller's indexes) the predicate reads.
    pub fn columns(&self, out: &mut Vec<usize>) {
        match self {
            Predicate::Cmp { col, .. } | Predicate::In { col, .. } | Predicate::IsNull { col, .. } | Predicate::Like { col, .. } => {
                if !out.contains(col) {
                    out.push(*col)
                }
            }
            Predicate::And(ps) | Predicate::Or(ps) => ps.iter().for_each(|p| p.columns(out)),
            Predicate::Not(p) => p.columns(out),
            Predicate::Const(_) => {}
        }
    }

    /// `column = value` with an order the engine knows: the column, its kind and the value.
    pub fn as_equality(&self) -> Option<(usize, SortKind, &[u8])> {
        match self {
            Predicate::Cmp { col, kind, op: CmpOp::Eq, value } if !matches!(kind, SortKind::Opaque | SortKind::Numeric) => Some((*col, *kind, value)),
            _ => None,
        }
    }

    /// The top-level conjuncts (nested ANDs flattened): the predicate is TRUE exactly
    /// where every one of them is, so they may be evaluated one by one, narrowing the rows.
    pub fn conjuncts(&self) -> Vec<&Predicate> {
        match self {
            Predicate::And(ps) => ps.iter().flat_map(Predicate::conjuncts).collect(),
            p => vec![p],
        }
    }

    /// Rows of `rows` for which the predicate is TRUE; `cols[i]` is the caller's column i
    /// (`None` for columns the predicate does not read).
    pub fn evaluate(&self, cols: &[Option<&ColumnData>], rows: usize) -> Bitmap {
        let cols: Vec<Option<FilterColumn>> = cols.iter().map(|c| c.map(FilterColumn::Values)).collect();
        self.evaluate_columns(&cols, rows)
    }

    /// Like [`evaluate`](Self::evaluate), over columns that may be dictionary codes.
    pub fn evaluate_columns(&self, cols: &[Option<FilterColumn>], rows: usize) -> Bitmap {
        let all: Vec<u32> = (0..rows as u32).collect();
        let mut out = Bitmap::default();
        for v in self.eval3(cols, &all) {
            out.push(v == T);
        }
        out
    }

    /// The rows of `rows` (row numbers into `cols`) for which the predicate is TRUE. Only
    /// those rows are looked at, so the others need not be decoded.
    pub fn evaluate_rows(&self, cols: &[Option<FilterColumn>], rows: &[u32]) -> Vec<u32> {
        // IS [NOT] NULL alone (a filter on a sparse column): straight from the bitmap.
        if let Predicate::IsNull { col, negated } = self {
            let validity = match cols[*col].expect("filter column decoded") {
                FilterColumn::Values(c) => c.validity.as_ref(),
                FilterColumn::Dict { validity, .. } => validity,
            };
            return match validity {
                Some(v) => v.rows_with(rows, *negated),
                None if *negated => rows.to_vec(),
                None => Vec::new(),
            };
        }
        rows.iter().zip(self.eval3(cols, rows)).filter(|(_, v)| *v == T).map(|(&r, _)| r).collect()
    }

    fn eval3(&self, cols: &[Option<FilterColumn>], rows: &[u32]) -> Vec<u8> {
        let col = |i: usize| cols[i].expect("filter column decoded");
        match self {
            Predicate::Const(c) => vec![match c { Some(true) => T, Some(false) => F, None => N }; rows.len()],
            Predicate::Cmp { col: ci, kind, op, value } => {
                let c = col(*ci);
                let ints = match (kind, c) {
                    (SortKind::SignedInt, FilterColumn::Values(v)) if matches!(value.len(), 1 | 2 | 4 | 8) => compare_ints(v, rows, *op, crate::column::sign_extend(value)),
                    _ => None,
                };
                ints.unwrap_or_else(|| c.map_values(rows, |v| op.holds(compare_values(*kind, v, value)) as u8))
            }
            Predicate::In { col: ci, kind, values, has_null } => col(*ci).map_values(rows, |v| {
                if values.iter().any(|x| compare_values(*kind, v, x) == Ordering::Equal) {
                    T
                } else if *has_null {
                    N
                } else {
                    F
                }
            }),
            Predicate::IsNull { col: ci, negated } => {
                let c = col(*ci);
                rows.iter().map(|&i| (c.is_null(i as usize) != *negated) as u8).collect()
            }
            Predicate::Like { col: ci, pattern, negated, ascii_ci } => {
                let folded;
                let pattern = if *ascii_ci {
                    folded = pattern.to_ascii_lowercase();
                    &folded
                } else {
                    pattern
                };
                let mut buf = Vec::new();
                col(*ci).map_values(rows, |v| {
                    if *ascii_ci {
                        buf.clear();
                        buf.extend(v.iter().map(u8::to_ascii_lowercase));
                        (like(&buf, pattern) != *negated) as u8
                    } else {
                        (like(v, pattern) != *negated) as u8
                    }
                })
            }
            Predicate::Not(p) => p.eval3(cols, rows).into_iter().map(|v| if v == N { N } else { 1 - v }).collect(),
            Predicate::And(ps) => {
                let mut acc = vec![T; rows.len()];
                for p in ps {
                    for (a, b) in acc.iter_mut().zip(p.eval3(cols, rows)) {
                        *a = match (*a, b) {
                            (F, _) | (_, F) => F,
                            (N, _) | (_, N) => N,
                            _ => T,
                        };
                    }
                }
                acc
            }
            Predicate::Or(ps) => {
                let mut acc = vec![F; rows.len()];
                for p in ps {
                    for (a, b) in acc.iter_mut().zip(p.eval3(cols, rows)) {
                        *a = match (*a, b) {
                            (T, _) | (_, T) => T,
                            (N, _) | (_, N) => N,
                            _ => F,
                        };
                    }
                }
                acc
            }
        }
    }

    /// False only when no row whose values lie in `ranges` can satisfy the predicate.
    pub fn may_match(&self, ranges: &dyn Fn(usize) -> ValueRange) -> bool {
        match self {
            Predicate::Const(c) => *c == Some(true),
            Predicate::Cmp { col, kind, op, value } => {
                let r = ranges(*col);
                if !r.may_have_value {
                    return false;
                }
                let cmp = |b: &Option<Vec<u8>>| b.as_ref().map(|b| compare_values(*kind, b, value));
                let (lo, hi) = (cmp(&r.min), cmp(&r.max));
                match op {
                    CmpOp::Eq => lo != Some(Ordering::Greater) && hi != Some(Ordering::Less),
                    CmpOp::Ne => !(lo == Some(Ordering::Equal) && hi == Some(Ordering::Equal)),
                    CmpOp::Lt => lo != Some(Ordering::Greater) && lo != Some(Ordering::Equal),
                    CmpOp::Le => lo != Some(Ordering::Greater),
                    CmpOp::Gt => hi != Some(Ordering::Less) && hi != Some(Ordering::Equal),
                    CmpOp::Ge => hi != Some(Ordering::Less),
                }
            }
            Predicate::In { col, kind, values, .. } => values.iter().any(|v| {
                Predicate::Cmp { col: *col, kind: *kind, op: CmpOp::Eq, value: v.clone() }.may_match(ranges)
            }),
            Predicate::IsNull { col, negated } => {
                let r = ranges(*col);
                if *negated {
                    r.may_have_value
                } else {
                    r.may_have_null
                }
            }
            Predicate::Like { col, .. } => ranges(*col).may_have_value,
            Predicate::And(ps) => ps.iter().all(|p| p.may_match(ranges)),
            Predicate::Or(ps) => ps.iter().any(|p| p.may_match(ranges)),
            // Ranges cannot refute a negation in general.
            Predicate::Not(_) => true,
        }
    }
}

#[cfg(test)]
mod tests;
