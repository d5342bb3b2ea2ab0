//! Dictionary encoding of variable-length columns (ClickHouse's LowCardinality), per part:
//! the part stores the distinct values once, sorted (so code order is byte order), and
//! each granule stores fixed-width codes. Chosen automatically when a column's distinct
//! count is low, or forced/forbidden by option.

use super::{corrupt, read_uint};
use crate::column::{ColumnData, ColumnType, Values};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Dictionaries larger than this are not worth their lookups.
pub const MAX_DICT: usize = 1 << 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DictMode {
    /// Use a dictionary when it pays (few distinct values).
    #[default]
    Auto,
    Always,
    Never,
}

/// The dictionary (sorted distinct values, no NULLs) and the codes column (NULLs kept).
pub struct Encoded {
    pub dict: ColumnData,
    pub codes: ColumnData,
}

pub(crate) fn code_width(n: usize) -> u16 {
    if n <= 1 << 8 {
        1
    } else if n <= 1 << 16 {
        2
    } else {
        4
    }
}

/// Dictionary-encodes `col` (a variable-length column) if `mode` and its distinct count
/// allow; `None` keeps it plain.
pub fn encode(col: &ColumnData, mode: DictMode) -> Option<Encoded> {
    if mode == DictMode::Never || col.column_type() != ColumnType::Var {
        return None;
    }
    let rows = col.len();
    let limit = if mode == DictMode::Always { usize::MAX } else { MAX_DICT.min(rows / 2) };
    let mut seen: HashMap<&[u8], u32> = HashMap::new();
    for i in 0..rows {
        if let Some(v) = col.get(i) {
            let next = seen.len() as u32;
            seen.entry(v).or_insert(next);
            if seen.len() > limit {
                return None;
            }
        }
    }
    let mut distinct: Vec<&[u8]> = seen.keys().copied().collect();
    distinct.sort_unstable();
    let rank: HashMap<&[u8], u32> = distinct.iter().enumerate().map(|(i, v)| (*v, i as u32)).collect();
    let width = code_width(distinct.len());
    let mut dict = ColumnData::new(ColumnType::Var);
    for v in &distinct {
        dict.push(v);
    }
    let mut codes = ColumnData::new(ColumnType::Fixed { width });
    for i in 0..rows {
        match col.get(i) {
            Some(v) => codes.push(&rank[v].to_le_bytes()[..width as usize]),
            None => codes.push_null(),
        }
    }
    Some(Encoded { dict, codes })
}

/// Rebuilds the values from a dictionary and a codes column.
pub fn decode(dict: &ColumnData, codes: &ColumnData) -> Result<ColumnData> {
    let Values::Fixed { width, data } = &codes.values else {
        return Err(corrupt("dictionary codes", "not fixed-width"));
    };
    let n = dict.len();
    let mut out = ColumnData::new(ColumnType::Var);
    for (i, c) in data.chunks_exact(*width).enumerate() {
        if codes.is_null(i) {
            out.push_null();
            continue;
        }
        let code = read_uint(c) as usize;
        if code >= n {
            return Err(corrupt("dictionary codes", "code past the end of the dictionary"));
        }
        out.push(dict.value(code));
    }
    Ok(out)
}
