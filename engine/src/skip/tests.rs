use super::*;
use crate::column::ColumnType;
use proptest::prelude::*;
use proptest::sample::Index;

fn int_bytes(v: i64, width: usize) -> Vec<u8> {
    v.to_le_bytes()[..width].to_vec()
}

fn float_bytes(v: f64, width: usize) -> Vec<u8> {
    if width == 4 {
        (v as f32).to_le_bytes().to_vec()
    } else {
        v.to_le_bytes().to_vec()
    }
}

fn column(ty: ColumnType, vals: &[Option<Vec<u8>>]) -> ColumnData {
    let mut c = ColumnData::new(ty);
    for v in vals {
        match v {
            Some(v) => c.push(v),
            None => c.push_null(),
        }
    }
    c
}

fn text_column(vals: &[&str]) -> ColumnData {
    column(ColumnType::Var, &vals.iter().map(|s| Some(s.as_bytes().to_vec())).collect::<Vec<_>>())
}

fn int_column(vals: impl IntoIterator<Item = i64>) -> ColumnData {
    column(ColumnType::Fixed { width: 8 }, &vals.into_iter().map(|v| Some(int_bytes(v, 8))).collect::<Vec<_>>())
}

/// Builds the index over `granules` and reads it back from its bytes, as a query would.
fn build(ty: SkipIndexType, kind: SortKind, granularity: usize, granules: &[ColumnData]) -> SkipIndex {
    let mut b = SkipIndexBuilder::new(ty, kind, granularity);
    granules.iter().for_each(|g| b.add_granule(g));
    let index = b.finish();
    let back = SkipIndex::from_bytes(&index.to_bytes()).expect("own bytes read back");
    assert_eq!(back, index);
    back
}

fn kept(index: &SkipIndex, pred: &Predicate) -> Vec<usize> {
    (0..index.granules()).filter(|&g| index.granule_may_match(g, pred, 0)).collect()
}

fn eq_int(v: i64, width: usize) -> Predicate {
    Predicate::Cmp { col: 0, kind: SortKind::SignedInt, op: CmpOp::Eq, value: int_bytes(v, width) }
}

fn eq_text(s: &str) -> Predicate {
    Predicate::Cmp { col: 0, kind: SortKind::Bytes, op: CmpOp::Eq, value: s.as_bytes().to_vec() }
}

fn like(pattern: &str) -> Predicate {
    Predicate::Like { col: 0, pattern: pattern.as_bytes().to_vec(), negated: false, ascii_ci: false }
}

// ---- types: text form and columns ----

#[test]
fn types_parse_and_describe_round_trip() {
    let cases = [
        ("minmax", SkipIndexType::MinMax),
        (" MinMax ", SkipIndexType::MinMax),
        ("set(100)", SkipIndexType::Set { max_values: 100 }),
        ("SET ( 0 )", SkipIndexType::Set { max_values: 0 }),
        ("bloom_filter", SkipIndexType::BloomFilter { false_positive_rate: DEFAULT_FALSE_POSITIVE_RATE }),
        ("bloom_filter()", SkipIndexType::BloomFilter { false_positive_rate: DEFAULT_FALSE_POSITIVE_RATE }),
        ("Bloom_Filter( 0.01 )", SkipIndexType::BloomFilter { false_positive_rate: 0.01 }),
        ("ngrambf(3, 256, 2)", SkipIndexType::NgramBf { n: 3, size_bytes: 256, hashes: 2 }),
        ("ngrambf_v1(4,1024,3,0)", SkipIndexType::NgramBf { n: 4, size_bytes: 1024, hashes: 3 }),
        ("tokenbf(512, 3)", SkipIndexType::TokenBf { size_bytes: 512, hashes: 3 }),
        ("TOKENBF_V1(512, 3, 7)", SkipIndexType::TokenBf { size_bytes: 512, hashes: 3 }),
    ];
    for (text, want) in cases {
        let ty = SkipIndexType::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(ty, want, "{text}");
        assert_eq!(SkipIndexType::parse(&ty.describe()), Ok(ty), "{}", ty.describe());
    }
    assert_eq!(SkipIndexType::BloomFilter { false_positive_rate: 0.025 }.describe(), "bloom_filter(0.025)");
    assert_eq!(SkipIndexType::NgramBf { n: 3, size_bytes: 256, hashes: 2 }.describe(), "ngrambf(3, 256, 2)");
}

