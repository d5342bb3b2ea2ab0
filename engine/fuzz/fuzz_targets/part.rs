//! A whole part from arbitrary bytes: open, verify, read every granule. Seeds in the
//! corpus are real parts (see engine/fuzz/README.md), so mutations reach deep.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mergetree::{PartReader, VecStore};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = PartReader::open(VecStore(data.to_vec())) {
        let _ = r.verify();
        for c in 0..r.meta().columns.len() {
            for g in 0..r.meta().granules() {
                let _ = r.read_granule(c, g);
            }
        }
    }
});
