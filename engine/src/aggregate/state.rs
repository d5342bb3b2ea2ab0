//! Aggregate states, one column of state per aggregate over all groups (a `Vec` indexed
//! by group), updated a batch at a time, merged across threads, finished into values.

use super::{AggFunc, AggValue, ValueKind};
use crate::column::{compare_values, float_of, sign_extend, SortKind};
use hashbrown::HashSet;
use std::cmp::Ordering;

/// A column of the batch as the aggregates read it: the value of a row, or None (NULL).
pub trait Values {
    fn get(&self, row: u32) -> Option<&[u8]>;
}

/// One aggregate's state for every group.
pub enum State {
    Count(Vec<i64>),
    /// Integer sum (exact, i128) and how many values went in (0: the sum is NULL).
    SumInt { sum: Vec<i128>, n: Vec<i64> },
    SumFloat { sum: Vec<f64>, n: Vec<i64> },
    /// The current extreme value's bytes, None before the first value.
    MinMax { best: Vec<Option<Box<[u8]>>>, kind: SortKind, max: bool },
    Bool { acc: Vec<Option<bool>>, and: bool },
    /// Distinct values: exact for values of up to 16 bytes, a 128-bit hash of longer ones.
    Distinct(Vec<HashSet<u128>>),
}

/// A value as a count-distinct key: Postgres' equality, so floats are normalized (-0 is
/// 0, every NaN the same).
fn distinct_key(kind: ValueKind, v: &[u8]) -> u128 {
    match kind {
        ValueKind::Float => {
            let x = float_of(v);
            let x = if x == 0.0 { 0.0 } else if x.is_nan() { f64::NAN } else { x };
            x.to_bits() as u128
        }
        _ if v.len() <= 16 => {
            let mut b = [0u8; 16];
            b[..v.len()].copy_from_slice(v);
            // The length is part of the key: "a" and "a\0" differ.
            u128::from_le_bytes(b) ^ ((v.len() as u128) << 120)
        }
        _ => xxhash_rust::xxh3::xxh3_128(v) | (1u128 << 127),
    }
}

impl State {
    pub fn new(f: &AggFunc) -> State {
        match f {
            AggFunc::CountStar | AggFunc::Count { .. } => State::Count(Vec::new()),
            AggFunc::Sum { kind: ValueKind::Float, .. } | AggFunc::Avg { kind: ValueKind::Float, .. } => {
                State::SumFloat { sum: Vec::new(), n: Vec::new() }
            }
            AggFunc::Sum { .. } | AggFunc::Avg { .. } => State::SumInt { sum: Vec::new(), n: Vec::new() },
            AggFunc::Min { kind, .. } => State::MinMax { best: Vec::new(), kind: kind.sort_kind(), max: false },
            AggFunc::Max { kind, .. } => State::MinMax { best: Vec::new(), kind: kind.sort_kind(), max: true },
            AggFunc::BoolAnd { .. } => State::Bool { acc: Vec::new(), and: true },
            AggFunc::BoolOr { .. } => State::Bool { acc: Vec::new(), and: false },
            AggFunc::CountDistinct { .. } => State::Distinct(Vec::new()),
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
            State::SumFloat { sum, n } => {
                sum.resize(groups, 0.0);
                n.resize(groups, 0);
            }
            State::MinMax { best, .. } => best.resize(groups, None),
            State::Bool { acc, .. } => acc.resize(groups, None),
            State::Distinct(d) => d.resize_with(groups, HashSet::new),
        }
    }

    /// Adds rows `rows` (group of each in `gids`) of input `values` (None: count(*)).
    /// Returns the bytes of memory added (distinct values, new extremes).
    pub fn update(&mut self, f: &AggFunc, values: Option<&dyn Values>, rows: &[u32], gids: &[u32]) -> usize {
        let kind = f.kind();
        match self {
            State::Count(c) => match values {
                None => gids.iter().for_each(|&g| c[g as usize] += 1),
                Some(v) => rows.iter().zip(gids).filter(|(&r, _)| v.get(r).is_some()).for_each(|(_, &g)| c[g as usize] += 1),
            },
            State::SumInt { sum, n } => {
                let v = values.expect("sum has an input");
                for (&r, &g) in rows.iter().zip(gids) {
                    if let Some(x) = v.get(r) {
                        sum[g as usize] += sign_extend(x) as i128;
                        n[g as usize] += 1;
                    }
                }
            }
            State::SumFloat { sum, n } => {
                let v = values.expect("sum has an input");
                for (&r, &g) in rows.iter().zip(gids) {
                    if let Some(x) = v.get(r) {
                        sum[g as usize] += float_of(x);
                        n[g as usize] += 1;
                    }
                }
            }
            State::MinMax { best, kind, max } => {
                let v = values.expect("min/max has an input");
                let mut added = 0;
                for (&r, &g) in rows.iter().zip(gids) {
                    let Some(x) = v.get(r) else { continue };
                    let slot = &mut best[g as usize];
                    let better = match slot {
                        None => true,
                        Some(b) => {
                            let o = compare_values(*kind, x, b);
                            if *max { o == Ordering::Greater } else { o == Ordering::Less }
                        }
                    };
                    if better {
                        added += x.len();
                        *slot = Some(x.into());
                    }
                }
                return added;
            }
            State::Bool { acc, and } => {
                let v = values.expect("bool_and/or has an input");
                for (&r, &g) in rows.iter().zip(gids) {
                    if let Some(x) = v.get(r) {
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
            State::Distinct(sets) => {
                let v = values.expect("count(DISTINCT) has an input");
                let mut added = 0;
                for (&r, &g) in rows.iter().zip(gids) {
                    if let Some(x) = v.get(r) {
                        if sets[g as usize].insert(distinct_key(kind, x)) {
                            added += 24;
                        }
                    }
                }
                return added;
            }
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
            (State::SumFloat { sum, n }, State::SumFloat { sum: s2, n: n2 }) => {
                sum[to] += s2[from];
                n[to] += n2[from];
            }
            (State::MinMax { best, kind, max }, State::MinMax { best: b2, .. }) => {
                if let Some(x) = b2[from].take() {
                    let better = match &best[to] {
                        None => true,
                        Some(b) => {
                            let o = compare_values(*kind, &x, b);
                            if *max { o == Ordering::Greater } else { o == Ordering::Less }
                        }
                    };
                    if better {
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
            (State::Distinct(a), State::Distinct(b)) => {
                let other = std::mem::take(&mut b[from]);
                if a[to].len() < other.len() {
                    let mine = std::mem::replace(&mut a[to], other);
                    a[to].extend(mine);
                } else {
                    a[to].extend(other);
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
            State::SumFloat { sum, n } => match (f, n[g]) {
                (_, 0) => AggValue::Null,
                (AggFunc::Avg { .. }, n) => AggValue::Float(sum[g] / n as f64),
                _ => AggValue::Float(sum[g]),
            },
            State::MinMax { best, .. } => best[g].as_ref().map_or(AggValue::Null, |b| AggValue::Bytes(b.to_vec())),
            State::Bool { acc, .. } => acc[g].map_or(AggValue::Null, AggValue::Bool),
            State::Distinct(d) => AggValue::Int(d[g].len() as i128),
        }
    }
}