#[test]
fn bad_types_say_what_is_wrong() {
    let err = |text: &str| SkipIndexType::parse(text).expect_err(text);
    assert_eq!(
        err("hash"),
        "unknown skip index type \"hash\": expected minmax, set(N), bloom_filter([false_positive_rate]), \
         ngrambf(n, size_bytes, hashes) or tokenbf(size_bytes, hashes)"
    );
    assert!(err("").starts_with("unknown skip index type \"\""));
    assert!(err("bloom_filter(1.5)").contains("false_positive_rate must be between 0 and 1"));
    assert!(err("bloom_filter(0)").contains("false_positive_rate must be between 0 and 1"));
    assert!(err("bloom_filter(nan)").contains("false_positive_rate must be between 0 and 1"));
    assert!(err("bloom_filter(often)").contains("false_positive_rate must be a number"));
    assert_eq!(err("set"), "set takes 1 argument, got 0: set(N)");
    assert_eq!(err("set(100001)"), "set N must be between 0 and 100000, got 100001");
    assert!(err("set(-1)").contains("non-negative integer"));
    assert!(err("set(10").contains("closing parenthesis"));
    assert!(err("minmax(1)").starts_with("minmax takes no arguments"));
    assert!(err("ngrambf(3, 256)").contains("ngrambf(n, size_bytes, hashes)"));
    assert_eq!(err("ngrambf(9, 256, 2)"), "ngrambf n must be between 1 and 8, got 9");
    assert_eq!(err("ngrambf(3, 70000, 2)"), "ngrambf size_bytes must be between 1 and 65536, got 70000");
    assert_eq!(err("tokenbf(256, 0)"), "tokenbf hashes must be between 1 and 16, got 0");
    assert!(err("tokenbf(256, 2, x)").contains("random_seed"));
}

#[test]
fn types_check_their_column() {
    let text = ColumnType::Var;
    let int = ColumnType::Fixed { width: 8 };
    let ngram = SkipIndexType::NgramBf { n: 3, size_bytes: 256, hashes: 2 };
    let token = SkipIndexType::TokenBf { size_bytes: 256, hashes: 2 };
    assert!(ngram.check_column(text, SortKind::Opaque).is_ok());
    assert!(token.check_column(text, SortKind::Bytes).is_ok());
    assert!(ngram.check_column(int, SortKind::SignedInt).unwrap_err().contains("text"));
    assert!(token.check_column(int, SortKind::SignedInt).is_err());
    assert!(SkipIndexType::MinMax.check_column(int, SortKind::SignedInt).is_ok());
    assert!(SkipIndexType::MinMax.check_column(text, SortKind::Opaque).unwrap_err().contains("order"));
    for ty in [SkipIndexType::Set { max_values: 10 }, SkipIndexType::BloomFilter { false_positive_rate: 0.1 }] {
        assert!(ty.check_column(text, SortKind::Opaque).is_ok());
        assert!(ty.check_column(int, SortKind::Float).is_ok());
    }
}

#[test]
fn equal_values_hash_equally_across_widths() {
    for v in [-129i64, -1, 0, 1, 127] {
        let h = hash_value(SortKind::SignedInt, &int_bytes(v, 8));
        for w in [2, 4] {
            assert_eq!(hash_value(SortKind::SignedInt, &int_bytes(v, w)), h, "{v} at width {w}");
        }
    }
    assert_eq!(hash_value(SortKind::SignedInt, &int_bytes(-1, 1)), hash_value(SortKind::SignedInt, &int_bytes(-1, 8)));
    let f = |x: f64, w| hash_value(SortKind::Float, &float_bytes(x, w));
    assert_eq!(f(-0.0, 8), f(0.0, 8));
    assert_eq!(f(1.5, 4), f(1.5, 8));
    assert_eq!(f(f64::NAN, 8), f(f64::from_bits(0xfff0_0000_dead_beef), 8));
    assert_eq!(f(f64::NAN, 4), f(f64::NAN, 8));
    assert_ne!(f(0.1, 4), f(0.1, 8));
    assert_eq!(hash_value(SortKind::Opaque, b"abc"), hash_value(SortKind::Bytes, b"abc"));
}

