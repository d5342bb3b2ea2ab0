//! Delta and DoubleDelta for integer-like values of width 1, 2, 4 or 8.

use super::bits::{get_varint, put_varint, unzigzag, zigzag};
use super::{corrupt, read_uint, sign_extend};
use crate::error::Result;

fn mask(width: usize) -> u64 {
    if width == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * width)) - 1
    }
}

/// `out[i] = x[i] - x[i-1]` (wrapping at the width), `out[0] = x[0]`.
pub fn delta_encode(data: &[u8], width: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut prev = 0u64;
    for v in data.chunks_exact(width) {
        let x = read_uint(v);
        out.extend_from_slice(&(x.wrapping_sub(prev) & mask(width)).to_le_bytes()[..width]);
        prev = x;
    }
    out
}

pub fn delta_decode(data: &[u8], width: usize, n: usize) -> Result<Vec<u8>> {
    if data.len() != n * width {
        return Err(corrupt("Delta", "wrong length"));
    }
    let mut out = Vec::with_capacity(data.len());
    let mut prev = 0u64;
    for d in data.chunks_exact(width) {
        prev = prev.wrapping_add(read_uint(d)) & mask(width);
        out.extend_from_slice(&prev.to_le_bytes()[..width]);
    }
    Ok(out)
}

/// First value raw, then zigzag varints of the second differences (first: the first
/// difference). Timestamps at a steady rate become runs of zero bytes.
pub fn double_delta_encode(data: &[u8], width: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4 + 16);
    let (mut prev, mut prev_delta) = (0i64, 0i64);
    for (i, v) in data.chunks_exact(width).enumerate() {
        let x = sign_extend(read_uint(v), width);
        if i == 0 {
            out.extend_from_slice(&x.to_le_bytes()[..width]);
        } else {
            let d = x.wrapping_sub(prev);
            put_varint(&mut out, zigzag(d.wrapping_sub(prev_delta)));
            prev_delta = d;
        }
        prev = x;
    }
    out
}

pub fn double_delta_decode(data: &[u8], width: usize, n: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(n * width);
    if n == 0 {
        return if data.is_empty() { Ok(out) } else { Err(corrupt("DoubleDelta", "trailing bytes")) };
    }
    if data.len() < width {
        return Err(corrupt("DoubleDelta", "truncated"));
    }
    let mut x = sign_extend(read_uint(&data[..width]), width);
    out.extend_from_slice(&x.to_le_bytes()[..width]);
    let (mut pos, mut delta) = (width, 0i64);
    for _ in 1..n {
        delta = delta.wrapping_add(unzigzag(get_varint(data, &mut pos)?));
        x = x.wrapping_add(delta);
        out.extend_from_slice(&x.to_le_bytes()[..width]);
    }
    if pos != data.len() {
        return Err(corrupt("DoubleDelta", "trailing bytes"));
    }
    Ok(out)
}
