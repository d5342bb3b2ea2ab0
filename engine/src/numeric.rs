//! Postgres' numeric as stored (the varlena's payload: a short or long header, then
//! base-10000 digits), read into scaled integers: a numeric(p, s) value v is the integer
//! v * 10^s. Where every value of a column has the same display scale (a typmod forces
//! it), sums, comparisons and products of these integers are exactly numeric's, and
//! far cheaper than numeric's digit arithmetic.

/// A stored numeric, read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numeric {
    /// `mantissa / 10^dscale`, when it fits an i128.
    Finite { mantissa: i128, dscale: u16 },
    /// Finite but too many digits for an i128.
    Wide,
    NaN,
    PosInf,
    NegInf,
}

const SIGN_MASK: u16 = 0xC000;
const NEG: u16 = 0x4000;
const SHORT: u16 = 0x8000;
const SPECIAL: u16 = 0xC000;
const EXT_SIGN_MASK: u16 = 0xF000;
const NAN: u16 = 0xC000;
const PINF: u16 = 0xD000;
const SHORT_SIGN_MASK: u16 = 0x2000;
const SHORT_DSCALE_MASK: u16 = 0x1F80;
const SHORT_DSCALE_SHIFT: u16 = 7;
const SHORT_WEIGHT_SIGN_MASK: u16 = 0x0040;
const SHORT_WEIGHT_MASK: u16 = 0x003F;
const DSCALE_MASK: u16 = 0x3FFF;

/// A stored numeric's header: a special value, or a finite one's sign, display scale,
/// weight (of its first base-10000 digit) and where its digits start.
enum Header {
    Special(Numeric),
    Finite { negative: bool, dscale: u16, weight: i32, digits_at: usize },
}

#[inline]
fn header(bytes: &[u8]) -> Option<Header> {
    let word = |i: usize| bytes.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let header = word(0)?;
    Some(match header & SIGN_MASK {
        SPECIAL => Header::Special(match header & EXT_SIGN_MASK {
            NAN => Numeric::NaN,
            PINF => Numeric::PosInf,
            _ => Numeric::NegInf,
        }),
        SHORT => {
            let w = (header & SHORT_WEIGHT_MASK) as i32;
            let weight = if header & SHORT_WEIGHT_SIGN_MASK != 0 { w - 64 } else { w };
            Header::Finite { negative: header & SHORT_SIGN_MASK != 0, dscale: (header & SHORT_DSCALE_MASK) >> SHORT_DSCALE_SHIFT, weight, digits_at: 2 }
        }
        sign => Header::Finite { negative: sign == NEG, dscale: header & DSCALE_MASK, weight: word(2)? as i16 as i32, digits_at: 4 },
    })
}

/// Reads a numeric's payload (the bytes after the varlena header); None when the bytes
/// are not a numeric.
pub fn read(bytes: &[u8]) -> Option<Numeric> {
    let (negative, dscale, weight, digits_at) = match header(bytes)? {
        Header::Special(n) => return Some(n),
        Header::Finite { negative, dscale, weight, digits_at } => (negative, dscale, weight, digits_at),
    };
    let digits = bytes.get(digits_at..)?;
    if digits.len() % 2 != 0 {
        return None;
    }
    // value = sum of digit[i] * 10000^(weight - i); scaled by 10^dscale that is an
    // integer (dscale covers every stored fractional digit).
    let mut mantissa: i128 = 0;
    let n = digits.len() / 2;
    for i in 0..n {
        let d = u16::from_le_bytes([digits[2 * i], digits[2 * i + 1]]) as i128;
        mantissa = match mantissa.checked_mul(10_000).and_then(|m| m.checked_add(d)) {
            Some(m) => m,
            None => return Some(Numeric::Wide),
        };
    }
    // The digits so far are worth 10000^(weight - n + 1) each: shift to 10^-dscale.
    let exp10 = 4 * (weight - n as i32 + 1) + dscale as i32;
    let mantissa = if exp10 >= 0 {
        match pow10(exp10 as u32).and_then(|p| mantissa.checked_mul(p)) {
            Some(m) => m,
            None if mantissa == 0 => 0,
            None => return Some(Numeric::Wide),
        }
    } else {
        // Trailing zeros of the last digit beyond the display scale.
        let p = pow10((-exp10) as u32)?;
        if mantissa % p != 0 {
            return None;
        }
        mantissa / p
    };
    Some(Numeric::Finite { mantissa: if negative { -mantissa } else { mantissa }, dscale })
}

