//! T64 (as in ClickHouse): values in groups of 64; each group stores its minimum and the
//! bit width of (max - min), then one 64-bit word per used bit holding that bit of every
//! value (a bit-plane transpose). Small ranges keep only their significant bits, and the
//! planes compress further.

use super::{corrupt, read_uint, sign_extend};
use crate::error::Result;

/// Transposes a 64x64 bit matrix in place: bit `j` of `a[i]` moves to bit `i` of `a[j]`.
/// Six rounds of block swaps (Hacker's Delight 7-3) instead of 4096 single-bit moves.
fn transpose64(a: &mut [u64; 64]) {
    let mut j = 32usize;
    let mut m: u64 = 0x0000_0000_FFFF_FFFF;
    while j != 0 {
        let mut k = 0usize;
        while k < 64 {
            let t = ((a[k] >> j) ^ a[k + j]) & m;
            a[k] ^= t << j;
            a[k + j] ^= t;
            k = (k + j + 1) & !j;
        }
        j >>= 1;
        m ^= m << j;
    }
}

pub fn encode(data: &[u8], width: usize) -> Vec<u8> {
    let values: Vec<i64> = data.chunks_exact(width).map(|v| sign_extend(read_uint(v), width)).collect();
    let mut out = Vec::with_capacity(data.len() / 2 + 16);
    for group in values.chunks(64) {
        let min = *group.iter().min().unwrap_or(&0);
        let max = *group.iter().max().unwrap_or(&0);
        let range = (max as i128 - min as i128) as u64;
        let nbits = 64 - range.leading_zeros() as usize;
        out.extend_from_slice(&min.to_le_bytes());
        out.push(nbits as u8);
        let mut m = [0u64; 64];
        for (j, &v) in group.iter().enumerate() {
            m[j] = v.wrapping_sub(min) as u64;
        }
        // Row j holds value j; after the transpose row b holds bit plane b.
        transpose64(&mut m);
        for plane in &m[..nbits] {
            out.extend_from_slice(&plane.to_le_bytes());
        }
    }
    out
}

pub fn decode(data: &[u8], width: usize, n: usize) -> Result<Vec<u8>> {
    decode_groups(data, width, n, |_| true)
}

/// Like [`decode`], but decodes only the groups of 64 values for which `needed(group)`
/// holds; the values of the others are left unspecified (zero).
pub fn decode_groups(data: &[u8], width: usize, n: usize, needed: impl Fn(usize) -> bool) -> Result<Vec<u8>> {
    if !(1..=8).contains(&width) {
        return Err(corrupt("T64", "value width must be 1 to 8 bytes"));
    }
    let mut out = vec![0u8; n * width];
    let mut pos = 0usize;
    for (group, chunk) in out.chunks_mut(64 * width).enumerate() {
        let g = chunk.len() / width;
        let head = data.get(pos..pos + 9).ok_or_else(|| corrupt("T64", "truncated group header"))?;
        let min = i64::from_le_bytes(head[..8].try_into().unwrap_or_default());
        let nbits = head[8] as usize;
        if nbits > 64 {
            return Err(corrupt("T64", "bit width over 64"));
        }
        pos += 9;
        let planes = data.get(pos..pos + 8 * nbits).ok_or_else(|| corrupt("T64", "truncated bit planes"))?;
        pos += 8 * nbits;
        if !needed(group) {
            continue;
        }
        let mut vals = [0u64; 64];
        for (b, p) in planes.chunks_exact(8).enumerate() {
            vals[b] = u64::from_le_bytes(p.try_into().unwrap_or_default());
        }
        transpose64(&mut vals);
        for (v, dst) in vals[..g].iter().zip(chunk.chunks_exact_mut(width)) {
            dst.copy_from_slice(&min.wrapping_add(*v as i64).to_le_bytes()[..width]);
        }
    }
    if pos != data.len() {
        return Err(corrupt("T64", "trailing bytes"));
    }
    Ok(out)
}
