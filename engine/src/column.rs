//! In-memory columns: fixed-width values or variable-length byte strings, with an
//! optional validity bitmap. Every Postgres type maps onto one of the two physical
//! shapes; `SortKind` says how values of a column compare.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Physical shape of a column's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnType {
    /// Every value has exactly `width` bytes (little-endian for numbers).
    Fixed { width: u16 },
    /// Values are byte strings of any length.
    Var,
}

/// How two values of a column compare, when the engine can tell by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortKind {
    /// Two's-complement little-endian integer of the column's width.
    SignedInt,
    /// IEEE float (4 or 8 bytes) with Postgres' order: -0 = 0, NaN greater than all.
    Float,
    /// Unsigned bytes compared lexicographically (bool, uuid, bytea, text in "C" order).
    Bytes,
    /// Only the caller knows (collations, numeric, arrays...).
    Opaque,
    /// Postgres numeric's stored bytes compared as numeric_cmp (numeric.rs). Only
    /// predicates use it: numeric columns store as Opaque (no min/max, no index order).
    Numeric,
    /// A part's numeric column stored as 8-byte integers scaled by 10^scale
    /// (part/scaled.rs), ordered as integers. Only part metadata says it: readers get the
    /// numeric's bytes back, or the integers when they ask for this scale.
    Scaled(u16),
}

/// Validity bitmap: bit set = value present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bitmap {
    words: Vec<u64>,
    len: usize,
}

impl Bitmap {
    pub fn new_set(len: usize) -> Self {
        let mut b = Bitmap { words: vec![u64::MAX; len.div_ceil(64)], len };
        b.trim();
        b
    }
    fn trim(&mut self) {
        let rem = self.len % 64;
        if rem != 0 {
            if let Some(last) = self.words.last_mut() {
                *last &= (1u64 << rem) - 1;
            }
        }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The rows of `rows` (ascending) whose bit is `bit`: a word at a time when `rows`
    /// is every row (an IS [NOT] NULL filter over a whole granule).
    pub fn rows_with(&self, rows: &[u32], bit: bool) -> Vec<u32> {
        let every = rows.len() == self.len && rows.first().is_none_or(|&f| f == 0) && rows.last().is_none_or(|&l| l as usize + 1 == self.len);
        if !every {
            return rows.iter().copied().filter(|&r| self.get(r as usize) == bit).collect();
        }
        let mut out = Vec::new();
        for (wi, &w) in self.words.iter().enumerate() {
            let mut w = if bit { w } else { !w };
            let valid = self.len - wi * 64;
            if valid < 64 {
                w &= (1u64 << valid) - 1;
            }
            while w != 0 {
                out.push((wi * 64) as u32 + w.trailing_zeros());
                w &= w - 1;
            }
        }
        out
    }
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        self.words[i / 64] >> (i % 64) & 1 == 1
    }
    pub fn push(&mut self, v: bool) {
        if self.len % 64 == 0 {
            self.words.push(0);
        }
        if v {
            self.words[self.len / 64] |= 1 << (self.len % 64);
        }
        self.len += 1;
    }
    /// Sets bit `i` (which must be below `len`).
    #[inline]
    pub fn set(&mut self, i: usize) {
        self.words[i / 64] |= 1u64 << (i % 64);
    }
    /// Clears bit `i` (which must be below `len`).
    pub fn clear(&mut self, i: usize) {
        self.words[i / 64] &= !(1u64 << (i % 64));
    }
    /// Clears bits `[start, end)`, whole words at a time.
    pub fn clear_range(&mut self, start: usize, end: usize) {
        let mut i = start;
        while i < end {
            if i % 64 == 0 && i + 64 <= end {
                self.words[i / 64] = 0;
                i += 64;
            } else {
                self.clear(i);
                i += 1;
            }
        }
    }
    /// Positions of the clear bits.
    pub fn clear_bits(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(move |(w, &word)| {
            let mut zeros = !word;
            std::iter::from_fn(move || {
                if zeros == 0 {
                    return None;
                }
                let b = zeros.trailing_zeros() as usize;
                zeros &= zeros - 1;
                Some(w * 64 + b)
            })
        }).filter(move |&i| i < self.len)
    }
    pub fn count_set(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
    /// Packed little-endian bytes, `len.div_ceil(8)` of them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self.words.iter().flat_map(|w| w.to_le_bytes()).collect();
        out.truncate(self.len.div_ceil(8));
        out
    }
    pub fn from_bytes(bytes: &[u8], len: usize) -> Option<Self> {
        if bytes.len() != len.div_ceil(8) {
            return None;
        }
        let words = bytes
            .chunks(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w[..c.len()].copy_from_slice(c);
                u64::from_le_bytes(w)
            })
            .collect();
        let mut b = Bitmap { words, len };
        b.trim();
        Some(b)
    }
}

