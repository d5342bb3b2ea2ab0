//! Bloom filters of the skip indexes and the hashing they rely on.
//!
//! Filters are stored on disk, so the hash (xxh3 with [`SEED`]), the value normalization
//! and the probe sequence are part of the format: changing any of them makes existing
//! filters deny values they hold.

use crate::column::{float_of, sign_extend, SortKind};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Seed of every skip index hash ("MTSI").
const SEED: u64 = 0x4d54_5349;
/// The one NaN every float NaN hashes as (the quiet NaN f64::NAN has today).
const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// Hash of a non-NULL value, equal for any two values `compare_values(kind, ..)` finds
/// equal: integers of every width hash as i64, floats as f64 with -0 = 0 and one NaN,
/// bytes (and opaque values, which only byte equality can judge) as they are.
pub fn hash_value(kind: SortKind, v: &[u8]) -> u64 {
    match kind {
        SortKind::SignedInt | SortKind::Scaled(_) => hash_bytes(&sign_extend(v).to_le_bytes()),
        SortKind::Float => {
            let f = float_of(v);
            let bits = if f.is_nan() {
                CANONICAL_NAN
            } else if f == 0.0 {
                0 // folds -0.0
            } else {
                f.to_bits()
            };
            hash_bytes(&bits.to_le_bytes())
        }
        SortKind::Bytes | SortKind::Opaque | SortKind::Numeric => hash_bytes(v),
    }
}

/// Hash of raw bytes: text n-grams and tokens, byte values.
pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    xxh3_64_with_seed(b, SEED)
}

/// A bloom filter of `bits` bits probed `hashes` times per key, by double hashing of
/// one 64-bit hash (Kirsch and Mitzenmacher).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BloomFilter {
    words: Vec<u64>,
    bits: u64,
    hashes: u32,
}

impl BloomFilter {
    /// An empty filter; `hashes` is clamped to 1..=16.
    pub fn with_bits(bits: u64, hashes: usize) -> Self {
        let words = vec![0; bits.div_ceil(64) as usize];
        BloomFilter { words, bits, hashes: hashes.clamp(1, super::MAX_HASHES) as u32 }
    }

    /// Sized for `n` distinct keys at false positive rate `p`: the classic optimum
    /// m = -n ln p / (ln 2)², rounded up to whole words, and k = m/n ln 2 probes.
    pub fn for_keys(n: usize, p: f64) -> Self {
        if n == 0 {
            return BloomFilter::with_bits(0, 1);
        }
        // Bounds keep a nonsense rate from asking for an absurd filter.
        let p = p.clamp(1e-12, 0.5);
        let ln2 = std::f64::consts::LN_2;
        let m = ((-(n as f64) * p.ln() / (ln2 * ln2)).ceil() as u64).max(64).next_multiple_of(64);
        let k = (m as f64 / n as f64 * ln2).round() as usize;
        BloomFilter::with_bits(m, k)
    }

    pub fn insert(&mut self, h: u64) {
        if self.bits == 0 {
            return;
        }
        for bit in probes(h, self.bits, self.hashes) {
            self.words[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// False only when `h` was certainly never inserted. An empty-sized filter knows nothing.
    pub fn may_contain(&self, h: u64) -> bool {
        self.bits == 0 || probes(h, self.bits, self.hashes).all(|bit| self.words[bit / 64] >> (bit % 64) & 1 == 1)
    }

    pub fn bits(&self) -> u64 {
        self.bits
    }

    pub fn hashes(&self) -> usize {
        self.hashes as usize
    }

    /// Shape checks for a filter read from disk: probing it cannot go out of bounds.
    pub fn is_well_formed(&self) -> bool {
        self.words.len() as u64 == self.bits.div_ceil(64) && (1..=super::MAX_HASHES as u32).contains(&self.hashes)
    }

    pub fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }
}

/// Where key `h` probes a filter of `bits` bits: h1 + i·h2, with the hash's halves
/// swapped as h2, made odd so that the probes differ.
/// A power-of-two size (every tokenbf and ngrambf of whole kilobytes) takes a mask, the
/// same bits as the remainder without a division per probe.
fn probes(h: u64, bits: u64, hashes: u32) -> impl Iterator<Item = usize> {
    let h2 = h.rotate_left(32) | 1;
    let mask = bits.is_power_of_two().then(|| bits - 1);
    (0..hashes as u64).map(move |i| {
        let x = h.wrapping_add(i.wrapping_mul(h2));
        (match mask {
            Some(m) => x & m,
            None => x % bits,
        }) as usize
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_probes_are_the_remainder() {
        for bits in [64u64, 1 << 16, 1000, 65_600] {
            for h in [0u64, 1, u64::MAX, 0x1234_5678_9abc_def0] {
                let h2 = h.rotate_left(32) | 1;
                let want: Vec<usize> = (0..5u64).map(|i| (h.wrapping_add(i.wrapping_mul(h2)) % bits) as usize).collect();
                assert_eq!(probes(h, bits, 5).collect::<Vec<_>>(), want);
            }
        }
    }

    #[test]
    fn false_positive_rate_is_met() {
        for p in [0.025, 0.001] {
            let mut f = BloomFilter::for_keys(1000, p);
            (0..1000u64).for_each(|k| f.insert(hash_bytes(&k.to_le_bytes())));
            assert!((0..1000u64).all(|k| f.may_contain(hash_bytes(&k.to_le_bytes()))));
            let probes = 100_000u64;
            let false_positives = (1000..1000 + probes).filter(|k| f.may_contain(hash_bytes(&k.to_le_bytes()))).count();
            let rate = false_positives as f64 / probes as f64;
            assert!(rate < p * 1.5, "rate {rate} for p = {p}");
        }
    }
}
