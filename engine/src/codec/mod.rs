//! Codecs. A column's values in a granule go through a chain: zero or more transforms
//! that make fixed-width numbers easier to compress (Delta, DoubleDelta, Gorilla, T64, GCD),
//! then one block compression (LZ4, ZSTD or none). Variable-length columns may instead be
//! dictionary-encoded per part (ClickHouse's LowCardinality): granules then hold codes.
//!
//! Every decoder takes untrusted bytes and returns `Error::Corrupt`, never panics.

pub mod bits;
pub mod choose;
pub mod block;
pub mod delta;
pub mod dict;
pub mod gcd;
pub mod gorilla;
pub mod t64;
pub mod zstd_dict;

pub use block::{compress, compress_with, decompress, decompress_with, Compression};
pub use zstd_dict::ZstdDictionary;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A transform of fixed-width little-endian values (width 1, 2, 4 or 8 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Transform {
    /// Differences of consecutive values (wrapping), fixed width.
    Delta,
    /// Differences of differences, zigzag varints: regular series become runs of zeros.
    DoubleDelta,
    /// Facebook's Gorilla XOR encoding of floats, bit-packed.
    Gorilla,
    /// ClickHouse's T64: per 64 values, subtract the minimum and transpose the bits that
    /// are used, so only significant bits remain.
    T64,
    /// Divide by the block's greatest common step after subtracting its minimum; keeps
    /// the width (two extra values), so another transform may follow.
    Gcd,
}

impl Transform {
    /// Whether the output is again values of the input's width (so a transform may follow).
    fn keeps_width(self) -> bool {
        matches!(self, Transform::Delta | Transform::Gcd)
    }
}

/// Transforms then block compression.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CodecChain {
    pub transforms: Vec<Transform>,
    pub compression: Compression,
}

impl CodecChain {
    pub fn plain(compression: Compression) -> Self {
        CodecChain { transforms: Vec::new(), compression }
    }

    /// Applies the transforms to `n` values of `width` bytes.
    pub fn encode_values(&self, data: &[u8], width: usize) -> Vec<u8> {
        let mut cur = data.to_vec();
        for t in &self.transforms {
            cur = match t {
                Transform::Delta => delta::delta_encode(&cur, width),
                Transform::DoubleDelta => delta::double_delta_encode(&cur, width),
                Transform::Gorilla => gorilla::encode(&cur, width),
                Transform::T64 => t64::encode(&cur, width),
                Transform::Gcd => gcd::encode(&cur, width),
            };
            // A transform after another needs fixed-width values: check_fits allows only
            // width-keeping transforms before others.
        }
        cur
    }

    /// Like [`decode_values`](Self::decode_values) for a reader that needs only the values
    /// at `wanted` (sorted): a chain ending in T64 whose other transforms work value by
    /// value (GCD) transposes only the groups of 64 holding them. Other values are
    /// unspecified.
    pub fn decode_values_rows(&self, data: &[u8], width: usize, n: usize, wanted: &[u32]) -> Result<Vec<u8>> {
        let Some((Transform::T64, before)) = self.transforms.split_last() else {
            return self.decode_values(data, width, n);
        };
        if before.iter().any(|t| *t != Transform::Gcd) {
            return self.decode_values(data, width, n);
        }
        // Each GCD puts two header values in front; they are always needed.
        let shift = 2 * before.len();
        let mut groups = vec![false; (n + shift).div_ceil(64)];
        if shift > 0 {
            groups[0] = true;
        }
        for &r in wanted {
            if let Some(g) = groups.get_mut((r as usize + shift) / 64) {
                *g = true;
            }
        }
        let data = t64::decode_groups(data, width, n + shift, |g| groups[g])?;
        if before.is_empty() {
            // T64 alone: its output is the values (decode_values would copy it).
            return Ok(data);
        }
        CodecChain { transforms: before.to_vec(), compression: self.compression }.decode_values(&data, width, n)
    }

