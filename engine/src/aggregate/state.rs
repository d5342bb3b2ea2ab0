//! Aggregate states, one column of state per aggregate over all groups (a `Vec` indexed
//! by group), updated a batch at a time from typed inputs (input.rs), merged across
//! threads, finished into values.

use super::distinct::DistinctSet;
use super::input::Input;
use super::percentile::Counts;
use super::ddsketch::IntKeys;
use super::sketch::{self, Quantile, Uniq};
use super::{AggFunc, AggValue, ValueKind};
use crate::column::{compare_values, float_of, sign_extend, SortKind};
use crate::range_reader::Fetched;
use std::cmp::Ordering;

/// One aggregate's state for every group.
pub enum State {
    Count(Vec<i64>),
    /// Integer sum (exact, i128) and how many values went in (0: the sum is NULL).
    SumInt {
        sum: Vec<i128>,
        n: Vec<i64>,
    },
    /// Float sum, how many values went in, and whether one was infinite or NaN (Postgres
    /// raises an overflow error when finite inputs sum to infinity). `single`: sum(float4),
    /// which Postgres accumulates in single precision.
    SumFloat {
        sum: Vec<f64>,
        n: Vec<i64>,
        nonfinite: Vec<bool>,
        single: bool,
    },
    /// Extremes of integers (dates, timestamps): the value and whether there is one;
    /// `width` is the column's, to give the value back in its bytes.
    MinMaxInt {
        best: Vec<i64>,
        has: Vec<bool>,
        width: usize,
        max: bool,
    },
    /// Extremes of floats in Postgres' order (NaN above everything).
    MinMaxFloat {
        best: Vec<f64>,
        has: Vec<bool>,
        width: usize,
        max: bool,
    },
    /// The current extreme value's bytes, None before the first value.
    MinMax {
        best: Vec<Option<Box<[u8]>>>,
        kind: SortKind,
        max: bool,
    },
    Bool {
        acc: Vec<Option<bool>>,
        and: bool,
    },
    /// Distinct values (distinct.rs): integers exact, other values exact up to 15 bytes,
    /// a 128-bit hash of longer ones; and the count of those of earlier passes
    /// (Share::Distinct), already freed.
    Distinct { sets: Vec<DistinctSet>, counted: Vec<i64> },
    /// Each group's values and how often each came in (percentile.rs).
    Percentile(Counts),
    Uniq(Vec<Uniq>),
    /// Made at a group's first value.
    /// `keys`: the thread's cache of integers' bucket keys.
    Quantile { sketches: Vec<Option<Box<Quantile>>>, keys: IntKeys },
}

/// A value as a count-distinct key: Postgres' equality, so floats are normalized (-0 is
/// 0, every NaN the same). Keys of similar values are close numbers (integers are
/// themselves; values of up to 15 bytes their length, then their bytes as a big-endian
/// number), so the sorted runs of large sets (key_runs.rs) store them in a byte or two.
fn distinct_key(kind: ValueKind, v: &[u8]) -> u128 {
    match kind {
        ValueKind::Float => super::float_key(float_of(v)).to_bits() as u128,
        ValueKind::Int if matches!(v.len(), 1 | 2 | 4 | 8) => (sign_extend(v) as u64 ^ (1 << 63)) as u128,
        // The length is part of the key: "a" and "\0a" differ.
        _ if v.len() < 16 => be_right_aligned(v) | ((v.len() as u128) << 120),
        _ => xxhash_rust::xxh3::xxh3_128(v) | (1u128 << 127),
    }
}

/// Up to 15 bytes as a big-endian number.
#[inline]
fn be_right_aligned(v: &[u8]) -> u128 {
    match v.len() {
        0 => 0,
        n => le_bytes(v).swap_bytes() >> (8 * (16 - n)),
    }
}

/// Up to 16 bytes as a little-endian integer (the bytes past them zero), by whole-word
/// loads: a copy of a variable length is a call to memmove, the most of a key's cost.
#[inline]
fn le_bytes(v: &[u8]) -> u128 {
    let n = v.len();
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    if n >= 8 {
        let lo = word(&v[..8]);
        // The last 8 bytes, of which the top n - 8 are those past the first word.
        let hi = if n == 8 { 0 } else { word(&v[n - 8..]) >> (8 * (16 - n)) };
        lo as u128 | (hi as u128) << 64
    } else {
        v.iter().rev().fold(0u128, |acc, &b| acc << 8 | b as u128)
    }
}

