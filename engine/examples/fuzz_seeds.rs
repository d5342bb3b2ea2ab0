//! Writes real parts (several column types, codecs, NULLs, dictionaries) as seeds for the
//! `part` fuzz target: `cargo run -p mergetree --example fuzz_seeds -- engine/fuzz/corpus/part`.
use mergetree::part::{ColumnCodec, ColumnSpec};
use mergetree::{CodecChain, ColumnData, ColumnType, Compression, PartWriter, SortKind, WriterSettings};

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "engine/fuzz/corpus/part".into());
    std::fs::create_dir_all(&dir).expect("corpus dir");
    let specs = vec![
        ColumnSpec { id: 1, ty: ColumnType::Fixed { width: 8 }, sort: SortKind::SignedInt },
        ColumnSpec { id: 2, ty: ColumnType::Var, sort: SortKind::Bytes },
        ColumnSpec { id: 3, ty: ColumnType::Fixed { width: 8 }, sort: SortKind::Float },
    ];
    for (i, (rows, chain, compression)) in [(50, None, Compression::Lz4), (300, Some("Delta, T64"), Compression::Zstd(1)), (20, Some("DoubleDelta"), Compression::None)]
        .into_iter()
        .enumerate()
    {
        let mut a = ColumnData::new(ColumnType::Fixed { width: 8 });
        let mut b = ColumnData::new(ColumnType::Var);
        let mut c = ColumnData::new(ColumnType::Fixed { width: 8 });
        for r in 0..rows as i64 {
            a.push(&(1000 + r * 3).to_le_bytes());
            if r % 7 == 0 { b.push_null() } else { b.push(format!("v{}", r % 5).as_bytes()) }
            c.push(&(r as f64 / 3.0).to_le_bytes());
        }
        let columns = vec![
            ColumnCodec { chain: chain.map(|c| CodecChain::parse(c, compression).unwrap()), dict: Default::default(), json: false, numeric: false },
            ColumnCodec::default(),
            ColumnCodec { chain: Some(CodecChain::parse("Gorilla", compression).unwrap()), dict: Default::default(), json: false, numeric: false },
        ];
        let settings = WriterSettings { index_granularity: 16, compression, auto_compression: false, columns, ..Default::default() };
        let (bytes, _) = PartWriter::new(settings).write(&specs, &[a, b, c], &[0]).expect("part");
        std::fs::write(format!("{dir}/seed-{i}"), bytes).expect("write seed");
    }
}
