//! Dictionary encoding of variable-length columns (ClickHouse's LowCardinality), per part:
//! the part stores the distinct values once, sorted (so code order is byte order), and
//! each granule stores fixed-width codes. Chosen automatically when a column's distinct
//! count is low, or forced/forbidden by option.

use super::{corrupt, read_uint};
use crate::column::{ColumnData, ColumnType, Values};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use hashbrown::HashMap;

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
    // First-seen ids in one pass (a row's id kept), then ids mapped to ranks in byte order.
    let mut seen: HashMap<&[u8], u32> = HashMap::new();
    let mut distinct: Vec<&[u8]> = Vec::new();
    let mut ids: Vec<u32> = Vec::with_capacity(rows);
    for i in 0..rows {
        ids.push(match col.get(i) {
            Some(v) => *seen.entry(v).or_insert_with(|| {
                distinct.push(v);
                distinct.len() as u32 - 1
            }),
            None => u32::MAX,
        });
        if distinct.len() > limit {
            return None;
        }
    }
    let mut order: Vec<u32> = (0..distinct.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| distinct[a as usize].cmp(distinct[b as usize]));
    let mut rank = vec![0u32; distinct.len()];
    for (r, &id) in order.iter().enumerate() {
        rank[id as usize] = r as u32;
    }
    let width = code_width(distinct.len());
    let mut dict = ColumnData::new(ColumnType::Var);
    for &id in &order {
        dict.push(distinct[id as usize]);
    }
    let mut codes = ColumnData::new(ColumnType::Fixed { width });
    for &id in &ids {
        if id == u32::MAX {
            codes.push_null();
        } else {
            codes.push(&rank[id as usize].to_le_bytes()[..width as usize]);
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
