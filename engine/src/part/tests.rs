use super::*;
use super::legacy::v2;
use crate::sort::{sort_permutation, SortColumn};
use crate::store::VecStore;
use proptest::prelude::*;

fn specs() -> Vec<ColumnSpec> {
    vec![
        ColumnSpec { id: 1, ty: ColumnType::Fixed { width: 8 }, sort: SortKind::SignedInt },
        ColumnSpec { id: 2, ty: ColumnType::Var, sort: SortKind::Bytes },
    ]
}

fn build(rows: &[(Option<i64>, Option<Vec<u8>>)]) -> Vec<ColumnData> {
    let mut a = ColumnData::new(ColumnType::Fixed { width: 8 });
    let mut b = ColumnData::new(ColumnType::Var);
    for (x, y) in rows {
        match x {
            Some(x) => a.push(&x.to_le_bytes()),
            None => a.push_null(),
        }
        match y {
            Some(y) => b.push(y),
            None => b.push_null(),
        }
    }
    vec![a, b]
}

fn read_all<S: BlockStore>(r: &PartReader<S>) -> Vec<(Option<i64>, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    for g in 0..r.meta().granules() {
        let a = r.read_granule(0, g).unwrap();
        let b = r.read_granule(1, g).unwrap();
        for i in 0..a.len() {
            out.push((a.get(i).map(|v| i64::from_le_bytes(v.try_into().unwrap())), b.get(i).map(|v| v.to_vec())));
        }
    }
    out
}

proptest! {
    #[test]
    fn part_roundtrip(rows in proptest::collection::vec(
        (proptest::option::of(any::<i64>()), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40))), 0..600),
        granularity in 1usize..100,
        zstd in any::<bool>(),
        dict in prop_oneof![Just(crate::codec::dict::DictMode::Auto), Just(crate::codec::dict::DictMode::Always), Just(crate::codec::dict::DictMode::Never)],
        chain in prop_oneof![Just(None), Just(Some("Delta, LZ4")), Just(Some("DoubleDelta, ZSTD(2)")), Just(Some("T64"))])
    {
        // Parts are sorted by their key (the primary index relies on it), as callers do.
        let unsorted = build(&rows);
        let perm = sort_permutation(&unsorted, rows.len(), &[SortColumn { column: 0, kind: SortKind::SignedInt }], &mut |_, a, b| a.cmp(&b));
        let cols: Vec<_> = unsorted.iter().map(|c| c.take(&perm)).collect();
        let rows: Vec<_> = perm.iter().map(|&i| rows[i as usize].clone()).collect();
        let compression = if zstd { Compression::Zstd(3) } else { Compression::Lz4 };
        let columns = vec![
            ColumnCodec { chain: chain.map(|c| CodecChain::parse(c, compression).unwrap()), dict: Default::default(), json: false, numeric: false },
            ColumnCodec { chain: None, dict, json: false, numeric: false },
        ];
        let w = PartWriter::new(WriterSettings { index_granularity: granularity, compression, columns, ..Default::default() });
        let (bytes, meta) = w.write(&specs(), &cols, &[0]).unwrap();
        prop_assert_eq!(meta.rows as usize, rows.len());
        let r = PartReader::open(VecStore(bytes)).unwrap();
        prop_assert_eq!(read_all(&r), rows);
        prop_assert!(r.verify().is_empty());
    }

    #[test]
    fn sorted_part_has_ordered_primary_index(keys in proptest::collection::vec(any::<i64>(), 1..500)) {
        let rows: Vec<_> = keys.iter().map(|&k| (Some(k), Some(vec![1u8]))).collect();
        let cols = build(&rows);
        let perm = sort_permutation(&cols, rows.len(), &[SortColumn { column: 0, kind: SortKind::SignedInt }], &mut |_, a, b| a.cmp(&b));
        let sorted: Vec<_> = cols.iter().map(|c| c.take(&perm)).collect();
        let (_, meta) = PartWriter::new(WriterSettings { index_granularity: 16, ..Default::default() })
            .write(&specs(), &sorted, &[0]).unwrap();
        let firsts: Vec<i64> = meta.primary_index.iter()
            .map(|e| i64::from_le_bytes(e[0].clone().unwrap().try_into().unwrap())).collect();
        prop_assert!(firsts.windows(2).all(|w| w[0] <= w[1]));
        prop_assert_eq!(meta.columns[0].min.clone().unwrap(), keys.iter().min().unwrap().to_le_bytes().to_vec());
    }

    #[test]
    fn flipped_bytes_are_errors_not_panics(flip in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let rows: Vec<_> = (0..300).map(|i| (Some(i as i64), Some(format!("row {i}").into_bytes()))).collect();
        let (mut bytes, _) = PartWriter::new(WriterSettings { index_granularity: 64, ..Default::default() })
            .write(&specs(), &build(&rows), &[0]).unwrap();
        let i = flip.index(bytes.len());
        bytes[i] ^= xor;
        match PartReader::open(VecStore(bytes)) {
            Err(_) => {}
            Ok(r) => {
                // The flip hit a block: verification must report it.
                prop_assert!(!r.verify().is_empty());
            }
        }
    }
}

