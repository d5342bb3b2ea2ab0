//! count(DISTINCT)'s values of one group. Integers (also dates, times, timestamps) that
//! fit 32 bits go into a roaring bitmap: ids and days are dense or clustered, where a
//! bitmap holds a value in 2 bytes or less (a hash set takes 24), so a million distinct
//! users fit the default work_mem in one pass, and sorted parts append rather than hash.
//! Every other value is a 128-bit key (state.rs's distinct_key): in a hash set while
//! the group has few, then as delta-encoded sorted runs (key_runs.rs), a few bytes a key.

use super::key_runs::KeyRuns;
use hashbrown::HashSet;
use roaring::RoaringBitmap;

/// Bytes a value costs in the hash set (key and table slack).
const KEY_BYTES: usize = 24;

/// Keys past which a group's hash set becomes sorted runs.
const RUNS_FROM: usize = 4096;

/// Bytes a bitmap value is counted at until the bitmap is measured again: a value that
/// opens a container costs the container (at most 40 bytes) and its first entry.
const UNMEASURED_BYTES: usize = 44;

#[derive(Default)]
pub struct DistinctSet {
    ints: Option<Box<Ints>>,
    keys: HashSet<u128>,
    /// Once there are many keys: all of them (`keys` is then empty).
    runs: Option<Box<KeyRuns>>,
}

#[derive(Default)]
struct Ints {
    bitmap: RoaringBitmap,
    /// Values in the bitmap (its own len() walks the containers).
    len: u64,
    /// The bitmap's bytes as last measured, plus UNMEASURED_BYTES per value since.
    bytes: usize,
    /// Values and containers at the last measurement.
    measured_len: u64,
    measured_containers: u64,
}

impl Ints {
    /// Measures the bitmap once as many values came in as it had containers (at least
    /// 1024), so measuring costs O(1) a value and the estimate stays within about twice
    /// the truth.
    fn measure_if_due(&mut self) {
        if self.len - self.measured_len >= self.measured_containers.max(1024) {
            self.measure();
        }
    }

    fn measure(&mut self) {
        let s = self.bitmap.statistics();
        // The statistics count an array container's capacity at 4 bytes a u16 (twice
        // its size: room for its growth) and a bitset container's in bits.
        self.bytes = s.n_containers as usize * 40 + s.n_bytes_array_containers as usize + s.n_bitset_containers as usize * 8192 + s.n_bytes_run_containers as usize;
        self.measured_len = self.len;
        self.measured_containers = s.n_containers as u64;
    }
}

impl DistinctSet {
    /// Adds an integer; returns the change in bytes held (negative when a measurement
    /// finds the bitmap smaller than counted).
    #[inline]
    pub fn insert_int(&mut self, x: i64, key: impl FnOnce() -> u128) -> isize {
        let Ok(small) = i32::try_from(x) else {
            return self.insert_key(key());
        };
        let ints = self.ints.get_or_insert_with(Default::default);
        // Flipping the sign bit keeps the order of i32 in u32 (containers by value).
        if !ints.bitmap.insert(small as u32 ^ 0x8000_0000) {
            return 0;
        }
        let before = ints.bytes;
        ints.len += 1;
        ints.bytes += UNMEASURED_BYTES;
        ints.measure_if_due();
        ints.bytes as isize - before as isize
    }

    /// Adds any other value by its key; returns the change in bytes held.
    #[inline]
    pub fn insert_key(&mut self, key: u128) -> isize {
        if let Some(runs) = &mut self.runs {
            return runs.insert(key);
        }
        if !self.keys.insert(key) {
            return 0;
        }
        if self.keys.len() <= RUNS_FROM {
            return KEY_BYTES as isize;
        }
        let before = self.held() - KEY_BYTES;
        self.to_runs();
        self.held() as isize - before as isize
    }

    /// Moves the hash set's keys into sorted runs.
    fn to_runs(&mut self) {
        let runs = self.runs.get_or_insert_with(Default::default);
        for k in std::mem::take(&mut self.keys) {
            runs.insert(k);
        }
    }

    pub fn len(&self) -> u64 {
        self.keys.len() as u64 + self.runs.as_ref().map_or(0, |r| r.len()) + self.ints.as_ref().map_or(0, |i| i.len)
    }

    /// Bytes held, approximately.
    pub fn held(&self) -> usize {
        self.keys.len() * KEY_BYTES + self.runs.as_ref().map_or(0, |r| r.held()) + self.ints.as_ref().map_or(0, |i| i.bytes)
    }

