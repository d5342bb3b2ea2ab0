//! Block compression. A compressed block starts with a one-byte codec tag so a reader
//! never needs outside knowledge to decode it; sizes come from the mark that points at
//! the block, which bounds every allocation a corrupt block could ask for.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Compression {
    None,
    #[default]
    Lz4,
}

const TAG_NONE: u8 = 0;
const TAG_LZ4: u8 = 1;

pub fn compress(c: Compression, raw: &[u8]) -> Vec<u8> {
    match c {
        Compression::None => {
            let mut out = Vec::with_capacity(raw.len() + 1);
            out.push(TAG_NONE);
            out.extend_from_slice(raw);
            out
        }
        Compression::Lz4 => {
            let mut out = vec![TAG_LZ4];
            out.extend_from_slice(&lz4_flex::block::compress(raw));
            out
        }
    }
}

/// Decodes a block whose uncompressed size is known to be `raw_len`.
pub fn decompress(block: &[u8], raw_len: usize) -> Result<Vec<u8>> {
    let (&tag, body) = block.split_first().ok_or_else(|| Error::corrupt("block", "empty block"))?;
    let out = match tag {
        TAG_NONE => body.to_vec(),
        TAG_LZ4 => lz4_flex::block::decompress(body, raw_len)
            .map_err(|e| Error::corrupt("block", format!("lz4: {e}")))?,
        t => return Err(Error::corrupt("block", format!("unknown codec tag {t}"))),
    };
    if out.len() != raw_len {
        return Err(Error::corrupt("block", format!("decoded {} bytes, expected {raw_len}", out.len())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn roundtrip(raw in proptest::collection::vec(any::<u8>(), 0..5000), lz in any::<bool>()) {
            let c = if lz { Compression::Lz4 } else { Compression::None };
            let block = compress(c, &raw);
            prop_assert_eq!(decompress(&block, raw.len()).unwrap(), raw);
        }

        #[test]
        fn garbage_never_panics(block in proptest::collection::vec(any::<u8>(), 0..300), n in 0usize..1000) {
            let _ = decompress(&block, n);
        }
    }
}