/// Values of one column for a run of rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Values {
    Fixed { width: usize, data: Vec<u8> },
    /// `offsets` has one more entry than there are rows.
    Var { offsets: Vec<u32>, data: Vec<u8> },
}

/// One column's values plus validity (`None` = no NULLs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnData {
    pub values: Values,
    pub validity: Option<Bitmap>,
}

impl ColumnData {
    pub fn new(ty: ColumnType) -> Self {
        let values = match ty {
            ColumnType::Fixed { width } => Values::Fixed { width: width as usize, data: Vec::new() },
            ColumnType::Var => Values::Var { offsets: vec![0], data: Vec::new() },
        };
        ColumnData { values, validity: None }
    }

    /// `rows` copies of `value` (None: NULLs).
    pub fn filled(ty: ColumnType, value: Option<&[u8]>, rows: usize) -> Self {
        let mut c = ColumnData::new(ty);
        for _ in 0..rows {
            match value {
                Some(v) => c.push(v),
                None => c.push_null(),
            }
        }
        c
    }

    pub fn column_type(&self) -> ColumnType {
        match &self.values {
            Values::Fixed { width, .. } => ColumnType::Fixed { width: *width as u16 },
            Values::Var { .. } => ColumnType::Var,
        }
    }

    pub fn len(&self) -> usize {
        match &self.values {
            Values::Fixed { width, data } => {
                if *width == 0 {
                    self.validity.as_ref().map_or(0, |v| v.len())
                } else {
                    data.len() / width
                }
            }
            Values::Var { offsets, .. } => offsets.len() - 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of values held, the measure for buffer limits and granule byte bounds.
    pub fn data_bytes(&self) -> usize {
        match &self.values {
            Values::Fixed { data, .. } => data.len(),
            Values::Var { offsets, data } => data.len() + offsets.len() * 4,
        }
    }

    fn mark_valid(&mut self, valid: bool) {
        let n = self.len();
        match &mut self.validity {
            Some(b) => b.push(valid),
            None if !valid => {
                let mut b = Bitmap::new_set(n);
                b.push(false);
                self.validity = Some(b);
            }
            None => {}
        }
    }

    /// Appends a value. For fixed columns `v` must be exactly `width` bytes.
    pub fn push(&mut self, v: &[u8]) {
        self.mark_valid(true);
        match &mut self.values {
            Values::Fixed { width, data } => {
                debug_assert_eq!(v.len(), *width);
                data.extend_from_slice(v);
            }
            Values::Var { offsets, data } => {
                data.extend_from_slice(v);
                offsets.push(data.len() as u32);
            }
        }
    }

    /// Appends the rows of `other` (of the same type).
    pub fn append(&mut self, other: &ColumnData) {
        self.extend_range(other, 0, other.len());
    }

    /// Appends rows `[start, end)` of `other` (of the same type): values copied as one
    /// run, validity only when either side has NULLs.
    pub fn extend_range(&mut self, other: &ColumnData, start: usize, end: usize) {
        if start >= end {
            return;
        }
        let before = self.len();
        match (&mut self.values, &other.values) {
            (Values::Fixed { width, data }, Values::Fixed { data: od, .. }) => {
                let w = *width;
                if w == 0 {
                    // Zero-width values live only in the validity bitmap's length.
                    for i in start..end {
                        self.mark_valid(!other.is_null(i));
                    }
                    return;
                }
                data.extend_from_slice(&od[start * w..end * w]);
            }
            (Values::Var { offsets, data }, Values::Var { offsets: oo, data: od }) => {
                let (from, to) = (oo[start] as usize, oo[end] as usize);
                let shift = data.len() as i64 - from as i64;
                data.extend_from_slice(&od[from..to]);
                offsets.extend(oo[start + 1..=end].iter().map(|&o| (o as i64 + shift) as u32));
            }
            _ => panic!("extend_range of columns of different types"),
        }
        match (&mut self.validity, &other.validity) {
            (None, None) => {}
            (mine, theirs) => {
                let b = mine.get_or_insert_with(|| Bitmap::new_set(before));
                for i in start..end {
                    b.push(theirs.as_ref().is_none_or(|t| t.get(i)));
                }
            }
        }
    }

    pub fn push_null(&mut self) {
        self.mark_valid(false);
        match &mut self.values {
            Values::Fixed { width, data } => data.resize(data.len() + *width, 0),
            Values::Var { offsets, data } => offsets.push(data.len() as u32),
        }
    }

    #[inline]
    pub fn is_null(&self, i: usize) -> bool {
        self.validity.as_ref().is_some_and(|b| !b.get(i))
    }

    /// The bytes of row `i` (zeroes or empty for NULL).
    #[inline]
    pub fn value(&self, i: usize) -> &[u8] {
        match &self.values {
            Values::Fixed { width, data } => &data[i * width..(i + 1) * width],
            Values::Var { offsets, data } => &data[offsets[i] as usize..offsets[i + 1] as usize],
        }
    }

    /// `Some(bytes)` or `None` for NULL.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if self.is_null(i) {
            None
        } else {
            Some(self.value(i))
        }
    }

