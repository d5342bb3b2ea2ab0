//! Sorting rows by the ORDER BY key before they become a part. NULLs sort last, as in
//! Postgres' default ascending order; ties keep insertion order (stable sort).

use crate::column::{compare_values, ColumnData, SortKind};
use std::cmp::Ordering;

/// One ORDER BY column: its index in the batch and how its values compare.
#[derive(Clone, Copy, Debug)]
pub struct SortColumn {
    pub column: usize,
    pub kind: SortKind,
}

/// Compares rows `a` and `b` on `keys`. `opaque` compares two non-NULL values of an
/// `Opaque` column (the caller knows its type's order).
pub fn compare_rows(
    columns: &[ColumnData],
    keys: &[SortColumn],
    a: usize,
    b: usize,
    opaque: &mut dyn FnMut(usize, usize, usize) -> Ordering,
) -> Ordering {
    for k in keys {
        let c = &columns[k.column];
        let ord = match (c.get(a), c.get(b)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => match k.kind {
                SortKind::Opaque => opaque(k.column, a, b),
                kind => compare_values(kind, x, y),
            },
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// The row order that sorts `columns` by `keys`.
pub fn sort_permutation(
    columns: &[ColumnData],
    rows: usize,
    keys: &[SortColumn],
    opaque: &mut dyn FnMut(usize, usize, usize) -> Ordering,
) -> Vec<u32> {
    let mut perm: Vec<u32> = (0..rows as u32).collect();
    if !keys.is_empty() {
        perm.sort_by(|&a, &b| compare_rows(columns, keys, a as usize, b as usize, opaque));
    }
    perm
}

/// Like [`sort_permutation`] for keys the engine compares by itself (no `Opaque`
/// column), sorted on all worker threads.
pub fn sort_permutation_parallel(columns: &[ColumnData], rows: usize, keys: &[SortColumn]) -> Vec<u32> {
    use rayon::prelude::*;
    debug_assert!(keys.iter().all(|k| k.kind != SortKind::Opaque));
    let mut perm: Vec<u32> = (0..rows as u32).collect();
    if !keys.is_empty() {
        perm.par_sort_by(|&a, &b| compare_rows(columns, keys, a as usize, b as usize, &mut |_, _, _| Ordering::Equal));
    }
    perm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::ColumnType;

    #[test]
    fn sorts_with_nulls_last_and_stable() {
        let mut k = ColumnData::new(ColumnType::Fixed { width: 4 });
        let mut v = ColumnData::new(ColumnType::Var);
        for (key, val) in [(Some(3), "a"), (None, "b"), (Some(-1), "c"), (Some(3), "d")] {
            match key {
                Some(x) => k.push(&(x as i32).to_le_bytes()),
                None => k.push_null(),
            }
            v.push(val.as_bytes());
        }
        let cols = [k, v];
        let perm = sort_permutation(&cols, 4, &[SortColumn { column: 0, kind: SortKind::SignedInt }], &mut |_, a, b| a.cmp(&b));
        assert_eq!(perm, vec![2, 0, 3, 1]);
        assert_eq!(sort_permutation_parallel(&cols, 4, &[SortColumn { column: 0, kind: SortKind::SignedInt }]), perm);
    }
}
