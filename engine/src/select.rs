//! Which parts and granules a filter may match, decided before any column is read:
//! first the part's per-column min/max (this covers partition pruning: a timestamp range
//! against monthly partitions is refuted by the parts' timestamp min/max), then the
//! sparse primary index, whose consecutive entries bound the key values of each granule.

use crate::column::SortKind;
use crate::part::PartMeta;
use crate::predicate::{Predicate, ValueRange};

/// Per filter column: its index in the part's columns (None: the part lacks it).
pub type ColumnMap<'a> = &'a [Option<usize>];

fn part_range(meta: &PartMeta, pc: Option<usize>) -> ValueRange {
    let Some(c) = pc.and_then(|pc| meta.columns.get(pc)) else {
        // A column added after the part was written: every row holds its default.
        return ValueRange::unknown();
    };
    ValueRange {
        min: c.min.clone(),
        max: c.max.clone(),
        may_have_null: c.null_count > 0,
        may_have_value: c.null_count < meta.rows,
    }
}

/// Whether any row of the part may match.
pub fn part_may_match(meta: &PartMeta, pred: &Predicate, map: ColumnMap) -> bool {
    pred.may_match(&|i| part_range(meta, map.get(i).copied().flatten()))
}

/// Whether every row of the part certainly matches (a part kept whole).
pub fn part_all_match(meta: &PartMeta, pred: &Predicate, map: ColumnMap) -> bool {
    pred.all_match(&|i| part_range(meta, map.get(i).copied().flatten()))
}

/// Bounds of key column `k` over granule `g`, when the primary index gives them.
fn granule_key_range(meta: &PartMeta, g: usize, k: usize) -> Option<ValueRange> {
    let pc = meta.primary_key[k];
    if meta.columns[pc].spec.sort == SortKind::Opaque {
        return None;
    }
    let here = meta.primary_index.get(g)?;
    let next = meta.primary_index.get(g + 1);
    // Key column k is ordered within the granule only while the columns before it stay
    // the same from this granule's first row to the next granule's first row.
    let Some(next) = next else {
        if k > 0 {
            return None;
        }
        let part = part_range(meta, Some(pc));
        return Some(match &here[0] {
            None => ValueRange { min: None, max: None, may_have_null: true, may_have_value: false },
            Some(v) => ValueRange { min: Some(v.clone()), max: part.max, may_have_null: part.may_have_null, may_have_value: true },
        });
    };
    if (0..k).any(|j| here[j] != next[j]) {
        return None;
    }
    Some(match (&here[k], &next[k]) {
        // NULLs sort last: a granule starting with NULL holds only NULLs here.
        (None, _) => ValueRange { min: None, max: None, may_have_null: true, may_have_value: false },
        (Some(lo), None) => ValueRange { min: Some(lo.clone()), max: None, may_have_null: true, may_have_value: true },
        (Some(lo), Some(hi)) => ValueRange { min: Some(lo.clone()), max: Some(hi.clone()), may_have_null: false, may_have_value: true },
    })
}

/// Granules of the part the filter may match (all of them when nothing refutes any).
pub fn select_granules(meta: &PartMeta, pred: &Predicate, map: ColumnMap) -> Vec<usize> {
    let key_pos: Vec<Option<usize>> = map
        .iter()
        .map(|pc| pc.and_then(|pc| meta.primary_key.iter().position(|&k| k == pc)))
        .collect();
    (0..meta.granules())
        .filter(|&g| {
            pred.may_match(&|i| {
                let pc = map.get(i).copied().flatten();
                key_pos
                    .get(i)
                    .copied()
                    .flatten()
                    .and_then(|k| granule_key_range(meta, g, k))
                    .unwrap_or_else(|| part_range(meta, pc))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::{ColumnData, ColumnType};
    use crate::part::{ColumnSpec, PartWriter, WriterSettings};
    use crate::predicate::CmpOp;
    use crate::sort::{sort_permutation, SortColumn};
    use proptest::prelude::*;

    fn part(a: &[Option<i64>], b: &[i64], granularity: usize) -> (PartMeta, Vec<(Option<i64>, i64)>) {
        let mut ca = ColumnData::new(ColumnType::Fixed { width: 8 });
        let mut cb = ColumnData::new(ColumnType::Fixed { width: 8 });
        for (x, y) in a.iter().zip(b) {
            match x {
                Some(x) => ca.push(&x.to_le_bytes()),
                None => ca.push_null(),
            }
            cb.push(&y.to_le_bytes());
        }
        let keys = [SortColumn { column: 0, kind: SortKind::SignedInt }, SortColumn { column: 1, kind: SortKind::SignedInt }];
        let perm = sort_permutation(&[ca.clone(), cb.clone()], a.len(), &keys, &mut |_, _, _| std::cmp::Ordering::Equal);
        let cols = vec![ca.take(&perm), cb.take(&perm)];
        let rows = perm.iter().map(|&i| (a[i as usize], b[i as usize])).collect();
        let specs = vec![
            ColumnSpec { id: 1, ty: ColumnType::Fixed { width: 8 }, sort: SortKind::SignedInt },
            ColumnSpec { id: 2, ty: ColumnType::Fixed { width: 8 }, sort: SortKind::SignedInt },
        ];
        let (_, meta) = PartWriter::new(WriterSettings { index_granularity: granularity, ..Default::default() }).write(&specs, &cols, &[0, 1]).unwrap();
        (meta, rows)
    }

    proptest! {
        /// Every granule holding a matching row is selected (pruning is sound).
        #[test]
        fn selection_keeps_every_matching_granule(
            rows in proptest::collection::vec((proptest::option::of(0i64..8), 0i64..8), 1..200),
            granularity in 1usize..20, a in 0i64..8, b in 0i64..8, range in any::<bool>())
        {
            let (xs, ys): (Vec<_>, Vec<_>) = rows.iter().cloned().unzip();
            let (meta, sorted) = part(&xs, &ys, granularity);
            let p = |col, op, v: i64| Predicate::Cmp { col, kind: SortKind::SignedInt, op, value: v.to_le_bytes().to_vec() };
            let pred = if range { Predicate::And(vec![p(0, CmpOp::Eq, a), p(1, CmpOp::Ge, b)]) } else { p(1, CmpOp::Eq, b) };
            let matches = |x: Option<i64>, y: i64| if range { x == Some(a) && y >= b } else { y == b };
            let chosen = select_granules(&meta, &pred, &[Some(0), Some(1)]);
            let mut start = 0;
            for (g, &n) in meta.granule_rows.iter().enumerate() {
                let hit = sorted[start..start + n as usize].iter().any(|&(x, y)| matches(x, y));
                prop_assert!(!hit || chosen.contains(&g), "granule {} has a match but was pruned", g);
                start += n as usize;
            }
            if sorted.iter().any(|&(x, y)| matches(x, y)) {
                prop_assert!(part_may_match(&meta, &pred, &[Some(0), Some(1)]));
            }
        }
    }

    #[test]
    fn equality_on_the_key_reads_one_granule() {
        let a: Vec<Option<i64>> = (0..10_000).map(Some).collect();
        let b: Vec<i64> = (0..10_000).collect();
        let (meta, _) = part(&a, &b, 100);
        let pred = Predicate::Cmp { col: 0, kind: SortKind::SignedInt, op: CmpOp::Eq, value: 4321i64.to_le_bytes().to_vec() };
        assert_eq!(select_granules(&meta, &pred, &[Some(0)]), vec![43]);
    }
}