    /// Inverse of [`encode_values`] for `n` values of `width` bytes.
    pub fn decode_values(&self, data: &[u8], width: usize, n: usize) -> Result<Vec<u8>> {
        // How many values each transform was given: GCD adds two.
        let mut counts = Vec::with_capacity(self.transforms.len());
        let mut c = n;
        for t in &self.transforms {
            counts.push(c);
            if *t == Transform::Gcd {
                c += 2;
            }
        }
        // The input is borrowed (a raw block straight from the read): only the
        // transforms' outputs are new buffers.
        let mut data = std::borrow::Cow::Borrowed(data);
        for (t, &n) in self.transforms.iter().zip(&counts).rev() {
            data = std::borrow::Cow::Owned(match t {
                Transform::Delta => delta::delta_decode(&data, width, n)?,
                Transform::DoubleDelta => delta::double_delta_decode(&data, width, n)?,
                Transform::Gorilla => gorilla::decode(&data, width, n)?,
                Transform::T64 => t64::decode(&data, width, n)?,
                Transform::Gcd => gcd::decode(&data, width, n)?,
            });
        }
        Ok(data.into_owned())
    }

    /// Whether this chain can encode values of a column of `width` bytes whose order the
    /// engine knows as `kind`; the error says why not.
    pub fn check_fits(&self, width: Option<usize>, float: bool) -> std::result::Result<(), String> {
        for (i, t) in self.transforms.iter().enumerate() {
            let Some(w) = width.filter(|w| [1, 2, 4, 8].contains(w)) else {
                return Err(format!("{t} needs a fixed-width numeric column (integers, dates, times, timestamps, floats)"));
            };
            if *t == Transform::Gorilla && (!float || !(w == 4 || w == 8)) {
                return Err("Gorilla is for real and double precision columns".into());
            }
            if *t != Transform::Gorilla && float {
                return Err(format!("{t} is for integer-like columns; use Gorilla for floats"));
            }
            // Only Delta and GCD keep values fixed-width, so only they may come before another.
            if i + 1 < self.transforms.len() && !t.keeps_width() {
                return Err(format!("{t} must be the last transform of a chain"));
            }
        }
        Ok(())
    }

    /// Parses `Delta, T64, ZSTD(3)`; a chain without a block codec gets `default`.
    pub fn parse(s: &str, default: Compression) -> std::result::Result<Self, String> {
        let mut transforms = Vec::new();
        let mut compression = None;
        for raw in split_top_level(s) {
            let item = raw.trim();
            if item.is_empty() {
                continue;
            }
            if compression.is_some() {
                return Err(format!("\"{item}\" comes after the block compression, which must be last"));
            }
            match item.to_ascii_lowercase().as_str() {
                "delta" => transforms.push(Transform::Delta),
                "doubledelta" => transforms.push(Transform::DoubleDelta),
                "gorilla" => transforms.push(Transform::Gorilla),
                "t64" => transforms.push(Transform::T64),
                "gcd" => transforms.push(Transform::Gcd),
                other => compression = Some(Compression::parse(other)?),
            }
        }
        Ok(CodecChain { transforms, compression: compression.unwrap_or(default) })
    }
}

/// Splits on commas outside parentheses: `Delta, ZSTD(3)`.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transform::Delta => "Delta",
            Transform::DoubleDelta => "DoubleDelta",
            Transform::Gorilla => "Gorilla",
            Transform::T64 => "T64",
            Transform::Gcd => "GCD",
        })
    }
}

impl fmt::Display for CodecChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.transforms {
            write!(f, "{t}, ")?;
        }
        write!(f, "{}", self.compression)
    }
}

/// Reads `width`-byte little-endian values as u64 (zero-extended).
pub(crate) fn read_uint(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(w)
}

/// Sign-extends a `width`-byte value to i64.
pub(crate) fn sign_extend(v: u64, width: usize) -> i64 {
    let shift = 64 - 8 * width as u32;
    ((v << shift) as i64) >> shift
}

pub(crate) fn corrupt(what: &str, detail: &str) -> Error {
    Error::corrupt(what, detail)
}

#[cfg(test)]
mod tests;
