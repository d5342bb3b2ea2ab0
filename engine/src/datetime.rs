//! Postgres' date and time functions on its timestamps (microseconds from 2000-01-01):
//! `date_trunc`, `extract`, `::date`, with its infinities and range errors. The scalar
//! expressions (scalar.rs) and the partitioning of inserts compute with them.

use crate::error::{Error, Result};
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
    /// Postgres' spellings of the unit, plurals and abbreviations included (the planner
    /// passes the constant's lower-cased text).
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
