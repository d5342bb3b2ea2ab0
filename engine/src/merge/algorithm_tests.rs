use super::*;
use crate::column::ColumnType;
use proptest::prelude::*;

/// A row: key (NULL allowed), version, sign, value (NULL allowed), row number.
type Row = (Option<i32>, i32, i8, Option<i32>, u32);

fn int(w: u16) -> ColumnData {
    ColumnData::new(ColumnType::Fixed { width: w })
}

/// Rows sorted by key (NULLs last, stable) as columns: key, version, sign (int2), value, n.
fn columns(rows: &[Row]) -> Vec<ColumnData> {
    let mut cols = vec![int(4), int(4), int(2), int(4), int(4)];
    for &(k, ver, sign, v, n) in rows {
        match k {
            Some(k) => cols[0].push(&k.to_le_bytes()),
            None => cols[0].push_null(),
        }
        cols[1].push(&ver.to_le_bytes());
        cols[2].push(&(sign as i16).to_le_bytes());
        match v {
            Some(v) => cols[3].push(&v.to_le_bytes()),
            None => cols[3].push_null(),
        }
        cols[4].push(&n.to_le_bytes());
    }
    cols
}

fn sorted(mut rows: Vec<Row>, by_version: bool) -> Vec<Row> {
    rows.sort_by_key(|r| (r.0.is_none(), r.0, if by_version { r.1 } else { 0 }));
    rows
}

/// The engine over `rows` cut into batches of `size`.
fn run(rows: &[Row], engine: TableEngine, mode: Mode, size: usize, by_version: bool) -> Result<Vec<u32>> {
    let cols = columns(rows);
    let mut keys = vec![MergeKey { column: 0, kind: SortKind::SignedInt }];
    if by_version {
        keys.push(MergeKey { column: 1, kind: SortKind::SignedInt });
    }
    let mut starts = GroupStarts::new(keys);
    let mut c = Collapser::new(engine, mode);
    let mut out = Vec::new();
    let collect = |b: &[ColumnData], out: &mut Vec<u32>| (0..b[4].len()).for_each(|i| out.push(u32::from_le_bytes(b[4].value(i).try_into().unwrap())));
    let mut at = 0;
    while at < rows.len() {
        let end = (at + size).min(rows.len());
        let batch: Vec<ColumnData> = cols.iter().map(|c| c.slice(at, end)).collect();
        let s = starts.starts(&batch, &mut BytesEq);
        collect(&c.push(batch, &s, &mut NoCombiner)?, &mut out);
        at = end;
    }
    if let Some(last) = c.finish(&mut NoCombiner)? {
        collect(&last, &mut out);
    }
    assert_eq!(c.rows_in as usize, rows.len());
    assert_eq!(c.rows_out as usize, out.len());
    Ok(out)
}

/// Groups of equal keys (and versions), in order.
fn groups(rows: &[Row], by_version: bool) -> Vec<Vec<Row>> {
    let mut out: Vec<Vec<Row>> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some(g) if g[0].0 == r.0 && (!by_version || g[0].1 == r.1) => g.push(*r),
            _ => out.push(vec![*r]),
        }
    }
    out
}

fn rows_strategy() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec((prop::option::weighted(0.9, 0..6i32), 0..4i32, prop::bool::ANY, prop::option::weighted(0.8, -3..4i32)), 0..60).prop_map(|v| {
        v.into_iter().enumerate().map(|(n, (k, ver, pos, val))| (k, ver, if pos { 1 } else { -1 }, val, n as u32)).collect()
    })
}

