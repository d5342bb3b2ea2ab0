//! An inner equi-join to a small relation folded into the grouping (eager aggregation
//! below the join). The other relation's rows are looked up by the join key (an integer,
//! or bytes: text under a deterministic collation); each match carries a group code
//! (which of the other side's distinct grouping values the matching row has), and that
//! code becomes a grouping key column of the batch. A row without a match is dropped, as
//! the join drops it; a row with several matches counts once per match, as the join
//! repeats it: the `level`-th match of every row is aggregated in a round of its own, so
//! sums and counts see each joined row. A relation whose lookup outgrows the memory
//! budget is taken a partition of its keys at a time (`JoinKey::partition_of`): a row
//! finds its match only while its key's partition is loaded.

use super::input::{self, Input};
use super::state::same_bytes;
use super::Aggregator;
use crate::codec::bits::{get_varint, put_varint};
use crate::column::{ColumnData, Values};
use crate::range_reader::Fetched;
use hashbrown::{HashMap, HashTable};
use xxhash_rust::xxh3::xxh3_64;

/// No match (in a dense table).
const NONE: u32 = u32::MAX;

/// The join key: what a row of the other relation is found by.
#[derive(Clone, Copy, Debug)]
pub enum JoinKey<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl JoinKey<'_> {
    /// Which of `parts` partitions the key belongs to. A byte key's is taken from the
    /// hash its table finds it by (bits the table does not use), so a probe that will
    /// miss, its key being in a partition not loaded, is told apart without probing.
    pub fn partition_of(self, parts: u32) -> u32 {
        match self {
            JoinKey::Int(k) => ((((k as u64) ^ 0x5851_F42D_4C95_7F2D).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17) % parts.max(1) as u64) as u32,
            JoinKey::Bytes(b) => bytes_partition(xxh3_64(b), parts),
        }
    }
}

/// A byte key's partition from its table hash: bits 32-55, which hashbrown uses neither
/// for the bucket (the low bits) nor for the tag (the top seven).
#[inline]
fn bytes_partition(hash: u64, parts: u32) -> u32 {
    (((hash >> 32) & 0xFF_FFFF) % parts.max(1) as u64) as u32
}

/// Integer keys' first matches: a table indexed by key while the keys are dense (serial
/// ids: 4 bytes a key, no hashing), else a hash table.
#[derive(Debug)]
enum IntKeys {
    Dense { base: i64, codes: Vec<u32>, keys: usize },
    Sparse(HashMap<i64, u32>),
}

impl IntKeys {
    /// Makes `code` the first match of `key`, unless it has one already (false).
    fn insert(&mut self, key: i64, code: u32) -> bool {
        if let IntKeys::Dense { base, codes, keys } = self {
            if codes.is_empty() {
                *base = key;
            }
            // In i128: keys may be anywhere in i64's range.
            let end = *base as i128 + codes.len() as i128;
            let (lo, hi) = ((*base as i128).min(key as i128), end.max(key as i128 + 1));
            let span = hi - lo;
            // Dense while at least one slot in four holds a key (past a small start).
            if span <= 4 * (*keys as i128 + 1) + 4096 {
                if lo < *base as i128 || hi > end {
                    // Grown by half again beyond what is needed, either way, so keys
                    // arriving in order grow it in amortized constant time.
                    let slack = (span / 2).max(16);
                    let new_lo = if lo < *base as i128 { (lo - slack).max(i64::MIN as i128) } else { lo };
                    let new_hi = if hi > end { (hi + slack).min(i64::MAX as i128 + 1) } else { hi };
                    let mut grown = vec![NONE; (new_hi - new_lo) as usize];
                    let at = (*base as i128 - new_lo) as usize;
                    grown[at..at + codes.len()].copy_from_slice(codes);
                    *codes = grown;
                    *base = new_lo as i64;
                }
                let slot = &mut codes[(key as i128 - *base as i128) as usize];
                if *slot != NONE {
                    return false;
                }
                *slot = code;
                *keys += 1;
                return true;
            }
            // Too sparse: a hash table from here on.
            let map: HashMap<i64, u32> = codes.iter().enumerate().filter(|(_, &c)| c != NONE).map(|(i, &c)| (*base + i as i64, c)).collect();
            *self = IntKeys::Sparse(map);
        }
        let IntKeys::Sparse(map) = self else { unreachable!("made sparse above") };
        match map.entry(key) {
            hashbrown::hash_map::Entry::Vacant(e) => {
                e.insert(code);
                true
            }
            hashbrown::hash_map::Entry::Occupied(_) => false,
        }
    }