/// Byte equality, short values by word loads (a call to memcmp per row was a tenth of
/// a count(DISTINCT) of short texts).
#[inline]
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && if a.len() <= 16 { le_bytes(a) == le_bytes(b) } else { a == b }
}

/// a + b in the precision of the sum's type.
#[inline]
fn add_float(a: f64, b: f64, single: bool) -> f64 {
    if single {
        (a as f32 + b as f32) as f64
    } else {
        a + b
    }
}

/// Postgres' float order: NaN is above every number and equal to itself.
#[inline]
fn float_gt(a: f64, b: f64) -> bool {
    if a.is_nan() {
        !b.is_nan()
    } else {
        !b.is_nan() && a > b
    }
}

/// Whether `x` replaces `best` as the extreme.
#[inline]
fn better<T: PartialOrd>(x: T, best: T, max: bool) -> bool {
    if max {
        x > best
    } else {
        x < best
    }
}

impl State {
    pub fn new(f: &AggFunc) -> State {
        // Extremes learn their column's width from the first input.
        let width = 0;
        match *f {
            AggFunc::CountStar | AggFunc::Count { .. } => State::Count(Vec::new()),
            AggFunc::Sum { kind: ValueKind::Float, .. } | AggFunc::Avg { kind: ValueKind::Float, .. } => {
                State::SumFloat { sum: Vec::new(), n: Vec::new(), nonfinite: Vec::new(), single: false }
            }
            AggFunc::Sum { .. } | AggFunc::Avg { .. } => State::SumInt { sum: Vec::new(), n: Vec::new() },
            AggFunc::Min { kind, .. } | AggFunc::Max { kind, .. } => {
                let max = matches!(f, AggFunc::Max { .. });
                match kind {
                    ValueKind::Int => State::MinMaxInt { best: Vec::new(), has: Vec::new(), width, max },
                    ValueKind::Float => State::MinMaxFloat { best: Vec::new(), has: Vec::new(), width, max },
                    ValueKind::Bytes => State::MinMax { best: Vec::new(), kind: kind.sort_kind(), max },
                }
            }
            AggFunc::BoolAnd { .. } => State::Bool { acc: Vec::new(), and: true },
            AggFunc::BoolOr { .. } => State::Bool { acc: Vec::new(), and: false },
            AggFunc::CountDistinct { .. } => State::Distinct { sets: Vec::new(), counted: Vec::new() },
            AggFunc::Percentile { .. } => State::Percentile(Counts::default()),
            AggFunc::Uniq { .. } => State::Uniq(Vec::new()),
            AggFunc::Quantile { .. } => State::Quantile { sketches: Vec::new(), keys: IntKeys::default() },
        }
    }

    /// Makes room for groups up to `groups`.
    pub fn grow(&mut self, groups: usize) {
        match self {
            State::Count(c) => c.resize(groups, 0),
            State::SumInt { sum, n } => {
                sum.resize(groups, 0);
                n.resize(groups, 0);
            }
            State::SumFloat { sum, n, nonfinite, .. } => {
                sum.resize(groups, 0.0);
                n.resize(groups, 0);
                nonfinite.resize(groups, false);
            }
            State::MinMaxInt { best, has, .. } => {
                best.resize(groups, 0);
                has.resize(groups, false);
            }
            State::MinMaxFloat { best, has, .. } => {
                best.resize(groups, 0.0);
                has.resize(groups, false);
            }
            State::MinMax { best, .. } => best.resize(groups, None),
            State::Bool { acc, .. } => acc.resize(groups, None),
            State::Distinct { sets, counted } => {
                sets.resize_with(groups, DistinctSet::default);
                counted.resize(groups, 0);
            }
            State::Percentile(c) => c.grow(groups),
            State::Uniq(u) => u.resize_with(groups, Uniq::new),
            State::Quantile { sketches, .. } => sketches.resize(groups, None),
        }
    }