/// The hashes are stored on disk: they must never change between builds.
#[test]
fn hashes_are_pinned() {
    assert_eq!(hash_value(SortKind::Bytes, b"mergetree"), 11557409277546894071);
    assert_eq!(hash_value(SortKind::SignedInt, &42i32.to_le_bytes()), 1214720578836258018);
}

// ---- soundness ----

fn op() -> impl Strategy<Value = CmpOp> {
    prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne), Just(CmpOp::Lt), Just(CmpOp::Le), Just(CmpOp::Gt), Just(CmpOp::Ge)]
}

/// Mostly the indexed column 0; sometimes column 1, which the index knows nothing of.
fn col() -> impl Strategy<Value = usize> {
    prop_oneof![4 => Just(0usize), 1 => Just(1usize)]
}

/// IS [NOT] NULL and constants, on top of the column-specific atoms.
fn leaf(atoms: BoxedStrategy<Predicate>) -> impl Strategy<Value = Predicate> {
    prop_oneof![
        6 => atoms,
        1 => (col(), any::<bool>()).prop_map(|(col, negated)| Predicate::IsNull { col, negated }),
        1 => prop_oneof![Just(None), Just(Some(true)), Just(Some(false))].prop_map(Predicate::Const),
    ]
}

/// Single atoms half of the time (they prune the most), else AND/OR/NOT trees.
fn tree(atoms: BoxedStrategy<Predicate>) -> impl Strategy<Value = Predicate> {
    let nested = leaf(atoms.clone()).prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Predicate::And),
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Predicate::Or),
            inner.prop_map(|p| Predicate::Not(Box::new(p))),
        ]
    });
    prop_oneof![atoms, nested]
}

fn cmp_and_in(kind: SortKind, constant: BoxedStrategy<Vec<u8>>) -> BoxedStrategy<Predicate> {
    prop_oneof![
        (col(), op(), constant.clone()).prop_map(move |(col, op, value)| Predicate::Cmp { col, kind, op, value }),
        (col(), proptest::collection::vec(constant, 0..4), any::<bool>())
            .prop_map(move |(col, values, has_null)| Predicate::In { col, kind, values, has_null }),
    ]
    .boxed()
}

/// Granules of a column: each a list of values (`None` = NULL), empty granules included.
fn granules<T: std::fmt::Debug>(value: impl Strategy<Value = T> + Clone) -> impl Strategy<Value = Vec<Vec<Option<T>>>> {
    proptest::collection::vec(proptest::collection::vec(proptest::option::weighted(0.85, value), 0..7), 1..10)
}

fn value_type() -> impl Strategy<Value = SkipIndexType> {
    prop_oneof![
        Just(SkipIndexType::MinMax),
        (0usize..5).prop_map(|max_values| SkipIndexType::Set { max_values }),
        prop_oneof![Just(0.001), Just(0.025), Just(0.5), Just(0.99)]
            .prop_map(|false_positive_rate| SkipIndexType::BloomFilter { false_positive_rate }),
    ]
}

/// Tiny filters (mostly saturated, and colliding) and roomy ones (that prune).
fn filter_bytes() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..24, Just(256)]
}

fn text_type() -> impl Strategy<Value = SkipIndexType> {
    prop_oneof![
        value_type(),
        (1usize..4, filter_bytes(), 1usize..4).prop_map(|(n, size_bytes, hashes)| SkipIndexType::NgramBf { n, size_bytes, hashes }),
        (filter_bytes(), 1usize..4).prop_map(|(size_bytes, hashes)| SkipIndexType::TokenBf { size_bytes, hashes }),
    ]
}

