//! Finished groups -> Datums of the types Postgres' own aggregates return.

use super::join_reader::OtherGroups;
use super::{KeyExpr, NodePlan, ResultKind, ValueType};
use crate::datum::{self, ColumnPlan, DatumColumn, TablePlan};
use crate::error::raise;
use mergetree::aggregate::{AggValue, Group};
use mergetree::ColumnData;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// The output rows: per atom of the scan tuple (keys, then aggregates), a column of
/// Datums, one per group. By-reference values live in `columns` (keys, min/max) or in the
/// memory context current when made (numerics), which outlives the emitted rows.
pub struct Output {
    pub columns: Vec<DatumColumn>,
    pub rows: usize,
}

/// A numeric of display scale `scale` from a scaled integer.
unsafe fn numeric_scaled(v: i128, scale: u16) -> pg_sys::Datum {
    // SAFETY: per numeric_text.
    unsafe { numeric_text(&mergetree::numeric::format_scaled(v, scale)) }
}

/// A numeric from its text.
unsafe fn numeric_text(text: &str) -> pg_sys::Datum {
    let text = std::ffi::CString::new(text).unwrap_or_default();
    // SAFETY: numeric_in reads a NUL-terminated decimal string.
    unsafe {
        pg_sys::OidFunctionCall3Coll(
            pg_sys::Oid::from(pg_sys::F_NUMERIC_IN),
            pg_sys::InvalidOid,
            pg_sys::Datum::from(text.as_ptr()),
            pg_sys::Datum::from(pg_sys::InvalidOid),
            pg_sys::Datum::from(-1i32),
        )
    }
}

/// A computed value (8 bytes: an i64, a scaled numeric or an f64) as a Datum of its type.
unsafe fn computed_datum(bytes: &[u8], ty: ValueType) -> pg_sys::Datum {
    let raw: [u8; 8] = bytes.get(..8).and_then(|b| b.try_into().ok()).unwrap_or([0; 8]);
    match ty {
        ValueType::Int { width: 2 } => pg_sys::Datum::from(i64::from_le_bytes(raw) as i16),
        ValueType::Int { width: 4 } => pg_sys::Datum::from(i64::from_le_bytes(raw) as i32),
        ValueType::Int { .. } => pg_sys::Datum::from(i64::from_le_bytes(raw)),
        ValueType::Float4 | ValueType::Float8 => pg_sys::Datum::from(u64::from_le_bytes(raw)),
        // SAFETY: numeric_in through Postgres' own function.
        ValueType::Numeric { scale } => unsafe { numeric_scaled(i64::from_le_bytes(raw) as i128, scale) },
    }
}

/// An extract() key's numerics (scaled integers; the infinities' sentinels as infinities).
fn extract_datums(groups: &[Group], k: usize, scale: u16) -> DatumColumn {
    use mergetree::datetime::{EXTRACT_NEG_INFINITY, EXTRACT_POS_INFINITY};
    let mut datums = Vec::with_capacity(groups.len());
    let mut nulls = Vec::with_capacity(groups.len());
    for g in groups {
        let v = g.keys[k].as_ref().and_then(|b| b.get(..8)).map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
        // SAFETY: numeric_in through Postgres' own function.
        let d = v.map(|v| unsafe {
            match v {
                EXTRACT_POS_INFINITY => numeric_text("Infinity"),
                EXTRACT_NEG_INFINITY => numeric_text("-Infinity"),
                v => numeric_scaled(v as i128, scale),
            }
        });
        nulls.push(d.is_none());
        datums.push(d.unwrap_or(pg_sys::Datum::from(0)));
    }
    DatumColumn::plain(datums, nulls)
}

/// A key of the joined relation: its `i`-th grouping value of the group code key `k` holds.
fn joined_datums(groups: &[Group], k: usize, i: usize, others: &OtherGroups) -> DatumColumn {
    let mut datums = Vec::with_capacity(groups.len());
    let mut nulls = Vec::with_capacity(groups.len());
    for g in groups {
        let code = g.keys[k].as_ref().and_then(|b| b.get(..4)).map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4]))) as usize;
        let d = others[code][i];
        datums.push(d.unwrap_or(pg_sys::Datum::from(0)));
        nulls.push(d.is_none());
    }
    DatumColumn::plain(datums, nulls)
}