    #[inline]
    fn first(&self, key: i64) -> Option<u32> {
        match self {
            IntKeys::Dense { base, codes, .. } => {
                // Keys below the base wrap to huge indexes: one comparison covers both ends.
                let i = usize::try_from(key.wrapping_sub(*base)).ok()?;
                codes.get(i).copied().filter(|&c| c != NONE)
            }
            IntKeys::Sparse(map) => map.get(&key).copied(),
        }
    }

    fn memory(&self) -> usize {
        match self {
            IntKeys::Dense { codes, .. } => codes.capacity() * 4,
            IntKeys::Sparse(map) => map.capacity() * 17,
        }
    }
}

/// Byte-string keys (text): each distinct key in one arena as its length (one byte, or
/// 0xFF and four), its bytes and its first match's code (seven bits a byte: grouping
/// values are few, so a code is one byte in most joins), found through a table of arena
/// offsets. A probe touches the table and one place in the arena, and a key costs about
/// 7 bytes besides its own. A key is numbered by its offset.
#[derive(Debug, Default)]
struct ByteKeys {
    table: HashTable<u32>,
    arena: Vec<u8>,
    keys: usize,
    /// A key did not fit below the 4 GB that offsets address: the lookup is incomplete,
    /// and says so by reporting itself over any budget.
    full: bool,
}

impl ByteKeys {
    /// The key at arena offset `at`, and where its code starts.
    #[inline]
    fn entry(arena: &[u8], at: u32) -> (&[u8], usize) {
        let at = at as usize;
        let (len, start) = match arena[at] {
            0xFF => (u32::from_le_bytes([arena[at + 1], arena[at + 2], arena[at + 3], arena[at + 4]]) as usize, at + 5),
            n => (n as usize, at + 1),
        };
        (&arena[start..start + len], start + len)
    }

    /// The first match's code of the key at `at`.
    #[inline]
    fn code(&self, at: u32) -> u32 {
        let (_, mut c) = Self::entry(&self.arena, at);
        match self.arena[c] {
            // One byte, as nearly every code (this is on every probe's path).
            b if b < 0x80 => b as u32,
            // Written by `insert`: always whole.
            _ => get_varint(&self.arena, &mut c).unwrap_or(0) as u32,
        }
    }

    #[inline]
    fn find_hashed(&self, key: &[u8], hash: u64) -> Option<u32> {
        self.table.find(hash, |&at| same_bytes(Self::entry(&self.arena, at).0, key)).copied()
    }

    /// The key's number, and whether it is new (`code` then its first match); None once
    /// the arena is full.
    fn insert(&mut self, key: &[u8], hash: u64, code: u32) -> Option<(u32, bool)> {
        // One probe finds the key or its place (rehashing, should the table grow, from
        // the keys' bytes: keeping each key's hash would cost 8 more bytes a key, a third
        // of the lookup, and so more partitions, each a pass over the scanned table).
        // A full table is probed first: `entry` makes room before it looks, and a key
        // met again must not double a lookup sized to the budget.
        if self.table.len() == self.table.capacity() {
            if let Some(at) = self.find_hashed(key, hash) {
                return Some((at, false));
            }
        }
        let arena = &self.arena;
        let vacant = match self.table.entry(hash, |&at| same_bytes(Self::entry(arena, at).0, key), |&i| xxh3_64(Self::entry(arena, i).0)) {
            hashbrown::hash_table::Entry::Occupied(o) => return Some((*o.get(), false)),
            hashbrown::hash_table::Entry::Vacant(v) => v,
        };
        let at = self.arena.len();
        if at + key.len() + 10 > u32::MAX as usize {
            self.full = true;
            return None;
        }
        // Past its reservation the arena grows by an eighth, not by doubling: a
        // partition's lookup is sized to the budget, and doubling would leave it far over.
        if self.arena.capacity() - at < key.len() + 10 {
            self.arena.reserve_exact((key.len() + 10).max(at / 8));
        }
        match u8::try_from(key.len()) {
            Ok(n) if n < 0xFF => self.arena.push(n),
            _ => {
                self.arena.push(0xFF);
                self.arena.extend_from_slice(&(key.len() as u32).to_le_bytes());
            }
        }
        self.arena.extend_from_slice(key);
        put_varint(&mut self.arena, code as u64);
        self.keys += 1;
        vacant.insert(at as u32);
        Some((at as u32, true))
    }

