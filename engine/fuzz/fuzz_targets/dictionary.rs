//! Dictionary decoding with arbitrary codes against an arbitrary dictionary.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mergetree::{ColumnData, ColumnType};

fuzz_target!(|input: (Vec<Vec<u8>>, u8, Vec<Option<u32>>)| {
    let (values, w, codes) = input;
    let mut dict = ColumnData::new(ColumnType::Var);
    for v in &values {
        dict.push(v);
    }
    let width = [1u16, 2, 4][(w % 3) as usize];
    let mut col = ColumnData::new(ColumnType::Fixed { width });
    for c in codes {
        match c {
            Some(c) => col.push(&c.to_le_bytes()[..width as usize]),
            None => col.push_null(),
        }
    }
    let _ = mergetree::codec::dict::decode(&dict, &col);
});
