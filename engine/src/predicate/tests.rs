use super::*;
use crate::column::ColumnType;
use proptest::prelude::*;

proptest! {
    /// IS [NOT] NULL from the bitmap keeps the rows the three-valued evaluation keeps.
    #[test]
    fn is_null_from_the_bitmap(vals in proptest::collection::vec(proptest::option::of(0u8..3), 0..150), every in any::<bool>(), negated in any::<bool>()) {
        let mut c = ColumnData::new(ColumnType::Var);
        for v in &vals {
            match v {
                Some(v) => c.push(&[*v]),
                None => c.push_null(),
            }
        }
        let rows: Vec<u32> = (0..vals.len() as u32).filter(|r| every || r % 3 != 1).collect();
        let p = Predicate::IsNull { col: 0, negated };
        let cols = [Some(FilterColumn::Values(&c))];
        let want: Vec<u32> = rows.iter().zip(p.eval3(&cols, &rows)).filter(|(_, v)| *v == T).map(|(&r, _)| r).collect();
        prop_assert_eq!(p.evaluate_rows(&cols, &rows), want);
    }

    /// The integer fast path answers as comparing values one by one does, at every
    /// width, with constants of another width, and NULLs.
    #[test]
    fn integer_comparisons_match_compare_values(vals in proptest::collection::vec(proptest::option::of(-300i64..300), 1..80),
                                                x in -300i64..300, width in prop_oneof![Just(2usize), Just(4), Just(8)],
                                                cwidth in prop_oneof![Just(2usize), Just(4), Just(8)], op in 0usize..6) {
        let op = [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge][op];
        let mut c = ColumnData::new(ColumnType::Fixed { width: width as u16 });
        for v in &vals {
            match v {
                Some(v) => c.push(&v.to_le_bytes()[..width]),
                None => c.push_null(),
            }
        }
        let value = x.to_le_bytes()[..cwidth].to_vec();
        let rows: Vec<u32> = (0..vals.len() as u32).filter(|r| r % 3 != 1).collect();
        let p = Predicate::Cmp { col: 0, kind: SortKind::SignedInt, op, value: value.clone() };
        let got = p.evaluate_rows(&[Some(FilterColumn::Values(&c))], &rows);
        let want: Vec<u32> = rows.iter().copied().filter(|&r| c.get(r as usize).is_some_and(|v| op.holds(compare_values(SortKind::SignedInt, v, &value)))).collect();
        prop_assert_eq!(got, want);
    }
}

fn int_col(vals: &[Option<i64>]) -> ColumnData {
    let mut c = ColumnData::new(ColumnType::Fixed { width: 8 });
    for v in vals {
        match v {
            Some(v) => c.push(&v.to_le_bytes()),
            None => c.push_null(),
        }
    }
    c
}

fn cmp(op: CmpOp, v: i64) -> Predicate {
    Predicate::Cmp { col: 0, kind: SortKind::SignedInt, op, value: v.to_le_bytes().to_vec() }
}

/// The reference: SQL semantics computed directly.
fn sql(p: &Predicate, x: Option<i64>) -> Option<bool> {
    match p {
        Predicate::Const(c) => *c,
        Predicate::Cmp { op, value, .. } => {
            let v = i64::from_le_bytes(value.clone().try_into().unwrap());
            x.map(|x| op.holds(x.cmp(&v)))
        }
        Predicate::In { values, has_null, .. } => x.and_then(|x| {
            if values.iter().any(|v| i64::from_le_bytes(v.clone().try_into().unwrap()) == x) {
                Some(true)
            } else if *has_null {
                None
            } else {
                Some(false)
            }
        }),
        Predicate::IsNull { negated, .. } => Some(x.is_none() != *negated),
        Predicate::Like { .. } => unreachable!("integer tests have no LIKE"),
        Predicate::Not(p) => sql(p, x).map(|b| !b),
        Predicate::And(ps) => ps.iter().map(|p| sql(p, x)).fold(Some(true), |a, b| match (a, b) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (None, _) | (_, None) => None,
            _ => Some(true),
        }),
        Predicate::Or(ps) => ps.iter().map(|p| sql(p, x)).fold(Some(false), |a, b| match (a, b) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (None, _) | (_, None) => None,
            _ => Some(false),
        }),
    }
}

