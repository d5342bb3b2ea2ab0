use super::*;
use crate::column::ColumnData;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashSet as StdSet};

type Row = (Option<i32>, Option<String>, Option<f64>);

fn columns(rows: &[Row], dict: bool) -> (ColumnData, ColumnData, ColumnData, Option<(Vec<u32>, ColumnData)>) {
    let mut a = ColumnData::new(ColumnType::Fixed { width: 4 });
    let mut s = ColumnData::new(ColumnType::Var);
    let mut f = ColumnData::new(ColumnType::Fixed { width: 8 });
    for (x, y, z) in rows {
        match x {
            Some(x) => a.push(&x.to_le_bytes()),
            None => a.push_null(),
        }
        match y {
            Some(y) => s.push(y.as_bytes()),
            None => s.push_null(),
        }
        match z {
            Some(z) => f.push(&z.to_le_bytes()),
            None => f.push_null(),
        }
    }
    // The text column as codes into a sorted dictionary, as parts store it.
    let codes = dict.then(|| {
        let mut values: Vec<&String> = rows.iter().filter_map(|r| r.1.as_ref()).collect();
        values.sort();
        values.dedup();
        let mut d = ColumnData::new(ColumnType::Var);
        values.iter().for_each(|v| d.push(v.as_bytes()));
        let codes = rows.iter().map(|r| r.1.as_ref().map_or(0, |v| values.binary_search(&v).unwrap() as u32)).collect();
        (codes, d)
    });
    (a, s, f, codes)
}

fn spec(keys: &[usize]) -> AggSpec {
    let key = |c: usize| match c {
        0 => KeySpec { col: 0, ty: ColumnType::Fixed { width: 4 }, float: false },
        1 => KeySpec { col: 1, ty: ColumnType::Var, float: false },
        _ => KeySpec { col: 2, ty: ColumnType::Fixed { width: 8 }, float: true },
    };
    AggSpec {
        keys: keys.iter().map(|&c| key(c)).collect(),
        aggs: vec![
            AggFunc::CountStar,
            AggFunc::Count { col: 2 },
            AggFunc::Sum { col: 0, kind: ValueKind::Int },
            AggFunc::Avg { col: 0, kind: ValueKind::Int },
            AggFunc::Min { col: 1, kind: ValueKind::Bytes },
            AggFunc::Max { col: 2, kind: ValueKind::Float },
            AggFunc::CountDistinct { col: 1, kind: ValueKind::Bytes },
            AggFunc::CountDistinct { col: 2, kind: ValueKind::Float },
            AggFunc::Min { col: 0, kind: ValueKind::Int },
            AggFunc::Max { col: 0, kind: ValueKind::Int },
            AggFunc::Min { col: 2, kind: ValueKind::Float },
            AggFunc::CountDistinct { col: 0, kind: ValueKind::Int },
            AggFunc::Count { col: 0 },
            // Below 2,048 distinct values uniq is exact: count(DISTINCT)'s values.
            AggFunc::Uniq { col: 1, kind: ValueKind::Bytes },
            AggFunc::Uniq { col: 2, kind: ValueKind::Float },
            AggFunc::Uniq { col: 0, kind: ValueKind::Int },
        ],
        filters: Vec::new(),
    }
}

