//! States of the approximate aggregates `mergetree.uniq` (exact, then HyperLogLog) and
//! `mergetree.quantile` (DDSketch). The node and the SQL aggregates share them, and the
//! values hashed are canonical (integers of any width as i64, floats as Postgres'
//! equality sees them, other values as their bytes), so both answer exactly alike.

use super::float_key;
use super::ValueKind;
use crate::column::{float_of, sign_extend};
use hashbrown::HashSet;
use serde::{Deserialize, Serialize};
use super::ddsketch::{DDSketch, IntKeys, Mapping};
use std::hash::{BuildHasher, Hasher};

/// 2^14 registers: a standard error of 1.04 / sqrt(16384) = 0.81%; 16 kB when dense.
const UNIQ_PRECISION: u32 = 14;
const REGISTERS: usize = 1 << UNIQ_PRECISION;
/// Register values: 0 to 64 - p + 1.
const HIST: usize = 64 - UNIQ_PRECISION as usize + 2;
/// Distinct hashes kept exactly before switching to registers (as many bytes as they).
const EXACT_MAX: usize = REGISTERS / 8;

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

/// A hasher for values that are hashes already (hash sets of them).
#[derive(Clone, Copy, Debug, Default)]
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

/// mergetree.uniq's state: the distinct hashes themselves while there are few (an exact
/// count), then HyperLogLog registers (2^14 of them, the largest run of leading zeros
/// seen per register) estimated with Ertl's improved estimator ("New cardinality
/// estimation algorithms for HyperLogLog sketches", 2017), unbiased over the whole range
/// without HyperLogLog++'s empirical tables. Own code rather than the hyperloglogplus
/// crate: its sparse phase re-encodes the sparse list every 131 inserts, which made
/// per-group counts (one sketch per group) cost a third of a query. The state depends only
/// on the set of hashes, never on their order or how states were merged.
///
/// In memory the registers take four bits each (8 kB), a register of 15 or more marking
/// its value as kept aside (one hash in 2^14 reaches that): a query grouping by a few
/// hundred values keeps its sketches within a core's cache, where whole bytes spilled
/// out of it and every update missed. Serialized, they are bytes (`Wire`), as ever.
#[derive(Clone, Debug, PartialEq)]
pub enum Uniq {
    Exact(HashSet<u64, Prehashed>),
    Registers(Packed),
}

/// HyperLogLog registers, four bits each; values of 15 and up in `high`.
#[derive(Clone, Debug, PartialEq)]
pub struct Packed {
    nibbles: Vec<u8>,
    high: hashbrown::HashMap<u16, u8>,
}

/// A nibble that says: the register's value is in `high`.
const HIGH: u8 = 15;

impl Packed {
    fn new() -> Packed {
        Packed { nibbles: vec![0; REGISTERS / 2], high: hashbrown::HashMap::new() }
    }

    fn from_bytes(r: &[u8]) -> Packed {
        let mut p = Packed::new();
        for (i, &v) in r.iter().enumerate() {
            p.raise(i, v);
        }
        p
    }

    /// Raises register `i` to `v` if below. Small values, nearly all of them, take no
    /// branch: the nibble becomes the larger of the two (a marked one stays marked).
    #[inline]
    fn raise(&mut self, i: usize, v: u8) {
        let shift = (i & 1) * 4;
        let byte = &mut self.nibbles[i >> 1];
        let old = (*byte >> shift) & 0xF;
        if v < HIGH {
            *byte = (*byte & !(0xF << shift)) | (old.max(v) << shift);
        } else {
            *byte |= HIGH << shift;
            let kept = self.high.entry(i as u16).or_insert(0);
            *kept = (*kept).max(v);
        }
    }

    fn get(&self, i: usize) -> u8 {
        match (self.nibbles[i >> 1] >> ((i & 1) * 4)) & 0xF {
            HIGH => self.high.get(&(i as u16)).copied().unwrap_or(HIGH),
            v => v,
        }
    }

