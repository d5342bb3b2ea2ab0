use super::*;
use crate::column::ColumnType;
use crate::sort::{sort_permutation, SortColumn};
use proptest::prelude::*;

/// A run handing out its rows in batches of the given sizes.
struct Batches(Vec<Vec<ColumnData>>);

impl RunSource for Batches {
    fn next_batch(&mut self) -> Result<Option<Vec<ColumnData>>> {
        Ok(if self.0.is_empty() { None } else { Some(self.0.remove(0)) })
    }
}

/// Columns (key int4 with NULLs, run number, row number) of one sorted run.
fn run(keys: &[Option<i32>], run: u32) -> Vec<ColumnData> {
    let mut idx: Vec<usize> = (0..keys.len()).collect();
    // NULLs last, stable.
    idx.sort_by_key(|&i| (keys[i].is_none(), keys[i]));
    let mut cols = vec![ColumnData::new(ColumnType::Fixed { width: 4 }), ColumnData::new(ColumnType::Fixed { width: 4 }), ColumnData::new(ColumnType::Var)];
    for (n, &i) in idx.iter().enumerate() {
        match keys[i] {
            Some(k) => cols[0].push(&k.to_le_bytes()),
            None => cols[0].push_null(),
        }
        cols[1].push(&run.to_le_bytes());
        cols[2].push(format!("r{run}n{n}").as_bytes());
    }
    cols
}

fn batches(cols: &[ColumnData], size: usize) -> Batches {
    let rows = cols[0].len();
    let mut out = Vec::new();
    let mut at = 0;
    while at < rows {
        let end = (at + size).min(rows);
        out.push(cols.iter().map(|c| c.slice(at, end)).collect());
        // An empty batch now and then: the merge must skip it.
        if at == 0 {
            out.push(cols.iter().map(|c| c.slice(0, 0)).collect());
        }
        at = end;
    }
    Batches(out)
}

fn concat(parts: &[Vec<ColumnData>]) -> Vec<ColumnData> {
    let mut all: Vec<ColumnData> = parts[0].iter().map(|c| ColumnData::new(c.column_type())).collect();
    for p in parts {
        for (a, c) in all.iter_mut().zip(p) {
            a.append(c);
        }
    }
    all
}

fn merged(runs: &[Vec<ColumnData>], batch: usize, out_rows: usize) -> Vec<ColumnData> {
    let sources = runs.iter().map(|r| batches(r, batch)).collect();
    let mut m = Merger::new(sources, vec![MergeKey { column: 0, kind: SortKind::SignedInt }], 3, NoOpaque).unwrap();
    let mut all: Vec<ColumnData> = runs[0].iter().map(|c| ColumnData::new(c.column_type())).collect();
    while let Some(b) = m.next_batch(out_rows).unwrap() {
        assert!(b[0].len() <= out_rows && !b[0].is_empty());
        for (a, c) in all.iter_mut().zip(&b) {
            a.append(c);
        }
    }
    all
}

proptest! {
    #[test]
    fn merge_equals_stable_sort(
        keys in proptest::collection::vec(proptest::collection::vec(proptest::option::weighted(0.9, -20i32..20), 0..60), 1..7),
        batch in 1usize..9,
        out_rows in 1usize..50,
    ) {
        let runs: Vec<Vec<ColumnData>> = keys.iter().enumerate().map(|(i, k)| run(k, i as u32)).collect();
        let all = concat(&runs);
        let perm = sort_permutation(&all, all[0].len(), &[SortColumn { column: 0, kind: SortKind::SignedInt }], &mut |_, _, _| Ordering::Equal);
        let got = merged(&runs, batch, out_rows);
        for (c, g) in all.iter().zip(&got) {
            prop_assert_eq!(&c.take(&perm), g);
        }
    }
}

/// An opaque key compared by the caller: here, strings by length then bytes.
struct ByLength(Vec<Vec<ColumnData>>);

impl OpaqueOrder for ByLength {
    fn loaded(&mut self, run: usize, batch: &[ColumnData]) {
        self.0[run] = batch.to_vec();
    }
    fn compare(&mut self, column: usize, a: (usize, usize), b: (usize, usize)) -> Ordering {
        let x = self.0[a.0][column].value(a.1);
        let y = self.0[b.0][column].value(b.1);
        x.len().cmp(&y.len()).then(x.cmp(y))
    }
}

#[test]
fn opaque_keys_use_the_callers_order() {
    let run = |words: &[&str]| {
        let mut c = ColumnData::new(ColumnType::Var);
        words.iter().for_each(|w| c.push(w.as_bytes()));
        vec![c]
    };
    let runs = vec![run(&["b", "aa", "ccc"]), run(&["a", "zz", "aaaa"])];
    let sources = runs.iter().map(|r| batches(r, 2)).collect();
    let mut m = Merger::new(sources, vec![MergeKey { column: 0, kind: SortKind::Opaque }], 1, ByLength(vec![Vec::new(); 2])).unwrap();
    let mut words = Vec::new();
    while let Some(b) = m.next_batch(3).unwrap() {
        words.extend((0..b[0].len()).map(|i| String::from_utf8(b[0].value(i).to_vec()).unwrap()));
    }
    assert_eq!(words, ["a", "b", "aa", "zz", "ccc", "aaaa"]);
}

#[test]
fn extend_range_keeps_validity_and_offsets() {
    let mut a = ColumnData::new(ColumnType::Var);
    a.push(b"x");
    let mut b = ColumnData::new(ColumnType::Var);
    b.push(b"yy");
    b.push_null();
    b.push(b"zzz");
    a.extend_range(&b, 1, 3);
    assert_eq!((a.get(0), a.get(1), a.get(2)), (Some(&b"x"[..]), None, Some(&b"zzz"[..])));
    assert_eq!(a.len(), 3);
}

#[test]
fn a_small_input_without_dictionary_keeps_the_merged_dictionary() {
    use crate::part::{ColumnSpec, PartReader, PartWriter, WriterSettings};
    use crate::store::VecStore;
    let specs = vec![ColumnSpec { id: 1, ty: ColumnType::Fixed { width: 4 }, sort: SortKind::SignedInt }, ColumnSpec { id: 2, ty: ColumnType::Var, sort: SortKind::Bytes }];
    let part = |rows: std::ops::Range<i32>| {
        let mut k = ColumnData::new(ColumnType::Fixed { width: 4 });
        let mut e = ColumnData::new(ColumnType::Var);
        for i in rows {
            k.push(&i.to_le_bytes());
            e.push(format!("event_{}", i % 7).as_bytes());
        }
        let s = WriterSettings { fast: true, ..Default::default() };
        let (bytes, _) = PartWriter::new(s).write(&specs, &[k, e], &[0]).unwrap();
        PartReader::open(VecStore(bytes)).unwrap()
    };
    let (big, tiny) = (part(0..5000), part(9000..9001));
    assert!(big.dictionary(1).unwrap().is_some());
    assert!(tiny.dictionary(1).unwrap().is_none(), "a one-row insert part is written plain");
    let layout = plan::stream_layout(&[big, tiny], &specs, &WriterSettings::default(), &[None, None], &[0]).unwrap();
    let dict = layout.columns[1].dictionary.as_ref().expect("the merged column keeps a dictionary");
    assert_eq!(dict.len(), 7);
}
