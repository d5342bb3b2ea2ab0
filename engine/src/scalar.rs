//! Scalar expressions over a batch, a column at a time: the grouping keys and aggregate
//! inputs that are not plain columns (a timestamp's date, `date_trunc`). Each computes
//! exactly what Postgres' function returns (named on each variant), including its
//! infinities and its range errors.

use crate::arith::{self, float_of, ArithOp, ArithType, Operand};
use crate::column::{sign_extend, Bitmap, ColumnData, ColumnType, Values};
use crate::aggregate::input::{self, Input};
use crate::error::{Error, Result};
use crate::predicate::{FilterColumn, Predicate};
use crate::range_reader::Fetched;
use serde::{Deserialize, Serialize};

/// Microseconds in a day; Postgres timestamps count microseconds from 2000-01-01.
const USECS_PER_DAY: i64 = 86_400_000_000;
/// Postgres' first valid timestamp (4714-11-24 00:00 BC) and first past the last
/// (294277-01-01), as microseconds from 2000-01-01 (MIN_TIMESTAMP, END_TIMESTAMP).
const MIN_TIMESTAMP: i64 = -211_813_488_000_000_000;
const END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;
/// Days from 1970-01-01 to 2000-01-01.
const UNIX_TO_PG_DAYS: i64 = 10_957;

/// The units `date_trunc` takes that are computed here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TruncUnit {
    Microseconds,
    Milliseconds,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl TruncUnit {
    /// Postgres' spelling (and its plural and abbreviations are not accepted here: the
    /// planner passes the constant's lower-cased text).
    pub fn parse(unit: &str) -> Option<TruncUnit> {
        Some(match unit {
            "microseconds" | "microsecond" | "us" | "usec" | "usecs" | "useconds" | "usecond" => TruncUnit::Microseconds,
            "milliseconds" | "millisecond" | "ms" | "msec" | "msecs" | "mseconds" | "msecond" => TruncUnit::Milliseconds,
            "second" | "seconds" | "s" | "sec" | "secs" => TruncUnit::Second,
            "minute" | "minutes" | "m" | "min" | "mins" => TruncUnit::Minute,
            "hour" | "hours" | "h" | "hr" | "hrs" => TruncUnit::Hour,
            "day" | "days" | "d" => TruncUnit::Day,
            "week" | "weeks" | "w" => TruncUnit::Week,
            "month" | "months" | "mon" | "mons" => TruncUnit::Month,
            "quarter" | "qtr" => TruncUnit::Quarter,
            "year" | "years" | "y" | "yr" | "yrs" => TruncUnit::Year,
            _ => return None,
        })
    }
}

/// The fields `extract(field FROM ts)` takes that are computed here (others: Postgres).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExtractField {
    Microseconds,
    Milliseconds,
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Quarter,
    Year,
    Decade,
    Century,
    Millennium,
    Dow,
    Isodow,
    Doy,
    Epoch,
}

impl ExtractField {
    pub fn parse(field: &str) -> Option<ExtractField> {
        use ExtractField::*;
        // The units date_trunc also takes, under the same spellings.
        if let Some(unit) = TruncUnit::parse(field) {
            return match unit {
                TruncUnit::Microseconds => Some(Microseconds),
                TruncUnit::Milliseconds => Some(Milliseconds),
                TruncUnit::Second => Some(Second),
                TruncUnit::Minute => Some(Minute),
                TruncUnit::Hour => Some(Hour),
                TruncUnit::Day => Some(Day),
                TruncUnit::Month => Some(Month),
                TruncUnit::Quarter => Some(Quarter),
                TruncUnit::Year => Some(Year),
                // ISO week numbers: Postgres' own.
                TruncUnit::Week => None,
            };
        }
        Some(match field {
            "decade" | "decades" | "dec" | "decs" => Decade,
            "century" | "centuries" | "c" | "cent" | "cents" => Century,
            "millennium" | "millennia" | "mil" | "mils" | "millenia" | "millenniums" => Millennium,
            "dow" => Dow,
            "isodow" => Isodow,
            "doy" => Doy,
            "epoch" => Epoch,
            _ => return None,
        })
    }

    /// The display scale of the numeric extract returns.
    pub fn scale(self) -> u16 {
        match self {
            ExtractField::Second | ExtractField::Epoch => 6,
            ExtractField::Milliseconds => 3,
            _ => 0,
        }
    }
}

/// What `extract(field FROM ts)` marks an infinite timestamp with: ±Infinity for the
/// fields that grow with time (i64::MAX / i64::MIN here), NULL for the others.
pub const EXTRACT_POS_INFINITY: i64 = i64::MAX;
pub const EXTRACT_NEG_INFINITY: i64 = i64::MIN;

/// extract(field FROM timestamp) (timestamp_part_common) as the integer its numeric is
/// scaled to (`field.scale()`); None for NULL; `Error::Inexact` for an epoch beyond i64.
pub fn extract_timestamp(field: ExtractField, ts: i64) -> Result<Option<i64>> {
    extract_finite(field, ts).ok_or_else(|| Error::Inexact("an epoch beyond 64 bits".into()))
}

