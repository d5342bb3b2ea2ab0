//! Exact percentiles (percentile_cont, percentile_disc): per group, each distinct value and
//! how often it came in. Values repeat a lot in practice (durations in ms, prices), so
//! this holds far less than the sorted rows Postgres' tuplesort does; at the end the
//! values are put in Postgres' order and the fraction picks its rank, computed as
//! percentile_cont_final / percentile_disc_final do.

use super::input::Input;
use super::{AggValue, ValueKind};
use hashbrown::HashMap;
use std::cmp::Ordering;

/// Bytes an entry of a map holds (key, count, control byte and load), for the budget.
const ENTRY_BYTES: usize = 24;

/// A dense window of integer counts may span this many values regardless of how many of
/// them occur (32 kB of counts)...
const DENSE_MIN_SPAN: i64 = 4096;
/// ...or this many times the values that occur (so at least an eighth of the slots are
/// used: 32 bytes per value at worst, against a map's 24, for no hashing).
const DENSE_FILL: i64 = 8;

/// Which percentile and at what fraction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percentile {
    /// percentile_cont (interpolated, float8) or percentile_disc (a value of the input).
    pub cont: bool,
    /// In [0, 1]: planning leaves other fractions to Postgres, which raises its error.
    pub fraction: f64,
}

/// One group's values and how often each came in: integers in a narrow range (durations
/// in ms, ages, small counts) as an array of counts indexed from `base`, without hashing
/// (u32 counts: half the memory; a count beyond u32 turns the window into a map);
/// anything else (floats as bits, wide-ranging integers) in a map.
#[derive(Clone, Debug, Default)]
enum GroupCounts {
    #[default]
    Empty,
    Dense { base: i64, counts: Vec<u32>, used: i64 },
    Sparse(HashMap<u64, u64>),
}

impl GroupCounts {
    fn held(&self) -> usize {
        match self {
            GroupCounts::Empty => 0,
            GroupCounts::Dense { counts, .. } => counts.len() * 4,
            GroupCounts::Sparse(m) => m.len() * ENTRY_BYTES,
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, GroupCounts::Empty)
    }

    /// Adds `n` of value `x` (an integer when `int`, else float bits).
    #[inline]
    fn add(&mut self, x: u64, n: u64, int: bool) {
        let mut overflow = false;
        if let GroupCounts::Dense { base, counts, used } = self {
            let v = x as i64;
            if let Some(slot) = v.checked_sub(*base).and_then(|d| usize::try_from(d).ok()).and_then(|d| counts.get_mut(d)) {
                if let Some(sum) = u32::try_from(n).ok().and_then(|n| slot.checked_add(n)) {
                    *used += (*slot == 0) as i64;
                    *slot = sum;
                    return;
                }
                // A count beyond u32: a map from here on.
                overflow = true;
            }
        }
        if overflow {
            *self = GroupCounts::Sparse(self.entries().into_iter().collect());
        }
        if let GroupCounts::Dense { base, counts, used } = self {
            let v = x as i64;
            // Widen the window (at least doubling it, toward the new value, so sorted input
            // costs amortized constant time) if it stays dense enough, else use a map.
            let (v, old_base, len) = (v as i128, *base as i128, counts.len() as i128);
            let (lo, hi) = (old_base.min(v), (old_base + len - 1).max(v));
            let limit = DENSE_MIN_SPAN.max(DENSE_FILL.saturating_mul(*used + 1)) as i128;
            if hi - lo < limit && n <= u32::MAX as u64 {
                let new_len = (hi - lo + 1).max(2 * len).min(limit);
                let new_base = if v < old_base { (hi - new_len + 1).max(i64::MIN as i128) } else { lo };
                // The window's last value stays within i64.
                let new_base = new_base.min(i64::MAX as i128 - new_len + 1);
                let mut wider = vec![0u32; new_len as usize];
                let at = (old_base - new_base) as usize;
                wider[at..at + counts.len()].copy_from_slice(counts);
                wider[(v - new_base) as usize] = n as u32;
                *counts = wider;
                *base = new_base as i64;
                *used += 1;
                return;
            }
            let map = counts.iter().enumerate().filter(|(_, &c)| c > 0).map(|(i, &c)| ((*base as i128 + i as i128) as u64, c as u64)).collect();
            *self = GroupCounts::Sparse(map);
        }
        match self {
            GroupCounts::Empty if int && n <= u32::MAX as u64 => *self = GroupCounts::Dense { base: x as i64, counts: vec![n as u32], used: 1 },
            GroupCounts::Empty => *self = GroupCounts::Sparse(HashMap::from([(x, n)])),
            GroupCounts::Sparse(m) => *m.entry(x).or_insert(0) += n,
            GroupCounts::Dense { .. } => unreachable!("handled above"),
        }
    }

