//! Decode speed of each codec on typical column data (8192-value granules), reported by
//! criterion as throughput of decoded bytes: `cargo bench -p mergetree --bench codecs`.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mergetree::granule::{decode_block, encode_block};
use mergetree::{CodecChain, ColumnData, ColumnType, Compression};

const N: usize = 8192;

fn fixed(values: impl Iterator<Item = [u8; 8]>) -> ColumnData {
    let mut c = ColumnData::new(ColumnType::Fixed { width: 8 });
    values.take(N).for_each(|v| c.push(&v));
    c
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let timestamps = fixed((0..).map(|i: i64| (1_700_000_000_000 + i * 1000 + (i % 7)).to_le_bytes()));
    let small_ints = fixed((0..).map(|_| ((rnd() % 5000) as i64).to_le_bytes()));
    let floats = fixed((0..).map(|i| (20.0 + (i as f64 / 100.0).sin()).to_le_bytes()));
    // Millisecond timestamps held in microseconds (Postgres' resolution), unevenly spaced.
    let ms_timestamps = fixed((0..).map(|_| (1_780_000_000_000_000 + (rnd() % 2_600_000_000) as i64 * 1000).to_le_bytes()));
    let mut text = ColumnData::new(ColumnType::Var);
    for i in 0..N {
        text.push(format!("{{\"page\":\"/p/{}\",\"browser\":\"chrome\",\"session\":\"s{}\"}}", i % 500, i / 7).as_bytes());
    }
    let cases: Vec<(&str, &ColumnData, &str)> = vec![
        ("timestamps", &timestamps, "LZ4"),
        ("timestamps", &timestamps, "ZSTD(1)"),
        ("timestamps", &timestamps, "Delta, LZ4"),
        ("timestamps", &timestamps, "DoubleDelta, LZ4"),
        ("timestamps", &timestamps, "T64, LZ4"),
        ("ms_timestamps", &ms_timestamps, "LZ4"),
        ("ms_timestamps", &ms_timestamps, "T64, LZ4"),
        ("ms_timestamps", &ms_timestamps, "GCD, T64, LZ4"),
        ("small_ints", &small_ints, "LZ4"),
        ("small_ints", &small_ints, "T64, LZ4"),
        ("small_ints", &small_ints, "Delta, T64, LZ4"),
        ("floats", &floats, "LZ4"),
        ("floats", &floats, "Gorilla, LZ4"),
        ("json_text", &text, "LZ4"),
        ("json_text", &text, "ZSTD(1)"),
        ("json_text", &text, "ZSTD(3)"),
        ("json_text", &text, "ZSTD(7)"),
    ];
    for (data, col, chain) in cases {
        let chain = CodecChain::parse(chain, Compression::Lz4).unwrap();
        let raw = encode_block(col, &chain);
        let block = mergetree::codec::compress(chain.compression, &raw);
        let ty = col.column_type();
        g.throughput(Throughput::Bytes(col.data_bytes() as u64));
        g.bench_with_input(BenchmarkId::new(data, chain.to_string()), &block, |b, block| {
            b.iter(|| {
                let raw = mergetree::codec::decompress(block, raw.len()).unwrap();
                decode_block(&raw, ty, N, &chain).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
