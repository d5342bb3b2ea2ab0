//! Numeric columns stored as scaled integers: when every value of a part's numeric
//! column is finite with one display scale s and fits an i64 once scaled (numeric(p, s)
//! columns with p up to 18, as money amounts and TPC-H's prices are), the part stores
//! the integers v * 10^s instead of numeric's base-10000 digits. The integer codecs
//! (delta, GCD, T64) then shrink them, and aggregation reads them without parsing a
//! numeric per row (numeric.rs). Readers get the numeric's bytes back exactly: a part
//! is written so only if every value's bytes are what encoding its integer gives.

use crate::column::{ColumnData, Values};
use crate::numeric::{encode_scaled_into, read_scaled};

/// The column as integers scaled by its one display scale, or None when some value is
/// not exactly one (NaN, infinities, another display scale, beyond an i64, or bytes
/// Postgres would not write for its value). NULL rows hold 0.
pub fn scale(col: &ColumnData) -> Option<(ColumnData, u16)> {
    let scale = (0..col.len()).find_map(|i| col.get(i)).map_or(Some(0), display_scale)?;
    Some((scale_to(col, scale)?, scale))
}

/// The column as integers scaled by 10^`scale` (the scale a merge's inputs agree on), or
/// None when some value is not exactly one of that scale. NULL rows hold 0.
pub fn scale_to(col: &ColumnData, scale: u16) -> Option<ColumnData> {
    let mut data = Vec::with_capacity(col.len() * 8);
    let mut again = Vec::new();
    for i in 0..col.len() {
        let v = match col.get(i) {
            None => 0,
            Some(b) => {
                let v = read_scaled(b, scale)?;
                again.clear();
                encode_scaled_into(v, scale, &mut again);
                if again != b {
                    return None;
                }
                v
            }
        };
        data.extend_from_slice(&v.to_le_bytes());
    }
    Some(ColumnData { values: Values::Fixed { width: 8, data }, validity: col.validity.clone() })
}

/// The display scale of a finite stored numeric.
fn display_scale(b: &[u8]) -> Option<u16> {
    match crate::numeric::read(b)? {
        crate::numeric::Numeric::Finite { dscale, .. } => Some(dscale),
        _ => None,
    }
}

/// The numeric bytes of integers scaled by 10^`scale` (what `scale` took in).
pub fn unscale(ints: &ColumnData, scale: u16) -> ColumnData {
    let mut offsets = Vec::with_capacity(ints.len() + 1);
    let mut data = Vec::with_capacity(ints.len() * 8);
    offsets.push(0u32);
    for i in 0..ints.len() {
        // NULL rows have no bytes.
        if let Some(b) = ints.get(i) {
            encode_scaled_into(i64::from_le_bytes(b.try_into().unwrap_or([0; 8])), scale, &mut data);
        }
        offsets.push(data.len() as u32);
    }
    ColumnData { values: Values::Var { offsets, data }, validity: ints.validity.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::ColumnType;
    use crate::numeric::encode_scaled;

    fn numerics(values: &[Option<i64>], scale: u16) -> ColumnData {
        let mut c = ColumnData::new(ColumnType::Var);
        for v in values {
            match v {
                Some(v) => c.push(&encode_scaled(*v, scale)),
                None => c.push_null(),
            }
        }
        c
    }

    #[test]
    fn round_trips_one_display_scale() {
        let col = numerics(&[Some(12345), None, Some(-5), Some(0), Some(i64::MAX), Some(i64::MIN + 1)], 2);
        let (ints, s) = scale(&col).unwrap();
        assert_eq!(s, 2);
        assert_eq!(ints.get(0), Some(&12345i64.to_le_bytes()[..]));
        assert_eq!(ints.get(1), None);
        assert_eq!(unscale(&ints, s), col);
    }

    #[test]
    fn other_columns_stay_numeric() {
        // Two display scales.
        let mut mixed = numerics(&[Some(1)], 2);
        mixed.push(&encode_scaled(1, 3));
        assert!(scale(&mixed).is_none());
        // NaN (a special value's header).
        let mut nan = numerics(&[Some(1)], 0);
        nan.push(&0xC000u16.to_le_bytes());
        assert!(scale(&nan).is_none());
        // Too wide for an i64: 10^19 at scale 0 is digits 1000 | 0 | 0 | 0 | 0, weight 4.
        let mut wide = ColumnData::new(ColumnType::Var);
        wide.push(&[0x04, 0x80, 0xE8, 0x03]);
        assert!(scale(&wide).is_none());
        // Bytes that read as a value but are not how Postgres writes it (a trailing zero digit).
        let mut odd = ColumnData::new(ColumnType::Var);
        odd.push(&[0x00, 0x80, 0x01, 0x00, 0x00, 0x00]);
        assert!(scale(&odd).is_none());
        // All NULL: nothing to lose.
        assert!(scale(&numerics(&[None, None], 0)).is_some());
    }
}