/// The groups by a naive computation, keyed by the group's key values.
fn reference(rows: &[Row], keys: &[usize]) -> BTreeMap<Vec<Option<Vec<u8>>>, Vec<AggValue>> {
    let key_of = |r: &Row| -> Vec<Option<Vec<u8>>> {
        keys.iter()
            .map(|&k| match k {
                0 => r.0.map(|x| x.to_le_bytes().to_vec()),
                1 => r.1.as_ref().map(|s| s.as_bytes().to_vec()),
                _ => r.2.map(|z| (if z == 0.0 { 0.0 } else { z }).to_le_bytes().to_vec()),
            })
            .collect()
    };
    let mut by: BTreeMap<Vec<Option<Vec<u8>>>, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by.entry(key_of(r)).or_default().push(r);
    }
    if keys.is_empty() && by.is_empty() {
        by.insert(Vec::new(), Vec::new());
    }
    by.into_iter()
        .map(|(k, rs)| {
            let ints: Vec<i128> = rs.iter().filter_map(|r| r.0.map(i128::from)).collect();
            let floats: Vec<f64> = rs.iter().filter_map(|r| r.2).collect();
            let texts: Vec<&String> = rs.iter().filter_map(|r| r.1.as_ref()).collect();
            let max = floats.iter().copied().fold(None, |m: Option<f64>, x| {
                Some(match m {
                    None => x,
                    Some(m) if x.is_nan() || (!m.is_nan() && x > m) => x,
                    Some(m) => m,
                })
            });
            let min_f = floats.iter().copied().fold(None, |m: Option<f64>, x| {
                Some(match m {
                    None => x,
                    Some(m) if m.is_nan() || (!x.is_nan() && x < m) => x,
                    Some(m) => m,
                })
            });
            let distinct_f: StdSet<u64> = floats
                .iter()
                .map(|&z| {
                    if z == 0.0 {
                        0.0f64.to_bits()
                    } else if z.is_nan() {
                        f64::NAN.to_bits()
                    } else {
                        z.to_bits()
                    }
                })
                .collect();
            let v = vec![
                AggValue::Int(rs.len() as i128),
                AggValue::Int(floats.len() as i128),
                if ints.is_empty() { AggValue::Null } else { AggValue::Int(ints.iter().sum()) },
                if ints.is_empty() { AggValue::Null } else { AggValue::IntSumCount { sum: ints.iter().sum(), count: ints.len() as i64 } },
                texts.iter().min().map_or(AggValue::Null, |t| AggValue::Bytes(t.as_bytes().to_vec())),
                max.map_or(AggValue::Null, |m| AggValue::Bytes(m.to_le_bytes().to_vec())),
                AggValue::Int(texts.iter().collect::<StdSet<_>>().len() as i128),
                AggValue::Int(distinct_f.len() as i128),
                ints.iter().min().map_or(AggValue::Null, |&m| AggValue::Bytes((m as i32).to_le_bytes().to_vec())),
                ints.iter().max().map_or(AggValue::Null, |&m| AggValue::Bytes((m as i32).to_le_bytes().to_vec())),
                min_f.map_or(AggValue::Null, |m| AggValue::Bytes(m.to_le_bytes().to_vec())),
                AggValue::Int(ints.iter().collect::<StdSet<_>>().len() as i128),
                AggValue::Int(ints.len() as i128),
                AggValue::Int(texts.iter().collect::<StdSet<_>>().len() as i128),
                AggValue::Int(distinct_f.len() as i128),
                AggValue::Int(ints.iter().collect::<StdSet<_>>().len() as i128),
            ];
            (k, v)
        })
        .collect()
}

/// The text column of the rows `chunk` selects as a block's runs give it: codes into values
/// of its own (in the order last seen, so that the same code means another value in the
/// next chunk of the same part).
fn block_codes(rows: &[Row], chunk: &[u32]) -> Fetched<'static> {
    let mut values: Vec<&String> = Vec::new();
    for &r in chunk.iter().rev() {
        if let Some(v) = &rows[r as usize].1 {
            if !values.contains(&v) {
                values.push(v);
            }
        }
    }
    let mut dict = ColumnData::new(ColumnType::Var);
    values.iter().for_each(|v| dict.push(v.as_bytes()));
    let mut valid = crate::Bitmap::default();
    rows.iter().for_each(|r| valid.push(r.1.is_some()));
    // Rows outside the chunk (and NULL rows) carry code 0, as a block's NULL rows may.
    let mut codes = vec![0u32; rows.len()];
    for &r in chunk {
        if let Some(v) = &rows[r as usize].1 {
            codes[r as usize] = values.iter().position(|x| *x == v).unwrap() as u32;
        }
    }
    Fetched::Codes { codes, validity: rows.iter().any(|r| r.1.is_none()).then_some(valid), dict: crate::range_reader::Dictionary::Block(dict) }
}