fn leaf() -> impl Strategy<Value = Predicate> {
    let op = prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne), Just(CmpOp::Lt), Just(CmpOp::Le), Just(CmpOp::Gt), Just(CmpOp::Ge)];
    prop_oneof![
        (op, -5i64..5).prop_map(|(op, v)| cmp(op, v)),
        (proptest::collection::vec(-5i64..5, 0..4), any::<bool>()).prop_map(|(vs, has_null)| Predicate::In {
            col: 0,
            kind: SortKind::SignedInt,
            values: vs.iter().map(|v| v.to_le_bytes().to_vec()).collect(),
            has_null
        }),
        any::<bool>().prop_map(|negated| Predicate::IsNull { col: 0, negated }),
        prop_oneof![Just(None), Just(Some(true)), Just(Some(false))].prop_map(Predicate::Const),
    ]
}

/// AND / OR / NOT trees over `leaf`, `depth` levels deep.
fn tree(leaf: impl Strategy<Value = Predicate> + 'static, depth: u32) -> impl Strategy<Value = Predicate> {
    leaf.prop_recursive(depth, 16, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..3).prop_map(Predicate::And),
            proptest::collection::vec(inner.clone(), 1..3).prop_map(Predicate::Or),
            inner.prop_map(|p| Predicate::Not(Box::new(p))),
        ]
    })
}

fn pred() -> impl Strategy<Value = Predicate> {
    tree(leaf(), 3)
}

/// What a part's statistics say of these values.
fn range_of(vals: &[Option<i64>]) -> ValueRange {
    let present: Vec<i64> = vals.iter().flatten().copied().collect();
    ValueRange {
        min: present.iter().min().map(|v| v.to_le_bytes().to_vec()),
        max: present.iter().max().map(|v| v.to_le_bytes().to_vec()),
        may_have_null: vals.iter().any(|v| v.is_none()),
        may_have_value: !present.is_empty(),
    }
}

proptest! {
    #[test]
    fn evaluate_follows_sql(p in pred(), vals in proptest::collection::vec(proptest::option::of(-6i64..6), 0..40)) {
        let col = int_col(&vals);
        let got = p.evaluate(&[Some(&col)], vals.len());
        for (i, x) in vals.iter().enumerate() {
            prop_assert_eq!(got.get(i), sql(&p, *x) == Some(true), "row {} value {:?}", i, x);
        }
    }

    /// Pruning never drops a range that holds a matching row.
    #[test]
    fn may_match_is_sound(p in pred(), vals in proptest::collection::vec(proptest::option::of(-6i64..6), 1..20)) {
        let range = range_of(&vals);
        if vals.iter().any(|x| sql(&p, *x) == Some(true)) {
            prop_assert!(p.may_match(&|_| range.clone()));
        }
    }

    /// A range said to match whole holds only matching rows (the min and max are
    /// the values themselves, so some rows hold each bound).
    #[test]
    fn all_match_is_sound(p in pred(), vals in proptest::collection::vec(proptest::option::of(-6i64..6), 1..20)) {
        let present: Vec<i64> = vals.iter().flatten().copied().collect();
        let range = range_of(&vals);
        if p.all_match(&|_| range.clone()) {
            // Every value between the bounds, not only these rows': a part's rows
            // could be any of them.
            let (lo, hi) = (present.iter().min().copied().unwrap_or(0), present.iter().max().copied().unwrap_or(-1));
            for x in lo..=hi {
                prop_assert_eq!(sql(&p, Some(x)), Some(true), "value {}", x);
            }
            for x in &vals {
                prop_assert_eq!(sql(&p, *x), Some(true), "row value {:?}", x);
            }
        }
    }
}

#[test]
fn like_matches_like_postgres() {
    let cases: &[(&str, &str, bool)] = &[
        ("name 42", "name 4%", true), ("name 5", "name 4%", false), ("abc", "a_c", true), ("ac", "a_c", false),
        ("a\u{e9}c", "a_c", true), ("100%", r"100\%", true), ("1000", r"100\%", false), ("", "%", true),
        ("x", "", false), ("", "", true), ("abcabc", "%bc", true), ("abcab", "%b_", false), ("abcbx", "%b_", true), ("a_b", r"a\_b", true),
        ("aXb", r"a\_b", false), ("mississippi", "%iss%ppi", true), ("mississippi", "m%s%s%x", false),
    ];
    for (s, p, want) in cases {
        assert_eq!(like(s.as_bytes(), p.as_bytes()), *want, "{s:?} LIKE {p:?}");
    }
}

