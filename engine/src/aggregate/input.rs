//! An aggregate's input for one batch, decoded once into the shape its kernels loop over:
//! integers and floats as typed vectors of the selected rows (dates and timestamps are
//! integers), other types as the batch column itself, read by row.

use crate::column::{float_of, sign_extend, Values as Stored};
use crate::range_reader::Fetched;

/// Input of one aggregate for the selected rows of a batch. Typed vectors are indexed by
/// position in the selection; `Bytes` by batch row.
pub enum Input<'a> {
    /// `width`: the column's bytes per value.
    Ints {
        v: Vec<i64>,
        valid: Option<Vec<bool>>,
        width: usize,
    },
    Floats {
        v: Vec<f64>,
        valid: Option<Vec<bool>>,
        single: bool,
    },
    Bytes(&'a Fetched<'a>),
}

impl Input<'_> {
    /// Whether the value at selection position `i` (batch row `row`) is not NULL.
    #[inline]
    pub fn valid(&self, i: usize, row: u32) -> bool {
        match self {
            Input::Ints { valid, .. } | Input::Floats { valid, .. } => valid.as_ref().is_none_or(|v| v[i]),
            Input::Bytes(f) => !f.is_null(row),
        }
    }

    pub fn has_nulls(&self) -> bool {
        match self {
            Input::Ints { valid, .. } | Input::Floats { valid, .. } => valid.is_some(),
            Input::Bytes(Fetched::Values(c)) => c.validity.is_some(),
            Input::Bytes(Fetched::Codes { validity, .. }) => validity.is_some(),
        }
    }
}

/// Validity of the selected rows, None when the column has no NULLs.
fn validity(col: &Fetched, rows: &[u32]) -> Option<Vec<bool>> {
    let bitmap = match col {
        Fetched::Values(c) => c.validity.as_ref(),
        Fetched::Codes { validity, .. } => validity.as_ref(),
    }?;
    Some(rows.iter().map(|&r| bitmap.get(r as usize)).collect())
}

/// The selected rows of an integer column (1, 2, 4 or 8 bytes, little-endian) as i64;
/// NULL rows hold 0.
pub fn ints<'a>(col: &Fetched, rows: &[u32]) -> Input<'a> {
    let mut v = Vec::with_capacity(rows.len());
    let width = match col {
        Fetched::Values(c) => c.column_type(),
        Fetched::Codes { dict, .. } => dict.column_type(),
    };
    let width = match width {
        crate::column::ColumnType::Fixed { width } => width as usize,
        crate::column::ColumnType::Var => 8,
    };
    match col {
        Fetched::Values(c) => match &c.values {
            // Every row of the batch selected (a sorted subset that long is all of it):
            // read straight through.
            Stored::Fixed { width: 8, data } if rows.len() == c.len() => v.extend(data.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))),
            Stored::Fixed { width: 8, data } => {
                v.extend(rows.iter().map(|&r| i64::from_le_bytes(data[r as usize * 8..r as usize * 8 + 8].try_into().unwrap_or([0; 8]))))
            }
            Stored::Fixed { width: 4, data } => {
                v.extend(rows.iter().map(|&r| i32::from_le_bytes(data[r as usize * 4..r as usize * 4 + 4].try_into().unwrap_or([0; 4])) as i64))
            }
            Stored::Fixed { width: 2, data } => v.extend(rows.iter().map(|&r| i16::from_le_bytes([data[r as usize * 2], data[r as usize * 2 + 1]]) as i64)),
            _ => v.extend(rows.iter().map(|&r| c.get(r as usize).map_or(0, sign_extend))),
        },
        Fetched::Codes { .. } => v.extend(rows.iter().map(|&r| col.get(r).map_or(0, sign_extend))),
    }
    Input::Ints { v, valid: validity(col, rows), width }
}

/// The selected rows of a float4 or float8 column as f64; NULL rows hold 0.
pub fn floats<'a>(col: &Fetched, rows: &[u32]) -> Input<'a> {
    let mut v = Vec::with_capacity(rows.len());
    let mut single = false;
    match col {
        Fetched::Values(c) => match &c.values {
            Stored::Fixed { width: 8, data } => {
                v.extend(rows.iter().map(|&r| f64::from_le_bytes(data[r as usize * 8..r as usize * 8 + 8].try_into().unwrap_or([0; 8]))))
            }
            Stored::Fixed { width: 4, data } => {
                single = true;
                v.extend(rows.iter().map(|&r| f32::from_le_bytes(data[r as usize * 4..r as usize * 4 + 4].try_into().unwrap_or([0; 4])) as f64))
            }
            _ => v.extend(rows.iter().map(|&r| c.get(r as usize).map_or(0.0, float_of))),
        },
        Fetched::Codes { dict, .. } => {
            single = matches!(dict.values, Stored::Fixed { width: 4, .. });
            v.extend(rows.iter().map(|&r| col.get(r).map_or(0.0, float_of)))
        }
    }
    Input::Floats { v, valid: validity(col, rows), single }
}
