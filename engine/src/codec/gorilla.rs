//! Gorilla (Pelkonen et al., VLDB 2015) for 4- and 8-byte floats: each value is XORed
//! with the previous one; equal values cost one bit, close values only their differing
//! middle bits.

use super::bits::{BitReader, BitWriter};
use super::{corrupt, read_uint};
use crate::error::Result;

pub fn encode(data: &[u8], width: usize) -> Vec<u8> {
    let bits = 8 * width as u32;
    let (lead_bits, len_bits) = if width == 8 { (6, 6) } else { (5, 5) };
    let mut w = BitWriter::new();
    let mut prev = 0u64;
    let (mut p_lead, mut p_trail) = (u32::MAX, 0u32);
    for (i, v) in data.chunks_exact(width).enumerate() {
        let x = read_uint(v);
        if i == 0 {
            w.write(x, bits);
            prev = x;
            continue;
        }
        let xor = x ^ prev;
        prev = x;
        if xor == 0 {
            w.write(0, 1);
            continue;
        }
        w.write(1, 1);
        let lead = (xor.leading_zeros() - (64 - bits)).min((1 << lead_bits) - 1);
        let trail = xor.trailing_zeros();
        if p_lead != u32::MAX && lead >= p_lead && trail >= p_trail {
            // Fits the previous window: reuse it.
            w.write(0, 1);
            w.write(xor >> p_trail, bits - p_lead - p_trail);
        } else {
            let len = bits - lead - trail;
            w.write(1, 1);
            w.write(lead as u64, lead_bits);
            // len is 1..=bits; store len - 1 so it fits len_bits.
            w.write((len - 1) as u64, len_bits);
            w.write(xor >> trail, len);
            p_lead = lead;
            p_trail = trail;
        }
    }
    w.finish()
}

pub fn decode(data: &[u8], width: usize, n: usize) -> Result<Vec<u8>> {
    if width != 4 && width != 8 {
        return Err(corrupt("Gorilla", "bad width"));
    }
    let bits = 8 * width as u32;
    let (lead_bits, len_bits) = if width == 8 { (6, 6) } else { (5, 5) };
    let mut r = BitReader::new(data);
    let mut out = Vec::with_capacity(n * width);
    let mut prev = 0u64;
    let (mut p_lead, mut p_trail) = (u32::MAX, 0u32);
    for i in 0..n {
        let x = if i == 0 {
            r.read(bits)?
        } else if r.read(1)? == 0 {
            prev
        } else if r.read(1)? == 0 {
            if p_lead == u32::MAX {
                return Err(corrupt("Gorilla", "window reused before one was set"));
            }
            prev ^ (r.read(bits - p_lead - p_trail)? << p_trail)
        } else {
            let lead = r.read(lead_bits)? as u32;
            let len = r.read(len_bits)? as u32 + 1;
            if lead + len > bits {
                return Err(corrupt("Gorilla", "window larger than the value"));
            }
            let trail = bits - lead - len;
            p_lead = lead;
            p_trail = trail;
            prev ^ (r.read(len)? << trail)
        };
        out.extend_from_slice(&x.to_le_bytes()[..width]);
        prev = x;
    }
    Ok(out)
}