    /// Adds the selected `rows` of a batch (group of each in `gids`) from `input` (None:
    /// count(*)). Returns the change in bytes of memory held (distinct values, new
    /// extremes), negative when a distinct set measured itself smaller than counted.
    /// `share`: (passes, pass) of a Distinct share, whose pass adds only its values.
    pub fn update(&mut self, f: &AggFunc, input: Option<&Input>, rows: &[u32], gids: &[u32], share: Option<(u32, u32)>) -> isize {
        match (self, input) {
            (State::Count(c), None) => gids.iter().for_each(|&g| c[g as usize] += 1),
            (State::Count(c), Some(input)) if !input.has_nulls() => gids.iter().for_each(|&g| c[g as usize] += 1),
            (State::Count(c), Some(input)) => {
                for (i, (&r, &g)) in rows.iter().zip(gids).enumerate() {
                    c[g as usize] += input.valid(i, r) as i64;
                }
            }
            (State::SumInt { sum, n }, Some(Input::Ints { v, valid, .. })) => match valid {
                None => {
                    for (&x, &g) in v.iter().zip(gids) {
                        sum[g as usize] += x as i128;
                        n[g as usize] += 1;
                    }
                }
                Some(valid) => {
                    for ((&x, &g), &ok) in v.iter().zip(gids).zip(valid) {
                        sum[g as usize] += (x as i128) * ok as i128;
                        n[g as usize] += ok as i64;
                    }
                }
            },
            (State::SumFloat { sum, n, nonfinite, single }, Some(Input::Floats { v, valid, single: s })) => {
                *single = *s && matches!(f, AggFunc::Sum { .. });
                for (i, (&x, &g)) in v.iter().zip(gids).enumerate() {
                    if valid.as_ref().is_none_or(|valid| valid[i]) {
                        let g = g as usize;
                        sum[g] = add_float(sum[g], x, *single);
                        n[g] += 1;
                        nonfinite[g] |= !x.is_finite();
                    }
                }
            }
            (State::MinMaxInt { best, has, max, width }, Some(Input::Ints { v, valid, width: w })) => {
                *width = *w;
                for (i, (&x, &g)) in v.iter().zip(gids).enumerate() {
                    let g = g as usize;
                    if valid.as_ref().is_none_or(|valid| valid[i]) && (!has[g] || better(x, best[g], *max)) {
                        best[g] = x;
                        has[g] = true;
                    }
                }
            }
            (State::MinMaxFloat { best, has, max, width }, Some(Input::Floats { v, valid, single })) => {
                *width = if *single { 4 } else { 8 };
                for (i, (&x, &g)) in v.iter().zip(gids).enumerate() {
                    let g = g as usize;
                    if valid.as_ref().is_none_or(|valid| valid[i]) && (!has[g] || if *max { float_gt(x, best[g]) } else { float_gt(best[g], x) }) {
                        best[g] = x;
                        has[g] = true;
                    }
                }
            }
            (State::MinMax { best, kind, max }, Some(Input::Bytes(col))) => {
                let mut added = 0;
                for (&r, &g) in rows.iter().zip(gids) {
                    let Some(x) = col.get(r) else { continue };
                    let slot = &mut best[g as usize];
                    let replace = slot.as_ref().is_none_or(|b| {
                        let o = compare_values(*kind, x, b);
                        if *max {
                            o == Ordering::Greater
                        } else {
                            o == Ordering::Less
                        }
                    });
                    if replace {
                        added += x.len();
                        *slot = Some(x.into());
                    }
                }
                return added as isize;
            }
            (State::Bool { acc, and }, Some(Input::Bytes(col))) => {
                for (&r, &g) in rows.iter().zip(gids) {
                    if let Some(x) = col.get(r) {
                        let b = x.first().is_some_and(|&b| b != 0);
                        let a = &mut acc[g as usize];
                        *a = Some(match *a {
                            None => b,
                            Some(p) if *and => p && b,
                            Some(p) => p || b,
                        });
                    }
                }
            }
            (State::Distinct { sets, .. }, Some(Input::Bytes(col))) => return distinct_update(sets, f.kind(), col, rows, gids, share),
            (State::Percentile(c), Some(input)) => return c.update(input, gids) as isize,
            (State::Uniq(u), Some(Input::Bytes(col))) => return uniq_update(u, f.kind(), col, rows, gids) as isize,
            (State::Quantile { sketches, keys }, Some(Input::Ints { v, valid, .. })) => {
                let cache = keys.held();
                let added = quantile_update(sketches, v.iter().copied(), valid.as_deref(), gids, |s, x| s.add_int(x, keys));
                return (added + keys.held() - cache) as isize;
            }
            (State::Quantile { sketches, .. }, Some(Input::Floats { v, valid, .. })) => return quantile_update(sketches, v.iter().copied(), valid.as_deref(), gids, Quantile::add) as isize,
            _ => unreachable!("an aggregate's input has the shape its state reads"),
        }
        0
    }