    /// Keeps the first `n` rows.
    pub fn truncate(&mut self, n: usize) {
        if n >= self.len() {
            return;
        }
        match &mut self.values {
            Values::Fixed { width, data } => data.truncate(n * *width),
            Values::Var { offsets, data } => {
                offsets.truncate(n + 1);
                data.truncate(offsets[n] as usize);
            }
        }
        if let Some(v) = &mut self.validity {
            let mut b = Bitmap::default();
            for i in 0..n {
                b.push(v.get(i));
            }
            *v = b;
        }
    }

    /// A new column with rows picked by `indices`, in that order.
    pub fn take(&self, indices: &[u32]) -> ColumnData {
        let mut out = ColumnData::new(self.column_type());
        match (&self.values, &mut out.values) {
            (Values::Fixed { width, data }, Values::Fixed { data: od, .. }) => {
                od.reserve(indices.len() * width);
                for &i in indices {
                    let i = i as usize;
                    od.extend_from_slice(&data[i * width..(i + 1) * width]);
                }
            }
            (Values::Var { offsets, data }, Values::Var { offsets: oo, data: od }) => {
                oo.reserve(indices.len());
                if indices.len() == self.len() {
                    od.reserve(data.len());
                }
                for &i in indices {
                    let i = i as usize;
                    od.extend_from_slice(&data[offsets[i] as usize..offsets[i + 1] as usize]);
                    oo.push(od.len() as u32);
                }
            }
            _ => unreachable!("take keeps the column type"),
        }
        if let Some(v) = &self.validity {
            let mut b = Bitmap::default();
            for &i in indices {
                b.push(v.get(i as usize));
            }
            out.validity = Some(b);
        }
        out
    }

    /// Rows `[start, end)` as a new column.
    pub fn slice(&self, start: usize, end: usize) -> ColumnData {
        // One copy of the range's bytes, not a copy per row as `take` makes.
        let values = match &self.values {
            Values::Fixed { width, data } => Values::Fixed { width: *width, data: data[start * width..end * width].to_vec() },
            Values::Var { offsets, data } => {
                let base = offsets[start];
                let mut o = Vec::with_capacity(end - start + 1);
                o.extend(offsets[start..=end].iter().map(|&x| x - base));
                Values::Var { offsets: o, data: data[base as usize..offsets[end] as usize].to_vec() }
            }
        };
        let validity = self.validity.as_ref().map(|v| {
            let mut b = Bitmap::default();
            for i in start..end {
                b.push(v.get(i));
            }
            b
        });
        ColumnData { values, validity }
    }

    /// Drops the first `n` rows in place, keeping the allocations: an insert buffer
    /// that sheds the rows it wrote as a part refills the same memory (a fresh copy made
    /// the backend fault in and zero new pages for every chunk of a COPY).
    pub fn remove_front(&mut self, n: usize) {
        let n = n.min(self.len());
        if n == 0 {
            return;
        }
        match &mut self.values {
            Values::Fixed { width, data } => {
                data.drain(..n * *width);
            }
            Values::Var { offsets, data } => {
                let base = offsets[n];
                data.drain(..base as usize);
                offsets.drain(..n);
                offsets.iter_mut().for_each(|o| *o -= base);
            }
        }
        if let Some(v) = &mut self.validity {
            let mut b = Bitmap::default();
            for i in n..v.len() {
                b.push(v.get(i));
            }
            *v = b;
        }
    }
}

/// Every column of `cols` reordered by `indices`, on the worker threads; each input
/// column is freed as soon as its reordered copy is made.
pub fn take_each(cols: &mut [ColumnData], indices: &[u32]) -> Vec<ColumnData> {
    crate::parallel::map_mut(cols, indices.len(), |c| std::mem::replace(c, ColumnData::new(c.column_type())).take(indices))
}

/// Compares two non-NULL values of a column whose order the engine knows.
pub fn compare_values(kind: SortKind, a: &[u8], b: &[u8]) -> Ordering {
    match kind {
        SortKind::SignedInt | SortKind::Scaled(_) => sign_extend(a).cmp(&sign_extend(b)),
        SortKind::Float => {
            let (x, y) = (float_of(a), float_of(b));
            match (x.is_nan(), y.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            }
        }
        SortKind::Bytes | SortKind::Opaque => a.cmp(b),
        SortKind::Numeric => crate::numeric::compare(a, b).unwrap_or_else(|| a.cmp(b)),
    }
}