/// Every data granule with a row the executor finds TRUE is kept.
fn assert_sound(
    ty: SkipIndexType,
    kind: SortKind,
    granularity: usize,
    data: &[ColumnData],
    pred: &Predicate,
) -> std::result::Result<(), TestCaseError> {
    let index = build(ty, kind, granularity, data);
    for (g, c) in data.iter().enumerate() {
        let hit = pred.evaluate(&[Some(c), Some(c)], c.len()).count_set() > 0;
        prop_assert!(!hit || index.granule_may_match(g, pred, 0), "{} dropped granule {} ({:?})", ty.describe(), g, c);
    }
    prop_assert!(index.granule_may_match(data.len(), pred, 0));
    Ok(())
}

fn float_value() -> impl Strategy<Value = f64> + Clone {
    prop::sample::select(vec![
        f64::NAN,
        f64::from_bits(0x7ff0_0000_0000_0001),
        -0.0,
        0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.1,
        1.5,
        -2.25,
        3.0,
    ])
}

/// Short words (ASCII and not, sharing n-grams) and separators, wildcards among them.
const WORDS: &[&str] = &["a", "b", "ab", "ba", "abc", "bca", "A", "Ab", "\u{e9}", "a\u{e9}", "\u{65e5}\u{672c}"];
const SEPARATORS: &[&str] = &[" ", "-", "%", "_", "\\"];

fn text_value() -> impl Strategy<Value = String> + Clone {
    let piece = prop_oneof![2 => prop::sample::select(WORDS), 1 => prop::sample::select(SEPARATORS)];
    proptest::collection::vec(piece, 0..6).prop_map(|ps| ps.concat())
}

/// A substring (by characters) of one of `pool`.
fn substring(pool: Vec<String>) -> impl Strategy<Value = String> {
    (prop::sample::select(pool), any::<Index>(), any::<Index>()).prop_map(|(s, a, b)| {
        let cs: Vec<char> = s.chars().collect();
        let (i, j) = (a.index(cs.len() + 1), b.index(cs.len() + 1));
        cs[i.min(j)..i.max(j)].iter().collect()
    })
}

/// Patterns from pieces of the column's values, wildcards and escapes.
fn pattern(pool: Vec<String>) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => substring(pool),
        2 => Just("%".to_string()),
        1 => Just("_".to_string()),
        1 => prop::sample::select(vec!["\\%", "\\_", "\\\\", "\\a", "\\"]).prop_map(String::from),
        1 => text_value(),
    ];
    proptest::collection::vec(piece, 0..5).prop_map(|ps| ps.concat())
}

