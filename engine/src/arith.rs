//! `+ - * /` over batch columns as Postgres' operators compute them: integers with the
//! result type's range errors, float8 with its overflow, underflow and division-by-zero
//! errors, numeric as scaled integers (exact; a result too wide for them is
//! `Error::Inexact`, and the caller leaves the query to Postgres).

pub(crate) use crate::column::float_of;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// The operator's type: its operands' and result's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArithType {
    /// Integers (operands of any width), the result `width` bytes wide (int2/4/8).
    Int { width: u8 },
    Float8,
    /// numeric operands at display scales `a` and `b` (scaled integers).
    Numeric { a: u16, b: u16 },
}

impl ArithType {
    /// The display scale of a numeric result (numeric_add/sub: the larger; numeric_mul:
    /// their sum).
    pub fn numeric_scale(self, op: ArithOp) -> Option<u16> {
        match self {
            ArithType::Numeric { a, b } => Some(if op == ArithOp::Mul { a + b } else { a.max(b) }),
            _ => None,
        }
    }
}

/// An operand: a column of the batch or a constant (a numeric constant scaled).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Operand {
    Col(usize),
    Int(i64),
    Float(f64),
}

fn int_range_error(width: u8) -> Error {
    Error::NumericRange(
        match width {
            2 => "smallint out of range",
            4 => "integer out of range",
            _ => "bigint out of range",
        }
        .into(),
    )
}

/// int2/int4/int8 pl, mi, mul, div (and their cross-width forms).
pub fn int(op: ArithOp, width: u8, a: i64, b: i64) -> Result<i64> {
    let (a, b) = (a as i128, b as i128);
    let r = match op {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div if b == 0 => return Err(Error::DivisionByZero),
        // Truncates toward zero, as C does; MIN / -1 leaves the range below.
        ArithOp::Div => a / b,
    };
    let bits = 8 * width as u32;
    let (lo, hi) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
    if r < lo || r > hi {
        return Err(int_range_error(width));
    }
    Ok(r as i64)
}

/// float8pl, float8mi, float8mul, float8div.
pub fn float8(op: ArithOp, a: f64, b: f64) -> Result<f64> {
    let overflow = || Err(Error::NumericRange("value out of range: overflow".into()));
    let underflow = || Err(Error::NumericRange("value out of range: underflow".into()));
    match op {
        ArithOp::Add | ArithOp::Sub => {
            let r = if op == ArithOp::Add { a + b } else { a - b };
            if r.is_infinite() && !a.is_infinite() && !b.is_infinite() {
                return overflow();
            }
            Ok(r)
        }
        ArithOp::Mul => {
            let r = a * b;
            if r.is_infinite() && !a.is_infinite() && !b.is_infinite() {
                return overflow();
            }
            if r == 0.0 && a != 0.0 && b != 0.0 {
                return underflow();
            }
            Ok(r)
        }
        ArithOp::Div => {
            if b == 0.0 && !a.is_nan() {
                return Err(Error::DivisionByZero);
            }
            let r = a / b;
            if r.is_infinite() && !a.is_infinite() {
                return overflow();
            }
            if r == 0.0 && a != 0.0 && !b.is_infinite() {
                return underflow();
            }
            Ok(r)
        }
    }
}

/// One side of a batch's operation: a constant, or the values at the selected rows
/// (i64s, f64 bits for float8) and their validity (None: no NULL).
#[derive(Clone, Copy)]
pub enum Side<'a> {
    Const(i64),
    Values(&'a [i64], Option<&'a [bool]>),
}

impl Side<'_> {
    #[inline]
    fn at(self, i: usize) -> i64 {
        match self {
            Side::Const(c) => c,
            Side::Values(v, _) => v[i],
        }
    }
}