pub(crate) fn sign_extend(b: &[u8]) -> i64 {
    match b.len() {
        1 => b[0] as i8 as i64,
        2 => i16::from_le_bytes([b[0], b[1]]) as i64,
        4 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
        8 => i64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
        _ => 0,
    }
}

pub(crate) fn float_of(b: &[u8]) -> f64 {
    match b.len() {
        4 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
        8 => f64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// A slice is the rows of the range, as `take` of its indices gives them.
        #[test]
        fn slice_is_take_of_the_range(vals in proptest::collection::vec(proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6)), 0..40), a in 0usize..41, b in 0usize..41) {
            for ty in [ColumnType::Var, ColumnType::Fixed { width: 4 }] {
                let mut c = ColumnData::new(ty);
                for v in &vals {
                    match (v, ty) {
                        (None, _) => c.push_null(),
                        (Some(v), ColumnType::Var) => c.push(v),
                        (Some(v), _) => c.push(&[v.len() as u8, 1, 2, 3]),
                    }
                }
                let (start, end) = (a.min(b).min(vals.len()), a.max(b).min(vals.len()));
                let idx: Vec<u32> = (start as u32..end as u32).collect();
                let (s, t) = (c.slice(start, end), c.take(&idx));
                proptest::prop_assert_eq!(s.len(), t.len());
                for i in 0..s.len() {
                    proptest::prop_assert_eq!(s.get(i), t.get(i));
                }
                // Dropping the front in place leaves the rows after it, and takes more.
                let mut r = c.clone();
                r.remove_front(start);
                let suffix = c.slice(start, vals.len());
                proptest::prop_assert_eq!(r.len(), suffix.len());
                for i in 0..r.len() {
                    proptest::prop_assert_eq!(r.get(i), suffix.get(i));
                }
                r.push_null();
                r.push(&[9, 9, 9, 9]);
                proptest::prop_assert_eq!(r.get(r.len() - 2), None);
                proptest::prop_assert_eq!(r.get(r.len() - 1), Some(&[9u8, 9, 9, 9][..]));
            }
        }
    }

    proptest::proptest! {
        /// rows_with keeps exactly the rows whose bit is asked for, by words or by rows.
        #[test]
        fn rows_with_is_the_bits(bits in proptest::collection::vec(proptest::prelude::any::<bool>(), 0..200), every in proptest::prelude::any::<bool>()) {
            let mut b = Bitmap::default();
            bits.iter().for_each(|&x| b.push(x));
            let rows: Vec<u32> = (0..bits.len() as u32).filter(|r| every || r % 3 != 1).collect();
            for bit in [true, false] {
                let want: Vec<u32> = rows.iter().copied().filter(|&r| bits[r as usize] == bit).collect();
                proptest::prop_assert_eq!(b.rows_with(&rows, bit), want);
            }
        }
    }

    #[test]
    fn push_get_with_nulls() {
        let mut c = ColumnData::new(ColumnType::Var);
        c.push(b"a");
        c.push_null();
        c.push(b"");
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(0), Some(&b"a"[..]));
        assert_eq!(c.get(1), None);
        assert_eq!(c.get(2), Some(&b""[..]));
        let t = c.take(&[2, 1, 0]);
        assert_eq!(t.get(0), Some(&b""[..]));
        assert_eq!(t.get(1), None);
        assert_eq!(t.get(2), Some(&b"a"[..]));
    }

    #[test]
    fn bitmap_bytes_roundtrip() {
        let mut b = Bitmap::default();
        for i in 0..77 {
            b.push(i % 3 == 0);
        }
        let back = Bitmap::from_bytes(&b.to_bytes(), 77).unwrap();
        assert_eq!(b, back);
        assert_eq!(b.count_set(), 26);
    }

    #[test]
    fn float_order_matches_postgres() {
        let f = |x: f64| x.to_le_bytes();
        assert_eq!(compare_values(SortKind::Float, &f(f64::NAN), &f(f64::INFINITY)), Ordering::Greater);
        assert_eq!(compare_values(SortKind::Float, &f(-0.0), &f(0.0)), Ordering::Equal);
        assert_eq!(compare_values(SortKind::SignedInt, &(-1i32).to_le_bytes(), &1i32.to_le_bytes()), Ordering::Less);
    }
}

#[cfg(test)]
mod bitmap_tests {
    use super::Bitmap;

    #[test]
    fn clear_range_and_clear_bits() {
        let mut b = Bitmap::new_set(200);
        b.clear_range(3, 150);
        b.clear(199);
        let cleared: Vec<usize> = b.clear_bits().collect();
        assert_eq!(cleared, (3..150).chain([199]).collect::<Vec<_>>());
        assert_eq!(b.count_set(), 200 - 148);
    }
}