    fn memory(&self) -> usize {
        if self.full {
            return usize::MAX / 2;
        }
        self.table.capacity() * 5 + self.arena.capacity()
    }

    /// What the keys need without growth slack (the table at its load factor).
    fn needed(&self) -> usize {
        self.keys * 5 * 8 / 7 + self.arena.len()
    }

    /// Room for `keys` more keys taking `bytes` of the arena in all, allocated once.
    fn reserve(&mut self, keys: usize, bytes: usize) {
        self.arena.reserve_exact(bytes);
        let arena = &self.arena;
        self.table.reserve(keys, |&i| xxh3_64(Self::entry(arena, i).0));
    }
}

#[derive(Debug)]
enum Keys {
    Ints(IntKeys),
    Bytes(ByteKeys),
}

/// The other relation's rows by join key: the group code of each.
#[derive(Debug)]
pub struct JoinLookup {
    keys: Keys,
    /// Each key's further matches, in the order they came, by the integer key or the byte
    /// key's number.
    more: HashMap<i64, Vec<u32>>,
    /// The most matches any key has.
    rounds: usize,
    /// Codes in `more`, and the room their vectors hold (kept as they grow: `memory` is
    /// asked after every row read).
    more_codes: usize,
    more_capacity: usize,
    /// The partition of the keys this lookup holds (part, parts), when it holds one.
    only: Option<(u32, u32)>,
}

impl JoinLookup {
    /// A lookup by integer keys, or (`bytes`) by byte strings.
    pub fn new(bytes: bool) -> JoinLookup {
        let keys = match bytes {
            true => Keys::Bytes(ByteKeys::default()),
            false => Keys::Ints(IntKeys::Dense { base: 0, codes: Vec::new(), keys: 0 }),
        };
        JoinLookup { keys, more: HashMap::new(), rounds: 0, more_codes: 0, more_capacity: 0, only: None }
    }

    /// Marks the lookup as holding only the keys of partition `part` of `parts`.
    pub fn holding_partition(mut self, part: u32, parts: u32) -> JoinLookup {
        self.only = (parts > 1).then_some((part, parts));
        self
    }

    /// Adds a row of the other relation: its join key and group code. A key of the other
    /// kind than the lookup's matches nothing and is not kept.
    pub fn insert(&mut self, key: JoinKey, code: u32) {
        self.insert_in_partition(key, code, 0, 1);
    }

    /// Adds a row of the other relation when its key is in partition `part` of `parts`
    /// (a byte key hashed once for both).
    pub fn insert_in_partition(&mut self, key: JoinKey, code: u32, part: u32, parts: u32) {
        let (hash, in_part) = match key {
            JoinKey::Bytes(b) => {
                let hash = xxh3_64(b);
                (hash, bytes_partition(hash, parts) == part)
            }
            JoinKey::Int(_) => (0, key.partition_of(parts) == part),
        };
        if in_part {
            self.insert_hashed(key, hash, code);
        }
    }

    fn insert_hashed(&mut self, key: JoinKey, hash: u64, code: u32) {
        let (new, more_key) = match (&mut self.keys, key) {
            (Keys::Ints(ints), JoinKey::Int(k)) => (ints.insert(k, code), k),
            (Keys::Bytes(bytes), JoinKey::Bytes(b)) => match bytes.insert(b, hash, code) {
                Some((id, new)) => (new, id as i64),
                None => return,
            },
            _ => return,
        };
        if !new {
            let more = self.more.entry(more_key).or_default();
            let capacity = more.capacity();
            more.push(code);
            self.rounds = self.rounds.max(more.len() + 1);
            self.more_codes += 1;
            self.more_capacity += more.capacity() - capacity;
        }
        self.rounds = self.rounds.max(1);
    }