/// The plan of a computed by-value column of type `typid` (from column `c`).
fn computed(c: &ColumnPlan, typid: pg_sys::Oid, width: u16) -> ColumnPlan {
    ColumnPlan {
        typid,
        typlen: width as i16,
        typbyval: true,
        collation: pg_sys::InvalidOid,
        ty: mergetree::ColumnType::Fixed { width },
        sort: mergetree::SortKind::SignedInt,
        missing: None,
        ..c.clone()
    }
}

/// Converts the finished groups. `table` names the table in errors.
/// `others`: the joined relation's grouping values, by the code its keys hold.
pub fn datums(plan: &NodePlan, table_plan: &TablePlan, groups: &[Group], others: &OtherGroups, table: &str) -> Output {
    let rows = groups.len();
    let mut columns = Vec::with_capacity(plan.keys.len() + plan.aggs.len());
    // Keys and min/max values: the column's bytes, converted like a scan's output.
    let column = |attnum: i16| &table_plan.columns[table_plan.index_of_attnum(attnum).expect("planned column")];
    let values_of = |c: &ColumnPlan, pick: &dyn Fn(&Group) -> Option<Vec<u8>>| {
        let mut d = ColumnData::new(c.ty);
        for g in groups {
            match pick(g) {
                Some(v) => d.push(&v),
                None => d.push_null(),
            }
        }
        datum::to_datums(c, d)
    };
    for (k, key) in plan.keys.iter().enumerate() {
        if let KeyExpr::Extract(field, _) = *key {
            columns.push(extract_datums(groups, k, field.scale()));
            continue;
        }
        if let KeyExpr::Joined(i) = *key {
            columns.push(joined_datums(groups, k, i, others));
            continue;
        }
        let c = match *key {
            // A JSON field of a text column is text of the column's collation.
            KeyExpr::Column(a) | KeyExpr::JsonField(a, _) => column(a).clone(),
            KeyExpr::DateOf(a) => computed(column(a), pg_sys::DATEOID, 4),
            KeyExpr::Trunc(_, a) => computed(column(a), pg_sys::TIMESTAMPOID, 8),
            KeyExpr::Extract(..) | KeyExpr::Joined(_) => unreachable!("made above"),
        };
        columns.push(values_of(&c, &|g| g.keys[k].clone()));
    }
    for (a, out) in plan.aggs.iter().enumerate() {
        if !out.fractions.is_empty() {
            // Percentiles of an array of fractions: an array per group, of float8
            // (percentile_cont) or of the input column's type (percentile_disc).
            let elem = match out.result {
                ResultKind::Float8 => ColumnPlan::of_type(pg_sys::FLOAT8OID),
                _ => column(out.attnum).clone(),
            };
            columns.push(array_column(&elem, groups, a, table));
            continue;
        }
        if out.result == ResultKind::Input {
            columns.push(values_of(column(out.attnum), &|g| match &g.values[a] {
                AggValue::Bytes(b) => Some(b.clone()),
                _ => None,
            }));
            continue;
        }
        let mut datums = Vec::with_capacity(rows);
        let mut nulls = Vec::with_capacity(rows);
        for g in groups {
            let d = match (&g.values[a], out.result) {
                (AggValue::Null, _) => None,
                (AggValue::OutOfRange, _) => raise(PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "value out of range: overflow".into()),
                (AggValue::Int(v), ResultKind::Int8) => Some(pg_sys::Datum::from(*v as i64)),
                (AggValue::Int(v), ResultKind::Int8Sum) => match i64::try_from(*v) {
                    Ok(x) => Some(pg_sys::Datum::from(x)),
                    Err(_) => raise(PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "bigint out of range".into()),
                },
                // SAFETY: numeric conversions through Postgres' own functions.
                (AggValue::Int(v), ResultKind::NumericSum) => Some(unsafe { numeric_scaled(*v, 0) }),
                (AggValue::IntSumCount { sum, count }, ResultKind::NumericAvg) => Some(unsafe {
                    pg_sys::OidFunctionCall2Coll(pg_sys::Oid::from(pg_sys::F_NUMERIC_DIV), pg_sys::InvalidOid, numeric_scaled(*sum, 0), numeric_scaled(*count as i128, 0))
                }),
                // SAFETY (these three): numerics through Postgres' own functions.
                (AggValue::Int(v), ResultKind::Numeric(scale)) => Some(unsafe { numeric_scaled(*v, scale) }),
                (AggValue::IntSumCount { sum, count }, ResultKind::NumericScaledAvg(scale)) => Some(unsafe {
                    pg_sys::OidFunctionCall2Coll(pg_sys::Oid::from(pg_sys::F_NUMERIC_DIV), pg_sys::InvalidOid, numeric_scaled(*sum, scale), numeric_scaled(*count as i128, 0))
                }),
                (AggValue::Bytes(b), ResultKind::Computed(ty)) => Some(unsafe { computed_datum(b, ty) }),
                (AggValue::Float(v), ResultKind::Float8) => Some(pg_sys::Datum::from(v.to_bits())),
                (AggValue::Float(v), ResultKind::Float4) => Some(pg_sys::Datum::from((*v as f32).to_bits())),
                (AggValue::Bool(b), ResultKind::Bool) => Some(pg_sys::Datum::from(*b)),
                (v, r) => raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("mergetree table \"{table}\": aggregate value {v:?} for a {r:?} result")),
            };
            nulls.push(d.is_none());
            datums.push(d.unwrap_or(pg_sys::Datum::from(0)));
        }
        columns.push(DatumColumn::plain(datums, nulls));
    }
    Output { columns, rows }
}

