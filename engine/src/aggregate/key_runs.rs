//! A large count(DISTINCT) set of 128-bit keys as sorted runs, delta-encoded: keys come
//! into a small unsorted buffer, which is sorted, deduplicated and encoded as a run when
//! full; runs of similar size are merged (union), so there are O(log n) of them. A run
//! stores each key as the LEB128 varint of its difference from the previous one: about
//! 128 - log2(n) bits a key for random (hashed) keys, a byte or two for keys that cluster
//! (ids, short codes), where a hash set holds 24 to 39 bytes a key. So a million
//! distinct user ids fit the default work_mem and the data is read once, not once per
//! share of the keys.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Keys buffered before they are sorted into a run (16 bytes each): at least the
/// smaller, and a quarter of the largest run up to the larger, so a big set's keys are
/// rewritten by few merges while a small set's buffer stays small.
const FRESH_KEYS: usize = 4096;
const MAX_FRESH_KEYS: usize = 65_536;

#[derive(Default)]
pub struct KeyRuns {
    /// Kept allocated across flushes (and counted so).
    fresh: Vec<u128>,
    /// Sorted by size, largest first; each at least twice the next (after a flush).
    runs: Vec<Run>,
    /// The runs' bytes.
    run_bytes: usize,
}

#[derive(Default)]
struct Run {
    bytes: Vec<u8>,
    len: usize,
}

impl Run {
    /// Encodes strictly increasing keys into about `bytes` bytes.
    fn encode(keys: impl Iterator<Item = u128>, bytes: usize) -> Run {
        let mut run = Run { bytes: Vec::with_capacity(bytes), len: 0 };
        let mut prev = 0u128;
        for k in keys {
            let mut d = k - prev;
            prev = k;
            loop {
                let b = (d & 0x7f) as u8;
                d >>= 7;
                if d == 0 {
                    run.bytes.push(b);
                    break;
                }
                run.bytes.push(b | 0x80);
            }
            run.len += 1;
        }
        run.bytes.shrink_to_fit();
        run
    }

    fn iter(&self) -> RunIter<'_> {
        RunIter { bytes: &self.bytes, at: 0, prev: 0 }
    }
}

struct RunIter<'a> {
    bytes: &'a [u8],
    at: usize,
    prev: u128,
}

impl Iterator for RunIter<'_> {
    type Item = u128;

    #[inline]
    fn next(&mut self) -> Option<u128> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let (mut d, mut shift) = (0u128, 0u32);
        // A run is made here, so its varints are whole; the bound only guards the shift.
        while let Some(&b) = self.bytes.get(self.at) {
            self.at += 1;
            if shift < 128 {
                d |= ((b & 0x7f) as u128) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        self.prev += d;
        Some(self.prev)
    }
}

/// The union of sorted, deduplicated key streams, sorted and deduplicated.
fn union<'a>(mut streams: Vec<Box<dyn Iterator<Item = u128> + 'a>>) -> impl Iterator<Item = u128> + 'a {
    let mut heap: BinaryHeap<Reverse<(u128, usize)>> = BinaryHeap::new();
    for (i, s) in streams.iter_mut().enumerate() {
        if let Some(k) = s.next() {
            heap.push(Reverse((k, i)));
        }
    }
    let mut last: Option<u128> = None;
    std::iter::from_fn(move || {
        while let Some(Reverse((k, i))) = heap.pop() {
            if let Some(n) = streams[i].next() {
                heap.push(Reverse((n, i)));
            }
            if last != Some(k) {
                last = Some(k);
                return Some(k);
            }
        }
        None
    })
}

/// Merges two sorted, deduplicated runs (the union of two, without a heap).
fn merge_two(a: &Run, b: &Run) -> Run {
    let (mut x, mut y) = (a.iter().peekable(), b.iter().peekable());
    let bytes = a.bytes.len() + b.bytes.len();
    Run::encode(std::iter::from_fn(move || match (x.peek().copied(), y.peek().copied()) {
        (Some(p), Some(q)) if p == q => {
            x.next();
            y.next()
        }
        (Some(p), Some(q)) if p < q => x.next(),
        (Some(_), Some(_)) | (None, Some(_)) => y.next(),
        (Some(_), None) => x.next(),
        (None, None) => None,
    }), bytes)
}