    /// One byte a register, as serialized and estimated.
    fn to_bytes(&self) -> Vec<u8> {
        (0..REGISTERS).map(|i| self.get(i)).collect()
    }

    fn held(&self) -> usize {
        self.nibbles.len() + self.high.capacity() * 4
    }

    /// Registers by value, read off the nibbles (a query's final step estimates every
    /// group: reading each register through `get` was most of it).
    fn histogram(&self) -> [u32; HIST] {
        let mut hist = [0u32; HIST];
        for &b in &self.nibbles {
            hist[(b & 0xF) as usize] += 1;
            hist[(b >> 4) as usize] += 1;
        }
        // Marked nibbles counted as 15: their values are kept aside.
        for &v in self.high.values() {
            hist[HIGH as usize] -= 1;
            hist[(v as usize).min(HIST - 1)] += 1;
        }
        hist
    }
}

/// mergetree.uniq's serialized state (bincode), unchanged since its first release.
#[derive(Serialize, Deserialize)]
enum Wire {
    Exact(#[serde(with = "exact_set")] HashSet<u64, Prehashed>),
    Registers(Vec<u8>),
}

/// Serialized as a sorted list (a HashSet's order is not stable).
mod exact_set {
    use super::Prehashed;
    use hashbrown::HashSet;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(set: &HashSet<u64, Prehashed>, s: S) -> Result<S::Ok, S::Error> {
        let mut v: Vec<u64> = set.iter().copied().collect();
        v.sort_unstable();
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<HashSet<u64, Prehashed>, D::Error> {
        let v = Vec::<u64>::deserialize(d)?;
        let mut set = HashSet::with_capacity_and_hasher(v.len(), Prehashed);
        set.extend(v);
        Ok(set)
    }
}

impl Default for Uniq {
    fn default() -> Self {
        Uniq::new()
    }
}

/// Register of a hash and its value: the top bits choose the register, the rest's
/// leading zeros (plus one, at most 64 - p + 1) are the value.
#[inline]
fn register_of(h: u64) -> (usize, u8) {
    let index = (h >> (64 - UNIQ_PRECISION)) as usize;
    let rest = h << UNIQ_PRECISION;
    let rank = (rest.leading_zeros()).min(64 - UNIQ_PRECISION) + 1;
    (index, rank as u8)
}

impl Uniq {
    pub fn new() -> Uniq {
        Uniq::Exact(HashSet::with_hasher(Prehashed))
    }

    /// Adds a hash; returns the bytes the state grew by (as `held` counts them).
    #[inline(always)]
    pub fn add_hash(&mut self, h: u64) -> usize {
        // Nearly every hash of a large state: one nibble raised, nothing grows. Inlined
        // into the callers' loops, a call per row was a fifth of a distinct count's time.
        if let Uniq::Registers(r) = self {
            let (i, v) = register_of(h);
            if v < HIGH {
                let shift = (i & 1) * 4;
                let byte = &mut r.nibbles[i >> 1];
                let old = (*byte >> shift) & 0xF;
                *byte = (*byte & !(0xF << shift)) | (old.max(v) << shift);
                return 0;
            }
        }
        self.add_hash_rest(h)
    }

    /// [`add_hash`](Self::add_hash) for the exact set, or a value kept aside.
    #[inline(never)]
    fn add_hash_rest(&mut self, h: u64) -> usize {
        match self {
            Uniq::Exact(set) => {
                // (hashbrown may grow the set on an insert that finds the value.)
                let before = set.capacity();
                let new = set.insert(h);
                if !new || set.len() <= EXACT_MAX {
                    return (set.capacity() - before) * 9;
                }
                self.to_registers();
                self.held().saturating_sub(before * 9 + 32)
            }
            Uniq::Registers(r) => {
                let (i, v) = register_of(h);
                let before = r.high.capacity();
                r.raise(i, v);
                (r.high.capacity() - before) * 4
            }
        }
    }

