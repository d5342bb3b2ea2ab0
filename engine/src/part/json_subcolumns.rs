//! JSON subcolumns (ClickHouse's JSON type, for JSON kept as text): when most values of a
//! text column of a part are JSON objects, the part also stores, for each frequent
//! top-level key, the text `column::jsonb ->> 'key'` gives for every row, as a hidden
//! column the codec layer compresses like any other (dictionary-encoded where the
//! values repeat). Reading a field is then reading a small column instead of parsing
//! every document. A key is stored only where the scanner (json.rs) answers exactly for
//! every document of the part; otherwise readers parse the documents, as before.

use crate::column::{ColumnData, ColumnType};
use crate::json::{self, Field};
use hashbrown::HashMap;

/// Documents sampled to find the frequent keys.
const SAMPLE: usize = 1000;
/// Keys stored at most per column and part.
pub const MAX_KEYS: usize = 8;
/// A column is JSON when at least this share of its sampled values are objects.
const JSON_SHARE: f64 = 0.9;
/// A key is stored when at least this share of the sampled objects have it...
const KEY_SHARE: f64 = 0.5;
/// ...and it has at most this many distinct values per sampled object: low-cardinality
/// keys (browser, country) are what queries group by and what compresses to little;
/// ids (a session per event) would cost a column's worth of space for no grouping.
const DISTINCT_SHARE: f64 = 0.1;
/// Rows each thread extracts at a time.
const CHUNK: usize = 65536;

/// The frequent, low-cardinality top-level keys of a column's JSON objects, most
/// frequent first.
fn frequent_keys(col: &ColumnData) -> Vec<Vec<u8>> {
    let n = col.len();
    // An odd step, so rows in a regular pattern do not all fall on one kind.
    let step = (n / SAMPLE).max(1) | 1;
    let sample: Vec<&[u8]> = (0..n).step_by(step).take(SAMPLE).filter_map(|i| col.get(i)).collect();
    let (docs, mut objects) = (sample.len(), 0usize);
    let mut counts: HashMap<&[u8], usize> = HashMap::new();
    for &v in &sample {
        if let Some(mut keys) = json::object_keys(v) {
            objects += 1;
            keys.sort_unstable();
            keys.dedup();
            for k in keys {
                *counts.entry(k).or_default() += 1;
            }
        }
    }
    if docs == 0 || (objects as f64) < JSON_SHARE * docs as f64 {
        return Vec::new();
    }
    let mut keys: Vec<(&[u8], usize)> = counts.into_iter().filter(|&(_, c)| c as f64 >= KEY_SHARE * objects as f64).collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let keys: Vec<&[u8]> = keys.into_iter().map(|(k, _)| k).collect();
    // Each key's distinct values in the sample, counted up to the limit.
    let limit = ((objects as f64 * DISTINCT_SHARE) as usize).max(1);
    let mut distinct: Vec<hashbrown::HashSet<&[u8]>> = keys.iter().map(|_| Default::default()).collect();
    for &v in &sample {
        if let Some(fields) = json::object_fields(v, &keys) {
            for (set, f) in distinct.iter_mut().zip(fields) {
                if let (Field::Text(t), true) = (f, set.len() <= limit) {
                    set.insert(t);
                }
            }
        }
    }
    keys.into_iter().zip(distinct).filter(|(_, d)| d.len() <= limit).take(MAX_KEYS).map(|(k, _)| k.to_vec()).collect()
}

/// The values of `keys` for rows `start..end`, and per key whether every one is exact.
fn extract(col: &ColumnData, keys: &[Vec<u8>], start: usize, end: usize) -> (Vec<ColumnData>, Vec<bool>) {
    let mut out: Vec<ColumnData> = keys.iter().map(|_| ColumnData::new(ColumnType::Var)).collect();
    let mut exact = vec![true; keys.len()];
    let push = |c: &mut ColumnData, f: Field| match f {
        Field::Text(t) => c.push(t),
        Field::Null => c.push_null(),
    };
    for i in start..end {
        match col.get(i) {
            None => out.iter_mut().for_each(ColumnData::push_null),
            Some(doc) => match json::object_fields(doc, keys) {
                Some(fields) => out.iter_mut().zip(fields).for_each(|(c, f)| push(c, f)),
                // Some key's value (or the document) needs PostgreSQL: key by key.
                None => {
                    for (k, c) in out.iter_mut().enumerate() {
                        match json::object_fields(doc, &keys[k..k + 1]) {
                            Some(f) => push(c, f[0]),
                            None => {
                                exact[k] = false;
                                c.push_null();
                            }
                        }
                    }
                }
            },
        }
    }
    (out, exact)
}

/// A column's subcolumns: per frequent key answered exactly for every row, the key and
/// its values. Empty for a column whose values are not mostly JSON objects.
pub fn subcolumns(col: &ColumnData) -> Vec<(Vec<u8>, ColumnData)> {
    if col.column_type() != ColumnType::Var {
        return Vec::new();
    }
    let keys = frequent_keys(col);
    if keys.is_empty() {
        return Vec::new();
    }
    let n = col.len();
    let starts: Vec<usize> = (0..n).step_by(CHUNK).collect();
    let chunks: Vec<(Vec<ColumnData>, Vec<bool>)> = crate::parallel::map(&starts, n, |_, &at| extract(col, &keys, at, (at + CHUNK).min(n)));
    let mut exact = vec![true; keys.len()];
    let mut values: Vec<ColumnData> = keys.iter().map(|_| ColumnData::new(ColumnType::Var)).collect();
    for (cols, ex) in chunks {
        for (k, c) in cols.into_iter().enumerate() {
            exact[k] &= ex[k];
            if exact[k] {
                values[k].append(&c);
            }
        }
    }
    keys.into_iter().zip(values).zip(exact).filter(|(_, e)| *e).map(|(kv, _)| kv).collect()
}

/// `key`'s values for every row of `col`, which a merge knows to be exact (every input
/// part stored the key): an error, never a wrong value, when one is not.
pub fn extract_exact(col: &ColumnData, key: &[u8]) -> crate::Result<ColumnData> {
    let (mut values, exact) = extract(col, &[key.to_vec()], 0, col.len());
    if !exact[0] {
        return Err(crate::Error::Invalid("a JSON subcolumn value needs PostgreSQL to be read".into()));
    }
    Ok(values.remove(0))
}