/// Aggregates `rows` in chunks of one part, each chunk's text column as a block's runs, on
/// one aggregator (a thread reading granule after granule).
fn aggregate_block_runs(rows: &[Row], keys: &[usize], chunks: usize) -> BTreeMap<Vec<Option<Vec<u8>>>, Vec<AggValue>> {
    let (a, _, f, _) = columns(rows, false);
    let all: Vec<u32> = (0..rows.len() as u32).collect();
    let mut agg = Aggregator::new(spec(keys));
    for chunk in all.chunks(all.len().div_ceil(chunks.max(1)).max(1)) {
        let cols: Vec<Option<Fetched>> = vec![Some(Fetched::Values(a.clone())), Some(block_codes(rows, chunk)), Some(Fetched::Values(f.clone()))];
        agg.update(&cols, chunk, 7);
    }
    finished(agg, keys)
}

/// Aggregates `rows` in chunks on separate aggregators (threads), merges them.
fn aggregate(rows: &[Row], keys: &[usize], dict: bool, chunks: usize, sparse: bool) -> BTreeMap<Vec<Option<Vec<u8>>>, Vec<AggValue>> {
    let (a, s, f, codes) = columns(rows, dict);
    let text = |i: usize| match &codes {
        Some((c, d)) => {
            let valid: crate::Bitmap = {
                let mut b = crate::Bitmap::default();
                rows.iter().for_each(|r| b.push(r.1.is_some()));
                b
            };
            let _ = i;
            Fetched::Codes { codes: c.clone(), validity: rows.iter().any(|r| r.1.is_none()).then_some(valid), dict: crate::range_reader::Dictionary::Part(d) }
        }
        None => Fetched::Values(s.clone()),
    };
    let cols: Vec<Option<Fetched>> = vec![Some(Fetched::Values(a.clone())), Some(text(0)), Some(Fetched::Values(f.clone()))];
    // A sparse selection (as a filter leaves) reads every third row only.
    let all: Vec<u32> = (0..rows.len() as u32).filter(|i| !sparse || i % 3 == 0).collect();
    let per = all.len().div_ceil(chunks.max(1)).max(1);
    let mut total: Option<Aggregator> = None;
    for chunk in all.chunks(per) {
        let mut agg = Aggregator::new(spec(keys));
        agg.update(&cols, chunk, 7);
        match &mut total {
            None => total = Some(agg),
            Some(t) => t.merge(agg),
        }
    }
    finished(total.unwrap_or_else(|| Aggregator::new(spec(keys))), keys)
}

/// The groups of `agg` by key, float keys as the reference writes them.
fn finished(agg: Aggregator, keys: &[usize]) -> BTreeMap<Vec<Option<Vec<u8>>>, Vec<AggValue>> {
    agg.finish()
        .into_iter()
        .map(|g| {
            // Key values as the reference writes them (float keys normalized there).
            let keys: Vec<Option<Vec<u8>>> = g
                .keys
                .iter()
                .zip(keys)
                .map(|(v, &k)| {
                    v.as_ref().map(|v| if k == 2 && f64::from_le_bytes(v[..8].try_into().unwrap()) == 0.0 { 0.0f64.to_le_bytes().to_vec() } else { v.clone() })
                })
                .collect();
            (keys, g.values)
        })
        .collect()
}

fn row() -> impl Strategy<Value = Row> {
    (
        proptest::option::weighted(0.9, -5i32..5),
        proptest::option::weighted(
            0.9,
            prop_oneof![Just("a".to_string()), Just("b".to_string()), Just("ab".to_string()), Just("b\0".to_string()), "[a-z]{0,20}"],
        ),
        proptest::option::weighted(0.9, prop_oneof![Just(0.0), Just(-0.0), Just(1.5), Just(f64::NAN), Just(f64::INFINITY), -3.0f64..3.0]),
    )
}

fn same(a: &BTreeMap<Vec<Option<Vec<u8>>>, Vec<AggValue>>, b: &BTreeMap<Vec<Option<Vec<u8>>>, Vec<AggValue>>) -> bool {
    // NaN != NaN for PartialEq: compare the debug text of each value.
    format!("{a:?}") == format!("{b:?}")
}

