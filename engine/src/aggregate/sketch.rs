//! States of the approximate aggregates `mergetree.uniq` (HyperLogLog++) and
//! `mergetree.quantile` (DDSketch). The node and the SQL aggregates share them, and the
//! values hashed are canonical (integers of any width as i64, floats as Postgres'
//! equality sees them, other values as their bytes), so both answer exactly alike.

use super::float_key;
use super::ValueKind;
use crate::column::{float_of, sign_extend};
use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};
use serde::{Deserialize, Serialize};
use sketches_ddsketch::{Config, DDSketch};
use std::hash::{BuildHasher, Hasher};

/// 2^14 registers: a standard error of 1.04 / sqrt(16384) = 0.81%; 12 kB when dense.
const UNIQ_PRECISION: u8 = 14;

/// Relative accuracy of mergetree.quantile: a returned value is within 1% of a value
/// whose rank is the requested one.
pub const QUANTILE_ALPHA: f64 = 0.01;

/// The hash of an integer value (of any width: int2 and int8 hash alike).
pub fn hash_int(x: i64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&x.to_le_bytes())
}

/// The hash of a float value: -0 as 0, every NaN alike.
pub fn hash_float(x: f64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&float_key(x).to_bits().to_le_bytes())
}

pub fn hash_bytes(b: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(b)
}

/// The hash of a stored value read as `kind`.
pub fn hash_value(kind: ValueKind, v: &[u8]) -> u64 {
    match kind {
        ValueKind::Int => hash_int(sign_extend(v)),
        ValueKind::Float => hash_float(float_of(v)),
        ValueKind::Bytes => hash_bytes(v),
    }
}

/// The sketch hashes nothing itself: values come in already hashed.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Prehashed;

