//! DDSketch (Masson, Rim and Lee, "DDSketch: a fast and fully-mergeable quantile sketch
//! with relative-error guarantees", VLDB 2019): a logarithmic mapping of values to bucket
//! keys and two collapsing-lowest dense stores (positive values, and negative ones by
//! magnitude), mergetree.quantile's state.
//!
//! Own code rather than the sketches-ddsketch crate it replaces because the node must add
//! a value by its key: the keys of small integers are computed once per thread
//! (`IntKeys`), where a logarithm per row was most of the aggregate's cost. Stored states
//! (`quantile_state`) were written by that crate, so the layout is the crate's field for
//! field (bincode), and so is every step that shapes a state (growth, collapse, merge);
//! a test runs both on the same values and compares the bytes.

use serde::{Deserialize, Serialize};

/// Stores grow by this many buckets.
const CHUNK: i32 = 128;

/// The logarithmic mapping: a value's key is floor(log_gamma(value)).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    max_num_bins: u32,
    gamma: f64,
    gamma_ln: f64,
    min_value: f64,
    /// The crate's index offset: unused here, kept for the layout.
    offset: i32,
}

impl Mapping {
    /// `alpha`: relative accuracy; `max_num_bins`: buckets per store before the lowest
    /// collapse; values of magnitude `min_value` or less count as zero.
    pub fn new(alpha: f64, max_num_bins: u32, min_value: f64) -> Mapping {
        let gamma = (1.0 + alpha) / (1.0 - alpha);
        let gamma_ln = gamma.ln();
        Mapping { max_num_bins, gamma, gamma_ln, min_value, offset: 1 - (min_value.ln() / gamma_ln) as i32 }
    }

    /// The key of a value above `min_value`.
    #[inline]
    pub fn key(&self, v: f64) -> i32 {
        (v.ln() / self.gamma_ln).floor() as i32
    }

    /// The value a key stands for: the middle of its bucket in relative terms.
    fn value(&self, key: i32) -> f64 {
        (key as f64 * self.gamma_ln).exp() * (2.0 * self.gamma / (1.0 + self.gamma))
    }
}

/// Bucket counts for a window of keys; past `bin_limit` buckets the lowest keys collapse
/// into the first bucket (high quantiles stay exact to alpha).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Store {
    bins: Vec<u64>,
    count: u64,
    min_key: i32,
    max_key: i32,
    offset: i32,
    bin_limit: usize,
    is_collapsed: bool,
}

impl Store {
    fn new(bin_limit: usize) -> Store {
        Store { bins: Vec::new(), count: 0, min_key: i32::MAX, max_key: i32::MIN, offset: 0, bin_limit, is_collapsed: false }
    }

    fn len(&self) -> i32 {
        self.bins.len() as i32
    }

    #[inline]
    fn add(&mut self, key: i32, n: u64) {
        let i = self.index(key);
        self.bins[i] += n;
        self.count += n;
    }

    /// The bucket of `key`, growing (or collapsing) the window to hold it.
    #[inline]
    fn index(&mut self, key: i32) -> usize {
        if key < self.min_key {
            if self.is_collapsed {
                return 0;
            }
            self.extend(key, key);
            if self.is_collapsed {
                return 0;
            }
        } else if key > self.max_key {
            self.extend(key, key);
        }
        (key - self.offset) as usize
    }

    fn new_len(&self, min_key: i32, max_key: i32) -> usize {
        let wanted = max_key - min_key + 1;
        (((wanted + CHUNK - 1) / CHUNK * CHUNK) as usize).min(self.bin_limit)
    }

