//! A granule's column block (validity bitmap, values, transforms) from arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mergetree::{CodecChain, ColumnType, Compression};

const CHAINS: [&str; 6] = ["LZ4", "Delta", "DoubleDelta", "T64", "Delta, T64", "Gorilla"];

fuzz_target!(|input: (u8, u8, u16, &[u8])| {
    let (t, c, rows, raw) = input;
    let ty = match t % 5 {
        0 => ColumnType::Var,
        1 => ColumnType::Fixed { width: 1 },
        2 => ColumnType::Fixed { width: 2 },
        3 => ColumnType::Fixed { width: 4 },
        _ => ColumnType::Fixed { width: 8 },
    };
    let chain = CodecChain::parse(CHAINS[(c as usize) % CHAINS.len()], Compression::Lz4).unwrap();
    let _ = mergetree::granule::decode_block(raw, ty, rows as usize % 10000, &chain);
});
