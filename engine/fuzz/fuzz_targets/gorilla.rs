//! Gorilla decoding of arbitrary bit streams: errors only, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (bool, u16, &[u8])| {
    let (wide, n, data) = input;
    let _ = mergetree::codec::gorilla::decode(data, if wide { 8 } else { 4 }, n as usize % 4096);
});