/// A stored numeric's sign, weight and base-10000 digits (leading and trailing zero
/// digits dropped), or its special value, in Postgres' order.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    NegInf,
    Finite,
    PosInf,
    NaN,
}

/// Compares two stored numerics as numeric_cmp does (NaN above everything, equal to
/// itself; infinities beyond every finite value; 1.0 equal to 1.00); None when either
/// is not a numeric's bytes.
pub fn compare(a: &[u8], b: &[u8]) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    let (ca, sa, wa, da) = parts(a)?;
    let (cb, sb, wb, db) = parts(b)?;
    if ca != Class::Finite || cb != Class::Finite {
        return Some(ca.cmp(&cb));
    }
    // Signs: -1, 0 (no digits), +1.
    let (sa, sb) = (if da.is_empty() { 0 } else { sa }, if db.is_empty() { 0 } else { sb });
    if sa != sb || sa == 0 {
        return Some(sa.cmp(&sb));
    }
    let magnitude = wa.cmp(&wb).then_with(|| {
        let n = da.len().max(db.len());
        (0..n).map(|i| da.get(i).unwrap_or(&0).cmp(db.get(i).unwrap_or(&0))).find(|o| *o != Ordering::Equal).unwrap_or(Ordering::Equal)
    });
    Some(if sa > 0 { magnitude } else { magnitude.reverse() })
}

/// (class, sign, weight, digits) of a stored numeric.
fn parts(bytes: &[u8]) -> Option<(Class, i8, i32, Vec<u16>)> {
    let (negative, weight, at) = match header(bytes)? {
        Header::Special(n) => {
            let class = match n {
                Numeric::NaN => Class::NaN,
                Numeric::PosInf => Class::PosInf,
                _ => Class::NegInf,
            };
            return Some((class, 0, 0, Vec::new()));
        }
        Header::Finite { negative, weight, digits_at, .. } => (negative, weight, digits_at),
    };
    let raw = bytes.get(at..)?;
    let mut digits: Vec<u16> = raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    let lead = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..lead);
    while digits.last() == Some(&0) {
        digits.pop();
    }
    Some((Class::Finite, if negative { -1 } else { 1 }, weight - lead as i32, digits))
}