    /// Folds group `from` of `other` (the same aggregate) into group `to`.
    pub fn merge_group(&mut self, other: &mut State, from: usize, to: usize) {
        match (self, other) {
            (State::Count(a), State::Count(b)) => a[to] += b[from],
            (State::SumInt { sum, n }, State::SumInt { sum: s2, n: n2 }) => {
                sum[to] += s2[from];
                n[to] += n2[from];
            }
            (State::SumFloat { sum, n, nonfinite, single }, State::SumFloat { sum: s2, n: n2, nonfinite: f2, single: single2 }) => {
                *single |= *single2;
                sum[to] = add_float(sum[to], s2[from], *single);
                n[to] += n2[from];
                nonfinite[to] |= f2[from];
            }
            (State::MinMaxInt { best, has, max, width }, State::MinMaxInt { best: b2, has: h2, width: w2, .. }) => {
                *width = (*width).max(*w2);
                if h2[from] && (!has[to] || better(b2[from], best[to], *max)) {
                    best[to] = b2[from];
                    has[to] = true;
                }
            }
            (State::MinMaxFloat { best, has, max, width }, State::MinMaxFloat { best: b2, has: h2, width: w2, .. }) => {
                *width = (*width).max(*w2);
                let x = b2[from];
                if h2[from] && (!has[to] || if *max { float_gt(x, best[to]) } else { float_gt(best[to], x) }) {
                    best[to] = x;
                    has[to] = true;
                }
            }
            (State::MinMax { best, kind, max }, State::MinMax { best: b2, .. }) => {
                if let Some(x) = b2[from].take() {
                    let replace = best[to].as_ref().is_none_or(|b| {
                        let o = compare_values(*kind, &x, b);
                        if *max {
                            o == Ordering::Greater
                        } else {
                            o == Ordering::Less
                        }
                    });
                    if replace {
                        best[to] = Some(x);
                    }
                }
            }
            (State::Bool { acc, and }, State::Bool { acc: a2, .. }) => {
                if let Some(b) = a2[from] {
                    acc[to] = Some(match acc[to] {
                        None => b,
                        Some(p) if *and => p && b,
                        Some(p) => p || b,
                    });
                }
            }
            (State::Distinct { sets: a, counted }, State::Distinct { sets: b, counted: c2 }) => {
                counted[to] += c2[from];
                a[to].merge(std::mem::take(&mut b[from]));
            }
            (State::Percentile(a), State::Percentile(b)) => a.merge_group(b, from, to),
            (State::Uniq(a), State::Uniq(b)) => a[to].merge(&b[from]),
            (State::Quantile { sketches: a, .. }, State::Quantile { sketches: b, .. }) => {
                if let Some(other) = b[from].take() {
                    match &mut a[to] {
                        Some(mine) => mine.merge(&other),
                        slot => *slot = Some(other),
                    }
                }
            }
            _ => unreachable!("states of one aggregate have one shape"),
        }
    }

