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

/// Length of the UTF-8 character starting with byte `b` (1 for stray continuation bytes).
fn char_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// SQL LIKE with the default escape `\`, as Postgres matches text: bytes compared
/// exactly, `_` consuming one whole character.
pub fn like(s: &[u8], p: &[u8]) -> bool {
    let (mut si, mut pi) = (0usize, 0usize);
    // Backtracking point: after the last `%`, and where in `s` it resumes.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                b'%' => {
                    pi += 1;
                    star = Some((pi, si));
                    continue;
                }
                b'_' => {
                    pi += 1;
                    si += char_len(s[si]).min(s.len() - si);
                    continue;
                }
                c => {
                    let (lit, step) = if c == b'\\' && pi + 1 < p.len() { (p[pi + 1], 2) } else { (c, 1) };
                    if s[si] == lit {
                        pi += step;
                        si += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, ss)) => {
                let next = ss + char_len(s[ss]).min(s.len() - ss);
                star = Some((sp, next));
                pi = sp;
                si = next;
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == b'%' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::ColumnType;
    use proptest::prelude::*;

    proptest! {
        /// IS [NOT] NULL from the bitmap keeps the rows the three-valued evaluation keeps.
        #[test]
        fn is_null_from_the_bitmap(vals in proptest::collection::vec(proptest::option::of(0u8..3), 0..150), every in any::<bool>(), negated in any::<bool>()) {
            let mut c = ColumnData::new(ColumnType::Var);
            for v in &vals {
                match v {
                    Some(v) => c.push(&[*v]),
                    None => c.push_null(),
                }
            }
            let rows: Vec<u32> = (0..vals.len() as u32).filter(|r| every || r % 3 != 1).collect();
            let p = Predicate::IsNull { col: 0, negated };
            let cols = [Some(FilterColumn::Values(&c))];
            let want: Vec<u32> = rows.iter().zip(p.eval3(&cols, &rows)).filter(|(_, v)| *v == T).map(|(&r, _)| r).collect();
            prop_assert_eq!(p.evaluate_rows(&cols, &rows), want);
        }

        /// The integer fast path answers as comparing values one by one does, at every
        /// width, with constants of another width, and NULLs.
        #[test]
        fn integer_comparisons_match_compare_values(vals in proptest::collection::vec(proptest::option::of(-300i64..300), 1..80),
                                                    x in -300i64..300, width in prop_oneof![Just(2usize), Just(4), Just(8)],
                                                    cwidth in prop_oneof![Just(2usize), Just(4), Just(8)], op in 0usize..6) {
            let op = [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge][op];
            let mut c = ColumnData::new(ColumnType::Fixed { width: width as u16 });
            for v in &vals {
                match v {
                    Some(v) => c.push(&v.to_le_bytes()[..width]),
                    None => c.push_null(),
                }
            }
            let value = x.to_le_bytes()[..cwidth].to_vec();
            let rows: Vec<u32> = (0..vals.len() as u32).filter(|r| r % 3 != 1).collect();
            let p = Predicate::Cmp { col: 0, kind: SortKind::SignedInt, op, value: value.clone() };
            let got = p.evaluate_rows(&[Some(FilterColumn::Values(&c))], &rows);
            let want: Vec<u32> = rows.iter().copied().filter(|&r| c.get(r as usize).is_some_and(|v| op.holds(compare_values(SortKind::SignedInt, v, &value)))).collect();
            prop_assert_eq!(got, want);
        }
    }

    fn int_col(vals: &[Option<i64>]) -> ColumnData {
        let mut c = ColumnData::new(ColumnType::Fixed { width: 8 });
        for v in vals {
            match v {
                Some(v) => c.push(&v.to_le_bytes()),
                None => c.push_null(),
            }
        }
        c
    }

    fn cmp(op: CmpOp, v: i64) -> Predicate {
        Predicate::Cmp { col: 0, kind: SortKind::SignedInt, op, value: v.to_le_bytes().to_vec() }
    }

    /// The reference: SQL semantics computed directly.
    fn sql(p: &Predicate, x: Option<i64>) -> Option<bool> {
        match p {
            Predicate::Const(c) => *c,
            Predicate::Cmp { op, value, .. } => {
                let v = i64::from_le_bytes(value.clone().try_into().unwrap());
                x.map(|x| op.holds(x.cmp(&v)))
            }
            Predicate::In { values, has_null, .. } => x.and_then(|x| {
                if values.iter().any(|v| i64::from_le_bytes(v.clone().try_into().unwrap()) == x) {
                    Some(true)
                } else if *has_null {
                    None
                } else {
                    Some(false)
                }
            }),
            Predicate::IsNull { negated, .. } => Some(x.is_none() != *negated),
            Predicate::Like { .. } => unreachable!("integer tests have no LIKE"),
            Predicate::Not(p) => sql(p, x).map(|b| !b),
            Predicate::And(ps) => ps.iter().map(|p| sql(p, x)).fold(Some(true), |a, b| match (a, b) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (None, _) | (_, None) => None,
                _ => Some(true),
            }),
            Predicate::Or(ps) => ps.iter().map(|p| sql(p, x)).fold(Some(false), |a, b| match (a, b) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (None, _) | (_, None) => None,
                _ => Some(false),
            }),
        }
    }

    fn leaf() -> impl Strategy<Value = Predicate> {
        let op = prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne), Just(CmpOp::Lt), Just(CmpOp::Le), Just(CmpOp::Gt), Just(CmpOp::Ge)];
        prop_oneof![
            (op, -5i64..5).prop_map(|(op, v)| cmp(op, v)),
            (proptest::collection::vec(-5i64..5, 0..4), any::<bool>()).prop_map(|(vs, has_null)| Predicate::In {
                col: 0,
                kind: SortKind::SignedInt,
                values: vs.iter().map(|v| v.to_le_bytes().to_vec()).collect(),
                has_null
            }),
            any::<bool>().prop_map(|negated| Predicate::IsNull { col: 0, negated }),
            prop_oneof![Just(None), Just(Some(true)), Just(Some(false))].prop_map(Predicate::Const),
        ]
    }

    /// AND / OR / NOT trees over `leaf`, `depth` levels deep.
    fn tree(leaf: impl Strategy<Value = Predicate> + 'static, depth: u32) -> impl Strategy<Value = Predicate> {
        leaf.prop_recursive(depth, 16, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 1..3).prop_map(Predicate::And),
                proptest::collection::vec(inner.clone(), 1..3).prop_map(Predicate::Or),
                inner.prop_map(|p| Predicate::Not(Box::new(p))),
            ]
        })
    }

    fn pred() -> impl Strategy<Value = Predicate> {
        tree(leaf(), 3)
    }

    /// What a part's statistics say of these values.
    fn range_of(vals: &[Option<i64>]) -> ValueRange {
        let present: Vec<i64> = vals.iter().flatten().copied().collect();
        ValueRange {
            min: present.iter().min().map(|v| v.to_le_bytes().to_vec()),
            max: present.iter().max().map(|v| v.to_le_bytes().to_vec()),
            may_have_null: vals.iter().any(|v| v.is_none()),
            may_have_value: !present.is_empty(),
        }
    }

    proptest! {
        #[test]
        fn evaluate_follows_sql(p in pred(), vals in proptest::collection::vec(proptest::option::of(-6i64..6), 0..40)) {
            let col = int_col(&vals);
            let got = p.evaluate(&[Some(&col)], vals.len());
            for (i, x) in vals.iter().enumerate() {
                prop_assert_eq!(got.get(i), sql(&p, *x) == Some(true), "row {} value {:?}", i, x);
            }
        }

        /// Pruning never drops a range that holds a matching row.
        #[test]
        fn may_match_is_sound(p in pred(), vals in proptest::collection::vec(proptest::option::of(-6i64..6), 1..20)) {
            let range = range_of(&vals);
            if vals.iter().any(|x| sql(&p, *x) == Some(true)) {
                prop_assert!(p.may_match(&|_| range.clone()));
            }
        }

        /// A range said to match whole holds only matching rows (the min and max are
        /// the values themselves, so some rows hold each bound).
        #[test]
        fn all_match_is_sound(p in pred(), vals in proptest::collection::vec(proptest::option::of(-6i64..6), 1..20)) {
            let present: Vec<i64> = vals.iter().flatten().copied().collect();
            let range = range_of(&vals);
            if p.all_match(&|_| range.clone()) {
                // Every value between the bounds, not only these rows': a part's rows
                // could be any of them.
                let (lo, hi) = (present.iter().min().copied().unwrap_or(0), present.iter().max().copied().unwrap_or(-1));
                for x in lo..=hi {
                    prop_assert_eq!(sql(&p, Some(x)), Some(true), "value {}", x);
                }
                for x in &vals {
                    prop_assert_eq!(sql(&p, *x), Some(true), "row value {:?}", x);
                }
            }
        }
    }

    #[test]
    fn like_matches_like_postgres() {
        let cases: &[(&str, &str, bool)] = &[
            ("name 42", "name 4%", true), ("name 5", "name 4%", false), ("abc", "a_c", true), ("ac", "a_c", false),
            ("a\u{e9}c", "a_c", true), ("100%", r"100\%", true), ("1000", r"100\%", false), ("", "%", true),
            ("x", "", false), ("", "", true), ("abcabc", "%bc", true), ("abcab", "%b_", false), ("abcbx", "%b_", true), ("a_b", r"a\_b", true),
            ("aXb", r"a\_b", false), ("mississippi", "%iss%ppi", true), ("mississippi", "m%s%s%x", false),
        ];
        for (s, p, want) in cases {
            assert_eq!(like(s.as_bytes(), p.as_bytes()), *want, "{s:?} LIKE {p:?}");
        }
    }

    #[test]
    fn ranges_prune() {
        let r = ValueRange { min: Some(10i64.to_le_bytes().to_vec()), max: Some(20i64.to_le_bytes().to_vec()), may_have_null: false, may_have_value: true };
        assert!(!cmp(CmpOp::Eq, 5).may_match(&|_| r.clone()));
        assert!(cmp(CmpOp::Eq, 15).may_match(&|_| r.clone()));
        assert!(!cmp(CmpOp::Gt, 20).may_match(&|_| r.clone()));
        assert!(cmp(CmpOp::Ge, 20).may_match(&|_| r.clone()));
        assert!(!Predicate::IsNull { col: 0, negated: false }.may_match(&|_| r.clone()));
    }

    fn text_pred() -> impl Strategy<Value = Predicate> {
        let word = prop_oneof![Just(b"a".to_vec()), Just(b"b".to_vec()), Just(b"ab".to_vec()), Just(b"".to_vec()), Just(b"ba%".to_vec())];
        let atom = prop_oneof![
            (word.clone(), 0usize..6).prop_map(|(v, o)| Predicate::Cmp {
                col: 0,
                kind: SortKind::Bytes,
                op: [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge][o],
                value: v
            }),
            (proptest::collection::vec(word.clone(), 0..3), any::<bool>()).prop_map(|(values, has_null)| Predicate::In { col: 0, kind: SortKind::Bytes, values, has_null }),
            any::<bool>().prop_map(|negated| Predicate::IsNull { col: 0, negated }),
            (word, any::<bool>(), any::<bool>()).prop_map(|(pattern, negated, ascii_ci)| Predicate::Like { col: 0, pattern, negated, ascii_ci }),
        ];
        tree(atom, 2)
    }

    proptest! {
        /// Filters over a dictionary's codes give exactly what they give over the values.
        #[test]
        fn dictionary_codes_filter_like_values(
            vals in proptest::collection::vec(proptest::option::of(prop_oneof![Just("a"), Just("b"), Just("ab"), Just("B"), Just("")]), 0..60),
            pred in text_pred(),
        ) {
            let mut col = ColumnData::new(ColumnType::Var);
            for v in &vals {
                match v {
                    Some(v) => col.push(v.as_bytes()),
                    None => col.push_null(),
                }
            }
            let enc = crate::codec::dict::encode(&col, crate::codec::dict::DictMode::Always).unwrap();
            let crate::column::Values::Fixed { width, data } = &enc.codes.values else { panic!("codes are fixed-width") };
            let codes: Vec<u32> = data.chunks_exact(*width).map(|c| c[0] as u32 | if *width > 1 { (c[1] as u32) << 8 } else { 0 }).collect();
            let dict = FilterColumn::Dict { codes: &codes, validity: enc.codes.validity.as_ref(), dict: &enc.dict };
            prop_assert_eq!(pred.evaluate_columns(&[Some(dict)], vals.len()), pred.evaluate(&[Some(&col)], vals.len()));
        }
    }

    proptest! {
        /// On a sorted column (NULLs last) the binary search finds exactly the rows an
        /// equality filter keeps, inside any sub-range.
        #[test]
        fn equal_range_is_the_equality_filter(
            mut vals in proptest::collection::vec(proptest::option::of(-5i64..5), 0..80),
            x in -6i64..6,
            cut in (0usize..80, 0usize..80),
        ) {
            vals.sort_by(|a, b| match (a, b) { (None, None) => Ordering::Equal, (None, _) => Ordering::Greater, (_, None) => Ordering::Less, (Some(a), Some(b)) => a.cmp(b) });
            let mut col = ColumnData::new(ColumnType::Fixed { width: 8 });
            for v in &vals {
                match v {
                    Some(v) => col.push(&v.to_le_bytes()),
                    None => col.push_null(),
                }
            }
            let (a, b) = (cut.0.min(vals.len()), cut.1.min(vals.len()));
            let range = a.min(b)..a.max(b);
            let got = FilterColumn::Values(&col).equal_range(range.clone(), SortKind::SignedInt, &x.to_le_bytes());
            let want: Vec<usize> = range.filter(|&i| vals[i] == Some(x)).collect();
            prop_assert_eq!(got.collect::<Vec<_>>(), want);
        }
    }
}