proptest! {
    #[test]
    fn groups_match_a_naive_computation(
        rows in proptest::collection::vec(row(), 0..300),
        // [1, 1]: two dictionary-encoded keys (combined codes) when `dict`.
        keys in prop_oneof![Just(vec![]), Just(vec![0]), Just(vec![1]), Just(vec![2]), Just(vec![1, 0]), Just(vec![0, 1, 2]), Just(vec![1, 1])],
        dict in any::<bool>(),
        chunks in 1usize..5,
        sparse in any::<bool>(),
    ) {
        let kept: Vec<Row> = rows.iter().enumerate().filter(|(i, _)| !sparse || i % 3 == 0).map(|(_, r)| r.clone()).collect();
        let want = reference(&kept, &keys);
        let got = aggregate(&rows, &keys, dict, chunks, sparse);
        prop_assert!(same(&got, &want), "got {:?}\nwant {:?}", got, want);
    }

    #[test]
    fn block_runs_group_like_values(
        rows in proptest::collection::vec(row(), 0..300),
        keys in prop_oneof![Just(vec![]), Just(vec![1]), Just(vec![1, 0]), Just(vec![0, 1, 2]), Just(vec![1, 1])],
        chunks in 1usize..6,
    ) {
        // Codes of one granule's runs mean nothing in the next: nothing kept for the part
        // from one batch's codes may answer another's.
        let want = reference(&rows, &keys);
        let got = aggregate_block_runs(&rows, &keys, chunks);
        prop_assert!(same(&got, &want), "got {:?}\nwant {:?}", got, want);
    }
}

#[test]
fn no_rows_without_group_by_is_one_group() {
    let got = aggregate(&[], &[], false, 1, false);
    assert_eq!(got.len(), 1);
    let v = got.values().next().unwrap();
    assert_eq!(v[0], AggValue::Int(0));
    assert_eq!(v[2], AggValue::Null);
}

#[test]
fn memory_grows_with_groups() {
    let rows: Vec<Row> = (0..1000).map(|i| (Some(i), Some(format!("v{i}")), None)).collect();
    let (a, s, f, _) = columns(&rows, false);
    let cols: Vec<Option<Fetched>> = vec![Some(Fetched::Values(a)), Some(Fetched::Values(s)), Some(Fetched::Values(f))];
    let mut agg = Aggregator::new(spec(&[1]));
    agg.update(&cols, &(0..1000).collect::<Vec<u32>>(), 0);
    assert_eq!(agg.groups(), 1000);
    assert!(agg.memory() > 1000 * GROUP_BYTES);
}

/// Aggregates `rows` in `passes` passes of a share, as the node does when the groups do
/// not fit in memory at once.
fn aggregate_in_passes(rows: &[Row], keys: &[usize], dict: bool, passes: u32, distinct: bool) -> BTreeMap<Vec<Option<Vec<u8>>>, Vec<AggValue>> {
    let (a, s, f, codes) = columns(rows, dict);
    let text = match &codes {
        Some((c, d)) => {
            let mut valid = crate::Bitmap::default();
            rows.iter().for_each(|r| valid.push(r.1.is_some()));
            Fetched::Codes { codes: c.clone(), validity: rows.iter().any(|r| r.1.is_none()).then_some(valid), dict: crate::range_reader::Dictionary::Part(d) }
        }
        None => Fetched::Values(s.clone()),
    };
    let cols: Vec<Option<Fetched>> = vec![Some(Fetched::Values(a)), Some(text), Some(Fetched::Values(f))];
    let all: Vec<u32> = (0..rows.len() as u32).collect();
    let mut groups = Vec::new();
    if distinct {
        let mut agg = Aggregator::with_share(spec(keys), Share::Distinct { passes, pass: 0 });
        for pass in 0..passes {
            if pass > 0 {
                agg.next_distinct_pass(pass);
            }
            // Two threads' states per pass, merged.
            let mut other = Aggregator::with_share(spec(keys), Share::Distinct { passes, pass });
            let half = all.len() / 2;
            agg.update(&cols, &all[..half], 1);
            other.update(&cols, &all[half..], 1);
            agg.merge(other);
        }
        groups = agg.finish();
    } else {
        for pass in 0..passes {
            let mut agg = Aggregator::with_share(spec(keys), Share::Keys { passes, pass });
            agg.update(&cols, &all, 1);
            groups.extend(agg.finish().into_iter().filter(|_| !keys.is_empty() || pass == 0));
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let keys: Vec<Option<Vec<u8>>> = g
                .keys
                .iter()
                .zip(keys)
                .map(|(v, &k)| v.as_ref().map(|v| if k == 2 && f64::from_le_bytes(v[..8].try_into().unwrap()) == 0.0 { 0.0f64.to_le_bytes().to_vec() } else { v.clone() }))
                .collect();
            (keys, g.values)
        })
        .collect()
}

