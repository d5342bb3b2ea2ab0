//! An inner equi-join to a small relation folded into the grouping (eager aggregation
//! below the join). The other relation's rows are looked up by the join key's integer
//! value; each match carries a group code (which of the other side's distinct grouping
//! values the matching row has), and that code becomes a grouping key column of the
//! batch. A row without a match is dropped, as the join drops it; a row with several
//! matches counts once per match, as the join repeats it: the `level`-th match of every
//! row is aggregated in a round of its own, so sums and counts see each joined row.

use super::input::{self, Input};
use super::Aggregator;
use crate::column::{ColumnData, Values};
use crate::range_reader::Fetched;
use hashbrown::HashMap;

/// The other relation's rows by join key: the group code of each.
#[derive(Debug, Default)]
pub struct JoinLookup {
    /// Each key's first match.
    first: HashMap<i64, u32>,
    /// Each key's further matches, in the order they came.
    more: HashMap<i64, Vec<u32>>,
    /// The most matches any key has.
    rounds: usize,
}

impl JoinLookup {
    pub fn new() -> JoinLookup {
        JoinLookup::default()
    }

    /// Adds a row of the other relation: its join key and group code.
    pub fn insert(&mut self, key: i64, code: u32) {
        let n = match self.first.entry(key) {
            hashbrown::hash_map::Entry::Vacant(e) => {
                e.insert(code);
                1
            }
            hashbrown::hash_map::Entry::Occupied(_) => {
                let more = self.more.entry(key).or_default();
                more.push(code);
                more.len() + 1
            }
        };
        self.rounds = self.rounds.max(n);
    }

    /// Rows of the other relation with a key.
    pub fn rows(&self) -> usize {
        self.first.len() + self.more.values().map(Vec::len).sum::<usize>()
    }

    /// Bytes held, approximately.
    pub fn memory(&self) -> usize {
        self.first.capacity() * 16 + self.more.capacity() * 40 + self.more.values().map(|v| v.capacity() * 4).sum::<usize>()
    }

    /// The code of `key`'s match number `level`.
    #[inline]
    fn code(&self, key: i64, level: usize) -> Option<u32> {
        match level {
            0 => self.first.get(&key).copied(),
            _ => self.more.get(&key).and_then(|m| m.get(level - 1)).copied(),
        }
    }

    /// Of `rows` (whose join key column is `key`), those with a match number `level`, and
    /// a column of `n` rows (a batch's, indexed by row) holding that match's code.
    pub fn round(&self, key: &Fetched, rows: &[u32], n: usize, level: usize) -> (Vec<u32>, ColumnData) {
        let mut data = vec![0u8; n * 4];
        let mut kept = Vec::with_capacity(rows.len());
        if let Input::Ints { v, valid, .. } = input::ints(key, rows) {
            for (i, (&r, &k)) in rows.iter().zip(&v).enumerate() {
                // A NULL key matches nothing.
                if valid.as_ref().is_some_and(|valid| !valid[i]) {
                    continue;
                }
                if let Some(code) = self.code(k, level) {
                    data[r as usize * 4..r as usize * 4 + 4].copy_from_slice(&code.to_le_bytes());
                    kept.push(r);
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