    /// Bytes the keys need without growth slack (to size partitions by), and of that,
    /// the count and bytes of byte keys (to allocate a partition's lookup at once).
    pub fn needed(&self) -> (usize, usize, usize) {
        let more = self.more.len() * 40 + self.more_codes * 4;
        match &self.keys {
            Keys::Ints(k) => (k.memory() + more, 0, 0),
            Keys::Bytes(k) => (k.needed() + more, k.keys, k.arena.len()),
        }
    }

    /// The memory a byte-key lookup of `keys` keys taking `bytes` of its arena takes when
    /// allocated at once: the table's buckets are a power of two, so a partition's
    /// lookup can take up to a quarter more than its keys need.
    pub fn planned_bytes_memory(keys: usize, bytes: usize) -> usize {
        let buckets = if keys < 8 { 16 } else { (keys * 8 / 7).next_power_of_two() };
        buckets * 5 + bytes
    }

    /// How many of `rows` rows to allow for in one of `parts` partitions by key hash: a
    /// partition's count varies by a few standard deviations (binomial) around its
    /// share, and a lookup allocated for fewer would grow by doubling; never more than
    /// all of them.
    pub fn partition_rows(rows: usize, parts: u32) -> f64 {
        let share = rows as f64 / parts.max(1) as f64;
        (share + 6.0 * share.sqrt() + 64.0).min(rows as f64)
    }

    /// Room for `keys` byte keys of `bytes` in all (nothing for integer keys).
    pub fn reserve(&mut self, keys: usize, bytes: usize) {
        if let Keys::Bytes(k) = &mut self.keys {
            k.reserve(keys, bytes);
        }
    }

    /// Bytes held, approximately.
    pub fn memory(&self) -> usize {
        let keys = match &self.keys {
            Keys::Ints(k) => k.memory(),
            Keys::Bytes(k) => k.memory(),
        };
        keys + self.more.capacity() * 40 + self.more_capacity * 4
    }

    /// The code of match number `level` of the key whose first match is `first` (and whose
    /// further matches are under `more_key`).
    #[inline]
    fn code(&self, first: Option<u32>, more_key: impl FnOnce() -> Option<i64>, level: usize) -> Option<u32> {
        match level {
            0 => first,
            _ => self.more.get(&more_key()?).and_then(|m| m.get(level - 1)).copied(),
        }
    }

    /// Of `rows` (whose join key column is `key`), those with a match number `level`, and
    /// a column of `n` rows (a batch's, indexed by row) holding that match's code.
    pub fn round(&self, key: &Fetched, rows: &[u32], n: usize, level: usize) -> (Vec<u32>, ColumnData) {
        let mut data = vec![0u8; n * 4];
        let mut kept = Vec::with_capacity(rows.len());
        let mut keep = |r: u32, code: Option<u32>| {
            if let Some(code) = code {
                data[r as usize * 4..r as usize * 4 + 4].copy_from_slice(&code.to_le_bytes());
                kept.push(r);
            }
        };
        match &self.keys {
            Keys::Ints(ints) => {
                if let Input::Ints { v, valid, .. } = input::ints(key, rows) {
                    for (i, (&r, &k)) in rows.iter().zip(&v).enumerate() {
                        // A NULL key matches nothing.
                        if valid.as_ref().is_none_or(|valid| valid[i]) {
                            keep(r, self.code(ints.first(k), || Some(k), level));
                        }
                    }
                }
            }
            Keys::Bytes(bytes) => {
                // Tables sorted by the join key (events by user) repeat a key row after
                // row: the last key's match is reused without hashing it again.
                let mut last: Option<(&[u8], Option<u32>)> = None;
                for &r in rows {
                    let Some(b) = key.get(r) else { continue };
                    let id = match last {
                        // (Word compares: a call to memcmp per row cost a tenth of the join.)
                        Some((lb, id)) if same_bytes(lb, b) => id,
                        _ => {
                            let hash = xxh3_64(b);
                            let id = match self.only {
                                Some((part, parts)) if bytes_partition(hash, parts) != part => None,
                                _ => bytes.find_hashed(b, hash),
                            };
                            last = Some((b, id));
                            id
                        }
                    };
                    if let Some(id) = id {
                        keep(r, self.code(Some(bytes.code(id)), || Some(id as i64), level));
                    }
                }
            }
        }
        (kept, ColumnData { values: Values::Fixed { width: 4, data }, validity: None })
    }

