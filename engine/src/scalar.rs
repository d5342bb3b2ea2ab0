//! Scalar expressions over a batch, a column at a time: the grouping keys and aggregate
//! inputs that are not plain columns (a timestamp's date, `date_trunc`: datetime.rs).
//! Each computes exactly what Postgres' function returns (named on each variant),
//! including its infinities and its range errors.

use crate::arith::{self, float_of, ArithOp, ArithType, Operand};
use crate::column::{sign_extend, Bitmap, ColumnData, ColumnType, Values};
use crate::datetime::{date_of_timestamp, extract_timestamp, trunc_timestamp, ExtractField, TruncUnit};
use crate::aggregate::input::{self, Input};
use crate::error::{Error, Result};
use crate::predicate::{FilterColumn, Predicate};
use crate::range_reader::Fetched;
use serde::{Deserialize, Serialize};

/// An expression over reader columns of a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ScalarExpr {
    /// `ts::date` of a timestamp without time zone (timestamp_date).
    DateOfTimestamp { col: usize },
    /// `date_trunc(unit, ts)` of a timestamp without time zone (timestamp_trunc).
    TruncTimestamp { unit: TruncUnit, col: usize },
    /// `extract(field FROM ts)` of a timestamp without time zone, scaled by
    /// 10^field.scale() (date_part's numeric form).
    Extract { field: ExtractField, col: usize },
    /// `text::jsonb ->> 'key'` of a JSON text column (json.rs; `Error::Inexact` for a
    /// document only Postgres reads exactly).
    JsonField { col: usize, key: Vec<u8> },
    /// A numeric(p, s) column as integers scaled by 10^s (`Error::Inexact` for NaN or a
    /// value of another display scale).
    Numeric { col: usize, scale: u16 },
    /// An integer (`int`) or float4 as float8 (i2tod, i4tod, i8tod, ftod).
    ToFloat8 { col: usize, int: bool },
    /// `a op b` (arith.rs): integers and numerics as i64, floats as f64.
    Arith { op: ArithOp, ty: ArithType, a: Operand, b: Operand },
    /// `CASE WHEN cond THEN then ELSE otherwise END` (a NULL condition takes ELSE; no
    /// ELSE is NULL); `float`: the operands are f64s, else i64s.
    Case { cond: Predicate, then: Operand, otherwise: Option<Operand>, float: bool },
    /// `coalesce(args...)`: the first non-NULL operand.
    Coalesce { args: Vec<Operand>, float: bool },
}

impl ScalarExpr {
    /// The reader columns it reads.
    pub fn inputs(&self) -> Vec<usize> {
        match *self {
            ScalarExpr::DateOfTimestamp { col }
            | ScalarExpr::TruncTimestamp { col, .. }
            | ScalarExpr::Numeric { col, .. }
            | ScalarExpr::Extract { col, .. }
            | ScalarExpr::JsonField { col, .. }
            | ScalarExpr::ToFloat8 { col, .. } => vec![col],
            ScalarExpr::Arith { ref a, ref b, .. } => operand_columns([a, b]),
            ScalarExpr::Case { ref cond, ref then, ref otherwise, .. } => {
                let mut cols = operand_columns(std::iter::once(then).chain(otherwise));
                cond.columns(&mut cols);
                cols
            }
            ScalarExpr::Coalesce { ref args, .. } => operand_columns(args.iter()),
        }
    }

    pub fn result_type(&self) -> ColumnType {
        match self {
            ScalarExpr::DateOfTimestamp { .. } => ColumnType::Fixed { width: 4 },
            ScalarExpr::JsonField { .. } => ColumnType::Var,
            _ => ColumnType::Fixed { width: 8 },
        }
    }