    /// Takes in another set's values (of the same aggregate).
    pub fn merge(&mut self, mut other: DistinctSet) {
        if self.runs.is_some() || other.runs.is_some() || self.keys.len() + other.keys.len() > RUNS_FROM {
            self.to_runs();
            other.to_runs();
            if let (Some(mine), Some(theirs)) = (self.runs.as_mut(), other.runs.take()) {
                mine.merge(*theirs);
            }
        } else {
            if self.keys.len() < other.keys.len() {
                std::mem::swap(&mut self.keys, &mut other.keys);
            }
            self.keys.extend(other.keys.drain());
        }
        match (&mut self.ints, other.ints) {
            (_, None) => {}
            (None, theirs) => self.ints = theirs,
            (Some(mine), Some(theirs)) => {
                mine.bitmap |= theirs.bitmap;
                mine.len = mine.bitmap.len();
                // Measured now: the union may be far smaller than the two.
                mine.measure();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(x: i64) -> u128 {
        x as u128 | (1 << 126)
    }

    #[test]
    fn counts_ints_inside_and_outside_32_bits() {
        let mut s = DistinctSet::default();
        let values = [0, -1, 1, i32::MIN as i64, i32::MAX as i64, i32::MAX as i64 + 1, i64::MIN, i64::MAX, -1, i64::MAX];
        for v in values {
            s.insert_int(v, || key(v));
        }
        assert_eq!(s.len(), 8);
    }

    #[test]
    fn dense_ids_are_held_in_few_bytes() {
        let mut s = DistinctSet::default();
        let mut total = 0isize;
        for v in 1..=1_000_000i64 {
            total += s.insert_int(v, || key(v));
        }
        assert_eq!(s.len(), 1_000_000);
        assert_eq!(total, s.held() as isize);
        // A bitmap of a million dense ids is about 125 kB; the hash set held 24 MB.
        assert!(s.held() < 400_000, "held {}", s.held());
    }

    #[test]
    fn sparse_values_are_not_undercounted() {
        let mut s = DistinctSet::default();
        let mut total = 0isize;
        for i in 0..100_000i64 {
            let v = (i * 65_537 * 7) % (u32::MAX as i64) - i32::MAX as i64;
            total += s.insert_int(v, || key(v));
        }
        assert_eq!(total, s.held() as isize);
        let s2 = s.ints.as_ref().unwrap().bitmap.statistics();
        let truth = s2.n_bytes_array_containers / 2 + s2.n_bitset_containers as u64 * 8192 + s2.n_containers as u64 * 32;
        assert!(s.held() as u64 >= truth, "held {} truth {}", s.held(), truth);
    }

    #[test]
    fn many_keys_become_runs_and_stay_exact() {
        let (mut a, mut b) = (DistinctSet::default(), DistinctSet::default());
        let (mut ta, mut tb) = (0isize, 0isize);
        for v in 0..20_000u128 {
            ta += a.insert_key(v * 3 | 1 << 120);
            tb += b.insert_key(v * 5 | 1 << 120);
            ta += a.insert_key(v * 3 | 1 << 120);
        }
        assert_eq!((ta, tb), (a.held() as isize, b.held() as isize));
        assert!(a.runs.is_some() && a.keys.is_empty());
        assert_eq!(a.len(), 20_000);
        // Multiples of 3 and of 5 below 60,000 and 100,000: 20,000 + 20,000 - 4,000.
        a.merge(b);
        assert_eq!(a.len(), 36_000);
        // The runs hold far less than a hash set of the same keys.
        assert!(a.held() < 36_000 * 4, "held {}", a.held());
        let mut small = DistinctSet::default();
        small.insert_key(7);
        small.merge(a);
        assert_eq!(small.len(), 36_001);
    }

    #[test]
    fn merge_is_the_union() {
        let mut a = DistinctSet::default();
        let mut b = DistinctSet::default();
        for v in 0..5000i64 {
            a.insert_int(v, || key(v));
            b.insert_int(v + 2500, || key(v + 2500));
        }
        a.insert_key(7);
        b.insert_key(7);
        b.insert_int(1 << 40, || key(1 << 40));
        a.merge(b);
        // 0..7500, the key and the wide int.
        assert_eq!(a.len(), 7_500 + 2);
        assert!(a.held() > 0);
    }
}