proptest! {
    #[test]
    fn passes_add_up_to_one_aggregation(
        rows in proptest::collection::vec(row(), 0..300),
        keys in prop_oneof![Just(vec![]), Just(vec![0]), Just(vec![1]), Just(vec![2]), Just(vec![1, 0])],
        dict in any::<bool>(),
        passes in 1u32..5,
        distinct in any::<bool>(),
    ) {
        let want = reference(&rows, &keys);
        let got = aggregate_in_passes(&rows, &keys, dict, passes, distinct || keys.is_empty());
        prop_assert!(same(&got, &want), "got {:?}\nwant {:?}", got, want);
    }
}

#[test]
fn filters_keep_their_rows_only() {
    // count(x) FILTER (WHERE x > 0), sum(x) FILTER (WHERE s IS NULL), count(*) unfiltered.
    let rows: Vec<Row> = (0..500).map(|i| (if i % 7 == 0 { None } else { Some(i % 11 - 5) }, if i % 3 == 0 { None } else { Some(format!("k{}", i % 4)) }, None)).collect();
    let (a, s, f, _) = columns(&rows, false);
    let cols: Vec<Option<Fetched>> = vec![Some(Fetched::Values(a)), Some(Fetched::Values(s)), Some(Fetched::Values(f))];
    let positive = Predicate::Cmp { col: 0, kind: SortKind::SignedInt, op: crate::predicate::CmpOp::Gt, value: 0i32.to_le_bytes().to_vec() };
    let spec = AggSpec {
        keys: vec![KeySpec { col: 1, ty: ColumnType::Var, float: false }],
        aggs: vec![AggFunc::Count { col: 0 }, AggFunc::Sum { col: 0, kind: ValueKind::Int }, AggFunc::CountStar],
        filters: vec![Some(positive), Some(Predicate::IsNull { col: 1, negated: false }), None],
    };
    let selection: Vec<u32> = (0..500).filter(|i| i % 5 != 0).collect();
    let mut agg = Aggregator::new(spec);
    agg.update(&cols, &selection[..200], 0);
    let mut other = Aggregator::new(agg.spec.clone());
    other.update(&cols, &selection[200..], 0);
    agg.merge(other);
    for g in agg.finish() {
        let key = g.keys[0].clone().map(|k| String::from_utf8(k).unwrap());
        let of_group: Vec<&Row> = selection.iter().map(|&i| &rows[i as usize]).filter(|r| r.1 == key).collect();
        let positives = of_group.iter().filter(|r| r.0.is_some_and(|x| x > 0)).count();
        let null_sum: Vec<i128> = of_group.iter().filter(|r| r.1.is_none()).filter_map(|r| r.0.map(i128::from)).collect();
        assert_eq!(g.values[0], AggValue::Int(positives as i128));
        assert_eq!(g.values[1], if null_sum.is_empty() { AggValue::Null } else { AggValue::Int(null_sum.iter().sum()) });
        assert_eq!(g.values[2], AggValue::Int(of_group.len() as i128));
    }
}