#[test]
fn empty_and_huge_values() {
    let big = vec![7u8; 1 << 20];
    let rows = vec![(None, Some(big.clone())), (Some(1), Some(Vec::new())), (Some(2), None)];
    let (bytes, meta) = PartWriter::new(WriterSettings::default()).write(&specs(), &build(&rows), &[0]).unwrap();
    assert!(meta.compressed_bytes() < 100_000, "1 MB of one byte compresses");
    let r = PartReader::open(VecStore(bytes)).unwrap();
    assert_eq!(read_all(&r), rows);
}

#[test]
fn low_cardinality_text_is_dictionary_encoded() {
    let rows: Vec<_> = (0..5000).map(|i| (Some(i as i64), Some(format!("event_{}", i % 7).into_bytes()))).collect();
    let (bytes, meta) = PartWriter::new(WriterSettings::default()).write(&specs(), &build(&rows), &[0]).unwrap();
    assert_eq!(meta.columns[1].dictionary.as_ref().map(|d| d.values), Some(7));
    assert!(meta.columns[1].codec_description().starts_with("Dictionary(7)"));
    assert!(!meta.columns[0].codec.transforms.is_empty(), "a sequence gets a transform");
    let r = PartReader::open(VecStore(bytes)).unwrap();
    assert_eq!(read_all(&r), rows);
}

/// A high-cardinality text column in runs (a user's events, sorted by user) is stored as
/// runs: readers get codes into each granule's run values, which read as the values.
#[test]
fn sorted_text_in_runs_reads_as_codes_of_its_granule() {
    let rows: Vec<_> = (0..20_000).map(|i| (Some(i as i64), (i % 50 != 0).then(|| format!("user_{:06}", i / 3).into_bytes()))).collect();
    // (As many distinct values as a part's dictionary takes would need 200,000 rows.)
    let never = ColumnCodec { dict: crate::codec::dict::DictMode::Never, ..Default::default() };
    let settings = WriterSettings { columns: vec![ColumnCodec::default(), never], ..WriterSettings::default() };
    let (bytes, meta) = PartWriter::new(settings).write(&specs(), &build(&rows), &[1]).unwrap();
    assert!(meta.columns[1].dictionary.is_none());
    let r = PartReader::open(VecStore(bytes)).unwrap();
    assert_eq!(read_all(&r), rows);
    let cols: Vec<crate::range_reader::ReadColumn> = specs().iter().map(|s| crate::range_reader::ReadColumn { id: s.id, ty: s.ty, missing: None, scaled: None }).collect();
    let pc = crate::range_reader::PartColumns::new(r.meta(), &cols);
    let mut first = 0;
    for g in 0..r.meta().granules() {
        let n = r.meta().granule_rows[g] as usize;
        let fetched = crate::range_reader::fetch(&r, &pc, &cols, 1, g, None).unwrap();
        let crate::range_reader::Fetched::Codes { dict, .. } = &fetched else { panic!("granule {g} is not runs") };
        assert!(!dict.of_part() && dict.len() * 2 <= n);
        let want: Vec<Option<Vec<u8>>> = rows[first..first + n].iter().map(|r| r.1.clone()).collect();
        let got: Vec<Option<Vec<u8>>> = (0..n as u32).map(|i| fetched.get(i).map(<[u8]>::to_vec)).collect();
        assert_eq!(got, want);
        assert_eq!(fetched.into_values(), build(&rows[first..first + n])[1]);
        first += n;
    }
}