    fn extend(&mut self, a: i32, b: i32) {
        let min_key = a.min(b).min(self.min_key);
        let max_key = a.max(b).max(self.max_key);
        if self.bins.is_empty() {
            self.bins.resize(self.new_len(min_key, max_key), 0);
            self.offset = min_key;
            self.adjust(min_key, max_key);
        } else if min_key >= self.min_key && max_key < self.offset + self.len() {
            self.min_key = min_key;
            self.max_key = max_key;
        } else {
            let len = self.new_len(min_key, max_key);
            if len > self.bins.len() {
                self.bins.resize(len, 0);
            }
            self.adjust(min_key, max_key);
        }
    }

    /// Places the window over [min_key, max_key]: centred when it fits, else the lowest
    /// keys collapse into the first bucket.
    fn adjust(&mut self, min_key: i32, max_key: i32) {
        if max_key - min_key + 1 <= self.len() {
            let middle = min_key + (max_key - min_key + 1) / 2;
            self.shift(self.offset + self.len() / 2 - middle);
            self.min_key = min_key;
            self.max_key = max_key;
            return;
        }
        let lowest = max_key - self.len() + 1;
        if lowest >= self.max_key {
            // Every key held so far is below the window: all in the first bucket.
            self.offset = lowest;
            self.min_key = lowest;
            self.bins.fill(0);
            self.bins[0] = self.count;
        } else {
            let shift = self.offset - lowest;
            // (`from` past `to` would be a window below its lowest key, which no growth
            // makes; nothing to collapse then rather than a panic.)
            let (from, to) = (self.min_key - self.offset, lowest - self.offset);
            if shift < 0 && from <= to {
                let (from, to) = (from as usize, to as usize);
                let collapsed: u64 = self.bins[from..to].iter().sum();
                self.bins[from..to].fill(0);
                self.bins[to] += collapsed;
            }
            self.min_key = lowest;
            self.shift(shift);
        }
        self.max_key = max_key;
        self.is_collapsed = true;
    }

    /// Moves the buckets `by` places up (down when negative); the offset follows.
    fn shift(&mut self, by: i32) {
        let n = by.unsigned_abs() as usize;
        if by > 0 {
            self.bins.rotate_right(n);
            self.bins[..n].fill(0);
        } else {
            self.bins[..n].fill(0);
            self.bins.rotate_left(n);
        }
        self.offset -= by;
    }

    /// The key of the bucket holding the value of rank `rank` (0-based).
    fn key_at_rank(&self, rank: u64) -> i32 {
        let mut n = 0;
        for (i, &b) in self.bins.iter().enumerate() {
            n += b;
            if n > rank {
                return i as i32 + self.offset;
            }
        }
        self.max_key
    }

    fn merge(&mut self, other: &Store) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        if other.min_key < self.min_key || other.max_key > self.max_key {
            self.extend(other.min_key, other.max_key);
        }
        // Their keys below our window go to our first bucket.
        let from = other.min_key - other.offset;
        let mut to = self.min_key.min(other.max_key + 1) - other.offset;
        if to > from {
            self.bins[0] += other.bins[from as usize..to as usize].iter().sum::<u64>();
        } else {
            to = from;
        }
        for key in to + other.offset..=other.max_key {
            self.bins[(key - self.offset) as usize] += other.bins[(key - other.offset) as usize];
        }
        self.count += other.count;
    }

    /// Whether the fields are a state these functions could have made: no index they
    /// compute falls outside the buckets (stored states come from users' bytes).
    fn is_sound(&self, bin_limit: usize) -> bool {
        if self.bin_limit != bin_limit || self.bins.len() > bin_limit {
            return false;
        }
        if self.count == 0 {
            return self.bins.is_empty() && self.min_key == i32::MAX && self.max_key == i32::MIN && self.offset == 0;
        }
        let end = self.offset as i64 + self.bins.len() as i64;
        !self.bins.is_empty()
            && self.min_key <= self.max_key
            && self.min_key >= self.offset
            && (self.max_key as i64) < end
            && self.bins.iter().try_fold(0u64, |s, &b| s.checked_add(b)) == Some(self.count)
    }
}