fn extract_finite(field: ExtractField, ts: i64) -> Option<Option<i64>> {
    use ExtractField::*;
    if ts == i64::MIN || ts == i64::MAX {
        let grows = matches!(field, Year | Decade | Century | Millennium | Epoch);
        return Some(grows.then_some(if ts == i64::MAX { EXTRACT_POS_INFINITY } else { EXTRACT_NEG_INFINITY }));
    }
    let day = ts.div_euclid(USECS_PER_DAY);
    let time = ts.rem_euclid(USECS_PER_DAY);
    let (y, m, d) = civil_from_days(day + UNIX_TO_PG_DAYS);
    // Within the minute, in microseconds.
    let usec = time % 60_000_000;
    let year_of = |y: i64| if y > 0 { y } else { y - 1 };
    Some(Some(match field {
        Microseconds => usec,
        Milliseconds => usec,
        Second => usec,
        Minute => time / 60_000_000 % 60,
        Hour => time / 3_600_000_000,
        Day => d,
        Month => m,
        Quarter => (m - 1) / 3 + 1,
        Year => year_of(y),
        // C's division truncates toward zero; these follow Postgres' formulas literally.
        Decade => {
            if y >= 0 {
                y / 10
            } else {
                -((8 - (y - 1)) / 10)
            }
        }
        Century => {
            if y > 0 {
                (y + 99) / 100
            } else {
                -((99 - (y - 1)) / 100)
            }
        }
        Millennium => {
            if y > 0 {
                (y + 999) / 1000
            } else {
                -((999 - (y - 1)) / 1000)
            }
        }
        // 2000-01-01 was a Saturday (6).
        Dow => (day + 6).rem_euclid(7),
        Isodow => match (day + 6).rem_euclid(7) {
            0 => 7,
            d => d,
        },
        Doy => day + UNIX_TO_PG_DAYS - days_from_civil(y, 1, 1) + 1,
        // Seconds since 1970-01-01 (scale 6: microseconds).
        Epoch => ts.checked_add(UNIX_TO_PG_DAYS * USECS_PER_DAY)?,
    }))
}

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

/// timestamp_date: the day a timestamp falls on; -infinity and infinity map to the
/// date's.
pub fn date_of_timestamp(ts: i64) -> i32 {
    match ts {
        i64::MIN => i32::MIN,
        i64::MAX => i32::MAX,
        // Valid timestamps' days fit in a date.
        _ => ts.div_euclid(USECS_PER_DAY) as i32,
    }
}

/// timestamp_trunc: infinities stay; a result before the first valid timestamp is
/// Postgres' "timestamp out of range".
pub fn trunc_timestamp(unit: TruncUnit, ts: i64) -> Result<i64> {
    if ts == i64::MIN || ts == i64::MAX {
        return Ok(ts);
    }
    let floor = |step: i64| ts.div_euclid(step) * step;
    let day = ts.div_euclid(USECS_PER_DAY);
    let days = |d: i64| d * USECS_PER_DAY;
    let result = match unit {
        TruncUnit::Microseconds => ts,
        TruncUnit::Milliseconds => floor(1_000),
        TruncUnit::Second => floor(1_000_000),
        TruncUnit::Minute => floor(60_000_000),
        TruncUnit::Hour => floor(3_600_000_000),
        TruncUnit::Day => days(day),
        // The Monday on or before (2000-01-03 was a Monday): ISO weeks start on Mondays.
        TruncUnit::Week => days(day - (day + 5).rem_euclid(7)),
        TruncUnit::Month | TruncUnit::Quarter | TruncUnit::Year => {
            let (y, m, _) = civil_from_days(day + UNIX_TO_PG_DAYS);
            let m = match unit {
                TruncUnit::Month => m,
                TruncUnit::Quarter => 3 * ((m - 1) / 3) + 1,
                _ => 1,
            };
            days(days_from_civil(y, m, 1) - UNIX_TO_PG_DAYS)
        }
    };
    if !(MIN_TIMESTAMP..END_TIMESTAMP).contains(&result) {
        return Err(Error::OutOfRange("timestamp out of range".into()));
    }
    Ok(result)
}