/// `a op b` over `n` selected rows: the values, and which are not NULL (None: all). A
/// NULL operand gives NULL without computing (its stored 0 must not divide). The type's
/// work is chosen once per batch, so the row loop is one call the compiler inlines.
pub fn column(op: ArithOp, ty: ArithType, a: Side, b: Side, n: usize) -> Result<(Vec<i64>, Option<Vec<bool>>)> {
    let valid = match (a, b) {
        (Side::Values(_, Some(va)), Side::Values(_, Some(vb))) => Some(va.iter().zip(vb).map(|(x, y)| *x && *y).collect::<Vec<bool>>()),
        (Side::Values(_, Some(v)), _) | (_, Side::Values(_, Some(v))) => Some(v.to_vec()),
        _ => None,
    };
    let out = match ty {
        ArithType::Int { width } => apply(a, b, n, valid.as_deref(), |x, y| int(op, width, x, y))?,
        ArithType::Float8 => apply(a, b, n, valid.as_deref(), |x, y| Ok(float8(op, f64::from_bits(x as u64), f64::from_bits(y as u64))?.to_bits() as i64))?,
        ArithType::Numeric { a: sa, b: sb } => {
            let inexact = || Error::Inexact("a numeric result beyond 18 digits".into());
            match op {
                ArithOp::Add | ArithOp::Sub => {
                    // Both sides to the larger scale; in i128, so only the result's range
                    // is checked.
                    let s = sa.max(sb);
                    let factor = |from: u16| 10i128.checked_pow((s - from) as u32).filter(|f| *f <= i64::MAX as i128);
                    let (Some(fa), Some(fb)) = (factor(sa), factor(sb)) else { return if n == 0 { Ok((Vec::new(), valid)) } else { Err(inexact()) } };
                    let sign = if op == ArithOp::Add { 1 } else { -1 };
                    apply_wide(a, b, n, valid.as_deref(), |x, y| x as i128 * fa + sign * (y as i128 * fb)).ok_or_else(inexact)?
                }
                ArithOp::Mul => apply_wide(a, b, n, valid.as_deref(), |x, y| x as i128 * y as i128).ok_or_else(inexact)?,
                // numeric_div picks its own result scale: left to Postgres.
                ArithOp::Div if n == 0 => Vec::new(),
                ArithOp::Div => return Err(inexact()),
            }
        }
    };
    Ok((out, valid))
}

/// `f` (computed in i128) over the rows, None if a result leaves i64's range; NULL rows
/// hold 0. The range is checked once after the loop, not by a branch per row, and each
/// side's shape is matched once, so the loop has no branch at all.
#[inline(always)]
fn apply_wide(a: Side, b: Side, n: usize, valid: Option<&[bool]>, f: impl Fn(i64, i64) -> i128) -> Option<Vec<i64>> {
    let mut fits = true;
    let mut narrow = |r: i128| {
        fits &= r == r as i64 as i128;
        r as i64
    };
    // Collected from slices of known length: no capacity check per row.
    let out: Vec<i64> = match (a, b, valid) {
        (Side::Values(x, _), Side::Values(y, _), None) if x.len() >= n && y.len() >= n => x[..n].iter().zip(&y[..n]).map(|(&x, &y)| narrow(f(x, y))).collect(),
        (Side::Values(x, _), Side::Const(c), None) if x.len() >= n => x[..n].iter().map(|&x| narrow(f(x, c))).collect(),
        (Side::Const(c), Side::Values(y, _), None) if y.len() >= n => y[..n].iter().map(|&y| narrow(f(c, y))).collect(),
        _ => (0..n).map(|i| narrow(if valid.is_none_or(|v| v[i]) { f(a.at(i), b.at(i)) } else { 0 })).collect(),
    };
    fits.then_some(out)
}