    /// The value of group `g`.
    pub fn value(&self, f: &AggFunc, g: usize) -> AggValue {
        match self {
            State::Count(c) => AggValue::Int(c[g] as i128),
            State::SumInt { sum, n } => match (f, n[g]) {
                (_, 0) => AggValue::Null,
                (AggFunc::Avg { .. }, n) => AggValue::IntSumCount { sum: sum[g], count: n },
                _ => AggValue::Int(sum[g]),
            },
            State::SumFloat { sum, n, nonfinite, .. } => match (f, n[g]) {
                (_, 0) => AggValue::Null,
                _ if !sum[g].is_finite() && !nonfinite[g] => AggValue::OutOfRange,
                (AggFunc::Avg { .. }, n) => AggValue::Float(sum[g] / n as f64),
                _ => AggValue::Float(sum[g]),
            },
            State::MinMaxInt { best, has, width, .. } => match has[g] {
                false => AggValue::Null,
                true => AggValue::Bytes(best[g].to_le_bytes()[..*width].to_vec()),
            },
            State::MinMaxFloat { best, has, width, .. } => match (has[g], width) {
                (false, _) => AggValue::Null,
                (true, 4) => AggValue::Bytes((best[g] as f32).to_le_bytes().to_vec()),
                (true, _) => AggValue::Bytes(best[g].to_le_bytes().to_vec()),
            },
            State::MinMax { best, .. } => best[g].as_ref().map_or(AggValue::Null, |b| AggValue::Bytes(b.to_vec())),
            State::Bool { acc, .. } => acc[g].map_or(AggValue::Null, AggValue::Bool),
            State::Distinct { sets, counted } => AggValue::Int(sets[g].len() as i128 + counted[g] as i128),
            State::Percentile(c) => match f {
                AggFunc::Percentile { kind, p, .. } => c.value(*p, *kind, g),
                _ => unreachable!("a percentile state is a percentile's"),
            },
            State::Uniq(u) => AggValue::Int(u[g].estimate() as i128),
            State::Quantile { sketches, .. } => match (f, &sketches[g]) {
                (AggFunc::Quantile { level, .. }, Some(s)) => s.value(*level).map_or(AggValue::Null, AggValue::Float),
                _ => AggValue::Null,
            },
        }
    }

    pub fn is_distinct(&self) -> bool {
        matches!(self, State::Distinct { .. })
    }

    /// Bytes of values held beyond the fixed per-group state (as update counts them).
    pub fn held(&self) -> usize {
        match self {
            State::Distinct { sets, .. } => sets.iter().map(DistinctSet::held).sum(),
            State::MinMax { best, .. } => best.iter().map(|b| b.as_ref().map_or(0, |b| b.len())).sum(),
            State::Percentile(c) => c.held(),
            State::Uniq(u) => u.iter().map(Uniq::held).sum(),
            State::Quantile { sketches, keys } => sketches.iter().flatten().map(|s| s.held()).sum::<usize>() + keys.held(),
            _ => 0,
        }
    }

    /// Ends a pass of a Distinct share: counts the values held, frees them.
    pub fn count_and_clear_distinct(&mut self) {
        if let State::Distinct { sets, counted } = self {
            for (s, c) in sets.iter_mut().zip(counted.iter_mut()) {
                *c += s.len() as i64;
                *s = DistinctSet::default();
            }
        }
    }
}

/// Calls `f(group, code, value)` for each selected non-NULL row whose value differs from
/// the previous row of its group (sorted parts keep equal values together, so repeats are
/// skipped before any hashing); `code` is the value's dictionary code where it has one.
fn each_new_value<'c>(col: &'c Fetched, rows: &[u32], gids: &[u32], mut f: impl FnMut(u32, Option<u32>, &'c [u8])) {
    match col {
        Fetched::Codes { codes, validity, dict } => {
            let mut prev: Option<(u32, u32)> = None;
            for (&r, &g) in rows.iter().zip(gids) {
                if validity.as_ref().is_some_and(|v| !v.get(r as usize)) {
                    continue;
                }
                let code = codes[r as usize];
                if prev != Some((g, code)) {
                    f(g, Some(code), dict.value(code as usize));
                    prev = Some((g, code));
                }
            }
        }
        Fetched::Values(c) => {
            let mut prev: Option<(u32, &[u8])> = None;
            for (&r, &g) in rows.iter().zip(gids) {
                let Some(v) = c.get(r as usize) else { continue };
                if !prev.is_some_and(|(pg, pv)| pg == g && same_bytes(pv, v)) {
                    f(g, None, v);
                    prev = Some((g, v));
                }
            }
        }
    }
}

