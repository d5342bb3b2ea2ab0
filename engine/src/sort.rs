//! Sorting rows by the ORDER BY key before they become a part. NULLs sort last, as in
//! Postgres' default ascending order; ties keep insertion order (stable sort).

use crate::column::{compare_values, float_of, sign_extend, ColumnData, SortKind};
use std::cmp::Ordering;

/// One ORDER BY column: its index in the batch and how its values compare.
#[derive(Clone, Copy, Debug)]
pub struct SortColumn {
    pub column: usize,
    pub kind: SortKind,
}

/// Compares rows `a` and `b` on `keys`. `opaque` compares two non-NULL values of an
/// `Opaque` column (the caller knows its type's order).
pub fn compare_rows(
    columns: &[ColumnData],
    keys: &[SortColumn],
    a: usize,
    b: usize,
    opaque: &mut dyn FnMut(usize, usize, usize) -> Ordering,
) -> Ordering {
    for k in keys {
        let c = &columns[k.column];
        let ord = match (c.get(a), c.get(b)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => match k.kind {
                SortKind::Opaque => opaque(k.column, a, b),
                kind => compare_values(kind, x, y),
            },
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// The row order that sorts `columns` by `keys`.
pub fn sort_permutation(
    columns: &[ColumnData],
    rows: usize,
    keys: &[SortColumn],
    opaque: &mut dyn FnMut(usize, usize, usize) -> Ordering,
) -> Vec<u32> {
    let mut perm: Vec<u32> = (0..rows as u32).collect();
    if !keys.is_empty() {
        perm.sort_by(|&a, &b| compare_rows(columns, keys, a as usize, b as usize, opaque));
    }
    perm
}

/// Like [`sort_permutation`] for keys the engine compares by itself (no `Opaque`
/// column), sorted on all worker threads (on the caller's below
/// [`crate::parallel::MIN_PARALLEL_ROWS`] rows). Each key column first becomes order-preserving
/// unsigned codes (integers offset by their minimum, floats by their bits, strings and
/// numerics by their rank among the column's distinct values), so the sort compares
/// integers, not values: when the codes and the row number fit in 128 bits (the usual
/// case), rows sort as single integers.
pub fn sort_permutation_parallel(columns: &[ColumnData], rows: usize, keys: &[SortColumn]) -> Vec<u32> {
    debug_assert!(keys.iter().all(|k| k.kind != SortKind::Opaque));
    if keys.is_empty() || rows < crate::parallel::MIN_PARALLEL_ROWS {
        return sort_permutation(columns, rows, keys, &mut |_, _, _| Ordering::Equal);
    }
    sort_by_codes(columns, rows, keys)
}

/// The body of [`sort_permutation_parallel`] for many rows.
fn sort_by_codes(columns: &[ColumnData], rows: usize, keys: &[SortColumn]) -> Vec<u32> {
    use rayon::prelude::*;
    let codes: Option<Vec<KeyCodes>> = keys.par_iter().map(|k| KeyCodes::of(&columns[k.column], k.kind)).collect();
    let Some(codes) = codes else {
        let mut perm: Vec<u32> = (0..rows as u32).collect();
        perm.par_sort_by(|&a, &b| compare_rows(columns, keys, a as usize, b as usize, &mut |_, _, _| Ordering::Equal));
        return perm;
    };
    let bits: u32 = codes.iter().map(|c| c.bits).sum();
    if bits <= 96 {
        // Codes packed high to low, the row number last: equal keys keep insertion order.
        let mut packed: Vec<u128> = (0..rows)
            .into_par_iter()
            .map(|r| codes.iter().fold(0u128, |acc, c| (acc << c.bits) | c.codes[r] as u128) << 32 | r as u128)
            .collect();
        packed.par_sort_unstable();
        return packed.into_iter().map(|k| k as u32).collect();
    }
    let mut perm: Vec<u32> = (0..rows as u32).collect();
    perm.par_sort_by(|&a, &b| {
        codes.iter().map(|c| c.codes[a as usize].cmp(&c.codes[b as usize])).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
    });
    perm
}

/// A key column's order as unsigned integers: equal values get equal codes, NULL the
/// largest (NULLs sort last), and every code fits in `bits` bits.
struct KeyCodes {
    codes: Vec<u64>,
    bits: u32,
}

impl KeyCodes {
    /// None when the codes would need more than 64 bits (a full-range integer column
    /// with NULLs): the caller compares values instead.
    fn of(c: &ColumnData, kind: SortKind) -> Option<KeyCodes> {
        match kind {
            SortKind::SignedInt | SortKind::Scaled(_) => Self::offset(c, |v| (sign_extend(v) as u64) ^ (1 << 63)),
            SortKind::Float => Self::offset(c, |v| {
                let f = float_of(v);
                // Postgres' order: -0 equals 0, every NaN equals every other, above all.
                let f = if f.is_nan() { f64::NAN } else if f == 0.0 { 0.0 } else { f };
                let b = f.to_bits();
                if b >> 63 == 1 { !b } else { b | 1 << 63 }
            }),
            SortKind::Bytes | SortKind::Numeric | SortKind::Opaque => Some(Self::ranks(c, kind)),
        }
    }

    /// Codes from an order-preserving map to u64, offset by the smallest.
    fn offset(c: &ColumnData, map: impl Fn(&[u8]) -> u64) -> Option<KeyCodes> {
        let mut codes: Vec<u64> = (0..c.len()).map(|r| c.get(r).map_or(u64::MAX, &map)).collect();
        let has_null = (0..c.len()).any(|r| c.is_null(r));
        let present = || (0..c.len()).filter(|&r| !c.is_null(r)).map(|r| codes[r]);
        let (min, max) = (present().min().unwrap_or(0), present().max().unwrap_or(0));
        let span = max - min;
        if has_null && span == u64::MAX {
            return None;
        }
        // NULL takes the code after the largest value (below u64::MAX when there is one).
        let null = span.saturating_add(1);
        for (r, code) in codes.iter_mut().enumerate() {
            *code = if c.is_null(r) { null } else { *code - min };
        }
        Some(KeyCodes { codes, bits: bits_for(if has_null { null } else { span }) })
    }

    /// Codes as the rank of each value among the column's distinct values (values that
    /// compare equal share a rank): the column's rows sorted by value, then numbered.
    /// Byte strings sort by their first 16 bytes held inline (big-endian, so integer order
    /// is byte order) and their length: two strings of at most 16 bytes with the same
    /// prefix are equal or one starts the other; longer ones are compared whole on a tie.
    fn ranks(c: &ColumnData, kind: SortKind) -> KeyCodes {
        use rayon::prelude::*;
        const INLINE: u32 = 16;
        let bytes = kind == SortKind::Bytes;
        let value = |r: u32| c.get(r as usize).unwrap_or_default();
        let mut order: Vec<(u128, u32, u32)> = (0..c.len())
            .into_par_iter()
            .filter_map(|r| c.get(r).map(|v| if bytes { (prefix(v), (v.len() as u32).min(INLINE + 1), r as u32) } else { (0, 0, r as u32) }))
            .collect();
        let tie = |a: &(u128, u32, u32), b: &(u128, u32, u32)| {
            if bytes && (a.1 <= INLINE || b.1 <= INLINE) { Ordering::Equal } else { compare_values(kind, value(a.2), value(b.2)) }
        };
        order.par_sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then_with(|| tie(a, b)));
        let mut codes = vec![0u64; c.len()];
        let mut next = 0u64;
        for i in 0..order.len() {
            let (p, q) = (&order[i.saturating_sub(1)], &order[i]);
            if i > 0 && (p.0 != q.0 || p.1 != q.1 || tie(p, q).is_ne()) {
                next += 1;
            }
            codes[q.2 as usize] = next;
        }
        let null = if order.is_empty() { 0 } else { next + 1 };
        if order.len() < c.len() {
            for (r, code) in codes.iter_mut().enumerate() {
                if c.is_null(r) {
                    *code = null;
                }
            }
        }
        KeyCodes { codes, bits: bits_for(null) }
    }
}

/// The first 16 bytes of `v` as a big-endian integer, zero-padded: a shorter string's
/// prefix is never greater than a longer one's it starts.
fn prefix(v: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    let n = v.len().min(16);
    b[..n].copy_from_slice(&v[..n]);
    u128::from_be_bytes(b)
}

/// Bits needed to hold every value up to `max`.
fn bits_for(max: u64) -> u32 {
    64 - max.leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::ColumnType;

    #[test]
    fn sorts_with_nulls_last_and_stable() {
        let mut k = ColumnData::new(ColumnType::Fixed { width: 4 });
        let mut v = ColumnData::new(ColumnType::Var);
        for (key, val) in [(Some(3), "a"), (None, "b"), (Some(-1), "c"), (Some(3), "d")] {
            match key {
                Some(x) => k.push(&(x as i32).to_le_bytes()),
                None => k.push_null(),
            }
            v.push(val.as_bytes());
        }
        let cols = [k, v];
        let perm = sort_permutation(&cols, 4, &[SortColumn { column: 0, kind: SortKind::SignedInt }], &mut |_, a, b| a.cmp(&b));
        assert_eq!(perm, vec![2, 0, 3, 1]);
        assert_eq!(sort_permutation_parallel(&cols, 4, &[SortColumn { column: 0, kind: SortKind::SignedInt }]), perm);
    }

    use proptest::prelude::*;

    fn column_of(ty: ColumnType, vals: &[Option<Vec<u8>>]) -> ColumnData {
        let mut c = ColumnData::new(ty);
        for v in vals {
            match v {
                Some(b) => c.push(b),
                None => c.push_null(),
            }
        }
        c
    }

    fn int_value() -> impl Strategy<Value = Option<Vec<u8>>> {
        prop_oneof![Just(None), (-3i64..3).prop_map(|v| Some(v.to_le_bytes().to_vec())),
                    prop_oneof![Just(i64::MIN), Just(i64::MAX), any::<i64>()].prop_map(|v| Some(v.to_le_bytes().to_vec()))]
    }

    fn float_value() -> impl Strategy<Value = Option<Vec<u8>>> {
        prop_oneof![Just(None), prop_oneof![Just(0.0f64), Just(-0.0), Just(f64::NAN), Just(-f64::NAN), Just(f64::INFINITY),
                    Just(f64::NEG_INFINITY), -2.0f64..2.0].prop_map(|v| Some(v.to_le_bytes().to_vec()))]
    }

    fn text_value() -> impl Strategy<Value = Option<Vec<u8>>> {
        prop_oneof![Just(None), proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(0u8), Just(255u8)], 0..3).prop_map(Some)]
    }

    proptest! {
        // The code-based parallel sort orders rows exactly as the stable comparison sort.
        #[test]
        fn parallel_sort_matches_the_comparison_sort(
            rows in proptest::collection::vec((int_value(), float_value(), text_value(), 0i32..4), 0..300),
            key_order in Just(()).prop_perturb(|_, mut rng| { let mut k = vec![0usize, 1, 2, 3]; for i in (1..4).rev() { k.swap(i, rng.random_range(0..=i)); } k }),
            take in 1usize..5,
        ) {
            let cols = vec![
                column_of(ColumnType::Fixed { width: 8 }, &rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>()),
                column_of(ColumnType::Fixed { width: 8 }, &rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>()),
                column_of(ColumnType::Var, &rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>()),
                column_of(ColumnType::Fixed { width: 4 }, &rows.iter().map(|r| Some(r.3.to_le_bytes().to_vec())).collect::<Vec<_>>()),
            ];
            let kinds = [SortKind::SignedInt, SortKind::Float, SortKind::Bytes, SortKind::SignedInt];
            let keys: Vec<SortColumn> = key_order[..take.min(4)].iter().map(|&c| SortColumn { column: c, kind: kinds[c] }).collect();
            let expected = sort_permutation(&cols, rows.len(), &keys, &mut |_, _, _| Ordering::Equal);
            prop_assert_eq!(sort_by_codes(&cols, rows.len(), &keys), expected);
        }
    }
}
