//! GCD: values of a block that share a common step (timestamps in microseconds that only
//! ever hold milliseconds or seconds, prices in cents of whole dollars) become
//! `(v - min) / gcd`, which needs fewer bits. The output keeps the input's width: two
//! leading values (min and gcd) and then the quotients, so T64 or Delta may follow
//! (ClickHouse's GCD codec does the same job).

use super::{corrupt, read_uint, sign_extend};
use crate::error::Result;

fn mask(width: usize) -> u64 {
    if width == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * width)) - 1
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `n` values of `width` bytes -> `n + 2` values of `width` bytes.
pub fn encode(data: &[u8], width: usize) -> Vec<u8> {
    let vals: Vec<i64> = data.chunks_exact(width).map(|c| sign_extend(read_uint(c), width)).collect();
    let min = vals.iter().copied().min().unwrap_or(0);
    // Differences from the minimum fit the width as unsigned numbers.
    let diffs: Vec<u64> = vals.iter().map(|&v| (v as u64).wrapping_sub(min as u64) & mask(width)).collect();
    let g = diffs.iter().fold(0, |g, &d| gcd(g, d)).max(1);
    let mut out = Vec::with_capacity(data.len() + 2 * width);
    out.extend_from_slice(&(min as u64).to_le_bytes()[..width]);
    out.extend_from_slice(&g.to_le_bytes()[..width]);
    for d in diffs {
        out.extend_from_slice(&(d / g).to_le_bytes()[..width]);
    }
    out
}

/// Inverse of [`encode`]: `n + 2` values in, `n` out.
pub fn decode(data: &[u8], width: usize, n: usize) -> Result<Vec<u8>> {
    if !(1..=8).contains(&width) {
        return Err(corrupt("gcd", "value width must be 1 to 8 bytes"));
    }
    if data.len() != (n + 2) * width {
        return Err(corrupt("gcd", "length does not match the value count"));
    }
    let min = read_uint(&data[..width]);
    let g = read_uint(&data[width..2 * width]);
    let q = &data[2 * width..];
    let mut out = vec![0u8; n * width];
    // One loop per width, writing in place: this runs for every granule of a timestamp column.
    match width {
        8 => q.chunks_exact(8).zip(out.chunks_exact_mut(8)).for_each(|(c, o)| {
            let v = min.wrapping_add(u64::from_le_bytes(c.try_into().unwrap_or_default()).wrapping_mul(g));
            o.copy_from_slice(&v.to_le_bytes());
        }),
        4 => q.chunks_exact(4).zip(out.chunks_exact_mut(4)).for_each(|(c, o)| {
            let v = (min as u32).wrapping_add(u32::from_le_bytes(c.try_into().unwrap_or_default()).wrapping_mul(g as u32));
            o.copy_from_slice(&v.to_le_bytes());
        }),
        _ => q.chunks_exact(width).zip(out.chunks_exact_mut(width)).for_each(|(c, o)| {
            let v = min.wrapping_add(read_uint(c).wrapping_mul(g)) & mask(width);
            o.copy_from_slice(&v.to_le_bytes()[..width]);
        }),
    }
    Ok(out)
}