/// The sketch: positive values by key, negative ones by their magnitude's key, values
/// within `min_value` of zero counted apart, and the exact extremes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DDSketch {
    mapping: Mapping,
    store: Store,
    negative_store: Store,
    min: f64,
    max: f64,
    sum: f64,
    zero_count: u64,
}

impl DDSketch {
    pub fn new(mapping: Mapping) -> DDSketch {
        let bins = mapping.max_num_bins as usize;
        DDSketch { mapping, store: Store::new(bins), negative_store: Store::new(bins), min: f64::INFINITY, max: f64::NEG_INFINITY, sum: 0.0, zero_count: 0 }
    }

    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    #[inline]
    pub fn add(&mut self, v: f64) {
        let min = self.mapping.min_value;
        if v > min {
            self.store.add(self.mapping.key(v), 1);
        } else if v < -min {
            self.negative_store.add(self.mapping.key(-v), 1);
        } else {
            self.zero_count += 1;
        }
        self.extremes(v);
    }

    /// Adds `v` whose magnitude's key the caller knows (`key` of |v|, v not near zero).
    #[inline]
    pub fn add_keyed(&mut self, v: f64, key: i32) {
        if v > 0.0 {
            self.store.add(key, 1);
        } else {
            self.negative_store.add(key, 1);
        }
        self.extremes(v);
    }

    #[inline]
    fn extremes(&mut self, v: f64) {
        if v < self.min {
            self.min = v;
        }
        if self.max < v {
            self.max = v;
        }
        self.sum += v;
    }

    pub fn count(&self) -> u64 {
        self.store.count + self.negative_store.count + self.zero_count
    }

    /// Buckets held by both stores.
    pub fn length(&self) -> usize {
        self.store.bins.len() + self.negative_store.bins.len()
    }

    /// The value at fraction `q` (0 to 1) of the ranks, None when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if !(0.0..=1.0).contains(&q) || self.count() == 0 {
            return None;
        }
        if q == 0.0 {
            return Some(self.min);
        }
        if q == 1.0 {
            return Some(self.max);
        }
        let rank = (q * (self.count() as f64 - 1.0)) as u64;
        let negatives = self.negative_store.count;
        Some(if rank < negatives {
            -self.mapping.value(self.negative_store.key_at_rank(negatives - rank - 1))
        } else if rank < negatives + self.zero_count {
            0.0
        } else {
            self.mapping.value(self.store.key_at_rank(rank - negatives - self.zero_count))
        })
    }

    /// Adds `other`'s counts; both must have the same mapping (`is_sound` checks a stored
    /// state's against ours).
    pub fn merge(&mut self, other: &DDSketch) {
        let was_empty = self.count() == 0;
        self.store.merge(&other.store);
        self.negative_store.merge(&other.negative_store);
        self.zero_count += other.zero_count;
        if was_empty {
            self.min = other.min;
            self.max = other.max;
        } else if other.count() != 0 {
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
        self.sum += other.sum;
    }

    /// Whether a deserialized state has `mapping` and stores these functions can read.
    pub fn is_sound(&self, mapping: &Mapping) -> bool {
        let bins = mapping.max_num_bins as usize;
        self.mapping == *mapping && self.store.is_sound(bins) && self.negative_store.is_sound(bins)
    }
}

/// Keys of the integers 1 to 65535, computed on first use: a thread adding integer
/// values takes a logarithm once per distinct magnitude, not once per row.
#[derive(Default)]
pub struct IntKeys(Vec<u16>);

impl IntKeys {
    const LIMIT: u64 = 1 << 16;

    /// The key of |x|, for x of magnitude 1 or more.
    #[inline]
    pub fn key(&mut self, mapping: &Mapping, x: i64) -> i32 {
        let m = x.unsigned_abs();
        if m >= Self::LIMIT {
            return mapping.key(m as f64);
        }
        if self.0.is_empty() {
            self.0 = vec![0; Self::LIMIT as usize];
        }
        // Kept as key + 1, 0 meaning not yet computed.
        let slot = &mut self.0[m as usize];
        if *slot == 0 {
            let key = mapping.key(m as f64);
            match u16::try_from(key + 1) {
                Ok(k) if k != 0 => *slot = k,
                _ => return key,
            }
        }
        *slot as i32 - 1
    }

