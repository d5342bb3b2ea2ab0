//! A part's deleted rows (ClickHouse's lightweight-delete mask, `_row_exists`): row
//! numbers within the part, as a roaring bitmap (a DELETE of a range of the sort key
//! deletes runs of rows, which it stores in a few bytes). Parts never change, so DELETE
//! records masks beside them; every reader leaves masked rows out and merges drop them.

use crate::error::{Error, Result};
use roaring::RoaringBitmap;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeletedRows {
    rows: RoaringBitmap,
}

impl DeletedRows {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        RoaringBitmap::deserialize_from(bytes).map(|rows| DeletedRows { rows }).map_err(|e| Error::corrupt("deleted rows", e.to_string()))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.rows.serialized_size());
        self.rows.serialize_into(&mut out).expect("writing to a Vec cannot fail");
        out
    }

    /// Adds row `row`; false when it was deleted already.
    pub fn insert(&mut self, row: u32) -> bool {
        self.rows.insert(row)
    }

    pub fn union_with(&mut self, other: &DeletedRows) {
        self.rows |= &other.rows;
    }

    /// The rows deleted here and not in `other`.
    pub fn difference(&self, other: &DeletedRows) -> DeletedRows {
        DeletedRows { rows: &self.rows - &other.rows }
    }

    pub fn contains(&self, row: u32) -> bool {
        self.rows.contains(row)
    }

    pub fn len(&self) -> u64 {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.rows.iter()
    }

    /// How many of the `rows` rows from `start` are deleted.
    pub fn count_in(&self, start: u64, rows: usize) -> u64 {
        let (lo, hi) = (clamp(start), clamp(start + rows as u64));
        if lo >= hi {
            return 0;
        }
        self.rows.range_cardinality(lo..hi)
    }

    /// The deleted rows among the `rows` rows from `start`, relative to `start`, in
    /// order (a granule's few deleted rows, found without testing each of its rows).
    pub fn in_range(&self, start: u64, rows: usize) -> Vec<u32> {
        let (lo, hi) = (clamp(start), clamp(start + rows as u64));
        if lo >= hi {
            return Vec::new();
        }
        self.rows.range(lo..hi).map(|r| r - lo).collect()
    }

    /// Leaves out of `selection` (row numbers relative to `start`, ascending) the deleted
    /// rows.
    pub fn retain(&self, start: u64, selection: &mut Vec<u32>) {
        let Some(&last) = selection.last() else { return };
        remove_sorted(selection, &self.in_range(start, last as usize + 1));
    }

    /// The rows of the `rows` rows from `start` that are not deleted (relative to
    /// `start`); None when none is deleted.
    pub fn kept(&self, start: u64, rows: usize) -> Option<Vec<u32>> {
        let gone = self.in_range(start, rows);
        if gone.is_empty() {
            return None;
        }
        let mut sel: Vec<u32> = (0..rows as u32).collect();
        remove_sorted(&mut sel, &gone);
        Some(sel)
    }
}

/// Removes from ascending `selection` the values of ascending `gone`, walking both.
fn remove_sorted(selection: &mut Vec<u32>, gone: &[u32]) {
    if gone.is_empty() {
        return;
    }
    let mut g = 0;
    selection.retain(|&r| {
        while g < gone.len() && gone[g] < r {
            g += 1;
        }
        gone.get(g) != Some(&r)
    });
}

/// Parts hold fewer than 2^32 rows; a row number past that is never deleted.
fn clamp(row: u64) -> u32 {
    row.min(u32::MAX as u64) as u32
}

/// A part's deleted rows with the first row of each of its granules, as readers use them.
#[derive(Clone, Debug)]
pub struct GranuleMask {
    pub deleted: std::sync::Arc<DeletedRows>,
    pub starts: Vec<u64>,
}

impl GranuleMask {
    /// Whether every row of granule `g` (of `rows` rows) is deleted.
    pub fn all_deleted(&self, g: usize, rows: usize) -> bool {
        self.deleted.count_in(self.starts[g], rows) == rows as u64
    }

    pub fn retain(&self, g: usize, selection: &mut Vec<u32>) {
        self.deleted.retain(self.starts[g], selection)
    }

    pub fn kept(&self, g: usize, rows: usize) -> Option<Vec<u32>> {
        self.deleted.kept(self.starts[g], rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_round_trip() {
        let mut d = DeletedRows::new();
        for r in [0u32, 5, 6, 7, 100, 8191, 8192] {
            assert!(d.insert(r));
        }
        assert!(!d.insert(5));
        assert_eq!(d.len(), 7);
        assert_eq!(d.count_in(0, 8), 4);
        assert_eq!(d.count_in(8192, 8192), 1);
        assert_eq!(d.kept(4, 4), Some(vec![0]));
        assert_eq!(d.kept(8, 10), None);
        let mut sel = vec![0, 1, 2, 3];
        d.retain(5, &mut sel);
        assert_eq!(sel, vec![3]);
        let mut sel = vec![1, 5, 6, 7, 95, 96];
        d.retain(0, &mut sel);
        assert_eq!(sel, vec![1, 95, 96]);
        assert_eq!(d.in_range(6, 100), vec![0, 1, 94]);
        assert_eq!(d.kept(99, 3), Some(vec![0, 2]));
        let back = DeletedRows::from_bytes(&d.to_bytes()).unwrap();
        assert_eq!(back, d);
        assert!(DeletedRows::from_bytes(&[1, 2, 3]).is_err());
        let mut u = DeletedRows::new();
        u.insert(9);
        u.union_with(&d);
        assert_eq!(u.len(), 8);
    }
}
