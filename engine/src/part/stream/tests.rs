use super::*;
use crate::part::{ColumnCodec, PartReader, PartWriter};
use crate::store::VecStore;
use proptest::prelude::*;

fn specs() -> Vec<ColumnSpec> {
    vec![
        ColumnSpec { id: 1, ty: ColumnType::Fixed { width: 8 }, sort: SortKind::SignedInt },
        ColumnSpec { id: 2, ty: ColumnType::Var, sort: SortKind::Bytes },
        ColumnSpec { id: 3, ty: ColumnType::Var, sort: SortKind::Opaque },
        ColumnSpec { id: 4, ty: ColumnType::Var, sort: SortKind::Opaque },
    ]
}

/// Sorted rows: key, a low-cardinality tag (dictionary), a numeric(.., 2), a JSON doc.
fn rows(n: usize, seed: u64) -> Vec<ColumnData> {
    let mut cols: Vec<ColumnData> = specs().iter().map(|s| ColumnData::new(s.ty)).collect();
    for i in 0..n {
        let h = (i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        cols[0].push(&(i as i64 * 3 - 100).to_le_bytes());
        match h % 11 {
            0 => cols[1].push_null(),
            t => cols[1].push(format!("tag{}", t % 7).as_bytes()),
        }
        match h % 13 {
            0 => cols[2].push_null(),
            _ => cols[2].push(&crate::numeric::encode_scaled((h % 100_000) as i64 - 50_000, 2)),
        }
        cols[3].push(crate::test_data::event_json(h).as_bytes());
    }
    cols
}

fn settings(granularity: usize) -> WriterSettings {
    let codec = |json, numeric| ColumnCodec { json, numeric, ..Default::default() };
    WriterSettings { index_granularity: granularity, columns: vec![codec(false, false), codec(false, false), codec(false, true), codec(true, false)], ..Default::default() }
}

fn read_column<S: crate::BlockStore>(r: &PartReader<S>, col: usize) -> ColumnData {
    let mut out = ColumnData::new(r.meta().columns[col].spec.ty);
    if matches!(r.meta().columns[col].spec.sort, SortKind::Scaled(_)) {
        out = ColumnData::new(ColumnType::Var);
    }
    for g in 0..r.meta().granules() {
        out.append(&r.read_granule(col, g).unwrap());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// A part streamed in random batches and stripes reads back as the rows given, with
    /// the dictionary, scale and JSON subcolumns a whole-part writer chose for them.
    #[test]
    fn streamed_part_reads_back(n in 0usize..3000, seed in any::<u64>(), granularity in 7usize..300, batch in 1usize..700, stripe in 1usize..200_000) {
        let cols = rows(n, seed);
        let (whole, reference) = PartWriter::new(settings(granularity)).write_rows(&specs(), &cols, n, &[0]).unwrap();
        let r = PartReader::open(VecStore(whole)).unwrap();
        let columns: Vec<StreamColumn> = (0..4)
            .map(|c| StreamColumn {
                dictionary: r.dictionary(c).unwrap().cloned(),
                scale: match reference.columns[c].spec.sort { SortKind::Scaled(s) => Some(s), _ => None },
            })
            .collect();
        let subcolumns: Vec<StreamSubcolumn> = reference
            .subcolumns
            .iter()
            .map(|s| StreamSubcolumn { source: 3, key: s.key.clone(), column: StreamColumn { dictionary: r.dictionary(s.column).unwrap().cloned(), scale: None } })
            .collect();
        let layout = StreamLayout { specs: specs(), columns, subcolumns, primary_key: vec![0], expected_rows: n };
        let mut w = StreamWriter::new(settings(granularity), layout, Vec::new()).unwrap().with_stripe_bytes(stripe);
        let mut at = 0;
        while at < n {
            let end = (at + batch).min(n);
            w.push(&cols.iter().map(|c| c.slice(at, end)).collect::<Vec<_>>()).unwrap();
            at = end;
        }
        let (mut head, meta, data) = w.finish().unwrap();
        prop_assert_eq!(meta.rows, n as u64);
        prop_assert!(meta.granule_rows.iter().all(|&g| g as usize <= granularity));
        head.extend_from_slice(&data);
        let s = PartReader::open(VecStore(head)).unwrap();
        prop_assert!(s.verify().is_empty(), "{:?}", s.verify());
        for c in 0..4 {
            prop_assert_eq!(&read_column(&s, c), &cols[c]);
            let (got, want) = (s.meta().columns[c].codec_description(), reference.columns[c].codec_description());
            prop_assert_eq!(got.split(',').next(), want.split(',').next());
            prop_assert_eq!(&s.meta().columns[c].min, &reference.columns[c].min);
            prop_assert_eq!(&s.meta().columns[c].max, &reference.columns[c].max);
            prop_assert_eq!(s.meta().columns[c].null_count, reference.columns[c].null_count);
        }
        prop_assert_eq!(s.meta().subcolumns.len(), reference.subcolumns.len());
        for (a, b) in s.meta().subcolumns.iter().zip(&reference.subcolumns) {
            prop_assert_eq!(&a.key, &b.key);
            prop_assert_eq!(read_column(&s, a.column), read_column(&r, b.column));
        }
        // The sparse primary index: each granule's first key.
        let starts = s.meta().granule_starts();
        for (g, &start) in starts.iter().enumerate() {
            prop_assert_eq!(s.meta().primary_index[g][0].as_deref(), cols[0].get(start as usize));
        }
    }
}

#[test]
fn a_value_outside_the_dictionary_is_an_error() {
    let cols = rows(100, 1);
    let mut dict = ColumnData::new(ColumnType::Var);
    dict.push(b"tag1");
    let columns = vec![StreamColumn::default(), StreamColumn { dictionary: Some(dict), scale: None }, StreamColumn::default(), StreamColumn::default()];
    let layout = StreamLayout { specs: specs(), columns, subcolumns: Vec::new(), primary_key: vec![0], expected_rows: 100 };
    let mut w = StreamWriter::new(settings(16), layout, Vec::new()).unwrap();
    w.push(&cols).unwrap();
    assert!(w.finish().is_err());
}

#[test]
fn the_property_covers_dictionaries_scales_and_subcolumns() {
    // What streamed_part_reads_back compares against, for its larger inputs.
    let (_, reference) = PartWriter::new(settings(100)).write_rows(&specs(), &rows(3000, 7), 3000, &[0]).unwrap();
    assert!(reference.columns[1].codec_description().starts_with("Dictionary(7)"));
    assert!(reference.columns[2].codec_description().starts_with("Scaled(2)"));
    assert!(!reference.subcolumns.is_empty());
}
