//! A large count(DISTINCT) set of 128-bit keys as sorted runs, delta-encoded: keys come
//! into a small unsorted buffer, which is sorted, deduplicated and encoded as a run when
//! full; runs of similar size are merged (union), so there are O(log n) of them. A run
//! stores each key as its difference from the previous one: one byte for a difference
//! below 128, else a byte giving the count of little-endian bytes that follow. About
//! 128 - log2(n) bits a key for random (hashed) keys, a byte or two for keys that cluster
//! (ids, short codes), where a hash set holds 24 to 39 bytes a key. So a million
//! distinct user ids fit the default work_mem and the data is read once, not once per
//! share of the keys. (LEB128 varints, a byte at a time, made merging a quarter of a
//! count(DISTINCT) of text; this reads a difference with one 16-byte load.)

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

/// A run's bytes end in this many zero bytes, so a difference is read with one 16-byte
/// load wherever it ends.
const PAD: usize = 16;

#[derive(Default)]
struct Run {
    bytes: Vec<u8>,
    len: usize,
    last_key: u128,
}

/// Writes a run of strictly increasing keys.
struct Encoder {
    run: Run,
    prev: u128,
}

impl Encoder {
    /// For about `bytes` bytes.
    fn new(bytes: usize) -> Encoder {
        Encoder { run: Run { bytes: Vec::with_capacity(bytes + PAD), len: 0, last_key: 0 }, prev: 0 }
    }

    #[inline]
    fn push(&mut self, k: u128) {
        let d = k - self.prev;
        self.prev = k;
        let bytes = &mut self.run.bytes;
        if d < 0x80 {
            bytes.push(d as u8);
        } else {
            // Whole little-endian words written, then cut to the bytes that count.
            let n = 16 - d.leading_zeros() as usize / 8;
            let at = bytes.len();
            bytes.push(0x80 | n as u8);
            bytes.extend_from_slice(&d.to_le_bytes());
            bytes.truncate(at + 1 + n);
        }
        self.run.len += 1;
    }

    /// The rest of a run being read: its next key, then its differences as they are.
    fn push_rest(&mut self, mut rest: RunIter) {
        let Some(k) = rest.next() else { return };
        self.push(k);
        self.run.bytes.extend_from_slice(&rest.bytes[rest.at..rest.end]);
        self.run.len += rest.remaining;
        self.prev = rest.last;
    }

    fn finish(mut self) -> Run {
        self.run.last_key = self.prev;
        self.run.bytes.extend_from_slice(&[0; PAD]);
        self.run.bytes.shrink_to_fit();
        self.run
    }
}

impl Run {
    /// Encodes strictly increasing keys into about `bytes` bytes.
    fn encode(keys: impl Iterator<Item = u128>, bytes: usize) -> Run {
        let mut e = Encoder::new(bytes);
        keys.for_each(|k| e.push(k));
        e.finish()
    }

    fn iter(&self) -> RunIter<'_> {
        RunIter { bytes: &self.bytes, end: self.bytes.len().saturating_sub(PAD), at: 0, prev: 0, remaining: self.len, last: self.last_key }
    }
}

struct RunIter<'a> {
    bytes: &'a [u8],
    /// Where the padding starts.
    end: usize,
    at: usize,
    prev: u128,
    /// Keys not read yet, and the run's last.
    remaining: usize,
    last: u128,
}

impl Iterator for RunIter<'_> {
    type Item = u128;

    #[inline]
    fn next(&mut self) -> Option<u128> {
        if self.at >= self.end {
            return None;
        }
        let b = self.bytes[self.at];
        let d = if b < 0x80 {
            self.at += 1;
            b as u128
        } else {
            // A run is made here: its differences are whole and the padding follows.
            let n = (b & 0x1f) as usize;
            let word = self.bytes.get(self.at + 1..self.at + 17).map_or(0, |w| u128::from_le_bytes(w.try_into().unwrap_or([0; 16])));
            self.at += 1 + n;
            if n >= 16 { word } else { word & ((1u128 << (8 * n)) - 1) }
        };
        self.prev = self.prev.wrapping_add(d);
        self.remaining -= 1;
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

/// Merges two sorted, deduplicated runs (the union of two, without a heap); once one
/// ends, the other's remaining differences are copied.
fn merge_two(a: &Run, b: &Run) -> Run {
    let mut out = Encoder::new(a.bytes.len() + b.bytes.len());
    let (mut x, mut y) = (a.iter(), b.iter());
    let (mut p, mut q) = (x.next(), y.next());
    loop {
        match (p, q) {
            (Some(u), Some(v)) => {
                out.push(u.min(v));
                if u <= v {
                    p = x.next();
                }
                if v <= u {
                    q = y.next();
                }
            }
            (Some(u), None) => {
                out.push(u);
                out.push_rest(x);
                break;
            }
            (None, Some(v)) => {
                out.push(v);
                out.push_rest(y);
                break;
            }
            (None, None) => break,
        }
    }
    out.finish()
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
        // Merged (the threads' states at the end): counted already.
        if let ([one], true) = (&self.runs[..], self.fresh.is_empty()) {
            return one.len as u64;
        }
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

    /// Takes in another set's keys: all runs become one, the two smallest merged first
    /// (runs of a set grow geometrically, so this reads each key about twice; a heap
    /// over all of them cost a comparison chain per key, on the backend's thread).
    pub fn merge(&mut self, mut other: KeyRuns) {
        self.flush();
        other.flush();
        self.runs.append(&mut other.runs);
        self.runs.sort_by_key(|r| Reverse(r.len));
        while self.runs.len() > 1 {
            let b = self.runs.pop().unwrap_or_default();
            let a = self.runs.pop().unwrap_or_default();
            let merged = merge_two(&a, &b);
            let at = self.runs.partition_point(|r| r.len >= merged.len);
            self.runs.insert(at, merged);
        }
        self.run_bytes = self.runs.iter().map(|r| r.bytes.capacity()).sum();
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