    /// Folds a batch into `agg` through the join: its `columns` (with `key` the join key's
    /// column) get the code column appended (at index `columns.len()`, where the
    /// aggregator's spec expects it) for each round, then lose it again.
    pub fn update(&self, agg: &mut Aggregator, columns: &mut Vec<Option<Fetched>>, key: usize, rows: &[u32], n: usize, part: usize) {
        for level in 0..self.rounds {
            let (kept, codes) = match columns[key].as_ref() {
                Some(k) => self.round(k, rows, n, level),
                None => return,
            };
            if kept.is_empty() {
                continue;
            }
            columns.push(Some(Fetched::Values(codes)));
            agg.update(columns, &kept, part);
            columns.pop();
        }
    }
}

/// The other relation's rows as records (group code, then key) in a temporary file, so
/// a lookup taken a partition at a time reads them back instead of running the
/// relation's plan (and its hash functions) again for every partition.
pub fn encode_record(key: JoinKey, code: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&code.to_le_bytes());
    match key {
        JoinKey::Int(k) => out.extend_from_slice(&k.to_le_bytes()),
        JoinKey::Bytes(b) => {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        }
    }
}

/// Decodes [`encode_record`]'s records from the chunks a file is read in (a record may
/// span two).
#[derive(Debug)]
pub struct RecordDecoder {
    bytes: bool,
    pending: Vec<u8>,
}

impl RecordDecoder {
    /// For records of byte keys (`bytes`) or integer keys.
    pub fn new(bytes: bool) -> RecordDecoder {
        RecordDecoder { bytes, pending: Vec::new() }
    }

    /// Hands each whole record in `chunk` (and what earlier chunks left) to `f`.
    pub fn feed(&mut self, chunk: &[u8], mut f: impl FnMut(JoinKey, u32)) {
        self.pending.extend_from_slice(chunk);
        let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let mut at = 0;
        loop {
            let rest = &self.pending[at..];
            if rest.len() < 8 {
                break;
            }
            let code = word(rest);
            let (key, len) = if self.bytes {
                let n = word(&rest[4..]) as usize;
                match rest.get(8..8 + n) {
                    Some(b) => (JoinKey::Bytes(b), 8 + n),
                    None => break,
                }
            } else {
                match rest.get(4..12) {
                    Some(b) => (JoinKey::Int(i64::from_le_bytes(b.try_into().unwrap_or_default())), 12),
                    None => break,
                }
            };
            f(key, code);
            at += len;
        }
        self.pending.drain(..at);
    }

    /// Whether every byte fed belonged to a whole record.
    pub fn finished(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key met again in a table filled to its capacity is found, not made room for:
    /// the lookup is sized to the budget, and growing the table doubles it.
    #[test]
    fn a_full_table_does_not_grow_for_a_known_key() {
        let mut keys = ByteKeys::default();
        keys.reserve(1000, 16_000);
        let capacity = keys.table.capacity();
        let key = |i: usize| format!("user_{i}").into_bytes();
        for i in 0..capacity {
            let k = key(i);
            assert_eq!(keys.insert(&k, xxh3_64(&k), i as u32).map(|(_, new)| new), Some(true));
        }
        assert_eq!(keys.table.len(), keys.table.capacity());
        let k = key(7);
        let (at, new) = keys.insert(&k, xxh3_64(&k), 99).expect("arena not full");
        assert!(!new);
        assert_eq!(keys.code(at), 7);
        assert_eq!(keys.table.capacity(), capacity);
        // A new key grows it, and every key is still found with its code.
        let k = key(capacity);
        keys.insert(&k, xxh3_64(&k), 5).expect("arena not full");
        assert!(keys.table.capacity() > capacity);
        for i in [0, 7, capacity - 1] {
            let k = key(i);
            assert_eq!(keys.find_hashed(&k, xxh3_64(&k)).map(|at| keys.code(at)), Some(i as u32));
        }
    }
}
