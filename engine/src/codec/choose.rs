//! Automatic codec choice: for each column of each part, try the candidate chains that fit
//! its type on a sample of its first values and keep the smallest. A transform must earn
//! its place: it is chosen only when it saves at least 5% over the plain block codec
//! (Gorilla, the slowest to decode, at least 15%). Then, unless the table fixes the block
//! codec, ZSTD replaces LZ4 where it saves at least 20% (and 1% of the raw bytes): it
//! decodes at roughly a third of LZ4's speed, so it must buy a clearly smaller column.

use super::{compress, CodecChain, Compression, Transform};
use crate::column::SortKind;

/// Values sampled per column (about two granules at the default granularity).
pub const SAMPLE_VALUES: usize = 16384;

fn candidates(width: usize, sort: SortKind) -> Vec<Vec<Transform>> {
    use Transform::*;
    match (sort, width) {
        (SortKind::SignedInt | SortKind::Scaled(_), 1 | 2 | 4 | 8) => {
            vec![vec![Delta], vec![DoubleDelta], vec![T64], vec![Delta, T64], vec![Gcd, T64], vec![Gcd, Delta, T64]]
        }
        (SortKind::Float, 4 | 8) => vec![vec![Gorilla]],
        _ => Vec::new(),
    }
}

/// The chain for a fixed-width column, judged on `sample` (whole values, little-endian)
/// compressed in frames of `frame_rows` values, as the writer stores it.
pub fn choose(sample: &[u8], width: usize, sort: SortKind, compression: Compression, frame_rows: usize) -> CodecChain {
    let plain = CodecChain::plain(compression);
    let cands = candidates(width, sort);
    if cands.is_empty() || sample.is_empty() {
        return plain;
    }
    let size = |chain: &CodecChain| -> usize {
        sample.chunks((frame_rows * width).max(1)).map(|f| compress(compression, &chain.encode_values(f, width)).len()).sum()
    };
    let base = size(&plain);
    let mut best = (base, plain);
    for transforms in cands {
        let chain = CodecChain { transforms, compression };
        let size = size(&chain);
        let needed = if chain.transforms.contains(&Transform::Gorilla) { 0.85 } else { 0.95 };
        if (size as f64) <= base as f64 * needed && size < best.0 {
            best = (size, chain);
        }
    }
    best.1
}

/// The ZSTD level the automatic choice uses. From level 5 on ZSTD's lazy matching and
/// larger window pay on text, and decoding gets no slower. Level 9 because blocks are cut
/// into frames of 8-128 KB (see `granule::frames`), where ZSTD picks its
/// small-input parameters: there level 7 loses 7% on JSON frames of 1024 rows and level 9
/// about 3% against whole 8192-row granules at level 7. It encodes at about 85 MB/s per core.
pub const AUTO_ZSTD_LEVEL: i32 = 9;

/// The ZSTD level inserts use where the automatic choice takes ZSTD: about five times
/// faster to encode than `AUTO_ZSTD_LEVEL` for 10-15% more bytes, which merges win back
/// (they re-encode at `AUTO_ZSTD_LEVEL`).
pub const FAST_ZSTD_LEVEL: i32 = 1;

/// ZSTD at `level` instead of `default` when it makes the encoded sample `frames` at
/// least 20% smaller and the bytes it saves are at least 1% of the raw ones (else a few
/// hundred bytes saved per granule would pay ZSTD's per-block setup on every read), or
/// when LZ4's output is mostly runs (below).
pub fn block_codec(frames: &[Vec<u8>], default: Compression, level: i32) -> Compression {
    if default != Compression::Lz4 || frames.iter().all(|f| f.is_empty()) {
        return default;
    }
    let size = |c| frames.iter().map(|f| compress(c, f).len()).sum::<usize>();
    let raw: usize = frames.iter().map(Vec::len).sum();
    let lz4 = size(Compression::Lz4);
    let zstd = size(Compression::Zstd(level));
    // Frames LZ4 shrinks over 16x are mostly long overlapping matches (runs of a sorted
    // column's codes), which LZ4's safe decoder copies a byte at a time: ZSTD decodes them
    // 4-14x faster (1 against 14 us for 16 kB of runs) and smaller.
    let runs = lz4 * 16 < raw && zstd <= lz4;
    if runs || ((zstd as f64) <= lz4 as f64 * 0.8 && (lz4 - zstd) * 100 >= raw) {
        Compression::Zstd(level)
    } else {
        default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_transforms_that_pay() {
        let ts: Vec<u8> = (0..10000i64).flat_map(|i| (1_700_000_000_000 + i * 1000).to_le_bytes()).collect();
        assert!(!choose(&ts, 8, SortKind::SignedInt, Compression::Lz4, 2048).transforms.is_empty());
        // Text-like bytes in a fixed column the engine cannot reason about: plain.
        assert!(choose(&ts, 8, SortKind::Opaque, Compression::Lz4, 2048).transforms.is_empty());
        let smooth: Vec<u8> = (0..10000).flat_map(|i| (20.0 + (i as f64 / 100.0).sin()).to_le_bytes()).collect();
        let c = choose(&smooth, 8, SortKind::Float, Compression::Lz4, 2048);
        assert!(c.transforms.is_empty() || c.transforms == vec![Transform::Gorilla]);
    }
}
