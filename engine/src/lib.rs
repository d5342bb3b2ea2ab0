//! The pure MergeTree engine of pg_mergetree.
//!
//! Columns, granules, codecs and the part format live here as plain Rust that never
//! calls Postgres: the Postgres layer (the `pg_mergetree` crate) hands in owned bytes
//! and gets owned bytes back, so everything here can be unit-tested, fuzzed and run on
//! worker threads.
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod arith;
pub mod codec;
pub mod column;
pub mod datetime;
pub mod error;
pub mod exchange;
pub mod granule;
pub mod json;
pub mod merge;
pub mod numeric;
pub mod parallel;
pub mod part;
pub mod predicate;
pub mod range_reader;
pub mod scalar;
pub mod select;
pub mod skip;
pub mod sort;
pub mod store;

pub use codec::{CodecChain, Compression, Transform};
pub use column::{Bitmap, ColumnData, ColumnType, SortKind};
pub use error::{Error, Result};
pub use part::{PartMeta, PartReader, PartWriter, WriterSettings};
pub use skip::{SkipIndex, SkipIndexBuilder, SkipIndexType};
pub use store::{BlockStore, VecStore};

#[cfg(test)]
pub(crate) mod test_data {
    /// A JSON event property document like the benchmark's, from a hash.
    pub fn event_json(h: u64) -> String {
        let pick = |xs: &[&'static str], shift: u32| xs[((h >> shift) % xs.len() as u64) as usize];
        format!(
            "{{\"page\":\"/p/{}\",\"browser\":\"{}\",\"os\":\"{}\",\"country\":\"{}\",\"session\":\"{:010x}\"}}",
            (h >> 20) % 300,
            pick(&["chrome", "firefox", "safari", "edge"], 40),
            pick(&["windows", "macos", "linux", "ios", "android"], 44),
            pick(&["us", "de", "in", "gb", "br", "fr", "jp"], 48),
            h >> 24 & 0xff_ffff_ffff
        )
    }
}