/// `f` over the rows; NULL rows hold 0.
#[inline(always)]
fn apply(a: Side, b: Side, n: usize, valid: Option<&[bool]>, f: impl Fn(i64, i64) -> Result<i64>) -> Result<Vec<i64>> {
    let mut out = Vec::with_capacity(n);
    match valid {
        None => {
            for i in 0..n {
                out.push(f(a.at(i), b.at(i))?);
            }
        }
        Some(valid) => {
            for (i, &ok) in valid.iter().enumerate().take(n) {
                out.push(if ok { f(a.at(i), b.at(i))? } else { 0 });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_raise_their_type_range_errors() {
        assert_eq!(int(ArithOp::Add, 4, i32::MAX as i64, -1).unwrap(), i32::MAX as i64 - 1);
        assert!(matches!(int(ArithOp::Add, 4, i32::MAX as i64, 1), Err(Error::NumericRange(m)) if m == "integer out of range"));
        assert!(matches!(int(ArithOp::Mul, 2, 200, 200), Err(Error::NumericRange(m)) if m == "smallint out of range"));
        assert!(matches!(int(ArithOp::Mul, 8, i64::MAX, 2), Err(Error::NumericRange(m)) if m == "bigint out of range"));
        assert!(matches!(int(ArithOp::Div, 8, i64::MIN, -1), Err(Error::NumericRange(_))));
        assert!(matches!(int(ArithOp::Div, 4, 1, 0), Err(Error::DivisionByZero)));
        assert_eq!(int(ArithOp::Div, 4, -7, 2).unwrap(), -3);
    }

    #[test]
    fn floats_follow_float8_operators() {
        assert!(matches!(float8(ArithOp::Mul, 1e300, 1e300), Err(Error::NumericRange(m)) if m.ends_with("overflow")));
        assert!(matches!(float8(ArithOp::Mul, 1e-300, 1e-300), Err(Error::NumericRange(m)) if m.ends_with("underflow")));
        assert_eq!(float8(ArithOp::Add, f64::INFINITY, 1.0).unwrap(), f64::INFINITY);
        assert!(float8(ArithOp::Sub, f64::INFINITY, f64::INFINITY).unwrap().is_nan());
        assert!(matches!(float8(ArithOp::Div, 1.0, 0.0), Err(Error::DivisionByZero)));
        assert!(float8(ArithOp::Div, f64::NAN, 0.0).unwrap().is_nan());
    }

    /// `a op b` of two numeric constants through the batch kernel.
    fn numeric(op: ArithOp, sa: u16, a: i64, sb: u16, b: i64) -> Result<i64> {
        column(op, ArithType::Numeric { a: sa, b: sb }, Side::Const(a), Side::Const(b), 1).map(|(v, _)| v[0])
    }

    #[test]
    fn numerics_are_exact_or_inexact() {
        // 12.34 + 0.5 (scales 2 and 1) = 12.84 at scale 2.
        assert_eq!(numeric(ArithOp::Add, 2, 1234, 1, 5).unwrap(), 1284);
        assert_eq!(numeric(ArithOp::Sub, 2, 1234, 1, 5).unwrap(), 1184);
        // 12.34 * (1 - 0.05) = 11.7230 at scale 4.
        let one_minus = numeric(ArithOp::Sub, 0, 1, 2, 5).unwrap();
        assert_eq!(one_minus, 95);
        assert_eq!(numeric(ArithOp::Mul, 2, 1234, 2, one_minus).unwrap(), 117_230);
        assert!(matches!(numeric(ArithOp::Mul, 2, i64::MAX / 2, 0, 3), Err(Error::Inexact(_))));
        assert!(matches!(numeric(ArithOp::Add, 0, i64::MAX, 0, 1), Err(Error::Inexact(_))));
        // Rescaled past i64 on the way but in range at the end.
        assert_eq!(numeric(ArithOp::Sub, 0, i64::MAX / 10 + 1, 1, 9).unwrap(), ((i64::MAX / 10 + 1) as i128 * 10 - 9) as i64);
        assert!(matches!(numeric(ArithOp::Add, 0, 1, 19, 1), Err(Error::Inexact(_))));
        assert!(matches!(numeric(ArithOp::Div, 2, 1, 2, 1), Err(Error::Inexact(_))));
        assert_eq!(ArithType::Numeric { a: 2, b: 2 }.numeric_scale(ArithOp::Mul), Some(4));
    }

    #[test]
    fn null_rows_are_not_computed() {
        let (a, b) = ([7, 5, 9], [0, 1, 3]);
        let (va, vb) = ([true, true, false], [false, true, true]);
        // Row 0 divides by a NULL's stored 0: NULL, not an error.
        let (v, valid) = column(ArithOp::Div, ArithType::Int { width: 4 }, Side::Values(&a, Some(&va)), Side::Values(&b, Some(&vb)), 3).unwrap();
        assert_eq!(valid.as_deref(), Some(&[false, true, false][..]));
        assert_eq!(v[1], 5);
        let (v, valid) = column(ArithOp::Mul, ArithType::Int { width: 8 }, Side::Values(&a, None), Side::Const(-2), 3).unwrap();
        assert_eq!((v, valid), (vec![-14, -10, -18], None));
        assert!(matches!(column(ArithOp::Div, ArithType::Int { width: 4 }, Side::Values(&a, None), Side::Values(&b, None), 3), Err(Error::DivisionByZero)));
        let f = |x: f64| x.to_bits() as i64;
        let (v, _) = column(ArithOp::Add, ArithType::Float8, Side::Values(&[f(1.5)], None), Side::Const(f(2.0)), 1).unwrap();
        assert_eq!(f64::from_bits(v[0] as u64), 3.5);
    }
}