    fn to_registers(&mut self) {
        if let Uniq::Exact(set) = self {
            let mut r = Packed::new();
            for &h in set.iter() {
                let (i, v) = register_of(h);
                r.raise(i, v);
            }
            *self = Uniq::Registers(r);
        }
    }

    pub fn merge(&mut self, other: &Uniq) {
        match other {
            Uniq::Exact(theirs) => theirs.iter().for_each(|&h| {
                self.add_hash(h);
            }),
            Uniq::Registers(theirs) => {
                self.to_registers();
                if let Uniq::Registers(r) = self {
                    // Nibble by nibble (a marked one stays marked), then the values kept
                    // aside.
                    for (a, &b) in r.nibbles.iter_mut().zip(&theirs.nibbles) {
                        *a = (*a & 0xF).max(b & 0xF) | (*a >> 4).max(b >> 4) << 4;
                    }
                    for (&i, &v) in &theirs.high {
                        let kept = r.high.entry(i).or_insert(0);
                        *kept = (*kept).max(v);
                    }
                }
            }
        }
    }

    /// The count of distinct values: exact while few, else estimated.
    pub fn estimate(&self) -> i64 {
        match self {
            Uniq::Exact(set) => set.len() as i64,
            Uniq::Registers(r) => ertl_estimate(&r.histogram()).round() as i64,
        }
    }