/// A JSON column big enough to be framed gets a trained dictionary, and the part reads back.
#[test]
fn json_column_frames_with_a_trained_dictionary() {
    let mut rows = Vec::new();
    for i in 0..120_000i64 {
        let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        rows.push((Some(i), Some(crate::test_data::event_json(h).into_bytes())));
    }
    let settings = WriterSettings { compression: Compression::Lz4, auto_compression: true, ..Default::default() };
    let (bytes, meta) = PartWriter::new(settings).write(&specs(), &build(&rows), &[0]).unwrap();
    assert!(meta.columns[1].frame_dictionary.is_some(), "{}", meta.columns[1].codec_description());
    assert!(meta.columns[1].codec_description().ends_with("KB trained dictionary"));
    let r = PartReader::open(VecStore(bytes)).unwrap();
    assert_eq!(read_all(&r), rows);
    let some = r.read_granule_rows(1, 2, Some(&[10, 11])).unwrap();
    assert_eq!(some.get(10), rows[2 * 8192 + 10].1.as_deref());
}

/// A part's bytes with its metadata replaced by `meta` (of an older layout).
fn with_meta(bytes: &[u8], meta: &[u8]) -> Vec<u8> {
    let meta_len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let mut part = MAGIC.to_vec();
    part.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    part.extend_from_slice(&crc32fast::hash(meta).to_le_bytes());
    part.extend_from_slice(meta);
    part.extend_from_slice(&bytes[HEADER_LEN + meta_len..]);
    part
}

/// Parts written before frame dictionaries (format version 2) are still read.
#[test]
fn version_2_parts_are_read() {
    let rows: Vec<(Option<i64>, Option<Vec<u8>>)> = (0..3000).map(|i| (Some(i), Some(format!("value {i}").into_bytes()))).collect();
    let settings = WriterSettings { index_granularity: 1000, ..Default::default() };
    let (bytes, meta) = PartWriter::new(settings).write(&specs(), &build(&rows), &[0]).unwrap();
    assert!(meta.columns.iter().all(|c| c.frame_dictionary.is_none()));
    let old = v2::PartMeta {
        version: 2,
        rows: meta.rows,
        granule_rows: meta.granule_rows.clone(),
        columns: meta
            .columns
            .iter()
            .map(|c| v2::ColumnMeta {
                spec: c.spec.clone(),
                codec: c.codec.clone(),
                dictionary: c.dictionary.clone(),
                marks: c.marks.clone(),
                compressed_bytes: c.compressed_bytes,
                uncompressed_bytes: c.uncompressed_bytes,
                null_count: c.null_count,
                min: c.min.clone(),
                max: c.max.clone(),
            })
            .collect(),
        primary_key: meta.primary_key.clone(),
        primary_index: meta.primary_index.clone(),
    };
    let r = PartReader::open(VecStore(with_meta(&bytes, &bincode::serialize(&old).unwrap()))).unwrap();
    assert_eq!(r.meta().version, 2);
    assert_eq!(read_all(&r), rows);
}

#[test]
fn part_without_columns_keeps_its_row_count() {
    // A table with no columns still has rows (CREATE TABLE t (); INSERT ... DEFAULT VALUES).
    let w = PartWriter::new(WriterSettings { index_granularity: 4, ..Default::default() });
    let (bytes, meta) = w.write_rows(&[], &[], 10, &[]).unwrap();
    assert_eq!(meta.rows, 10);
    assert_eq!(meta.granule_rows, vec![4, 4, 2]);
    let r = PartReader::open(VecStore(bytes)).unwrap();
    assert_eq!(r.meta().rows, 10);
    assert!(r.verify().is_empty());
    // The row count is checked against the columns given.
    assert!(w.write_rows(&specs(), &build(&[(Some(1), None)]), 2, &[0]).is_err());
}

