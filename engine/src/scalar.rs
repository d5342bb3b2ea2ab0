//! Scalar expressions over a batch, a column at a time: the grouping keys and aggregate
//! inputs that are not plain columns (a timestamp's date, `date_trunc`). Each computes
//! exactly what Postgres' function returns (named on each variant), including its
//! infinities and its range errors.

use crate::arith::{self, float_of, ArithOp, ArithType, Operand};
use crate::column::{sign_extend, ColumnData, ColumnType};
use crate::error::{Error, Result};
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

/// An expression over reader columns of a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ScalarExpr {
    /// `ts::date` of a timestamp without time zone (timestamp_date).
    DateOfTimestamp { col: usize },
    /// `date_trunc(unit, ts)` of a timestamp without time zone (timestamp_trunc).
    TruncTimestamp { unit: TruncUnit, col: usize },
    /// A numeric(p, s) column as integers scaled by 10^s (`Error::Inexact` for NaN or a
    /// value of another display scale).
    Numeric { col: usize, scale: u16 },
    /// An integer (`int`) or float4 as float8 (i2tod, i4tod, i8tod, ftod).
    ToFloat8 { col: usize, int: bool },
    /// `a op b` (arith.rs): integers and numerics as i64, floats as f64.
    Arith { op: ArithOp, ty: ArithType, a: Operand, b: Operand },
}

impl ScalarExpr {
    /// The reader columns it reads.
    pub fn inputs(&self) -> Vec<usize> {
        match *self {
            ScalarExpr::DateOfTimestamp { col }
            | ScalarExpr::TruncTimestamp { col, .. }
            | ScalarExpr::Numeric { col, .. }
            | ScalarExpr::ToFloat8 { col, .. } => vec![col],
            ScalarExpr::Arith { a, b, .. } => [a, b]
                .iter()
                .filter_map(|o| match o {
                    Operand::Col(c) => Some(*c),
                    _ => None,
                })
                .collect(),
        }
    }

    pub fn result_type(&self) -> ColumnType {
        match self {
            ScalarExpr::DateOfTimestamp { .. } => ColumnType::Fixed { width: 4 },
            _ => ColumnType::Fixed { width: 8 },
        }
    }

    /// The expression's value for every row of the batch (`rows` long); rows outside
    /// `selection` (sorted) are NULL, as their inputs need not have been decoded.
    pub fn eval(&self, columns: &[Option<Fetched>], selection: &[u32], rows: usize) -> Result<ColumnData> {
        let mut out = ColumnData::new(self.result_type());
        let input = |c: usize| columns[c].as_ref().ok_or_else(|| Error::Invalid(format!("expression input column {c} was not read")));
        let mut sel = selection.iter().peekable();
        match *self {
            ScalarExpr::DateOfTimestamp { col } => {
                let c = input(col)?;
                for r in 0..rows as u32 {
                    match sel.next_if_eq(&&r).and_then(|_| c.get(r)) {
                        Some(v) => out.push(&date_of_timestamp(sign_extend(v)).to_le_bytes()),
                        None => out.push_null(),
                    }
                }
            }
            ScalarExpr::TruncTimestamp { unit, col } => {
                let c = input(col)?;
                for r in 0..rows as u32 {
                    match sel.next_if_eq(&&r).and_then(|_| c.get(r)) {
                        Some(v) => out.push(&trunc_timestamp(unit, sign_extend(v))?.to_le_bytes()),
                        None => out.push_null(),
                    }
                }
            }
            ScalarExpr::Numeric { col, scale } => {
                let c = input(col)?;
                for r in 0..rows as u32 {
                    match sel.next_if_eq(&&r).and_then(|_| c.get(r)) {
                        Some(v) => {
                            let n = crate::numeric::read(v).and_then(|n| n.scaled(scale));
                            out.push(&n.ok_or_else(|| Error::Inexact(format!("NaN or a numeric value not of scale {scale}")))?.to_le_bytes())
                        }
                        None => out.push_null(),
                    }
                }
            }
            ScalarExpr::ToFloat8 { col, int } => {
                let c = input(col)?;
                // int4 and float4 are both 4 bytes wide: the type says which.
                for r in 0..rows as u32 {
                    match sel.next_if_eq(&&r).and_then(|_| c.get(r)) {
                        Some(v) => out.push(&if int { sign_extend(v) as f64 } else { float_of(v) }.to_le_bytes()),
                        None => out.push_null(),
                    }
                }
            }
            ScalarExpr::Arith { op, ty, a, b } => {
                let operand = |o: Operand| -> Result<Option<&Fetched>> {
                    match o {
                        Operand::Col(c) => Ok(Some(input(c)?)),
                        _ => Ok(None),
                    }
                };
                let (ca, cb) = (operand(a)?, operand(b)?);
                for r in 0..rows as u32 {
                    if sel.next_if_eq(&&r).is_none() {
                        out.push_null();
                        continue;
                    }
                    let (va, vb) = (ca.map(|c| c.get(r)), cb.map(|c| c.get(r)));
                    if matches!(va, Some(None)) || matches!(vb, Some(None)) {
                        out.push_null();
                        continue;
                    }
                    let int = |o: Operand, v: Option<Option<&[u8]>>| match (o, v) {
                        (_, Some(Some(bytes))) => sign_extend(bytes),
                        (Operand::Int(i), _) => i,
                        _ => 0,
                    };
                    let float = |o: Operand, v: Option<Option<&[u8]>>| match (o, v) {
                        (_, Some(Some(bytes))) => float_of(bytes),
                        (Operand::Float(f), _) => f,
                        (Operand::Int(i), _) => i as f64,
                        _ => 0.0,
                    };
                    let bytes = match ty {
                        ArithType::Int { width } => arith::int(op, width, int(a, va), int(b, vb))?.to_le_bytes(),
                        ArithType::Float8 => arith::float8(op, float(a, va), float(b, vb))?.to_le_bytes(),
                        ArithType::Numeric { a: sa, b: sb } => arith::numeric(op, sa, int(a, va), sb, int(b, vb))?.to_le_bytes(),
                    };
                    out.push(&bytes);
                }
            }
        }
        Ok(out)
    }
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