    /// (value, count) of every value that occurs, in no particular order.
    fn entries(&self) -> Vec<(u64, u64)> {
        match self {
            GroupCounts::Empty => Vec::new(),
            GroupCounts::Dense { base, counts, .. } => counts.iter().enumerate().filter(|(_, &c)| c > 0).map(|(i, &c)| ((*base as i128 + i as i128) as u64, c as u64)).collect(),
            GroupCounts::Sparse(m) => m.iter().map(|(&k, &c)| (k, c)).collect(),
        }
    }
}

/// Every group's values (i64, or f64 bits) and their counts.
#[derive(Default)]
pub struct Counts {
    groups: Vec<GroupCounts>,
    /// The input's width in bytes (the result of percentile_disc has the input's type).
    width: usize,
}

/// Postgres' order of float8: NaN above everything (equal to itself), -0 equal to 0.
fn float_order(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

impl Counts {
    pub fn grow(&mut self, groups: usize) {
        self.groups.resize_with(groups, GroupCounts::default);
    }

    /// Adds the valid values of a batch; returns the bytes the groups grew by.
    pub fn update(&mut self, input: &Input, gids: &[u32]) -> usize {
        let mut added = 0isize;
        let mut add = |g: u32, bits: u64, int: bool, groups: &mut Vec<GroupCounts>| {
            let c = &mut groups[g as usize];
            let before = c.held();
            c.add(bits, 1, int);
            added += c.held() as isize - before as isize;
        };
        match input {
            Input::Ints { v, valid, width } => {
                self.width = *width;
                for (i, (&x, &g)) in v.iter().zip(gids).enumerate() {
                    if valid.as_ref().is_some_and(|valid| !valid[i]) {
                        continue;
                    }
                    // The common case inline: a value inside its group's dense window.
                    if let GroupCounts::Dense { base, counts, used } = &mut self.groups[g as usize] {
                        if let Some(slot) = x.checked_sub(*base).and_then(|d| usize::try_from(d).ok()).and_then(|d| counts.get_mut(d)) {
                            if *slot < u32::MAX {
                                *used += (*slot == 0) as i64;
                                *slot += 1;
                                continue;
                            }
                        }
                    }
                    add(g, x as u64, true, &mut self.groups);
                }
            }
            Input::Floats { v, valid, single } => {
                self.width = if *single { 4 } else { 8 };
                for (i, (&x, &g)) in v.iter().zip(gids).enumerate() {
                    if valid.as_ref().is_none_or(|valid| valid[i]) {
                        add(g, x.to_bits(), false, &mut self.groups);
                    }
                }
            }
            Input::Bytes(_) => unreachable!("percentiles read ints and floats"),
        }
        // A dense window turning into a map can shrink; the caller's total only grows.
        added.max(0) as usize
    }

    pub fn merge_group(&mut self, other: &mut Counts, from: usize, to: usize) {
        self.width = self.width.max(other.width);
        let theirs = std::mem::take(&mut other.groups[from]);
        let mine = &mut self.groups[to];
        if mine.is_empty() {
            *mine = theirs;
            return;
        }
        // Two dense windows: their union made once (adding value by value would widen
        // the window over and over).
        if let (GroupCounts::Dense { base: b1, counts: c1, used: u1 }, GroupCounts::Dense { base: b2, counts: c2, used: u2 }) = (&*mine, &theirs) {
            let lo = (*b1).min(*b2) as i128;
            let hi = (*b1 as i128 + c1.len() as i128 - 1).max(*b2 as i128 + c2.len() as i128 - 1);
            if hi - lo < DENSE_MIN_SPAN.max(DENSE_FILL.saturating_mul(u1 + u2)) as i128 {
                let mut union = vec![0u32; (hi - lo + 1) as usize];
                let mut fits = true;
                for (b, c) in [(*b1, c1), (*b2, c2)] {
                    let at = (b as i128 - lo) as usize;
                    union[at..at + c.len()].iter_mut().zip(c.iter()).for_each(|(u, x)| {
                        let (sum, over) = u.overflowing_add(*x);
                        *u = sum;
                        fits &= !over;
                    });
                }
                if fits {
                    let used = union.iter().filter(|&&c| c > 0).count() as i64;
                    *mine = GroupCounts::Dense { base: lo as i64, counts: union, used };
                    return;
                }
            }
        }
        let int = matches!(theirs, GroupCounts::Dense { .. }) || matches!(mine, GroupCounts::Dense { .. });
        for (k, c) in theirs.entries() {
            mine.add(k, c, int);
        }
    }

    pub fn held(&self) -> usize {
        self.groups.iter().map(GroupCounts::held).sum()
    }

    /// Group `g`'s percentile; NULL when no value came in. `kind` is the input's: an
    /// integer input of percentile_cont (a float8 cast of an integer column, exact) is
    /// interpolated over the values as floats.
    pub fn value(&self, p: Percentile, kind: ValueKind, g: usize) -> AggValue {
        let c = &self.groups[g];
        if c.is_empty() {
            return AggValue::Null;
        }
        let float = kind == ValueKind::Float;
        let mut values = c.entries();
        if float {
            values.sort_unstable_by(|a, b| float_order(f64::from_bits(a.0), f64::from_bits(b.0)));
        } else {
            values.sort_unstable_by_key(|&(k, _)| k as i64);
        }
        let rows: u64 = values.iter().map(|v| v.1).sum();
        // The value at 0-based rank r.
        let at = |r: u64| {
            let mut seen = 0;
            for &(k, c) in &values {
                seen += c;
                if r < seen {
                    return k;
                }
            }
            values.last().map_or(0, |v| v.0)
        };
        let as_float = |bits: u64| if float { f64::from_bits(bits) } else { bits as i64 as f64 };
        if p.cont {
            let pos = p.fraction * (rows - 1) as f64;
            let (first, second) = (pos.floor(), pos.ceil());
            let lo = as_float(at(first as u64));
            if first == second {
                return AggValue::Float(lo);
            }
            let hi = as_float(at(second as u64));
            return AggValue::Float(lo + (pos - first) * (hi - lo));
        }
        let rownum = (p.fraction * rows as f64).ceil() as u64;
        let bits = at(rownum.max(1) - 1);
        AggValue::Bytes(match (float, self.width) {
            (true, 4) => (f64::from_bits(bits) as f32).to_le_bytes().to_vec(),
            (true, _) => bits.to_le_bytes().to_vec(),
            (false, w) => bits.to_le_bytes()[..w.max(1)].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts_of(values: &[f64]) -> Counts {
        let mut c = Counts::default();
        c.grow(1);
        c.update(&Input::Floats { v: values.to_vec(), valid: None, single: false }, &vec![0; values.len()]);
        c
    }

    #[test]
    fn matches_postgres_definitions() {
        let c = counts_of(&[4.0, 1.0, 3.0, 2.0, 2.0]);
        let cont = |f| c.value(Percentile { cont: true, fraction: f }, ValueKind::Float, 0);
        let disc = |f| c.value(Percentile { cont: false, fraction: f }, ValueKind::Float, 0);
        // Sorted 1 2 2 3 4: median 2; 0.9 lies 0.6 of the way from 3 to 4.
        assert_eq!(cont(0.5), AggValue::Float(2.0));
        assert_eq!(cont(0.9), AggValue::Float(3.0 + (0.9 * 4.0 - 3.0) * (4.0 - 3.0)));
        assert_eq!(cont(0.0), AggValue::Float(1.0));
        assert_eq!(cont(1.0), AggValue::Float(4.0));
        // disc: the first value whose cumulative share reaches the fraction.
        assert_eq!(disc(0.5), AggValue::Bytes(2.0f64.to_le_bytes().to_vec()));
        assert_eq!(disc(0.0), AggValue::Bytes(1.0f64.to_le_bytes().to_vec()));
        assert_eq!(disc(0.61), AggValue::Bytes(3.0f64.to_le_bytes().to_vec()));
        // NaN sorts last.
        let n = counts_of(&[f64::NAN, 1.0]);
        assert_eq!(n.value(Percentile { cont: false, fraction: 1.0 }, ValueKind::Float, 0), AggValue::Bytes(f64::NAN.to_le_bytes().to_vec()));
        assert_eq!(Counts { groups: vec![GroupCounts::Empty], width: 8 }.value(Percentile { cont: true, fraction: 0.5 }, ValueKind::Float, 0), AggValue::Null);
    }
}

#[cfg(test)]
mod dense_tests {
    use super::*;

    /// Integers through dense windows (narrow, widened, turned into a map) and merges give
    /// the percentiles of the sorted values.
    #[test]
    fn dense_and_sparse_agree_with_sorting() {
        let sets: Vec<Vec<i64>> = vec![
            (0..5000).map(|i| (i * 7919) % 3001 + 5).collect(),
            (0..3000).map(|i| if i % 10 == 0 { i64::MAX - i } else if i % 7 == 0 { i64::MIN + i } else { i % 100 }).collect(),
            (0..2000).map(|i| (i * 104729) % 1_000_000_007 - 500_000_000).collect(),
            vec![-3, -3, 7],
        ];
        for values in sets {
            let mut whole = Counts::default();
            whole.grow(1);
            whole.update(&Input::Ints { v: values.clone(), valid: None, width: 8 }, &vec![0; values.len()]);
            let mut halves = Counts::default();
            halves.grow(2);
            let gids: Vec<u32> = (0..values.len()).map(|i| (i % 2) as u32).collect();
            halves.update(&Input::Ints { v: values.clone(), valid: None, width: 8 }, &gids);
            let mut merged = Counts::default();
            merged.grow(1);
            merged.merge_group(&mut halves, 0, 0);
            merged.merge_group(&mut halves, 1, 0);
            let mut sorted = values.clone();
            sorted.sort_unstable();
            for fraction in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
                let rownum = ((fraction * sorted.len() as f64).ceil() as usize).max(1);
                let want = AggValue::Bytes(sorted[rownum - 1].to_le_bytes().to_vec());
                let p = Percentile { cont: false, fraction };
                assert_eq!(whole.value(p, ValueKind::Int, 0), want);
                assert_eq!(merged.value(p, ValueKind::Int, 0), want);
                let pos = fraction * (sorted.len() - 1) as f64;
                let (lo, hi) = (sorted[pos.floor() as usize] as f64, sorted[pos.ceil() as usize] as f64);
                let cont = if pos.floor() == pos.ceil() { lo } else { lo + (pos - pos.floor()) * (hi - lo) };
                assert_eq!(whole.value(Percentile { cont: true, fraction }, ValueKind::Int, 0), AggValue::Float(cont));
            }
        }
    }

    /// Sorted values (as a part sorted by them delivers) widen the window by doubling:
    /// a million distinct ascending or descending values count in linear time.
    #[test]
    fn sorted_values_widen_geometrically() {
        for desc in [false, true] {
            let mut c = Counts::default();
            c.grow(2);
            let v: Vec<i64> = (0..1_000_000).map(|i| if desc { -i } else { i }).collect();
            let gids: Vec<u32> = (0..v.len()).map(|i| (i >= 500_000) as u32).collect();
            c.update(&Input::Ints { v, valid: None, width: 8 }, &gids);
            let mut other = Counts { groups: vec![std::mem::take(&mut c.groups[1])], width: 8 };
            c.merge_group(&mut other, 0, 0);
            assert!(matches!(c.groups[0], GroupCounts::Dense { .. }));
            let want = if desc { -500_000i64 } else { 499_999 };
            assert_eq!(c.value(Percentile { cont: false, fraction: 0.5 }, ValueKind::Int, 0), AggValue::Bytes(want.to_le_bytes().to_vec()));
        }
    }

    #[test]
    fn narrow_integers_stay_dense() {
        let mut c = Counts::default();
        c.grow(1);
        let v: Vec<i64> = (0..100_000).map(|i| (i * 31) % 3001 + 5).collect();
        c.update(&Input::Ints { v, valid: None, width: 4 }, &vec![0; 100_000]);
        assert!(matches!(c.groups[0], GroupCounts::Dense { .. }));
        // Doubling may leave the window up to twice the span.
        assert!(c.held() >= 3001 * 4 && c.held() <= 2 * 4096 * 4, "{}", c.held());
    }

    /// A count beyond u32 turns the window into a map, the counts kept.
    #[test]
    fn huge_counts_leave_the_window() {
        let mut g = GroupCounts::default();
        g.add(7, 3, true);
        g.add(9, u32::MAX as u64 - 1, true);
        assert!(matches!(g, GroupCounts::Dense { .. }));
        g.add(9, 5, true);
        assert!(matches!(g, GroupCounts::Sparse(_)));
        g.add(8, u64::from(u32::MAX) + 10, true);
        let mut e = g.entries();
        e.sort();
        assert_eq!(e, vec![(7, 3), (8, u64::from(u32::MAX) + 10), (9, u64::from(u32::MAX) + 4)]);
    }
}