#[test]
fn ranges_prune() {
    let r = ValueRange { min: Some(10i64.to_le_bytes().to_vec()), max: Some(20i64.to_le_bytes().to_vec()), may_have_null: false, may_have_value: true };
    assert!(!cmp(CmpOp::Eq, 5).may_match(&|_| r.clone()));
    assert!(cmp(CmpOp::Eq, 15).may_match(&|_| r.clone()));
    assert!(!cmp(CmpOp::Gt, 20).may_match(&|_| r.clone()));
    assert!(cmp(CmpOp::Ge, 20).may_match(&|_| r.clone()));
    assert!(!Predicate::IsNull { col: 0, negated: false }.may_match(&|_| r.clone()));
}

fn text_pred() -> impl Strategy<Value = Predicate> {
    let word = prop_oneof![Just(b"a".to_vec()), Just(b"b".to_vec()), Just(b"ab".to_vec()), Just(b"".to_vec()), Just(b"ba%".to_vec())];
    let atom = prop_oneof![
        (word.clone(), 0usize..6).prop_map(|(v, o)| Predicate::Cmp {
            col: 0,
            kind: SortKind::Bytes,
            op: [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge][o],
            value: v
        }),
        (proptest::collection::vec(word.clone(), 0..3), any::<bool>()).prop_map(|(values, has_null)| Predicate::In { col: 0, kind: SortKind::Bytes, values, has_null }),
        any::<bool>().prop_map(|negated| Predicate::IsNull { col: 0, negated }),
        (word, any::<bool>(), any::<bool>()).prop_map(|(pattern, negated, ascii_ci)| Predicate::Like { col: 0, pattern, negated, ascii_ci }),
    ];
    tree(atom, 2)
}

proptest! {
    /// Filters over a dictionary's codes give exactly what they give over the values.
    #[test]
    fn dictionary_codes_filter_like_values(
        vals in proptest::collection::vec(proptest::option::of(prop_oneof![Just("a"), Just("b"), Just("ab"), Just("B"), Just("")]), 0..60),
        pred in text_pred(),
    ) {
        let mut col = ColumnData::new(ColumnType::Var);
        for v in &vals {
            match v {
                Some(v) => col.push(v.as_bytes()),
                None => col.push_null(),
            }
        }
        let enc = crate::codec::dict::encode(&col, crate::codec::dict::DictMode::Always).unwrap();
        let crate::column::Values::Fixed { width, data } = &enc.codes.values else { panic!("codes are fixed-width") };
        let codes: Vec<u32> = data.chunks_exact(*width).map(|c| c[0] as u32 | if *width > 1 { (c[1] as u32) << 8 } else { 0 }).collect();
        let dict = FilterColumn::Dict { codes: &codes, validity: enc.codes.validity.as_ref(), dict: &enc.dict };
        prop_assert_eq!(pred.evaluate_columns(&[Some(dict)], vals.len()), pred.evaluate(&[Some(&col)], vals.len()));
    }
}

proptest! {
    /// On a sorted column (NULLs last) the binary search finds exactly the rows an
    /// equality filter keeps, inside any sub-range.
    #[test]
    fn equal_range_is_the_equality_filter(
        mut vals in proptest::collection::vec(proptest::option::of(-5i64..5), 0..80),
        x in -6i64..6,
        cut in (0usize..80, 0usize..80),
    ) {
        vals.sort_by(|a, b| match (a, b) { (None, None) => Ordering::Equal, (None, _) => Ordering::Greater, (_, None) => Ordering::Less, (Some(a), Some(b)) => a.cmp(b) });
        let mut col = ColumnData::new(ColumnType::Fixed { width: 8 });
        for v in &vals {
            match v {
                Some(v) => col.push(&v.to_le_bytes()),
                None => col.push_null(),
            }
        }
        let (a, b) = (cut.0.min(vals.len()), cut.1.min(vals.len()));
        let range = a.min(b)..a.max(b);
        let got = FilterColumn::Values(&col).equal_range(range.clone(), SortKind::SignedInt, &x.to_le_bytes());
        let want: Vec<usize> = range.filter(|&i| vals[i] == Some(x)).collect();
        prop_assert_eq!(got.collect::<Vec<_>>(), want);
    }
}
