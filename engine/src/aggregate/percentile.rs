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

/// Which percentile and at what fraction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percentile {
    /// percentile_cont (interpolated, float8) or percentile_disc (a value of the input).
    pub cont: bool,
    /// In [0, 1]: planning leaves other fractions to Postgres, which raises its error.
    pub fraction: f64,
}

/// Every group's values (i64, or f64 bits) and their counts.
#[derive(Default)]
pub struct Counts {
    maps: Vec<HashMap<u64, u64>>,
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
        self.maps.resize_with(groups, HashMap::new);
    }

    /// Adds the valid values of a batch; returns the bytes of the new entries.
    pub fn update(&mut self, input: &Input, gids: &[u32]) -> usize {
        let mut added = 0;
        let mut add = |g: u32, bits: u64, maps: &mut Vec<HashMap<u64, u64>>| {
            let m = &mut maps[g as usize];
            let n = m.len();
            *m.entry(bits).or_insert(0) += 1;
            added += (m.len() - n) * ENTRY_BYTES;
        };
        match input {
            Input::Ints { v, valid, width } => {
                self.width = *width;
                for (i, (&x, &g)) in v.iter().zip(gids).enumerate() {
                    if valid.as_ref().is_none_or(|valid| valid[i]) {
                        add(g, x as u64, &mut self.maps);
                    }
                }
            }
            Input::Floats { v, valid, single } => {
                self.width = if *single { 4 } else { 8 };
                for (i, (&x, &g)) in v.iter().zip(gids).enumerate() {
                    if valid.as_ref().is_none_or(|valid| valid[i]) {
                        add(g, x.to_bits(), &mut self.maps);
                    }
                }
            }
            Input::Bytes(_) => unreachable!("percentiles read ints and floats"),
        }
        added
    }

    pub fn merge_group(&mut self, other: &mut Counts, from: usize, to: usize) {
        self.width = self.width.max(other.width);
        let theirs = std::mem::take(&mut other.maps[from]);
        let mine = &mut self.maps[to];
        for (k, c) in theirs {
            *mine.entry(k).or_insert(0) += c;
        }
    }

    pub fn held(&self) -> usize {
        self.maps.iter().map(|m| m.len() * ENTRY_BYTES).sum()
    }

    /// Group `g`'s percentile; NULL when no value came in.
    pub fn value(&self, p: Percentile, kind: ValueKind, g: usize) -> AggValue {
        let m = &self.maps[g];
        if m.is_empty() {
            return AggValue::Null;
        }
        let float = kind == ValueKind::Float;
        let mut values: Vec<(u64, u64)> = m.iter().map(|(&k, &c)| (k, c)).collect();
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
        if p.cont {
            let pos = p.fraction * (rows - 1) as f64;
            let (first, second) = (pos.floor(), pos.ceil());
            let lo = f64::from_bits(at(first as u64));
            if first == second {
                return AggValue::Float(lo);
            }
            let hi = f64::from_bits(at(second as u64));
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
        assert_eq!(Counts { maps: vec![HashMap::new()], width: 8 }.value(Percentile { cont: true, fraction: 0.5 }, ValueKind::Float, 0), AggValue::Null);
    }
}