/// count(DISTINCT) over a batch. Under a Distinct share only the values of this pass go in.
fn distinct_update(sets: &mut [DistinctSet], kind: ValueKind, col: &Fetched, rows: &[u32], gids: &[u32], share: Option<(u32, u32)>) -> isize {
    let mut added = 0;
    let int = kind == ValueKind::Int;
    each_new_value(col, rows, gids, |g, _, v| {
        // The key once: a share's pass needs it, and so do values outside the bitmaps.
        let key = (share.is_some() || !int).then(|| distinct_key(kind, v));
        if let (Some((passes, pass)), Some(k)) = (share, key) {
            if super::pass_of(k, passes) != pass {
                return;
            }
        }
        let set = &mut sets[g as usize];
        let key = || key.unwrap_or_else(|| distinct_key(kind, v));
        added += if int && matches!(v.len(), 1 | 2 | 4 | 8) { set.insert_int(sign_extend(v), key) } else { set.insert_key(key()) };
    });
    added
}

/// mergetree.uniq over a batch: values hashed canonically (sketch.rs), a dictionary's
/// once per code (when the dictionary is smaller than the batch). Returns the bytes the
/// sketches grew by.
fn uniq_update(u: &mut [Uniq], kind: ValueKind, col: &Fetched, rows: &[u32], gids: &[u32]) -> usize {
    let mut added = 0;
    if let Fetched::Codes { codes, validity: None, dict } = col {
        if dict.len() <= rows.len() {
            // Codes without NULLs (a block's runs, a small dictionary): every value hashed
            // once, then a register per row.
            let hashes: Vec<u64> = (0..dict.len()).map(|c| sketch::hash_value(kind, dict.value(c))).collect();
            for (&r, &g) in rows.iter().zip(gids) {
                added += u[g as usize].add_hash(hashes[codes[r as usize] as usize]);
            }
            return added;
        }
    }
    let mut hashes: Vec<Option<u64>> = match col {
        Fetched::Codes { dict, .. } if dict.len() <= rows.len() => vec![None; dict.len()],
        _ => Vec::new(),
    };
    // The last value's hash: sorted parts repeat a value over rows of different groups
    // (a user's events), which each_new_value passes on.
    let mut last: Option<(&[u8], u64)> = None;
    each_new_value(col, rows, gids, |g, code, v| {
        let h = match code.and_then(|c| hashes.get_mut(c as usize)) {
            Some(h) => *h.get_or_insert_with(|| sketch::hash_value(kind, v)),
            None => match last {
                Some((lv, lh)) if same_bytes(lv, v) => lh,
                _ => {
                    let h = sketch::hash_value(kind, v);
                    last = Some((v, h));
                    h
                }
            },
        };
        added += u[g as usize].add_hash(h);
    });
    added
}

/// mergetree.quantile over a batch's values (by selection position).
fn quantile_update<T>(q: &mut [Option<Box<Quantile>>], values: impl Iterator<Item = T>, valid: Option<&[bool]>, gids: &[u32], mut add: impl FnMut(&mut Quantile, T)) -> usize {
    let mut added = 0;
    for (i, (x, &g)) in values.zip(gids).enumerate() {
        if valid.is_some_and(|v| !v[i]) {
            continue;
        }
        let slot = &mut q[g as usize];
        let s = slot.get_or_insert_with(|| {
            added += 128;
            Box::default()
        });
        let before = s.held();
        add(s, x);
        added += s.held().saturating_sub(before);
    }
    added
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// Word loads give the bytes' little-endian value, as a zero-padded copy does.
        #[test]
        fn le_bytes_is_the_padded_value(v in proptest::collection::vec(any::<u8>(), 0..=16)) {
            let mut b = [0u8; 16];
            b[..v.len()].copy_from_slice(&v);
            prop_assert_eq!(super::le_bytes(&v), u128::from_le_bytes(b));
        }

        /// Short values' keys are their length and big-endian value: distinct values,
        /// distinct keys.
        #[test]
        fn short_keys_are_exact(a in proptest::collection::vec(any::<u8>(), 0..16), b in proptest::collection::vec(any::<u8>(), 0..16)) {
            let key = |v: &[u8]| super::distinct_key(super::ValueKind::Bytes, v);
            prop_assert_eq!(key(&a) == key(&b), a == b);
            let mut padded = [0u8; 16];
            padded[16 - a.len()..].copy_from_slice(&a);
            prop_assert_eq!(super::be_right_aligned(&a), u128::from_be_bytes(padded));
        }
    }
}