#[test]
fn percentiles_of_one_input_share_their_counts() {
    // p50, p90 (cont) and p90 (disc) of one column keep one count per value; a FILTERed
    // one keeps its own; every value is what a lone percentile gives.
    let rows: Vec<Row> = (0..3000).map(|i| (Some((i * 7919) % 1000 - 300), Some(format!("k{}", i % 3)), None)).collect();
    let (a, s, f, _) = columns(&rows, false);
    let cols: Vec<Option<Fetched>> = vec![Some(Fetched::Values(a)), Some(Fetched::Values(s)), Some(Fetched::Values(f))];
    let p = |cont, fraction| AggFunc::Percentile { col: 0, kind: ValueKind::Int, p: Percentile { cont, fraction } };
    let positive = Predicate::Cmp { col: 0, kind: SortKind::SignedInt, op: crate::predicate::CmpOp::Gt, value: 0i32.to_le_bytes().to_vec() };
    let key = vec![KeySpec { col: 1, ty: ColumnType::Var, float: false }];
    let all = AggSpec { keys: key.clone(), aggs: vec![p(true, 0.5), p(true, 0.9), p(false, 0.9), p(false, 0.5)], filters: vec![None, None, None, Some(positive.clone())] };
    let rows_sel: Vec<u32> = (0..3000).collect();
    let run = |spec: AggSpec| {
        let mut agg = Aggregator::new(spec);
        agg.update(&cols, &rows_sel[..1700], 0);
        let mut other = Aggregator::new(agg.spec.clone());
        other.update(&cols, &rows_sel[1700..], 0);
        agg.merge(other);
        let memory = agg.memory();
        let mut groups = agg.finish();
        groups.sort_by(|a, b| a.keys.cmp(&b.keys));
        (groups, memory)
    };
    let (shared, shared_memory) = run(all.clone());
    for (i, f) in all.aggs.iter().enumerate() {
        let (alone, _) = run(AggSpec { keys: key.clone(), aggs: vec![f.clone()], filters: vec![all.filters[i].clone()] });
        for (g, a) in shared.iter().zip(&alone) {
            assert_eq!(g.values[i], a.values[0], "aggregate {i}");
        }
    }
    let (one, one_memory) = run(AggSpec { keys: key.clone(), aggs: vec![p(true, 0.5), p(false, 0.5)], filters: vec![None, Some(positive)] });
    assert_eq!(shared.len(), one.len());
    assert_eq!(shared_memory, one_memory, "three unfiltered percentiles hold one set of counts");
}