fn text_atoms(pool: Vec<String>) -> BoxedStrategy<Predicate> {
    let constant = prop_oneof![substring(pool.clone()), prop::sample::select(pool.clone()), text_value()].prop_map(String::into_bytes);
    prop_oneof![
        2 => cmp_and_in(SortKind::Bytes, constant.boxed()),
        3 => (col(), pattern(pool), any::<bool>(), any::<bool>()).prop_map(|(col, p, negated, ascii_ci)| Predicate::Like {
            col,
            pattern: p.into_bytes(),
            negated,
            ascii_ci
        }),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn int_indexes_are_sound(
        ty in value_type(),
        width in prop::sample::select(vec![2usize, 4, 8]),
        data in granules(-6i64..6),
        granularity in 1usize..4,
        pred in tree(cmp_and_in(
            SortKind::SignedInt,
            (-7i64..7, prop::sample::select(vec![1usize, 2, 4, 8])).prop_map(|(v, w)| int_bytes(v, w)).boxed(),
        ).boxed()),
    ) {
        let cols: Vec<ColumnData> = data
            .iter()
            .map(|g| column(ColumnType::Fixed { width: width as u16 }, &g.iter().map(|v| v.map(|v| int_bytes(v, width))).collect::<Vec<_>>()))
            .collect();
        assert_sound(ty, SortKind::SignedInt, granularity, &cols, &pred)?;
    }

    #[test]
    fn float_indexes_are_sound(
        ty in value_type(),
        width in prop::sample::select(vec![4usize, 8]),
        data in granules(float_value()),
        granularity in 1usize..4,
        pred in tree(cmp_and_in(
            SortKind::Float,
            (float_value(), prop::sample::select(vec![4usize, 8])).prop_map(|(v, w)| float_bytes(v, w)).boxed(),
        ).boxed()),
    ) {
        let cols: Vec<ColumnData> = data
            .iter()
            .map(|g| column(ColumnType::Fixed { width: width as u16 }, &g.iter().map(|v| v.map(|v| float_bytes(v, width))).collect::<Vec<_>>()))
            .collect();
        assert_sound(ty, SortKind::Float, granularity, &cols, &pred)?;
    }

    #[test]
    fn text_indexes_are_sound(
        (data, pred) in granules(text_value()).prop_flat_map(|data| {
            let mut pool: Vec<String> = data.iter().flatten().flatten().cloned().collect();
            pool.push("a b".into());
            (Just(data), tree(text_atoms(pool)))
        }),
        ty in text_type(),
        opaque in any::<bool>(),
        granularity in 1usize..4,
    ) {
        // minmax refuses columns of unknown order; the rest index either kind.
        let kind = if opaque && ty != SkipIndexType::MinMax { SortKind::Opaque } else { SortKind::Bytes };
        let cols: Vec<ColumnData> = data
            .iter()
            .map(|g| column(ColumnType::Var, &g.iter().map(|v| v.clone().map(String::into_bytes)).collect::<Vec<_>>()))
            .collect();
        assert_sound(ty, kind, granularity, &cols, &pred)?;
    }
}

// ---- effectiveness ----

#[test]
fn bloom_filter_finds_one_id_among_many() {
    // 100 granules of 100 distinct ids each.
    let data: Vec<ColumnData> = (0..100).map(|g| int_column(g * 100..(g + 1) * 100)).collect();
    let index = build(SkipIndexType::parse("bloom_filter").unwrap(), SortKind::SignedInt, 1, &data);
    let found = kept(&index, &eq_int(4321, 4));
    assert!(found.contains(&43) && found.len() <= 5, "kept {found:?}");
    let pred = Predicate::In { col: 0, kind: SortKind::SignedInt, values: vec![int_bytes(17, 2), int_bytes(9999, 8)], has_null: false };
    let found = kept(&index, &pred);
    assert!(found.contains(&0) && found.contains(&99) && found.len() <= 10, "kept {found:?}");
    // Ranges are beyond a bloom filter.
    let gt = Predicate::Cmp { col: 0, kind: SortKind::SignedInt, op: CmpOp::Gt, value: int_bytes(9990, 8) };
    assert_eq!(kept(&index, &gt).len(), 100);
}

/// 100 granules of 20 rows; only granule 37 mentions a needle.
fn haystack() -> Vec<ColumnData> {
    (0..100)
        .map(|g| {
            let rows: Vec<String> = (0..20)
                .map(|r| if g == 37 && r == 5 { "has a needle inside".to_string() } else { format!("row {g}-{r} lorem ipsum") })
                .collect();
            text_column(&rows.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .collect()
}

#[test]
fn ngrambf_finds_a_substring() {
    let index = build(SkipIndexType::parse("ngrambf(3, 512, 3)").unwrap(), SortKind::Opaque, 1, &haystack());
    assert_eq!(kept(&index, &like("%needle%")), vec![37]);
    assert_eq!(kept(&index, &like("%a_needle%")), vec![37]);
    assert_eq!(kept(&index, &eq_text("has a needle inside")), vec![37]);
    // Patterns whose literal runs are all shorter than n tell nothing.
    assert_eq!(kept(&index, &like("%ne%")).len(), 100);
}

#[test]
fn tokenbf_finds_whole_words() {
    let index = build(SkipIndexType::parse("tokenbf(512, 3)").unwrap(), SortKind::Bytes, 1, &haystack());
    assert_eq!(kept(&index, &like("% needle %")), vec![37]);
    assert_eq!(kept(&index, &like("has a needle%")), vec![37]);
    assert_eq!(kept(&index, &eq_text("has a needle inside")), vec![37]);
    // "needle" might be part of a longer token ("needles"): no pruning.
    assert_eq!(kept(&index, &like("%needle%")).len(), 100);
}

#[test]
fn set_prunes_until_it_overflows() {
    let data = [int_column([1, 2, 3, 2, 1]), int_column([4, 5, 6, 7])];
    let index = build(SkipIndexType::parse("set(3)").unwrap(), SortKind::SignedInt, 1, &data);
    assert_eq!(kept(&index, &eq_int(2, 2)), vec![0, 1]); // granule 1 overflowed
    assert_eq!(kept(&index, &eq_int(5, 4)), vec![1]);
    let lt = Predicate::Cmp { col: 0, kind: SortKind::SignedInt, op: CmpOp::Lt, value: int_bytes(1, 8) };
    assert_eq!(kept(&index, &lt), vec![1]);
    // NOT (x <> 5) is x = 5.
    let not_ne = Predicate::Not(Box::new(Predicate::Cmp { col: 0, kind: SortKind::SignedInt, op: CmpOp::Ne, value: int_bytes(5, 8) }));
    assert_eq!(kept(&index, &not_ne), vec![1]);

    let words = build(SkipIndexType::parse("set(0)").unwrap(), SortKind::Opaque, 1, &[text_column(&["apple", "Pear"]), text_column(&["fig"])]);
    assert_eq!(kept(&words, &like("%ea%")), vec![0]);
    let ilike = Predicate::Like { col: 0, pattern: b"pEAR".to_vec(), negated: false, ascii_ci: true };
    assert_eq!(kept(&words, &ilike), vec![0]);
    let not_like = Predicate::Like { col: 0, pattern: b"fig".to_vec(), negated: true, ascii_ci: false };
    assert_eq!(kept(&words, &not_like), vec![0]);
}

#[test]
fn minmax_prunes_ranges_and_prefixes() {
    let data: Vec<ColumnData> = (0..10).map(|g| int_column(g * 10..g * 10 + 10)).collect();
    let index = build(SkipIndexType::MinMax, SortKind::SignedInt, 2, &data);
    let gt = Predicate::Cmp { col: 0, kind: SortKind::SignedInt, op: CmpOp::Gt, value: int_bytes(75, 2) };
    assert_eq!(kept(&index, &gt), vec![6, 7, 8, 9]);
    assert_eq!(kept(&index, &eq_int(42, 8)), vec![4, 5]);

    let names = build(SkipIndexType::MinMax, SortKind::Bytes, 1, &[text_column(&["apple", "apricot"]), text_column(&["banana", "cherry"])]);
    assert_eq!(kept(&names, &like("ap%")), vec![0]);
    assert_eq!(kept(&names, &like("c%y")), vec![1]);
    assert_eq!(kept(&names, &like("%a%")), vec![0, 1]);
}

#[test]
fn nulls_are_tracked_by_every_type() {
    let mut with_null = int_column([1]);
    with_null.push_null();
    let data = [int_column([1, 2]), with_null, column(ColumnType::Fixed { width: 8 }, &[None, None])];
    let is_null = Predicate::IsNull { col: 0, negated: false };
    let not_null = Predicate::Not(Box::new(is_null.clone()));
    for ty in ["minmax", "set(10)", "bloom_filter"] {
        let index = build(SkipIndexType::parse(ty).unwrap(), SortKind::SignedInt, 1, &data);
        assert_eq!(kept(&index, &is_null), vec![1, 2], "{ty}");
        assert_eq!(kept(&index, &not_null), vec![0, 1], "{ty}");
        assert_eq!(kept(&index, &eq_int(1, 8)), vec![0, 1], "{ty}");
        // Atoms on other columns are unknown.
        let other = Predicate::And(vec![eq_int(1, 8), Predicate::IsNull { col: 1, negated: false }]);
        assert_eq!(kept(&index, &other), vec![0, 1], "{ty}");
    }
}

// ---- stored form ----

fn sample_index() -> SkipIndex {
    build(SkipIndexType::parse("tokenbf(64, 2)").unwrap(), SortKind::Bytes, 2, &haystack()[..5])
}

#[test]
fn damaged_bytes_are_errors() {
    let bytes = sample_index().to_bytes();
    assert_eq!(&bytes[..4], MAGIC);
    for len in 0..bytes.len() {
        assert!(SkipIndex::from_bytes(&bytes[..len]).is_err(), "truncated to {len}");
    }
    for i in 0..bytes.len() {
        for bit in [0x01, 0x80] {
            let mut bad = bytes.clone();
            bad[i] ^= bit;
            assert!(SkipIndex::from_bytes(&bad).is_err(), "byte {i} flipped");
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(SkipIndex::from_bytes(&longer).is_err());
    let mut newer = bytes;
    newer[4] = 9;
    let err = SkipIndex::from_bytes(&newer).unwrap_err().to_string();
    assert!(err.contains("format version 9"), "{err}");
}

#[test]
fn sizes_are_accounted() {
    let index = sample_index();
    assert_eq!(index.granularity(), 2);
    assert_eq!(index.granules(), 5);
    assert!(index.size_bytes() >= 3 * 64, "{}", index.size_bytes());
}

/// A body behind a valid header, so that decoding gets past the checksum.
fn with_header(body: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), edit in any::<Index>(), value in any::<u8>()) {
        let _ = SkipIndex::from_bytes(&bytes);
        // Also past the checksum: a real body with one byte changed, or noise.
        let mut body = sample_index().to_bytes()[HEADER_LEN..].to_vec();
        let i = edit.index(body.len());
        body[i] = value;
        for body in [&body[..], &body[..i], &bytes[..]] {
            if let Ok(index) = SkipIndex::from_bytes(&with_header(body)) {
                for g in 0..index.granules().min(50) + 1 {
                    index.granule_may_match(g, &eq_text("row 1-1"), 0);
                    index.granule_may_match(g, &like("% lorem %"), 0);
                }
            }
        }
    }
}

proptest! {
    /// Summaries built in pieces cut at index granule boundaries (a parallel build) and
    /// appended are the summary of one build over every granule.
    #[test]
    fn pieces_append_to_one_build(
        ty in prop_oneof![
            value_type(),
            Just(SkipIndexType::TokenBf { size_bytes: 64, hashes: 2 }),
            Just(SkipIndexType::NgramBf { n: 3, size_bytes: 64, hashes: 2 }),
        ],
        data in proptest::collection::vec(proptest::collection::vec(proptest::option::of("[a-c ]{0,6}"), 1..5), 1..12),
        granularity in 1usize..4,
        cut_every in 1usize..4,
    ) {
        let cols: Vec<ColumnData> = data.iter().map(|g| column(ColumnType::Var, &g.iter().map(|v| v.as_ref().map(|s| s.as_bytes().to_vec())).collect::<Vec<_>>())).collect();
        let whole = build(ty, SortKind::Bytes, granularity, &cols);
        let mut joined: Option<SkipIndex> = None;
        for piece in cols.chunks(granularity * cut_every) {
            let p = build(ty, SortKind::Bytes, granularity, piece);
            match joined.as_mut() {
                None => joined = Some(p),
                Some(j) => j.append(p).expect("pieces line up"),
            }
        }
        prop_assert_eq!(joined.expect("one piece at least"), whole);
    }
}

#[test]
fn misaligned_pieces_are_refused() {
    let g = text_column(&["a b"]);
    let mut first = build(SkipIndexType::MinMax, SortKind::Bytes, 2, std::slice::from_ref(&g));
    let next = build(SkipIndexType::MinMax, SortKind::Bytes, 2, std::slice::from_ref(&g));
    assert!(first.append(next).is_err());
}