/// Powers of ten that fit an i64.
const POW10: [i64; 19] = {
    let mut p = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// The stored numeric's value times 10^scale, when its display scale is `scale` and the
/// result fits an i64 (the hot path of aggregation: no i128, no division but of a digit).
#[inline]
pub fn read_scaled(bytes: &[u8], scale: u16) -> Option<i64> {
    let Header::Finite { negative, dscale, weight, digits_at: at } = header(bytes)? else { return None };
    if dscale != scale {
        return None;
    }
    let mut v: i64 = 0;
    for (i, d) in bytes.get(at..)?.chunks_exact(2).enumerate() {
        let d = u16::from_le_bytes([d[0], d[1]]) as i64;
        // This digit is worth 10^(4 * (weight - i) + scale) of the scaled value.
        let e = 4 * (weight - i as i32) + scale as i32;
        // Constant divisors: the compiler turns them into multiplications.
        let (term, rest) = match e {
            0.. => (d.checked_mul(*POW10.get(e as usize)?)?, 0),
            -1 => (d / 10, d % 10),
            -2 => (d / 100, d % 100),
            -3 => (d / 1000, d % 1000),
            // A whole digit below the display scale: only zero fits.
            _ => (0, d),
        };
        if rest != 0 {
            return None;
        }
        v = v.checked_add(term)?;
    }
    Some(if negative { -v } else { v })
}

/// The stored form of the numeric `v / 10^scale` with display scale `scale`, as
/// Postgres' make_result writes it: base-10000 digits without leading or trailing zero
/// digits (zero has none, weight 0, positive), the short header when scale and weight
/// allow it. read_scaled(encode_scaled(v, s), s) == Some(v).
pub fn encode_scaled(v: i64, scale: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    encode_scaled_into(v, scale, &mut out);
    out
}

/// [`encode_scaled`] appending to `out` (a column's bytes: no allocation per value).
pub fn encode_scaled_into(v: i64, scale: u16, out: &mut Vec<u8>) {
    let fits = encode_wide_into(v as i128, scale, out);
    debug_assert!(fits, "an i64 times 10^3 fits a u128");
}

/// [`encode_scaled_into`] for an i128 mantissa; false (nothing written) when the value
/// padded to whole base-10000 digits overflows.
pub fn encode_wide_into(v: i128, scale: u16, out: &mut Vec<u8>) -> bool {
    // Pad the fraction to whole base-10000 digits: the last digit is then worth
    // 10000^-frac_digits.
    let pad = (4 - scale % 4) % 4;
    let Some(mut m) = v.unsigned_abs().checked_mul(10u128.pow(pad as u32)) else { return false };
    let mut weight = -(((scale + pad) / 4) as i32);
    // At most 39 decimal digits: 10 base-10000 digits, least significant first;
    // trailing zero digits only move the weight.
    let mut digits = [0u16; 10];
    let mut n = 0;
    while m > 0 {
        let d = (m % 10_000) as u16;
        m /= 10_000;
        if n == 0 && d == 0 {
            weight += 1;
            continue;
        }
        digits[n] = d;
        n += 1;
    }
    let negative = v < 0;
    // `weight` was the last digit's: the first digit's is n - 1 above it.
    let weight = if n == 0 { 0 } else { weight + n as i32 - 1 };
    if scale <= SHORT_DSCALE_MASK >> SHORT_DSCALE_SHIFT && (-64..=63).contains(&weight) {
        let mut h = SHORT | (scale << SHORT_DSCALE_SHIFT) | (weight as u16 & SHORT_WEIGHT_MASK);
        if negative {
            h |= SHORT_SIGN_MASK;
        }
        if weight < 0 {
            h |= SHORT_WEIGHT_SIGN_MASK;
        }
        out.extend_from_slice(&h.to_le_bytes());
    } else {
        let sign = if negative { NEG } else { 0 };
        out.extend_from_slice(&(sign | (scale & DSCALE_MASK)).to_le_bytes());
        out.extend_from_slice(&(weight as i16).to_le_bytes());
    }
    for d in digits[..n].iter().rev() {
        out.extend_from_slice(&d.to_le_bytes());
    }
    true
}

/// The stored form of NaN or an infinity (a header only); a finite value gives NaN's.
pub fn special(n: Numeric) -> Vec<u8> {
    let h: u16 = match n {
        Numeric::PosInf => PINF,
        Numeric::NegInf => 0xF000,
        _ => NAN,
    };
    h.to_le_bytes().to_vec()
}

pub fn pow10(e: u32) -> Option<i128> {
    10i128.checked_pow(e)
}

impl Numeric {
    /// The value times 10^scale as an i64, when it is finite, has display scale
    /// `scale` exactly, and fits.
    pub fn scaled(self, scale: u16) -> Option<i64> {
        match self {
            Numeric::Finite { mantissa, dscale } if dscale == scale => i64::try_from(mantissa).ok(),
            _ => None,
        }
    }
}

/// The decimal text of `v / 10^scale` with exactly `scale` fractional digits (what
/// numeric_out prints for a value of that display scale).
pub fn format_scaled(v: i128, scale: u16) -> String {
    let digits = v.unsigned_abs().to_string();
    let scale = scale as usize;
    let sign = if v < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = if digits.len() <= scale { format!("{}{digits}", "0".repeat(scale + 1 - digits.len())) } else { digits };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(negative: bool, dscale: u16, weight: i32, digits: &[u16]) -> Vec<u8> {
        let w = if weight < 0 { SHORT_WEIGHT_SIGN_MASK | (weight + 64) as u16 } else { weight as u16 };
        let h = SHORT | if negative { SHORT_SIGN_MASK } else { 0 } | (dscale << SHORT_DSCALE_SHIFT) | w;
        let mut b = h.to_le_bytes().to_vec();
        digits.iter().for_each(|d| b.extend(d.to_le_bytes()));
        b
    }

    #[test]
    fn encodes_as_postgres_does() {
        assert_eq!(encode_scaled(12345, 2), short(false, 2, 0, &[123, 4500]));
        assert_eq!(encode_scaled(-5, 2), short(true, 2, -1, &[500]));
        assert_eq!(encode_scaled(100_000_000, 2), short(false, 2, 1, &[100]));
        assert_eq!(encode_scaled(0, 3), short(false, 3, 0, &[]));
        assert_eq!(encode_scaled(-10_000, 0), short(true, 0, 1, &[1]));
        // 0.0001 at scale 8: one digit of weight -1.
        assert_eq!(encode_scaled(10_000, 8), short(false, 8, -1, &[1]));
        // A display scale beyond the short header's 63: the long form.
        let mut long = (NEG | 70).to_le_bytes().to_vec();
        long.extend((-18i16).to_le_bytes());
        long.extend(500u16.to_le_bytes());
        assert_eq!(encode_scaled(-5, 70)[..], long[..]);
    }

    proptest::proptest! {
        #[test]
        fn encoding_round_trips(v in proptest::prelude::any::<i64>(), scale in 0u16..20) {
            let b = encode_scaled(v, scale);
            proptest::prop_assert_eq!(read_scaled(&b, scale), Some(v));
            proptest::prop_assert_eq!(read(&b).and_then(|n| n.scaled(scale)), Some(v));
        }
    }

    #[test]
    fn reads_postgres_encodings() {
        // 123.45 (numeric(15,2)): digits 123 | 4500, weight 0.
        assert_eq!(read(&short(false, 2, 0, &[123, 4500])).unwrap().scaled(2), Some(12345));
        // -0.05: digit 500, weight -1.
        assert_eq!(read(&short(true, 2, -1, &[500])).unwrap().scaled(2), Some(-5));
        // 1000000.00: digits 100, weight 1 (trailing zero digits are not stored).
        assert_eq!(read(&short(false, 2, 1, &[100])).unwrap().scaled(2), Some(100_000_000));
        // Zero has no digits.
        assert_eq!(read(&short(false, 3, 0, &[])).unwrap(), Numeric::Finite { mantissa: 0, dscale: 3 });
        // Long form: 12345678.9 with dscale 1, weight 1: digits 1234 | 5678 | 9000.
        let mut long = (1u16).to_le_bytes().to_vec();
        long.extend(1i16.to_le_bytes());
        [1234u16, 5678, 9000].iter().for_each(|d| long.extend(d.to_le_bytes()));
        assert_eq!(read(&long).unwrap().scaled(1), Some(123_456_789));
        assert_eq!(read(&NAN.to_le_bytes()), Some(Numeric::NaN));
        assert_eq!(read(&PINF.to_le_bytes()), Some(Numeric::PosInf));
        assert_eq!(read(&0xF000u16.to_le_bytes()), Some(Numeric::NegInf));
        // Another display scale is not this column's.
        assert_eq!(read(&short(false, 3, 0, &[1])).unwrap().scaled(2), None);
        // The fast path agrees.
        for (b, s) in [(short(false, 2, 0, &[123, 4500]), 2), (short(true, 2, -1, &[500]), 2), (short(false, 2, 1, &[100]), 2), (long.clone(), 1), (short(false, 3, 0, &[]), 3)] {
            assert_eq!(read_scaled(&b, s), read(&b).unwrap().scaled(s), "{b:?}");
        }
        assert_eq!(read_scaled(&NAN.to_le_bytes(), 0), None);
        assert_eq!(read_scaled(&short(false, 0, 5, &[1]), 0), None);
    }

    #[test]
    fn compares_like_numeric_cmp() {
        use std::cmp::Ordering::*;
        let v = |neg, scale, weight, d: &[u16]| short(neg, scale, weight, d);
        let (one, one_00, half, neg_half) = (v(false, 0, 0, &[1]), v(false, 2, 0, &[1]), v(false, 1, -1, &[5000]), v(true, 1, -1, &[5000]));
        let (big, zero, neg_big) = (v(false, 0, 1, &[1]), v(false, 3, 0, &[]), v(true, 0, 1, &[1]));
        assert_eq!(compare(&one, &one_00), Some(Equal));
        assert_eq!(compare(&half, &one), Some(Less));
        assert_eq!(compare(&neg_half, &zero), Some(Less));
        assert_eq!(compare(&neg_big, &neg_half), Some(Less));
        assert_eq!(compare(&big, &one), Some(Greater));
        assert_eq!(compare(&NAN.to_le_bytes(), &PINF.to_le_bytes()), Some(Greater));
        assert_eq!(compare(&NAN.to_le_bytes(), &NAN.to_le_bytes()), Some(Equal));
        assert_eq!(compare(&0xF000u16.to_le_bytes(), &neg_big), Some(Less));
        assert_eq!(compare(&v(false, 0, 0, &[1, 0]), &one), Some(Equal));
        assert_eq!(compare(&[1u8], &one), None);
    }

    #[test]
    fn formats_like_numeric_out() {
        assert_eq!(format_scaled(12345, 2), "123.45");
        assert_eq!(format_scaled(-5, 2), "-0.05");
        assert_eq!(format_scaled(0, 2), "0.00");
        assert_eq!(format_scaled(7, 0), "7");
        assert_eq!(format_scaled(i128::MIN + 1, 3).len(), 41);
    }
}