proptest! {
    /// Aggregating through a join lookup equals aggregating the joined rows: rows without
    /// a match dropped, rows with several matches counted once per match.
    #[test]
    fn join_lookup_equals_aggregating_the_join(
        rows in proptest::collection::vec((proptest::option::of(-5i32..15), proptest::option::of(-3i32..4)), 0..200),
        other in proptest::collection::vec((-5i64..15, 0u32..4), 0..30),
    ) {
        let mut a = ColumnData::new(ColumnType::Fixed { width: 4 });
        let mut x = ColumnData::new(ColumnType::Fixed { width: 4 });
        for (k, v) in &rows {
            match k { Some(k) => a.push(&k.to_le_bytes()), None => a.push_null() }
            match v { Some(v) => x.push(&v.to_le_bytes()), None => x.push_null() }
        }
        let mut lookup = join::JoinLookup::new(false);
        for &(k, code) in &other {
            lookup.insert(join::JoinKey::Int(k), code);
        }
        // Keys: the match's code (column 2, appended), then the value; aggregates of both.
        let spec = AggSpec {
            keys: vec![KeySpec { col: 2, ty: ColumnType::Fixed { width: 4 }, float: false }, KeySpec { col: 1, ty: ColumnType::Fixed { width: 4 }, float: false }],
            aggs: vec![AggFunc::CountStar, AggFunc::Sum { col: 1, kind: ValueKind::Int }, AggFunc::CountDistinct { col: 0, kind: ValueKind::Int }, AggFunc::Max { col: 0, kind: ValueKind::Int }],
            filters: vec![],
        };
        let mut agg = Aggregator::new(spec);
        let mut cols: Vec<Option<Fetched>> = vec![Some(Fetched::Values(a)), Some(Fetched::Values(x))];
        let sel: Vec<u32> = (0..rows.len() as u32).filter(|r| r % 5 != 4).collect();
        lookup.update(&mut agg, &mut cols, 0, &sel, rows.len(), 7);
        let mut got: Vec<(u32, Option<i32>, Vec<AggValue>)> = agg
            .finish()
            .into_iter()
            .map(|g| {
                let code = u32::from_le_bytes(g.keys[0].clone().unwrap().try_into().unwrap());
                let v = g.keys[1].clone().map(|b| i32::from_le_bytes(b.try_into().unwrap()));
                (code, v, g.values)
            })
            .collect();
        got.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        // The reference: the join, row by row, then GROUP BY.
        let mut want: BTreeMap<(u32, Option<i32>), (i128, i128, StdSet<i32>, Option<i32>, bool)> = BTreeMap::new();
        for &r in &sel {
            let (k, v) = rows[r as usize];
            let Some(k) = k else { continue };
            for &(ok, code) in &other {
                if ok == k as i64 {
                    let e = want.entry((code, v)).or_insert((0, 0, StdSet::new(), None, false));
                    e.0 += 1;
                    if let Some(v) = v {
                        e.1 += v as i128;
                        e.4 = true;
                    }
                    e.2.insert(k);
                    e.3 = e.3.max(Some(k));
                }
            }
        }
        let want: Vec<(u32, Option<i32>, Vec<AggValue>)> = want
            .into_iter()
            .map(|((code, v), (n, sum, distinct, max, any))| {
                let sum = if any { AggValue::Int(sum) } else { AggValue::Null };
                (code, v, vec![AggValue::Int(n), sum, AggValue::Int(distinct.len() as i128), max.map_or(AggValue::Null, |m| AggValue::Bytes(m.to_le_bytes().to_vec()))])
            })
            .collect();
        prop_assert_eq!(got, want);
    }
}

proptest! {
    /// The lookup finds every key's matches in order, dense or sparse, at the ends of
    /// i64's range too.
    #[test]
    fn join_lookup_finds_every_match(
        keys in proptest::collection::vec(prop_oneof![-50i64..50, any::<i64>(), Just(i64::MAX), Just(i64::MIN), 1_000i64..1_200], 0..300),
        probes in proptest::collection::vec(prop_oneof![-60i64..60, any::<i64>(), Just(i64::MAX), Just(i64::MIN)], 0..50),
    ) {
        // By integers, and by their decimal text as bytes.
        for bytes in [false, true] {
            let mut lookup = join::JoinLookup::new(bytes);
            let mut want: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
            for (i, &k) in keys.iter().enumerate() {
                let text = k.to_string();
                lookup.insert(if bytes { join::JoinKey::Bytes(text.as_bytes()) } else { join::JoinKey::Int(k) }, i as u32);
                want.entry(k).or_default().push(i as u32);
            }
            let rounds = want.values().map(Vec::len).max().unwrap_or(0);
            // In the order they came, and sorted: a sorted table repeats each key row
            // after row, where the lookup reuses the last key's match.
            for sorted in [false, true] {
                let mut col = ColumnData::new(if bytes { ColumnType::Var } else { ColumnType::Fixed { width: 8 } });
                let mut all: Vec<i64> = keys.iter().chain(&probes).copied().collect();
                if sorted {
                    all.sort_unstable();
                }
                for k in &all {
                    if bytes {
                        col.push(k.to_string().as_bytes());
                    } else {
                        col.push(&k.to_le_bytes());
                    }
                }
                let fetched = Fetched::Values(col);
                let rows: Vec<u32> = (0..all.len() as u32).collect();
                for level in 0..rounds + 1 {
                    let (kept, codes) = lookup.round(&fetched, &rows, all.len(), level);
                    let expect: Vec<u32> = rows.iter().copied().filter(|&r| want.get(&all[r as usize]).is_some_and(|m| m.len() > level)).collect();
                    prop_assert_eq!(&kept, &expect);
                    for &r in &kept {
                        let code = u32::from_le_bytes(codes.value(r as usize).try_into().unwrap());
                        prop_assert_eq!(code, want[&all[r as usize]][level]);
                    }
                }
            }
        }
    }
}

