//! T64 (as in ClickHouse): values in groups of 64; each group stores its minimum and the
//! bit width of (max - min), then one 64-bit word per used bit holding that bit of every
//! value (a bit-plane transpose). Small ranges keep only their significant bits, and the
//! planes compress further.

use super::{corrupt, read_uint, sign_extend};
use crate::error::Result;

/// Transposes a 64x64 bit matrix in place: bit `j` of `a[i]` moves to bit `i` of `a[j]`.
/// Six rounds of block swaps (Hacker's Delight 7-3) instead of 4096 single-bit moves;
/// each round's distance is a constant, so its 32 swaps unroll and vectorize.
fn transpose64(a: &mut [u64; 64]) {
    swap_round::<32>(a, 0x0000_0000_FFFF_FFFF);
    swap_round::<16>(a, 0x0000_FFFF_0000_FFFF);
    swap_round::<8>(a, 0x00FF_00FF_00FF_00FF);
    swap_round::<4>(a, 0x0F0F_0F0F_0F0F_0F0F);
    swap_round::<2>(a, 0x3333_3333_3333_3333);
    swap_round::<1>(a, 0x5555_5555_5555_5555);
}

/// One round: for each row `k` without bit `J`, the bits selected by `m` of row `k`
/// (shifted down by `J`) swap with those of row `k + J`.
#[inline(always)]
fn swap_round<const J: usize>(a: &mut [u64; 64], m: u64) {
    for block in (0..64).step_by(2 * J) {
        for k in block..block + J {
            let t = ((a[k] >> J) ^ a[k + J]) & m;
            a[k] ^= t << J;
            a[k + J] ^= t;
        }
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

/// Writes a group's values (`min` plus each offset) as `W`-byte integers: a constant
/// width makes each store one move, not a call to memmove.
#[inline(always)]
fn put<const W: usize>(chunk: &mut [u8], vals: &[u64], min: i64) {
    for (v, dst) in vals.iter().zip(chunk.chunks_exact_mut(W)) {
        let bytes = min.wrapping_add(*v as i64).to_le_bytes();
        let mut b = [0u8; W];
        b.copy_from_slice(&bytes[..W]);
        dst.copy_from_slice(&b);
    }
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
        match width {
            8 => put::<8>(chunk, &vals[..g], min),
            4 => put::<4>(chunk, &vals[..g], min),
            2 => put::<2>(chunk, &vals[..g], min),
            1 => put::<1>(chunk, &vals[..g], min),
            _ => {
                for (v, dst) in vals[..g].iter().zip(chunk.chunks_exact_mut(width)) {
                    dst.copy_from_slice(&min.wrapping_add(*v as i64).to_le_bytes()[..width]);
                }
            }
        }
    }
    if pos != data.len() {
        return Err(corrupt("T64", "trailing bytes"));
    }
    Ok(out)
}