impl KeyRuns {
    /// Adds a key; returns the change in bytes held.
    #[inline]
    pub fn insert(&mut self, key: u128) -> isize {
        let before = self.held();
        self.fresh.push(key);
        let largest = self.runs.first().map_or(0, |r| r.len);
        if self.fresh.len() >= (largest / 4).clamp(FRESH_KEYS, MAX_FRESH_KEYS) {
            self.flush();
        }
        self.held() as isize - before as isize
    }

    /// Sorts the buffered keys into a run and merges runs of similar size.
    fn flush(&mut self) {
        if self.fresh.is_empty() {
            return;
        }
        self.fresh.sort_unstable();
        self.fresh.dedup();
        let n = self.fresh.len();
        self.runs.push(Run::encode(self.fresh.drain(..), n * 4));
        while self.runs.len() >= 2 && self.runs[self.runs.len() - 2].len <= 2 * self.runs[self.runs.len() - 1].len {
            let b = self.runs.pop().unwrap_or_default();
            let a = self.runs.pop().unwrap_or_default();
            self.runs.push(merge_two(&a, &b));
        }
        self.run_bytes = self.runs.iter().map(|r| r.bytes.capacity()).sum();
    }

    /// Distinct keys held.
    pub fn len(&self) -> u64 {
        let mut fresh = self.fresh.clone();
        fresh.sort_unstable();
        fresh.dedup();
        let mut streams: Vec<Box<dyn Iterator<Item = u128> + '_>> = self.runs.iter().map(|r| Box::new(r.iter()) as Box<dyn Iterator<Item = u128>>).collect();
        streams.push(Box::new(fresh.into_iter()));
        union(streams).count() as u64
    }

    /// Bytes held: the buffer's allocation and the runs.
    pub fn held(&self) -> usize {
        self.fresh.capacity() * 16 + self.run_bytes
    }

    /// Takes in another set's keys.
    pub fn merge(&mut self, mut other: KeyRuns) {
        self.flush();
        other.flush();
        self.runs.append(&mut other.runs);
        self.runs.sort_by_key(|r| Reverse(r.len));
        let streams: Vec<Box<dyn Iterator<Item = u128> + '_>> = self.runs.iter().map(|r| Box::new(r.iter()) as Box<dyn Iterator<Item = u128>>).collect();
        let bytes = self.runs.iter().map(|r| r.bytes.len()).sum();
        let one = Run::encode(union(streams), bytes);
        self.run_bytes = one.bytes.capacity();
        self.runs = vec![one];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// The runs hold exactly the distinct keys put in, however they were split and
        /// merged.
        #[test]
        fn runs_count_exactly(
            keys in proptest::collection::vec(prop_oneof![0u128..50, any::<u128>(), (0u128..40).prop_map(|k| k << 100)], 0..12_000),
            split in 0usize..12_000,
        ) {
            let split = split.min(keys.len());
            let (mut a, mut b) = (KeyRuns::default(), KeyRuns::default());
            let mut held = 0isize;
            for &k in &keys[..split] {
                held += a.insert(k);
            }
            prop_assert_eq!(held, a.held() as isize);
            for &k in &keys[split..] {
                b.insert(k);
            }
            let want = |ks: &[u128]| ks.iter().collect::<BTreeSet<_>>().len() as u64;
            prop_assert_eq!(a.len(), want(&keys[..split]));
            prop_assert_eq!(b.len(), want(&keys[split..]));
            a.merge(b);
            prop_assert_eq!(a.len(), want(&keys));
            a.insert(u128::MAX);
            a.insert(0);
            let mut all = keys.clone();
            all.extend([u128::MAX, 0]);
            prop_assert_eq!(a.len(), want(&all));
        }
    }

    #[test]
    fn clustered_keys_take_a_byte_or_two() {
        let mut r = KeyRuns::default();
        // A million ids in shuffled order (a multiplicative permutation of 0..2^20).
        for i in 0..(1u128 << 20) {
            r.insert((i * 0x9E37_79B1) & ((1 << 20) - 1) | 7 << 120);
        }
        assert_eq!(r.len(), 1 << 20);
        assert!(r.held() < 3 << 20, "held {}", r.held());
        // The buffer's allocation outlives its flushes: it is counted.
        assert!(r.held() >= r.fresh.capacity() * 16 && r.fresh.capacity() >= FRESH_KEYS);
    }
}