mod join_records {
    use crate::aggregate::join::{encode_record, JoinKey, RecordDecoder};
    use proptest::prelude::*;

    proptest! {
        /// Records read back in chunks of any size are the records written, in order.
        #[test]
        fn records_survive_any_chunking(keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..60), ints in proptest::collection::vec(any::<i64>(), 0..60), chunk in 1usize..50) {
            for bytes in [true, false] {
                let mut file = Vec::new();
                let mut want: Vec<(Vec<u8>, i64, u32)> = Vec::new();
                let n = if bytes { keys.len() } else { ints.len() };
                for i in 0..n {
                    let code = (i as u32).wrapping_mul(2654435761);
                    let key = if bytes { JoinKey::Bytes(&keys[i]) } else { JoinKey::Int(ints[i]) };
                    encode_record(key, code, &mut file);
                    want.push((if bytes { keys[i].clone() } else { Vec::new() }, if bytes { 0 } else { ints[i] }, code));
                }
                let mut got = Vec::new();
                let mut d = RecordDecoder::new(bytes);
                for c in file.chunks(chunk) {
                    d.feed(c, |k, code| got.push(match k {
                        JoinKey::Bytes(b) => (b.to_vec(), 0, code),
                        JoinKey::Int(i) => (Vec::new(), i, code),
                    }));
                }
                prop_assert!(d.finished());
                prop_assert_eq!(got, want);
            }
        }
    }
}

mod join_byte_keys {
    use crate::aggregate::join::{JoinKey, JoinLookup};
    use crate::column::{ColumnData, ColumnType};
    use crate::range_reader::Fetched;
    use proptest::prelude::*;

    fn key() -> impl Strategy<Value = Vec<u8>> {
        // Short keys that repeat, and some past the one-byte length prefix.
        prop_oneof![proptest::collection::vec(0u8..3, 0..3), proptest::collection::vec(0u8..2, 250..300)]
    }

    proptest! {
        /// A byte-key lookup holding one partition finds, for each probe row, the
        /// `level`-th match among that partition's rows, in the order they were added.
        #[test]
        fn byte_lookup_finds_each_match(
            other in proptest::collection::vec((key(), prop_oneof![0u32..1000, any::<u32>()]), 0..40),
            probes in proptest::collection::vec(proptest::option::of(key()), 0..60),
            parts in 1u32..4,
            part_seed in 0u32..4,
        ) {
            let part = part_seed % parts;
            let in_part = |k: &[u8]| JoinKey::Bytes(k).partition_of(parts) == part;
            let mut lookup = JoinLookup::new(true);
            for (k, code) in &other {
                if in_part(k) {
                    lookup.insert(JoinKey::Bytes(k), *code);
                }
            }
            let lookup = lookup.holding_partition(part, parts);
            let mut col = ColumnData::new(ColumnType::Var);
            for p in &probes {
                match p { Some(k) => col.push(k), None => col.push_null() }
            }
            let col = Fetched::Values(col);
            let sel: Vec<u32> = (0..probes.len() as u32).filter(|r| r % 7 != 3).collect();
            for level in 0..6 {
                let (kept, codes) = lookup.round(&col, &sel, probes.len(), level);
                let want: Vec<(u32, u32)> = sel.iter().filter_map(|&r| {
                    let k = probes[r as usize].as_ref()?;
                    let matches: Vec<u32> = other.iter().filter(|(o, _)| o == k && in_part(o)).map(|(_, c)| *c).collect();
                    matches.get(level).map(|&c| (r, c))
                }).collect();
                let got: Vec<(u32, u32)> = kept.iter().map(|&r| (r, u32::from_le_bytes(codes.get(r as usize).unwrap().try_into().unwrap()))).collect();
                prop_assert_eq!(got, want, "level {}", level);
            }
        }
    }
}