/// Proleptic Gregorian (year, month, day) of a day count from 1970-01-01 (year 0 is
/// 1 BC, as Postgres' Julian-day arithmetic has it); H. Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The day count from 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Microseconds from 2000-01-01 of a civil date and time.
    fn ts(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, us: i64) -> i64 {
        (days_from_civil(y, mo, d) - UNIX_TO_PG_DAYS) * USECS_PER_DAY + ((h * 60 + mi) * 60 + s) * 1_000_000 + us
    }

    #[test]
    fn civil_round_trip() {
        for z in (-3_000_000..3_000_000).step_by(997) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(UNIX_TO_PG_DAYS), (2000, 1, 1));
    }

    #[test]
    fn extraction_matches_postgres() {
        use ExtractField::*;
        let t = ts(2024, 2, 29, 13, 47, 59, 987_654);
        let x = |f| extract_timestamp(f, t).unwrap().unwrap();
        let e = |f, t| extract_timestamp(f, t).unwrap();
        assert_eq!((x(Year), x(Month), x(Day), x(Hour), x(Minute)), (2024, 2, 29, 13, 47));
        assert_eq!((x(Second), x(Milliseconds), x(Microseconds)), (59_987_654, 59_987_654, 59_987_654));
        assert_eq!((x(Quarter), x(Decade), x(Century), x(Millennium)), (1, 202, 21, 3));
        // A Thursday, day 60 of a leap year.
        assert_eq!((x(Dow), x(Isodow), x(Doy)), (4, 4, 60));
        assert_eq!(e(Isodow, ts(2024, 3, 3, 0, 0, 0, 0)), Some(7));
        assert_eq!(e(Epoch, ts(1970, 1, 1, 0, 0, 1, 5)), Some(1_000_005));
        // 45 BC is astronomical year -44; no year 0; the first century BC is -1.
        let bc = ts(-44, 3, 15, 12, 0, 0, 0);
        assert_eq!((e(Year, bc), e(Century, bc), e(Decade, bc)), (Some(-45), Some(-1), Some(-5)));
        assert_eq!(e(Year, ts(2000, 1, 1, 0, 0, 0, 0) - 1), Some(1999));
        assert_eq!(e(Hour, i64::MAX), None);
        assert_eq!(e(Year, i64::MIN), Some(EXTRACT_NEG_INFINITY));
        assert!(matches!(extract_timestamp(Epoch, END_TIMESTAMP - 1), Err(Error::Inexact(_))));
    }

    #[test]
    fn truncation_matches_postgres() {
        let t = ts(2024, 2, 29, 13, 47, 59, 987_654);
        assert_eq!(trunc_timestamp(TruncUnit::Milliseconds, t).unwrap(), ts(2024, 2, 29, 13, 47, 59, 987_000));
        assert_eq!(trunc_timestamp(TruncUnit::Second, t).unwrap(), ts(2024, 2, 29, 13, 47, 59, 0));
        assert_eq!(trunc_timestamp(TruncUnit::Minute, t).unwrap(), ts(2024, 2, 29, 13, 47, 0, 0));
        assert_eq!(trunc_timestamp(TruncUnit::Hour, t).unwrap(), ts(2024, 2, 29, 13, 0, 0, 0));
        assert_eq!(trunc_timestamp(TruncUnit::Day, t).unwrap(), ts(2024, 2, 29, 0, 0, 0, 0));
        // 2024-02-29 is a Thursday: its week starts Monday 2024-02-26.
        assert_eq!(trunc_timestamp(TruncUnit::Week, t).unwrap(), ts(2024, 2, 26, 0, 0, 0, 0));
        assert_eq!(trunc_timestamp(TruncUnit::Month, t).unwrap(), ts(2024, 2, 1, 0, 0, 0, 0));
        assert_eq!(trunc_timestamp(TruncUnit::Quarter, t).unwrap(), ts(2024, 1, 1, 0, 0, 0, 0));
        assert_eq!(trunc_timestamp(TruncUnit::Year, t).unwrap(), ts(2024, 1, 1, 0, 0, 0, 0));
        // Before 2000 (negative) and BC: floors, not truncation toward zero.
        let old = ts(1999, 12, 31, 23, 59, 59, 999_999);
        assert_eq!(trunc_timestamp(TruncUnit::Second, old).unwrap(), ts(1999, 12, 31, 23, 59, 59, 0));
        assert_eq!(date_of_timestamp(old), -1);
        let bc = ts(-44, 3, 15, 12, 0, 0, 0);
        assert_eq!(trunc_timestamp(TruncUnit::Month, bc).unwrap(), ts(-44, 3, 1, 0, 0, 0, 0));
        // A Sunday belongs to the week of the Monday before it.
        assert_eq!(trunc_timestamp(TruncUnit::Week, ts(2000, 1, 9, 5, 0, 0, 0)).unwrap(), ts(2000, 1, 3, 0, 0, 0, 0));
        assert_eq!(trunc_timestamp(TruncUnit::Week, ts(2000, 1, 2, 5, 0, 0, 0)).unwrap(), ts(1999, 12, 27, 0, 0, 0, 0));
        // Infinities stay; truncating the first valid timestamp's year leaves the range.
        assert_eq!(trunc_timestamp(TruncUnit::Year, i64::MAX).unwrap(), i64::MAX);
        assert_eq!(date_of_timestamp(i64::MIN), i32::MIN);
        assert!(matches!(trunc_timestamp(TruncUnit::Year, MIN_TIMESTAMP), Err(Error::OutOfRange(_))));
        assert_eq!(trunc_timestamp(TruncUnit::Day, MIN_TIMESTAMP).unwrap(), MIN_TIMESTAMP);
    }
}
