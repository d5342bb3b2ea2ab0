//! What a merged part stores, decided from its inputs before the first row is merged
//! (the streaming writer cannot look at all rows first): a column keeps a dictionary when
//! every input has one or is small (the merged dictionary is their union, with the small
//! inputs' values), its scale when every input
//! stores it scaled alike, and the JSON subcolumns every input stores.

use crate::codec::dict::{DictMode, MAX_DICT};
use crate::column::{ColumnData, ColumnType, SortKind};
use crate::error::Result;
use crate::part::stream::{StreamColumn, StreamLayout, StreamSubcolumn};
use crate::part::{ColumnSpec, WriterSettings};
use crate::{BlockStore, PartReader};
use std::collections::BTreeSet;

/// The merged part's layout: its columns (one per spec) and subcolumns. `missing`: per
/// spec, the value rows of inputs that predate the column hold.
pub fn stream_layout<S: BlockStore>(
    inputs: &[PartReader<S>],
    specs: &[ColumnSpec],
    settings: &WriterSettings,
    missing: &[Option<Vec<u8>>],
    primary_key: &[usize],
) -> Result<StreamLayout> {
    let mut columns = Vec::with_capacity(specs.len());
    let mut subcolumns = Vec::new();
    for (ci, spec) in specs.iter().enumerate() {
        let setting = settings.columns.get(ci).cloned().unwrap_or_default();
        // Per input: the column's index in it, None where the input predates it.
        let at: Vec<Option<usize>> = inputs.iter().map(|r| r.meta().columns.iter().position(|c| c.spec.id == spec.id)).collect();
        let dictionary = match (setting.dict, spec.ty) {
            (DictMode::Never, _) | (_, ColumnType::Fixed { .. }) => None,
            (mode, ColumnType::Var) => {
                let extra = missing[ci].clone();
                union(inputs, &at, extra, mode)?
            }
        };
        let scales: BTreeSet<Option<u16>> = inputs
            .iter()
            .zip(&at)
            .map(|(r, c)| c.and_then(|c| match r.meta().columns[c].spec.sort {
                SortKind::Scaled(s) => Some(s),
                _ => None,
            }))
            .collect();
        let scale = match (scales.len(), scales.first()) {
            (1, Some(&Some(s))) if setting.numeric && setting.chain.is_none() && dictionary.is_none() && !primary_key.contains(&ci) => Some(s),
            _ => None,
        };
        columns.push(StreamColumn { dictionary, scale });
        if !setting.json || at.iter().any(Option::is_none) {
            continue;
        }
        // Keys every input stores for this column, in the first input's order.
        let first = &inputs[0].meta().subcolumns;
        for sub in first.iter().filter(|s| s.source == spec.id) {
            let subs: Vec<Option<usize>> = inputs.iter().map(|r| r.meta().subcolumn(spec.id, &sub.key)).collect();
            if subs.iter().any(Option::is_none) {
                continue;
            }
            let dictionary = union(inputs, &subs, None, DictMode::Auto)?;
            subcolumns.push(StreamSubcolumn { source: ci, key: sub.key.clone(), column: StreamColumn { dictionary, scale: None } });
        }
    }
    let expected_rows = inputs.iter().map(|r| r.meta().rows as usize).sum();
    Ok(StreamLayout { specs: specs.to_vec(), columns, subcolumns, primary_key: primary_key.to_vec(), expected_rows })
}

/// Inputs without a dictionary for a column up to this many rows have their values read
/// into the union: a few rows an insert wrote plain (a tiny part, a chunk's partition
/// boundary) must not cost the merged part its dictionary.
const SMALL_INPUT_ROWS: u64 = 65536;

/// The sorted union of the inputs' dictionaries of a column (at `at` in each), with
/// `extra`; None when a large input has no dictionary for it or the union is too large.
fn union<S: BlockStore>(inputs: &[PartReader<S>], at: &[Option<usize>], extra: Option<Vec<u8>>, mode: DictMode) -> Result<Option<ColumnData>> {
    // As a part's writer decides (dict::encode): a dictionary pays with at most one
    // distinct value per two rows, and only an input with one says the column is such.
    let rows: u64 = inputs.iter().map(|r| r.meta().rows).sum();
    let limit = if mode == DictMode::Always { usize::MAX } else { MAX_DICT.min((rows / 2) as usize) };
    let dicts: Vec<Option<&ColumnData>> = inputs.iter().zip(at).map(|(r, c)| c.map_or(Ok(None), |c| r.dictionary(c))).collect::<Result<_>>()?;
    if mode != DictMode::Always && dicts.iter().all(Option::is_none) {
        return Ok(None);
    }
    let mut values: BTreeSet<Vec<u8>> = extra.into_iter().collect();
    for ((r, c), dict) in inputs.iter().zip(at).zip(dicts) {
        let Some(c) = c else { continue };
        match dict {
            Some(d) => values.extend((0..d.len()).map(|i| d.value(i).to_vec())),
            None if r.meta().rows <= SMALL_INPUT_ROWS => {
                for g in 0..r.meta().granules() {
                    let col = r.read_granule(*c, g)?;
                    values.extend((0..col.len()).filter_map(|i| col.get(i)).map(<[u8]>::to_vec));
                    if values.len() > limit {
                        return Ok(None);
                    }
                }
            }
            None => return Ok(None),
        }
        if values.len() > limit {
            return Ok(None);
        }
    }
    let mut dict = ColumnData::new(ColumnType::Var);
    values.iter().for_each(|v| dict.push(v));
    Ok(Some(dict))
}