#[test]
fn granules_decode_from_prefetched_bytes() {
    // The aggregation decodes granules on worker threads from byte ranges copied out of
    // the part beforehand: the same values as reading the part directly.
    let rows: Vec<(Option<i64>, Option<Vec<u8>>)> =
        (0..5000).map(|i| (Some(i / 7), (i % 11 != 0).then(|| format!("value {}", i % 40).into_bytes()))).collect();
    let settings = WriterSettings { index_granularity: 512, ..Default::default() };
    let (bytes, _) = PartWriter::new(settings).write(&specs(), &build(&rows), &[0]).unwrap();
    let r = PartReader::open(VecStore(bytes)).unwrap();
    let granules: Vec<usize> = vec![1, 3, 4, 9];
    for col in 0..2 {
        // Dictionaries are loaded once, by the reader of the part itself.
        r.dictionary(col).unwrap();
        r.frame_dictionary(col).unwrap();
        let ranges = r.byte_ranges(col, &granules, false).unwrap();
        let pre = r.with_store(crate::store::PrefetchStore::fetch(&VecStore(r_bytes(&r)), ranges).unwrap());
        for &g in &granules {
            assert_eq!(pre.read_granule(col, g).unwrap(), r.read_granule(col, g).unwrap());
        }
        // A granule that was not prefetched is an error, not wrong data.
        assert!(pre.read_granule(col, 2).is_err());
    }
}

/// The whole part's bytes back out of a reader over a VecStore.
fn r_bytes(r: &PartReader<VecStore>) -> Vec<u8> {
    r.store_bytes().to_vec()
}

/// Parts written before JSON subcolumns (format version 3) are still read.
#[test]
fn version_3_parts_are_read() {
    let rows: Vec<(Option<i64>, Option<Vec<u8>>)> = (0..3000).map(|i| (Some(i), Some(format!("value {i}").into_bytes()))).collect();
    let settings = WriterSettings { index_granularity: 1000, ..Default::default() };
    let (bytes, meta) = PartWriter::new(settings).write(&specs(), &build(&rows), &[0]).unwrap();
    assert!(meta.subcolumns.is_empty());
    let old = v3::PartMeta {
        version: 3,
        rows: meta.rows,
        granule_rows: meta.granule_rows.clone(),
        columns: meta.columns.clone(),
        primary_key: meta.primary_key.clone(),
        primary_index: meta.primary_index.clone(),
    };
    let r = PartReader::open(VecStore(with_meta(&bytes, &bincode::serialize(&old).unwrap()))).unwrap();
    assert_eq!(r.meta().version, 3);
    assert_eq!(read_all(&r), rows);
}