    /// The expression's value for every row of the batch (`rows` long); rows outside
    /// `selection` (sorted) are NULL, as their inputs need not have been decoded. Only
    /// the selected rows are computed: a selective filter costs nothing for the others.
    pub fn eval(&self, columns: &[Option<Fetched>], selection: &[u32], rows: usize) -> Result<ColumnData> {
        let input = |c: usize| columns[c].as_ref().ok_or_else(|| Error::Invalid(format!("expression input column {c} was not read")));
        let mut out = match self.result_type() {
            ColumnType::Fixed { width } => FixedOut::new(rows, width as usize),
            ColumnType::Var => {
                let ScalarExpr::JsonField { col, ref key } = *self else { unreachable!("only JSON fields are text") };
                return json_field(input(col)?, key, selection, rows);
            }
        };
        match *self {
            ScalarExpr::JsonField { .. } => unreachable!("handled above"),
            ScalarExpr::DateOfTimestamp { col } => {
                let c = input(col)?;
                for &r in selection {
                    out.set(r, c.get(r).map(|v| date_of_timestamp(sign_extend(v)) as i64));
                }
            }
            ScalarExpr::TruncTimestamp { unit, col } => {
                let c = input(col)?;
                for &r in selection {
                    out.set(r, c.get(r).map(|v| trunc_timestamp(unit, sign_extend(v))).transpose()?);
                }
            }
            ScalarExpr::Extract { field, col } => {
                let c = input(col)?;
                for &r in selection {
                    out.set(r, c.get(r).map(|v| extract_timestamp(field, sign_extend(v))).transpose()?.flatten());
                }
            }
            ScalarExpr::Numeric { col, scale } => {
                let c = input(col)?;
                let inexact = || Error::Inexact(format!("NaN or a numeric value not of scale {scale}"));
                match c {
                    // Integers already: a part stores the column scaled by 10^scale and
                    // the reader asked for them (ReadColumn::scaled); numerics are never
                    // fixed-width.
                    Fetched::Values(ints) if ints.column_type() == (ColumnType::Fixed { width: 8 }) => {
                        if let (crate::column::Values::Fixed { data, .. }, None, true) = (&ints.values, &ints.validity, selection.len() == rows) {
                            // The whole batch, none NULL: in order, without a call per row.
                            let scaled: Vec<i64> = data.chunks_exact(8).map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])).collect();
                            if scaled.len() == rows {
                                out.scatter(selection, &scaled, None);
                                return Ok(out.finish());
                            }
                        }
                        for &r in selection {
                            out.set(r, ints.get(r as usize).map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8]))));
                        }
                    }
                    // A dictionary's values read once per code, not once per row (when the
                    // dictionary is smaller than the rows to read).
                    Fetched::Codes { codes, validity, dict } if dict.len() <= selection.len() => {
                        let values: Vec<Option<i64>> = (0..dict.len()).map(|i| crate::numeric::read_scaled(dict.value(i), scale)).collect();
                        if validity.is_none() && selection.len() == rows && codes.len() == rows {
                            // The whole batch (every row selected, none NULL): in order, a
                            // plain gather when every dictionary value reads exactly.
                            let scaled: Vec<i64> = match values.iter().copied().collect::<Option<Vec<i64>>>() {
                                Some(dense) => codes.iter().map(|&k| dense[k as usize]).collect(),
                                None => codes.iter().map(|&k| values[k as usize].ok_or_else(inexact)).collect::<Result<_>>()?,
                            };
                            out.scatter(selection, &scaled, None);
                            return Ok(out.finish());
                        }
                        for &r in selection {
                            if validity.as_ref().is_some_and(|v| !v.get(r as usize)) {
                                continue;
                            }
                            out.set(r, Some(values[codes[r as usize] as usize].ok_or_else(inexact)?));
                        }
                    }
                    _ => {
                        for &r in selection {
                            let v = match c.get(r) {
                                Some(v) => Some(crate::numeric::read_scaled(v, scale).ok_or_else(inexact)?),
                                None => None,
                            };
                            out.set(r, v);
                        }
                    }
                }
            }
            ScalarExpr::ToFloat8 { col, int } => {
                let c = input(col)?;
                // int4 and float4 are both 4 bytes wide: the type says which.
                for &r in selection {
                    out.set_float(r, c.get(r).map(|v| if int { sign_extend(v) as f64 } else { float_of(v) }));
                }
            }
            ScalarExpr::Case { ref cond, then, otherwise, float } => {
                let fcols: Vec<Option<FilterColumn>> = columns.iter().map(|c| c.as_ref().map(Fetched::filter_column)).collect();
                let taken = cond.evaluate_rows(&fcols, selection);
                let mut taken = taken.iter().peekable();
                for &r in selection {
                    let o = if taken.next_if_eq(&&r).is_some() { Some(then) } else { otherwise };
                    if let Some(o) = o {
                        out.set_operand(r, o, columns, float)?;
                    }
                }
            }
            ScalarExpr::Coalesce { ref args, float } => {
                for &r in selection {
                    // A constant is never NULL: it ends the search.
                    let o = args.iter().copied().find(|&o| match o {
                        Operand::Col(c) => columns[c].as_ref().is_some_and(|c| c.get(r).is_some()),
                        _ => true,
                    });
                    if let Some(o) = o {
                        out.set_operand(r, o, columns, float)?;
                    }
                }
            }
            ScalarExpr::Arith { op, ty, a, b } => {
                // Each operand decoded once over the selection (as aggregates' inputs
                // are), then one typed loop (arith::column).
                let float = matches!(ty, ArithType::Float8);
                let (xa, xb) = (operand_values(a, &input, selection, float)?, operand_values(b, &input, selection, float)?);
                let (values, valid) = arith::column(op, ty, xa.side(), xb.side(), selection.len())?;
                out.scatter(selection, &values, valid.as_deref());
            }
        }
        Ok(out.finish())
    }
}