    /// Bytes held: the exact set's entries, or the registers.
    pub fn held(&self) -> usize {
        match self {
            Uniq::Exact(set) => set.capacity() * 9 + 32,
            Uniq::Registers(r) => r.held() + 32,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let wire = match self {
            Uniq::Exact(set) => Wire::Exact(set.clone()),
            Uniq::Registers(r) => Wire::Registers(r.to_bytes()),
        };
        bincode::serialize(&wire).unwrap_or_default()
    }

    pub fn from_bytes(b: &[u8]) -> Option<Uniq> {
        match bincode::deserialize(b).ok()? {
            Wire::Registers(r) if r.len() != REGISTERS || r.iter().any(|&v| v > 64 - UNIQ_PRECISION as u8 + 1) => None,
            Wire::Registers(r) => Some(Uniq::Registers(Packed::from_bytes(&r))),
            Wire::Exact(set) => Some(Uniq::Exact(set)),
        }
    }
}

/// Ertl's improved raw estimator over the registers' histogram (`hist[v]`: registers of
/// value v, 0 to 64 - p + 1).
fn ertl_estimate(hist: &[u32; HIST]) -> f64 {
    let q = 64 - UNIQ_PRECISION as usize;
    let m = REGISTERS as f64;
    let mut z = m * tau(1.0 - hist[q + 1] as f64 / m);
    for k in (1..=q).rev() {
        z = 0.5 * (z + hist[k] as f64);
    }
    z += m * sigma(hist[0] as f64 / m);
    let alpha_inf = 1.0 / (2.0 * std::f64::consts::LN_2);
    alpha_inf * m * m / z
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if z == before {
            return z / 3.0;
        }
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

/// The mapping of every mergetree.quantile state: 2048 buckets a sign.
fn quantile_mapping() -> Mapping {
    Mapping::new(QUANTILE_ALPHA, 2048, 1.0e-9)
}

impl Quantile {
    pub fn new() -> Quantile {
        Quantile { sketch: DDSketch::new(quantile_mapping()) }
    }

    #[inline]
    pub fn add(&mut self, x: f64) {
        // -0 as 0: the kept minimum and maximum must not depend on which came first.
        if x.is_finite() {
            self.sketch.add(if x == 0.0 { 0.0 } else { x });
        }
    }

    /// Adds an integer, its key from the thread's cache (the state is `add(x as f64)`'s).
    #[inline]
    pub fn add_int(&mut self, x: i64, keys: &mut IntKeys) {
        if x == 0 {
            self.sketch.add(0.0);
        } else {
            let key = keys.key(self.sketch.mapping(), x);
            self.sketch.add_keyed(x as f64, key);
        }
    }

    pub fn merge(&mut self, other: &Quantile) {
        // Every state has our mapping (from_bytes refuses others).
        self.sketch.merge(&other.sketch);
    }

    /// The value at fraction `p` (0 to 1) of the values, None when there are none.
    pub fn value(&self, p: f64) -> Option<f64> {
        self.sketch.quantile(p)
    }

    pub fn count(&self) -> u64 {
        self.sketch.count()
    }

    /// Bytes held, about: the buckets in use.
    pub fn held(&self) -> usize {
        self.sketch.length() * 16 + 128
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        bincode::serialize(self).unwrap_or_default()
    }

    /// A serialized state, None unless it is one these functions could have made.
    pub fn from_bytes(b: &[u8]) -> Option<Quantile> {
        let q: Quantile = bincode::deserialize(b).ok()?;
        q.sketch.is_sound(&quantile_mapping()).then_some(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_hash_reports_the_growth() {
        let mut u = Uniq::new();
        let mut held = u.held();
        // Each value twice in a row: a set that is full when the repeat comes grows.
        for i in 0..(EXACT_MAX as i64 * 6) {
            held += u.add_hash(hash_int((i / 2) % (EXACT_MAX as i64 * 2)));
            // Exact: the growth; registers (smaller than the set they replace): never less.
            match u {
                Uniq::Exact(_) => assert_eq!(held, u.held(), "after {i}"),
                Uniq::Registers(_) => assert!(held >= u.held(), "after {i}"),
            }
        }
        assert!(matches!(u, Uniq::Registers(_)));
    }

    #[test]
    fn uniq_is_close_and_order_independent() {
        for n in [0u64, 1, 10, 1000, 2048, 2049, 5000, 40_000, 100_000, 1_000_000, 5_000_000] {
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
            let back = Uniq::from_bytes(&merged.to_bytes()).unwrap();
            let est = one.estimate();
            assert_eq!(est, merged.estimate(), "n={n}");
            assert_eq!(est, back.estimate(), "n={n}");
            let err = (est as f64 - n as f64).abs() / (n.max(1) as f64);
            assert!(err < 0.03, "n={n} estimate={est}");
            // Exact while the hashes fit the exact set.
            if n as usize <= EXACT_MAX {
                assert_eq!(est, n as i64);
            }
            assert_eq!(one, merged, "n={n}: the state depends on the set of hashes only");
        }
    }

    proptest::proptest! {
        /// Packed registers read back as the bytes they were raised to, and merge as the
        /// registers' maximum, values kept aside (15 and up) included.
        #[test]
        fn packed_registers_are_the_bytes(
            a in proptest::collection::vec(proptest::prop_oneof![0u8..15, 0u8..=51], REGISTERS),
            b in proptest::collection::vec(proptest::prop_oneof![0u8..15, 0u8..=51], REGISTERS),
        ) {
            let pa = Packed::from_bytes(&a);
            proptest::prop_assert_eq!(pa.to_bytes(), a.clone());
            let mut hist = [0u32; HIST];
            a.iter().for_each(|&v| hist[v as usize] += 1);
            proptest::prop_assert_eq!(pa.histogram(), hist);
            let mut ua = Uniq::from_bytes(&bincode::serialize(&Wire::Registers(a.clone())).unwrap()).unwrap();
            let ub = Uniq::from_bytes(&bincode::serialize(&Wire::Registers(b.clone())).unwrap()).unwrap();
            ua.merge(&ub);
            let max: Vec<u8> = a.iter().zip(&b).map(|(x, y)| *x.max(y)).collect();
            proptest::prop_assert_eq!(&ua.to_bytes(), &bincode::serialize(&Wire::Registers(max)).unwrap());
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
