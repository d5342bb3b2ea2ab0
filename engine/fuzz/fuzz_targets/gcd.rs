//! GCD decoding of arbitrary bytes at every width: errors only, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, u16, &[u8])| {
    let (w, n, data) = input;
    let width = [1usize, 2, 4, 8][(w % 4) as usize];
    let _ = mergetree::codec::gcd::decode(data, width, n as usize % 4096);
});