/// An operand's values at the selected rows: i64s, or f64 bits when `float`.
enum OperandValues {
    Const(i64),
    Column { v: Vec<i64>, valid: Option<Vec<bool>> },
}

impl OperandValues {
    fn side(&self) -> arith::Side<'_> {
        match self {
            OperandValues::Const(c) => arith::Side::Const(*c),
            OperandValues::Column { v, valid } => arith::Side::Values(v, valid.as_deref()),
        }
    }
}

/// A column operand decoded as an aggregate's input is (aggregate::input), or a constant.
fn operand_values<'c>(o: Operand, input: &dyn Fn(usize) -> Result<&'c Fetched<'c>>, selection: &[u32], float: bool) -> Result<OperandValues> {
    Ok(match o {
        Operand::Col(c) => match if float { input::floats(input(c)?, selection) } else { input::ints(input(c)?, selection) } {
            Input::Ints { v, valid, .. } => OperandValues::Column { v, valid },
            Input::Floats { v, valid, .. } => OperandValues::Column { v: v.into_iter().map(|f| f.to_bits() as i64).collect(), valid },
            Input::Bytes(_) => unreachable!("ints and floats decode to vectors"),
        },
        Operand::Float(f) => OperandValues::Const(f.to_bits() as i64),
        Operand::Int(i) if float => OperandValues::Const((i as f64).to_bits() as i64),
        Operand::Int(i) => OperandValues::Const(i),
    })
}

/// The batch columns among some operands.
fn operand_columns<'a>(ops: impl IntoIterator<Item = &'a Operand>) -> Vec<usize> {
    ops.into_iter()
        .filter_map(|o| match o {
            Operand::Col(c) => Some(*c),
            _ => None,
        })
        .collect()
}

/// A fixed-width result column of `rows` rows, written at the selected rows only: the
/// rest stay NULL (zero bytes, clear validity).
struct FixedOut {
    width: usize,
    data: Vec<u8>,
    valid: Bitmap,
}

