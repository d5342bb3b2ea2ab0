//! Block decompression (LZ4, ZSTD, none) of arbitrary bytes: errors only, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, &[u8])| {
    let (raw_len, block) = input;
    let _ = mergetree::codec::decompress(block, raw_len as usize);
});