proptest! {
    #[test]
    fn replacing_keeps_the_highest_version_last_on_ties(rows in rows_strategy(), size in 1usize..9, versioned in prop::bool::ANY) {
        let rows = sorted(rows, false);
        let version = versioned.then_some((1, SortKind::SignedInt));
        let got = run(&rows, TableEngine::Replacing { version, is_deleted: None }, Mode::Merge, size, false).unwrap();
        let want: Vec<u32> = groups(&rows, false).iter().map(|g| {
            let mut best = g[0];
            for r in &g[1..] {
                if !versioned || r.1 >= best.1 { best = *r; }
            }
            best.4
        }).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn replacing_drops_deleted_winners_only_when_read(rows in rows_strategy(), size in 1usize..9, full in prop::bool::ANY, cleanup in prop::bool::ANY) {
        // The value column as is_deleted: non-zero means deleted.
        let rows = sorted(rows, false);
        let mode = match (full, cleanup) { (false, _) => Mode::Merge, (true, false) => Mode::Read, (true, true) => Mode::Cleanup };
        let got = run(&rows, TableEngine::Replacing { version: Some((1, SortKind::SignedInt)), is_deleted: Some(3) }, mode, size, false).unwrap();
        let want: Vec<u32> = groups(&rows, false).iter().filter_map(|g| {
            let mut best = g[0];
            for r in &g[1..] {
                if r.1 >= best.1 { best = *r; }
            }
            (!full || best.3.unwrap_or(0) == 0).then_some(best.4)
        }).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn collapsing_follows_clickhouse(rows in rows_strategy(), size in 1usize..9, read in prop::bool::ANY) {
        let rows = sorted(rows, false);
        let mode = if read { Mode::Read } else { Mode::Merge };
        let got = run(&rows, TableEngine::Collapsing { sign: 2 }, mode, size, false).unwrap();
        let mut want = Vec::new();
        for g in groups(&rows, false) {
            let pos = g.iter().filter(|r| r.2 == 1).count();
            let neg = g.len() - pos;
            let last_positive = g.last().unwrap().2 == 1;
            if pos == neg && !last_positive { continue; }
            if pos <= neg && !read { want.push(g.iter().find(|r| r.2 == -1).unwrap().4); }
            if pos >= neg { want.push(g.iter().rev().find(|r| r.2 == 1).unwrap().4); }
        }
        prop_assert_eq!(got, want);
    }

    #[test]
    fn versioned_collapsing_cancels_pairs_of_a_version(rows in rows_strategy(), size in 1usize..9) {
        let rows = sorted(rows, true);
        let got = run(&rows, TableEngine::VersionedCollapsing { sign: 2 }, Mode::Merge, size, true).unwrap();
        // What remains of a (key, version) group: |pos - neg| rows of the majority sign,
        // whichever were not matched; as many as that, and of that sign.
        let mut want_counts = Vec::new();
        for g in groups(&rows, true) {
            let pos = g.iter().filter(|r| r.2 == 1).count() as i64;
            let neg = g.len() as i64 - pos;
            want_counts.push(((g[0].0, g[0].1), pos - neg));
        }
        let by_n: std::collections::HashMap<u32, Row> = rows.iter().map(|r| (r.4, *r)).collect();
        let mut got_counts: Vec<((Option<i32>, i32), i64)> = Vec::new();
        for n in &got {
            let r = by_n[n];
            match got_counts.last_mut() {
                Some((k, c)) if *k == (r.0, r.1) => *c += r.2 as i64,
                _ => got_counts.push(((r.0, r.1), r.2 as i64)),
            }
        }
        want_counts.retain(|(_, c)| *c != 0);
        prop_assert_eq!(got_counts, want_counts);
    }

    #[test]
    fn summing_adds_values_and_drops_zero_sums(rows in rows_strategy(), size in 1usize..9) {
        let rows = sorted(rows, false);
        let cols = columns(&rows);
        let mut starts = GroupStarts::new(vec![MergeKey { column: 0, kind: SortKind::SignedInt }]);
        let mut c = Collapser::new(TableEngine::Summing { columns: vec![(3, SumKind::Int)] }, Mode::Merge);
        let mut got: Vec<(u32, Option<i32>)> = Vec::new();
        let mut take = |b: &[ColumnData]| for i in 0..b[4].len() {
            got.push((u32::from_le_bytes(b[4].value(i).try_into().unwrap()), b[3].get(i).map(|v| i32::from_le_bytes(v.try_into().unwrap()))));
        };
        let mut at = 0;
        while at < rows.len() {
            let end = (at + size).min(rows.len());
            let batch: Vec<ColumnData> = cols.iter().map(|c| c.slice(at, end)).collect();
            let s = starts.starts(&batch, &mut BytesEq);
            take(&c.push(batch, &s, &mut NoCombiner).unwrap());
            at = end;
        }
        if let Some(last) = c.finish(&mut NoCombiner).unwrap() { take(&last); }
        let want: Vec<(u32, Option<i32>)> = groups(&rows, false).iter().filter_map(|g| {
            let vals: Vec<i32> = g.iter().filter_map(|r| r.3).collect();
            let sum = (!vals.is_empty()).then(|| vals.iter().sum::<i32>());
            (sum != Some(0)).then_some((g[0].4, sum))
        }).collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn sums_out_of_range_are_errors_and_numerics_add_exactly() {
    let mut c = int(2);
    c.push(&i16::MAX.to_le_bytes());
    c.push(&1i16.to_le_bytes());
    assert!(matches!(sum(&c, SumKind::Int, 0, 2), Err(Error::NumericRange(_))));
    let mut n = ColumnData::new(ColumnType::Var);
    let mut v = Vec::new();
    numeric::encode_scaled_into(125, 2, &mut v); // 1.25
    n.push(&v);
    v.clear();
    numeric::encode_scaled_into(-3, 0, &mut v); // -3
    n.push(&v);
    n.push_null();
    let s = sum(&n, SumKind::Numeric, 0, 3).unwrap().unwrap();
    assert_eq!(numeric::read(&s), Some(Numeric::Finite { mantissa: -175, dscale: 2 }));
    n.push(&numeric::special(Numeric::PosInf));
    assert_eq!(numeric::read(&sum(&n, SumKind::Numeric, 0, 4).unwrap().unwrap()), Some(Numeric::PosInf));
    n.push(&numeric::special(Numeric::NegInf));
    assert_eq!(numeric::read(&sum(&n, SumKind::Numeric, 0, 5).unwrap().unwrap()), Some(Numeric::NaN));
    let mut w = Vec::new();
    assert!(numeric::encode_wide_into(i128::MAX / 1000, 1, &mut w));
    assert_eq!(numeric::read(&w), Some(Numeric::Finite { mantissa: i128::MAX / 1000, dscale: 1 }));
    let mut bad = int(2);
    bad.push(&1i16.to_le_bytes());
    bad.push(&0i16.to_le_bytes());
    assert_eq!(check_signs(&bad), Some(1));
}

/// A combiner that concatenates values with '+', in row order.
struct Concat;

impl Combiner for Concat {
    fn combine(&mut self, _: usize, col: &ColumnData, rows: &[u32]) -> Result<Vec<u8>> {
        Ok(rows.iter().map(|&r| col.value(r as usize).to_vec()).collect::<Vec<_>>().join(&b'+'))
    }
}

proptest! {
    #[test]
    fn aggregating_combines_each_key(rows in rows_strategy(), size in 1usize..9) {
        // Columns: key, version (min), sign (max), value (sum), n (any); a text column
        // combined externally.
        let rows = sorted(rows, false);
        let mut cols = columns(&rows);
        let mut text = ColumnData::new(ColumnType::Var);
        for r in &rows {
            if r.4 % 3 == 0 { text.push_null() } else { text.push(r.4.to_string().as_bytes()) }
        }
        cols.push(text);
        let engine = TableEngine::Aggregating { columns: vec![
            (1, Combine::Min(SortKind::SignedInt)), (2, Combine::Max(SortKind::SignedInt)), (3, Combine::Sum(SumKind::Int)), (5, Combine::External),
        ] };
        let mut starts = GroupStarts::new(vec![MergeKey { column: 0, kind: SortKind::SignedInt }]);
        let mut c = Collapser::new(engine, Mode::Merge);
        let mut got = Vec::new();
        let mut take = |b: &[ColumnData]| for i in 0..b[0].len() {
            let int = |c: &ColumnData| c.get(i).map(|v| crate::column::sign_extend(v));
            got.push((int(&b[1]), int(&b[2]), int(&b[3]), int(&b[4]), b[5].get(i).map(|v| String::from_utf8(v.to_vec()).unwrap())));
        };
        let mut at = 0;
        while at < rows.len() {
            let end = (at + size).min(rows.len());
            let batch: Vec<ColumnData> = cols.iter().map(|c| c.slice(at, end)).collect();
            let s = starts.starts(&batch, &mut BytesEq);
            take(&c.push(batch, &s, &mut Concat).unwrap());
            at = end;
        }
        if let Some(last) = c.finish(&mut Concat).unwrap() { take(&last); }
        let want: Vec<_> = groups(&rows, false).iter().map(|g| {
            let vals: Vec<i64> = g.iter().filter_map(|r| r.3.map(i64::from)).collect();
            let texts: Vec<String> = g.iter().filter(|r| r.4 % 3 != 0).map(|r| r.4.to_string()).collect();
            (g.iter().map(|r| r.1 as i64).min(), g.iter().map(|r| r.2 as i64).max(), (!vals.is_empty()).then(|| vals.iter().sum()),
             Some(g[0].4 as i64), (!texts.is_empty()).then(|| texts.join("+")))
        }).collect();
        prop_assert_eq!(got, want);
    }
}