    /// Bytes held: the cache once made.
    pub fn held(&self) -> usize {
        self.0.capacity() * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sketches_ddsketch::{Config, DDSketch as Theirs};

    fn mapping() -> Mapping {
        Mapping::new(0.01, 2048, 1.0e-9)
    }

    /// Values over the whole range: near zero, small integers, and magnitudes far enough
    /// apart (1e-8 to 1e300) that the stores collapse.
    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            (-3000i64..3000).prop_map(|x| x as f64),
            (-1.0e6f64..1.0e6),
            (-300i32..300, any::<bool>()).prop_map(|(e, neg)| if neg { -(10f64.powi(e)) } else { 10f64.powi(e) }),
            Just(0.0),
            Just(1.0e-9),
        ]
    }

    fn ours(values: &[f64]) -> DDSketch {
        let mut s = DDSketch::new(mapping());
        values.iter().for_each(|&v| s.add(v));
        s
    }

    fn theirs(values: &[f64]) -> Theirs {
        let mut s = Theirs::new(Config::new(0.01, 2048, 1.0e-9));
        values.iter().for_each(|&v| s.add(v));
        s
    }

    fn same(a: &DDSketch, b: &Theirs) -> Result<(), TestCaseError> {
        prop_assert_eq!(bincode::serialize(a).unwrap(), bincode::serialize(b).unwrap());
        for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 1.0] {
            prop_assert_eq!(a.quantile(q), b.quantile(q).unwrap());
        }
        Ok(())
    }

    proptest! {
        /// Same values, same bytes and quantiles as the crate; merged halves too; their
        /// states read back as ours.
        #[test]
        fn is_the_crates_sketch(a in proptest::collection::vec(value(), 0..400), b in proptest::collection::vec(value(), 0..400)) {
            let (mut x, mut y) = (ours(&a), theirs(&a));
            same(&x, &y)?;
            x.merge(&ours(&b));
            y.merge(&theirs(&b)).unwrap();
            same(&x, &y)?;
            let back: DDSketch = bincode::deserialize(&bincode::serialize(&y).unwrap()).unwrap();
            prop_assert!(back.is_sound(&mapping()));
            prop_assert_eq!(back, x);
        }

        /// Integers added by cached key make the state `add(x as f64)` makes.
        #[test]
        fn keyed_integers_are_added_alike(xs in proptest::collection::vec(prop_oneof![-70_000i64..70_000, any::<i64>()], 0..300)) {
            let mut keys = IntKeys::default();
            let mut keyed = DDSketch::new(mapping());
            for &x in &xs {
                if x == 0 {
                    keyed.add(0.0);
                } else {
                    let k = keys.key(&mapping(), x);
                    keyed.add_keyed(x as f64, k);
                }
            }
            let plain: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
            prop_assert_eq!(keyed, ours(&plain));
        }
    }

    #[test]
    fn unsound_states_are_refused() {
        let good = ours(&[1.0, 5.0, -3.0, 1e200]);
        assert!(good.is_sound(&mapping()));
        let mut other = good.clone();
        other.mapping = Mapping::new(0.02, 2048, 1.0e-9);
        assert!(!other.is_sound(&mapping()));
        let mut bad = good.clone();
        bad.store.max_key = bad.store.offset + bad.store.bins.len() as i32;
        assert!(!bad.is_sound(&mapping()));
        let mut bad = good.clone();
        bad.store.count += 1;
        assert!(!bad.is_sound(&mapping()));
        let mut bad = good;
        bad.negative_store.bin_limit = 1 << 40;
        assert!(!bad.is_sound(&mapping()));
    }
}