/// Aggregate `a`'s arrays (AggValue::Array of float or element bytes), one per group, as
/// one-dimensional arrays of `elem`'s type.
fn array_column(elem: &ColumnPlan, groups: &[Group], a: usize, table: &str) -> DatumColumn {
    let (mut len, mut byval, mut align) = (0i16, false, 0 as std::ffi::c_char);
    // SAFETY: a syscache lookup of the element type.
    unsafe { pg_sys::get_typlenbyvalalign(elem.typid, &mut len, &mut byval, &mut align) };
    let mut datums = Vec::with_capacity(groups.len());
    let mut nulls = Vec::with_capacity(groups.len());
    for g in groups {
        let items = match &g.values[a] {
            AggValue::Null => {
                datums.push(pg_sys::Datum::from(0));
                nulls.push(true);
                continue;
            }
            AggValue::Array(items) => items,
            v => raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("mergetree table \"{table}\": aggregate value {v:?} for an array result")),
        };
        let mut data = ColumnData::new(elem.ty);
        for item in items {
            match item {
                AggValue::Float(f) => data.push(&f.to_le_bytes()),
                AggValue::Bytes(b) => data.push(b),
                _ => data.push_null(),
            }
        }
        // The element Datums point into `elements` until construct_md_array copies them.
        let elements = datum::to_datums(elem, data);
        let mut dims = [items.len() as i32];
        let mut lbs = [1i32];
        // SAFETY: `elements` holds items.len() Datums and NULL flags of `elem`'s type.
        let array = unsafe {
            pg_sys::construct_md_array(
                elements.datums.as_ptr() as *mut pg_sys::Datum,
                elements.nulls.as_ptr() as *mut bool,
                1,
                dims.as_mut_ptr(),
                lbs.as_mut_ptr(),
                elem.typid,
                len as i32,
                byval,
                align,
            )
        };
        datums.push(pg_sys::Datum::from(array));
        nulls.push(false);
    }
    DatumColumn::plain(datums, nulls)
}