impl FixedOut {
    fn new(rows: usize, width: usize) -> FixedOut {
        let mut valid = Bitmap::new_set(rows);
        valid.clear_range(0, rows);
        FixedOut { width, data: vec![0; rows * width], valid }
    }

    #[inline]
    fn set(&mut self, r: u32, v: Option<i64>) {
        if let Some(v) = v {
            self.put(r as usize, v);
            self.valid.set(r as usize);
        }
    }

    /// Row `r`'s bytes. Widths spelled out: a copy of a length known when compiling is
    /// a store, of a variable one a call to memmove (a tenth of TPC-H Q1's time).
    #[inline(always)]
    fn put(&mut self, r: usize, v: i64) {
        match self.width {
            8 => self.data[r * 8..r * 8 + 8].copy_from_slice(&v.to_le_bytes()),
            4 => self.data[r * 4..r * 4 + 4].copy_from_slice(&(v as i32).to_le_bytes()),
            w => self.data[r * w..r * w + w].copy_from_slice(&v.to_le_bytes()[..w]),
        }
    }

    /// Writes the values of the selected rows (`values[i]` is row `selection[i]`'s),
    /// those `valid` says are not NULL.
    fn scatter(&mut self, selection: &[u32], values: &[i64], valid: Option<&[bool]>) {
        // Every row selected (a sorted subset as long as the batch is all of it) and none
        // NULL, as in a granule the filter keeps whole: one sequential pass, one fill.
        if valid.is_none() && selection.len() * self.width == self.data.len() {
            for (i, &v) in values.iter().enumerate() {
                self.put(i, v);
            }
            self.valid = Bitmap::new_set(selection.len());
            return;
        }
        for (i, (&r, &v)) in selection.iter().zip(values).enumerate() {
            if valid.is_none_or(|ok| ok[i]) {
                self.put(r as usize, v);
                self.valid.set(r as usize);
            }
        }
    }

    #[inline]
    fn set_float(&mut self, r: u32, v: Option<f64>) {
        self.set(r, v.map(|f| f.to_bits() as i64));
    }

    /// Row `r`'s value of operand `o` (NULL stays NULL).
    fn set_operand(&mut self, r: u32, o: Operand, columns: &[Option<Fetched>], float: bool) -> Result<()> {
        match o {
            Operand::Col(c) => {
                let col = columns[c].as_ref().ok_or_else(|| Error::Invalid(format!("expression input column {c} was not read")))?;
                match col.get(r) {
                    Some(v) if float => self.set_float(r, Some(float_of(v))),
                    Some(v) => self.set(r, Some(sign_extend(v))),
                    None => {}
                }
            }
            Operand::Int(i) if float => self.set_float(r, Some(i as f64)),
            Operand::Int(i) => self.set(r, Some(i)),
            Operand::Float(f) => self.set_float(r, Some(f)),
        }
        Ok(())
    }

    fn finish(self) -> ColumnData {
        let all = self.valid.count_set() == self.valid.len();
        ColumnData { values: Values::Fixed { width: self.width, data: self.data }, validity: (!all).then_some(self.valid) }
    }
}

/// `text::jsonb ->> 'key'` of the selected rows.
fn json_field(c: &Fetched, key: &[u8], selection: &[u32], rows: usize) -> Result<ColumnData> {
    let mut out = ColumnData::new(ColumnType::Var);
    let keys = [key];
    let mut sel = selection.iter().peekable();
    for r in 0..rows as u32 {
        let Some(doc) = sel.next_if_eq(&&r).and_then(|_| c.get(r)) else {
            out.push_null();
            continue;
        };
        match crate::json::object_fields(doc, &keys).as_deref() {
            Some([crate::json::Field::Text(t)]) => out.push(t),
            Some(_) => out.push_null(),
            None => return Err(Error::Inexact("a JSON document only Postgres reads exactly".into())),
        }
    }
    Ok(out)
}
