//! A framed granule block from arbitrary bytes, read whole and in part, without and with a
//! trained ZSTD dictionary (frames tagged as dictionary-compressed reach its decoder). The
//! harness rewrites the checksums the header holds so mutations get past them into the
//! frames' decoders (a real reader refuses a block whose checksums fail).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mergetree::granule::{self, frames, Mark};
use mergetree::{CodecChain, ColumnType, Compression};

const CHAINS: [&str; 4] = ["LZ4", "ZSTD(1)", "T64", "GCD, T64"];

/// One dictionary for the whole run, trained on JSON-like samples.
fn dictionary() -> &'static mergetree::codec::ZstdDictionary {
    static D: std::sync::OnceLock<mergetree::codec::ZstdDictionary> = std::sync::OnceLock::new();
    D.get_or_init(|| {
        let samples: Vec<Vec<u8>> = (0..2000u32).map(|i| format!("{{\"page\":\"/p/{}\",\"n\":{i}}}", i % 97).into_bytes()).collect();
        mergetree::codec::ZstdDictionary::train(samples.iter().map(Vec::as_slice), 4096).expect("a dictionary")
    })
}

fuzz_target!(|input: (u8, u16, u32, Vec<u32>, Vec<u8>)| {
    let (t, rows, raw_len, wanted, mut block) = input;
    let ty = if t % 2 == 0 { ColumnType::Var } else { ColumnType::Fixed { width: 8 } };
    let chain = CodecChain::parse(CHAINS[(t as usize / 2) % CHAINS.len()], Compression::Lz4).unwrap();
    if block.len() >= 3 {
        block[0] = frames::TAG_FRAMED;
    }
    let header_len = frames::FrameHeader::len_from_prefix(&block).unwrap_or(0).min(block.len());
    // Make the directory consistent: frame lengths cover the block, the last takes the
    // rest; each frame's CRC is right, then the header's; rows and raw sizes add up.
    let entries: Vec<usize> = (3..header_len).step_by(16).filter(|&e| e + 16 <= header_len).collect();
    let (mut at, mut rows_sum, mut raw_sum) = (header_len, 0u64, 0u64);
    for (k, &e) in entries.iter().enumerate() {
        let left = block.len() - at;
        let mut len = (u32::from_le_bytes(block[e + 4..e + 8].try_into().unwrap()) as usize).min(left);
        if k + 1 == entries.len() {
            len = left;
        }
        block[e + 4..e + 8].copy_from_slice(&(len as u32).to_le_bytes());
        let crc = crc32fast::hash(&block[at..at + len]);
        block[e + 12..e + 16].copy_from_slice(&crc.to_le_bytes());
        let frame_rows = u32::from_le_bytes(block[e..e + 4].try_into().unwrap()) % 5000;
        block[e..e + 4].copy_from_slice(&frame_rows.to_le_bytes());
        rows_sum += frame_rows as u64;
        let raw = u32::from_le_bytes(block[e + 8..e + 12].try_into().unwrap()) % (1 << 18);
        block[e + 8..e + 12].copy_from_slice(&raw.to_le_bytes());
        raw_sum += raw as u64;
        at += len;
    }
    let rows = if rows % 2 == 0 { rows_sum as usize } else { rows as usize % 20000 };
    let _ = raw_len;
    let mark = Mark { offset: 0, compressed_len: block.len() as u32, uncompressed_len: raw_sum as u32, crc32: crc32fast::hash(&block[..header_len]) };
    let _ = granule::read_block(&block, &mark, ty, rows, &chain);
    let mut wanted: Vec<u32> = wanted.into_iter().map(|w| w % (rows as u32 + 1)).collect();
    wanted.sort_unstable();
    let dict = (t % 4 >= 2).then(dictionary);
    let _ = granule::read_rows(|at, len| block.get(at..at + len).map(<[u8]>::to_vec).ok_or(mergetree::Error::Invalid("past end".into())), &mark, ty, rows, &chain, None, dict);
    let _ = granule::read_rows(|at, len| block.get(at..at + len).map(<[u8]>::to_vec).ok_or(mergetree::Error::Invalid("past end".into())), &mark, ty, rows, &chain, Some(&wanted), dict);
});