/// A text column of JSON objects gets a subcolumn per frequent, low-cardinality key
/// holding what `->>` gives for every row; keys some document's value cannot be given
/// exactly (a nested value here), rare keys, ids and non-JSON columns get none.
#[test]
fn json_columns_get_subcolumns() {
    let doc = |i: i64| -> Option<Vec<u8>> {
        match i % 10 {
            0 => None,
            1 => Some(format!(r#"{{"browser": "b{}", "n": {i}, "nested": {{"x": 1}}}}"#, i % 3).into_bytes()),
            2 => Some(br#"{"browser": null, "os": "linux"}"#.to_vec()),
            _ => Some(format!(r#"{{"os":"os{}","browser":"b{}","nested":"flat","rare{i}":1,"n":{i}.5}}"#, i % 2, i % 3).into_bytes()),
        }
    };
    let rows: Vec<(Option<i64>, Option<Vec<u8>>)> = (0..20000).map(|i| (Some(i), doc(i))).collect();
    let json = ColumnCodec { json: true, ..Default::default() };
    let settings = WriterSettings { index_granularity: 1000, columns: vec![ColumnCodec::default(), json.clone()], ..Default::default() };
    let (bytes, meta) = PartWriter::new(settings).write(&specs(), &build(&rows), &[0]).unwrap();
    assert_eq!(meta.version, 4);
    let mut keys: Vec<&[u8]> = meta.subcolumns.iter().map(|s| &s.key[..]).collect();
    keys.sort();
    // "n" is unique per row (an id: no subcolumn), "nested" not exact, "rare…" rare.
    assert_eq!(keys, vec![&b"browser"[..], b"os"]);
    let r = PartReader::open(VecStore(bytes)).unwrap();
    for s in &meta.subcolumns {
        assert_eq!(s.source, specs()[1].id);
        let mut at = 0;
        for g in 0..meta.granules() {
            let c = r.read_granule(s.column, g).unwrap();
            for i in 0..c.len() {
                let want = rows[at].1.as_ref().and_then(|d| match crate::json::object_fields(d, &[&s.key]).unwrap()[0] {
                    crate::json::Field::Text(t) => Some(t.to_vec()),
                    crate::json::Field::Null => None,
                });
                assert_eq!(c.get(i).map(<[u8]>::to_vec), want, "row {at} key {:?}", String::from_utf8_lossy(&s.key));
                at += 1;
            }
        }
        assert_eq!(at, rows.len());
    }
    // The table's columns read as before.
    assert_eq!(read_all(&r), rows);
    // Not JSON: no subcolumns, and a version 3 part (older builds read it).
    let plain: Vec<(Option<i64>, Option<Vec<u8>>)> = (0..3000).map(|i| (Some(i), Some(format!("value {i}").into_bytes()))).collect();
    let settings = WriterSettings { columns: vec![ColumnCodec::default(), json], ..Default::default() };
    let (bytes, meta) = PartWriter::new(settings).write(&specs(), &build(&plain), &[0]).unwrap();
    assert!(meta.subcolumns.is_empty());
    assert_eq!(meta.version, 3);
    assert_eq!(read_all(&PartReader::open(VecStore(bytes)).unwrap()), plain);
    // A column not marked as text: none either.
    let (_, meta) = PartWriter::new(WriterSettings::default()).write(&specs(), &build(&rows), &[0]).unwrap();
    assert!(meta.subcolumns.is_empty());
}

#[test]
fn numeric_columns_are_stored_scaled() {
    use crate::numeric::encode_scaled;
    // Prices at scale 2, every 7th NULL, many distinct values (no dictionary).
    let price = |i: i64| (i % 7 != 0).then(|| encode_scaled(i * 1_237 % 10_000_000 - 3_000_000, 2));
    let rows: Vec<(Option<i64>, Option<Vec<u8>>)> = (0..20000).map(|i| (Some(i), price(i))).collect();
    let numeric = ColumnCodec { numeric: true, ..Default::default() };
    let settings = || WriterSettings { index_granularity: 1000, columns: vec![ColumnCodec::default(), numeric.clone()], ..Default::default() };
    let (bytes, meta) = PartWriter::new(settings()).write(&specs(), &build(&rows), &[0]).unwrap();
    assert_eq!(meta.version, 5);
    assert_eq!(meta.columns[1].spec.sort, SortKind::Scaled(2));
    assert!(meta.columns[1].codec_description().starts_with("Scaled(2), "), "{}", meta.columns[1].codec_description());
    let r = PartReader::open(VecStore(bytes)).unwrap();
    // Readers get the numerics' bytes back.
    assert_eq!(read_all(&r), rows);
    // Or the integers, at the stored scale only.
    let ints = r.read_granule_scaled(1, 3, 2, None).unwrap().unwrap();
    assert_eq!(ints.len(), 1000);
    for i in 0..ints.len() {
        let row = 3000 + i as i64;
        let want = (row % 7 != 0).then(|| row * 1_237 % 10_000_000 - 3_000_000);
        assert_eq!(ints.get(i).map(|b| i64::from_le_bytes(b.try_into().unwrap())), want);
    }
    assert!(r.read_granule_scaled(1, 3, 3, None).unwrap().is_none());
    assert!(r.read_granule_scaled(0, 3, 2, None).unwrap().is_none());
    // A value of another display scale keeps the part's numerics as they are (version 3).
    let mut mixed = rows.clone();
    mixed[5].1 = Some(encode_scaled(1, 3));
    let (bytes, meta) = PartWriter::new(settings()).write(&specs(), &build(&mixed), &[0]).unwrap();
    assert_eq!((meta.version, meta.columns[1].spec.sort), (3, specs()[1].sort));
    assert_eq!(read_all(&PartReader::open(VecStore(bytes)).unwrap()), mixed);
    // Nor in the primary index.
    let (_, meta) = PartWriter::new(settings()).write(&specs(), &build(&rows), &[0, 1]).unwrap();
    assert_eq!(meta.columns[1].spec.sort, specs()[1].sort);
}
