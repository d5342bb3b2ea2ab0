//! Answers from part metadata, without reading a column: `count(*)` from row counts and
//! `min` / `max` of a column from the parts' per-column extremes, for queries without
//! grouping, when the filter keeps or drops whole parts (ClickHouse answers `count()` the
//! same way). The transaction's buffered rows are filtered and added.

use super::{AggOp, NodePlan, ResultKind};
use crate::scan::source::Source;
use mergetree::aggregate::{AggValue, Group, ValueKind};
use mergetree::column::compare_values;
use mergetree::range_reader::Fetched;
use mergetree::{select, SortKind};
use std::cmp::Ordering;

/// What a metadata answer covered: the groups (one), the parts and the rows it counted.
pub struct Answer {
    pub groups: Vec<Group>,
    pub parts: u64,
    pub rows: u64,
}

/// The answer, or None when some aggregate or part needs the data read.
pub fn answer(plan: &NodePlan, src: &mut Source) -> Option<Answer> {
    // A FINAL read's rows exist only once merged: there is no metadata to answer from.
    if src.is_final() || !plan.keys.is_empty() || plan.join.is_some() || plan.aggs.iter().any(|a| a.filtered || a.arg.is_some()) {
        return None;
    }
    // Per aggregate: None for count(*), or the column of a min (false) / max (true).
    // Floats stay out: Postgres' min of 0 and -0 is whichever came last.
    let mut cols: Vec<Option<(usize, bool)>> = Vec::new();
    for a in &plan.aggs {
        cols.push(match a.op {
            AggOp::CountStar => None,
            AggOp::Min | AggOp::Max if a.kind != ValueKind::Float && a.result == ResultKind::Input => {
                Some((src.plan.index_of_attnum(a.attnum)?, a.op == AggOp::Max))
            }
            _ => return None,
        });
    }
    let predicate = src.predicate.clone();
    if predicate.is_none() && cols.iter().all(Option::is_none) {
        // The catalog's row counts: no part is even opened.
        let rows = src.parts.iter().map(|p| p.live_rows() as u64).sum::<u64>() + src.buffered.as_ref().map_or(0, |(_, ids)| ids.len() as u64);
        let values = plan.aggs.iter().map(|_| AggValue::Int(rows as i128)).collect();
        return Some(Answer { groups: vec![Group { keys: Vec::new(), values }], parts: src.parts.len() as u64, rows });
    }
    let sorts: Vec<SortKind> = src.plan.columns.iter().map(|c| c.sort).collect();
    let missing: Vec<Option<Vec<u8>>> = src.plan.columns.iter().map(|c| c.missing.clone()).collect();
    let sort = |ci: usize| sorts[ci];
    let mut best: Vec<Option<Vec<u8>>> = vec![None; cols.len()];
    let mut offer = |i: usize, v: &[u8], kind: SortKind, max: bool| {
        let better = best[i].as_ref().is_none_or(|b| {
            let o = compare_values(kind, v, b);
            if max {
                o == Ordering::Greater
            } else {
                o == Ordering::Less
            }
        });
        if better {
            best[i] = Some(v.to_vec());
        }
    };
    let (mut rows, mut parts) = (0u64, 0u64);
    for pi in 0..src.parts.len() {
        src.open(pi);
        let op = src.part(pi);
        let meta = op.reader.meta();
        if let Some(p) = &predicate {
            if !select::part_may_match(meta, p, &op.columns.map) {
                continue;
            }
            if !select::part_all_match(meta, p, &op.columns.map) {
                return None;
            }
        }
        // A part's extremes may be a deleted row's: such parts are read.
        let deleted = src.parts[pi].deleted.as_ref().map_or(0, |d| d.len());
        if deleted > 0 && cols.iter().any(Option::is_some) {
            return None;
        }
        parts += 1;
        rows += meta.rows - deleted;
        for (i, c) in cols.iter().enumerate() {
            let Some((ci, max)) = *c else { continue };
            match op.columns.map[ci] {
                Some(pc) => {
                    let cm = &meta.columns[pc];
                    if cm.null_count >= meta.rows {
                        continue;
                    }
                    // Extremes kept in the order the aggregate compares by, or none.
                    if cm.spec.sort != sort(ci) || !matches!(sort(ci), SortKind::SignedInt | SortKind::Bytes) {
                        return None;
                    }
                    let v = if max { cm.max.clone()? } else { cm.min.clone()? };
                    offer(i, &v, sort(ci), max);
                }
                // A column added after the part: every row holds its default.
                None => {
                    if let Some(v) = &missing[ci] {
                        offer(i, v, sort(ci), max);
                    }
                }
            }
        }
    }
    if let Some((cols_b, _)) = src.buffered.clone() {
        let n = cols_b.first().map_or(0, |c| c.len());
        let mut pre: Vec<Option<Fetched>> = cols_b.into_iter().map(|c| Some(Fetched::Values(c))).collect();
        let selection = if predicate.is_some() { src.filter_buffered(&mut pre, n) } else { (0..n as u32).collect() };
        rows += selection.len() as u64;
        for (i, c) in cols.iter().enumerate() {
            let Some((ci, max)) = *c else { continue };
            for &r in &selection {
                if let Some(v) = pre[ci].as_ref().and_then(|f| f.get(r)) {
                    offer(i, v, sort(ci), max);
                }
            }
        }
    }
    let values = cols
        .iter()
        .zip(best)
        .map(|(c, b)| match (c, b) {
            (None, _) => AggValue::Int(rows as i128),
            (Some(_), Some(v)) => AggValue::Bytes(v),
            (Some(_), None) => AggValue::Null,
        })
        .collect();
    Some(Answer { groups: vec![Group { keys: Vec::new(), values }], parts, rows })
}