#[derive(Default)]
pub struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64s are hashed through here; fold anything else anyway.
        for &b in bytes {
            self.0 = (self.0 << 8 | self.0 >> 56) ^ b as u64;
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

impl BuildHasher for Prehashed {
    type Hasher = PrehashedHasher;
    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

/// mergetree.uniq's state: distinct hashes, estimated.
#[derive(Clone, Serialize, Deserialize)]
pub struct Uniq {
    hll: HyperLogLogPlus<u64, Prehashed>,
    /// Values added (an upper bound of the distinct ones), for memory accounting.
    added: u64,
}

impl Default for Uniq {
    fn default() -> Self {
        Uniq::new()
    }
}

impl Uniq {
    pub fn new() -> Uniq {
        // The precision is a constant within the crate's bounds (4..=18).
        let hll = HyperLogLogPlus::new(UNIQ_PRECISION, Prehashed).expect("a valid HyperLogLog precision");
        Uniq { hll, added: 0 }
    }

    #[inline]
    pub fn add_hash(&mut self, h: u64) {
        self.hll.insert(&h);
        self.added += 1;
    }

    pub fn merge(&mut self, other: &Uniq) {
        // Same precision on both sides: merge cannot fail.
        let _ = self.hll.merge(&other.hll);
        self.added += other.added;
    }

    /// The estimated count of distinct values (0 for none).
    pub fn estimate(&mut self) -> i64 {
        if self.added == 0 {
            return 0;
        }
        self.hll.count().round() as i64
    }

    /// Bytes held, at most: sparse entries of 4 bytes until the dense 12 kB registers.
    pub fn held(&self) -> usize {
        (self.added as usize * 4).min(12 << 10) + 64
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        bincode::serialize(self).unwrap_or_default()
    }

    pub fn from_bytes(b: &[u8]) -> Option<Uniq> {
        bincode::deserialize(b).ok()
    }
}

/// mergetree.quantile's state. NaN and infinities are not kept (a relative-error
/// bucket has no room for them).
#[derive(Clone, Serialize, Deserialize)]
pub struct Quantile {
    sketch: DDSketch,
}

impl Default for Quantile {
    fn default() -> Self {
        Quantile::new()
    }
}

impl Quantile {
    pub fn new() -> Quantile {
        Quantile { sketch: DDSketch::new(Config::new(QUANTILE_ALPHA, 2048, 1.0e-9)) }
    }

    #[inline]
    pub fn add(&mut self, x: f64) {
        // -0 as 0: the kept minimum and maximum must not depend on which came first.
        if x.is_finite() {
            self.sketch.add(if x == 0.0 { 0.0 } else { x });
        }
    }

    pub fn merge(&mut self, other: &Quantile) {
        // Same configuration on both sides: merge cannot fail.
        let _ = self.sketch.merge(&other.sketch);
    }

    /// The value at fraction `p` (0 to 1) of the values, None when there are none.
    pub fn value(&self, p: f64) -> Option<f64> {
        self.sketch.quantile(p).ok().flatten()
    }

    pub fn count(&self) -> u64 {
        self.sketch.count() as u64
    }

    /// Bytes held, about: the buckets in use.
    pub fn held(&self) -> usize {
        self.sketch.length() * 16 + 128
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        bincode::serialize(self).unwrap_or_default()
    }

    pub fn from_bytes(b: &[u8]) -> Option<Quantile> {
        bincode::deserialize(b).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniq_is_close_and_order_independent() {
        for n in [0u64, 1, 10, 1000, 100_000, 1_000_000] {
            let mut one = Uniq::new();
            let mut parts = [Uniq::new(), Uniq::new(), Uniq::new()];
            for i in 0..n {
                // Every value twice: duplicates add nothing.
                for _ in 0..2 {
                    one.add_hash(hash_int(i as i64));
                    parts[(i % 3) as usize].add_hash(hash_int(i as i64));
                }
            }
            let mut merged = Uniq::new();
            for p in &parts {
                merged.merge(p);
            }
            let mut back = Uniq::from_bytes(&merged.to_bytes()).unwrap();
            let est = one.estimate();
            assert_eq!(est, merged.estimate(), "n={n}");
            assert_eq!(est, back.estimate(), "n={n}");
            let err = (est as f64 - n as f64).abs() / (n.max(1) as f64);
            assert!(err < 0.03, "n={n} estimate={est}");
        }
    }

    #[test]
    fn hashes_are_canonical() {
        assert_eq!(hash_value(ValueKind::Int, &5i32.to_le_bytes()), hash_int(5));
        assert_eq!(hash_value(ValueKind::Int, &(-5i16).to_le_bytes()), hash_int(-5));
        assert_eq!(hash_value(ValueKind::Float, &(-0.0f64).to_le_bytes()), hash_float(0.0));
        assert_eq!(hash_value(ValueKind::Float, &(1.5f32).to_le_bytes()), hash_float(1.5));
        assert_eq!(hash_float(f64::NAN), hash_float(-f64::NAN));
    }

    #[test]
    fn quantile_is_within_alpha_and_merges_exactly() {
        let values: Vec<f64> = (0..100_000).map(|i| ((i * 7919) % 100_003) as f64 - 20_000.5).collect();
        let mut one = Quantile::new();
        let mut parts = [Quantile::new(), Quantile::new()];
        for (i, &v) in values.iter().enumerate() {
            one.add(v);
            parts[i % 2].add(v);
        }
        one.add(f64::NAN);
        one.add(f64::INFINITY);
        let mut merged = Quantile::new();
        merged.merge(&parts[0]);
        merged.merge(&parts[1]);
        let back = Quantile::from_bytes(&merged.to_bytes()).unwrap();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for p in [0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 1.0] {
            let got = one.value(p).unwrap();
            assert_eq!(got, merged.value(p).unwrap(), "p={p}");
            assert_eq!(got, back.value(p).unwrap(), "p={p}");
            let exact = sorted[(p * (sorted.len() - 1) as f64) as usize];
            assert!((got - exact).abs() <= exact.abs() * QUANTILE_ALPHA * 1.0001 + 1e-9, "p={p} got={got} exact={exact}");
        }
        assert_eq!(Quantile::new().value(0.5), None);
    }
}
