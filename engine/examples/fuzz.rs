//! A mutation fuzzer for every decoder of untrusted bytes: block compression, the value
//! transforms, column blocks (plain, runs, framed), dictionary codes, sketch states,
//! deleted-row sets and whole parts through the part reader. Each target starts from
//! valid encodings of random data and feeds mutations of them (bit flips, interesting
//! bytes, cuts, splices, appended noise); a decoder may return an error or a value, never
//! panic. Seeded, so a run repeats exactly.
//!
//!     cargo run --release -p mergetree --example fuzz -- [EXECS_PER_TARGET] [SEED] [TARGET]
//!
//! Prints one line per target (executions, answers, errors, time); exits 1 at the first
//! panic, with the input saved to fuzz-crash-TARGET.bin.

use mergetree::aggregate::sketch::{Quantile, Uniq};
use mergetree::codec::{self, CodecChain, Compression};
use mergetree::column::{ColumnData, ColumnType, SortKind};
use mergetree::granule;
use mergetree::part::deleted::DeletedRows;
use mergetree::part::{ColumnSpec, PartReader, PartWriter, WriterSettings};
use mergetree::store::VecStore;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A mutation of `seed`: one to four edits.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(7) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = [0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x40][rng.below(7)];
            }
            2 if !b.is_empty() => {
                let n = rng.below(b.len() + 1);
                b.truncate(n);
            }
            3 if b.len() > 1 => {
                // A slice copied over another place (lengths and offsets meet data).
                let (from, to) = (rng.below(b.len()), rng.below(b.len()));
                let n = rng.below(16).min(b.len() - from).min(b.len() - to);
                let piece = b[from..from + n].to_vec();
                b[to..to + n].copy_from_slice(&piece);
            }
            4 => {
                for _ in 0..rng.below(8) {
                    b.push(rng.next() as u8);
                }
            }
            5 if b.len() >= 4 => {
                // A 32-bit field set to an extreme.
                let i = rng.below(b.len() - 3);
                let v: u32 = [0, 1, u32::MAX, 0x8000_0000, 0xffff][rng.below(5)];
                b[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            _ => {
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    b[i] = rng.next() as u8;
                }
            }
        }
    }
    b
}

fn ints(rng: &mut Rng, n: usize, width: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n * width);
    let mut x: i64 = rng.next() as i64 >> 40;
    for _ in 0..n {
        x = match rng.below(3) {
            0 => x + 1,
            1 => x + (rng.next() % 1000) as i64,
            _ => rng.next() as i64 >> rng.below(64),
        };
        v.extend_from_slice(&x.to_le_bytes()[..width]);
    }
    v
}

fn texts(rng: &mut Rng, n: usize, runs: bool) -> ColumnData {
    let mut c = ColumnData::new(ColumnType::Var);
    let mut i = 0;
    while c.len() < n {
        let v = format!("user_{:06}", rng.below(1_000_000));
        for _ in 0..if runs { 1 + rng.below(6) } else { 1 } {
            if i % 17 == 3 {
                c.push_null();
            } else {
                c.push(v.as_bytes());
            }
            i += 1;
        }
    }
    c
}

type Target = Box<dyn Fn(&[u8]) -> bool>;

/// Each target: its seeds (valid encodings) and the decoding it runs on an input (true:
/// the input decoded to an answer, false: an error).
fn targets(rng: &mut Rng) -> Vec<(&'static str, Vec<Vec<u8>>, Target)> {
    let mut out: Vec<(&'static str, Vec<Vec<u8>>, Target)> = Vec::new();
    // Block compression: LZ4, ZSTD, none (the raw length travels in the first 4 bytes).
    let blocks: Vec<Vec<u8>> = [Compression::Lz4, Compression::Zstd(3), Compression::None]
        .iter()
        .map(|&c| {
            let raw = ints(rng, 500, 8);
            let mut b = (raw.len() as u32).to_le_bytes().to_vec();
            b.extend(codec::compress(c, &raw));
            b
        })
        .collect();
    out.push(("block", blocks, Box::new(|b: &[u8]| {
        let Some((len, block)) = b.split_first_chunk::<4>() else { return false };
        codec::decompress(block, (u32::from_le_bytes(*len) as usize).min(1 << 20)).is_ok()
    })));
    // The value transforms, on (width, count, data).
    type Decode = fn(&[u8], usize, usize) -> mergetree::Result<Vec<u8>>;
    type Encode = fn(&[u8], usize) -> Vec<u8>;
    let transforms: [(&'static str, Encode, Decode); 5] = [
        ("delta", codec::delta::delta_encode, codec::delta::delta_decode),
        ("double_delta", codec::delta::double_delta_encode, codec::delta::double_delta_decode),
        ("gorilla", codec::gorilla::encode, codec::gorilla::decode),
        ("t64", codec::t64::encode, codec::t64::decode),
        ("gcd", codec::gcd::encode, codec::gcd::decode),
    ];
    for (name, encode, decode) in transforms {
        let seeds = [1usize, 2, 4, 8]
            .iter()
            .enumerate()
            .filter(|&(_, &w)| name != "gorilla" || w >= 4)
            .map(|(k, &w)| {
                let n = 1 + rng.below(300);
                let mut b = vec![k as u8];
                b.extend_from_slice(&(n as u16).to_le_bytes());
                b.extend(encode(&ints(rng, n, w), w));
                b
            })
            .collect();
        out.push((name, seeds, Box::new(move |b: &[u8]| {
            let Some((&w, rest)) = b.split_first() else { return false };
            let Some((n, data)) = rest.split_first_chunk::<2>() else { return false };
            let w = [1, 2, 4, 8][w as usize % 4];
            decode(data, w, u16::from_le_bytes(*n) as usize).is_ok()
        })));
    }
    // Column blocks: plain and runs text, fixed values through chains, with NULLs.
    let chains = ["LZ4", "Delta, T64, ZSTD(1)", "GCD, T64, LZ4", "DoubleDelta, NONE", "Gorilla, LZ4"];
    let mut seeds = Vec::new();
    for (k, chain) in chains.iter().enumerate() {
        let chain = CodecChain::parse(chain, Compression::Lz4).unwrap();
        let width = if k == 4 { 8 } else { 4 };
        let mut c = ColumnData::new(ColumnType::Fixed { width: width as u16 });
        for (i, v) in ints(rng, 700, width).chunks(width).enumerate() {
            if i % 11 == 5 {
                c.push_null();
            } else {
                c.push(v);
            }
        }
        let mut b = vec![k as u8];
        b.extend(granule::encode_block(&c, &chain));
        seeds.push(b);
    }
    for runs in [false, true] {
        let mut b = vec![9u8];
        b.extend(granule::encode_block(&texts(rng, 700, runs), &CodecChain::plain(Compression::None)));
        seeds.push(b);
    }
    let parsed: Vec<CodecChain> = chains.iter().map(|c| CodecChain::parse(c, Compression::Lz4).unwrap()).collect();
    out.push(("column_block", seeds, Box::new(move |b: &[u8]| {
        let Some((&k, raw)) = b.split_first() else { return false };
        let (ty, chain) = match parsed.get(k as usize) {
            Some(chain) => (ColumnType::Fixed { width: if k == 4 { 8 } else { 4 } }, chain.clone()),
            None => (ColumnType::Var, CodecChain::plain(Compression::None)),
        };
        // Every row, and a few rows only (as a filter asks).
        let all = granule::decode_block(raw, ty, 700, &chain).is_ok();
        let _ = granule::decode_block_rows(raw, ty, 700, &chain, Some(&[3, 64, 699]));
        all
    })));
    // Dictionary codes against a dictionary.
    let dict_col = texts(rng, 300, false);
    let encoded = codec::dict::encode(&dict_col, codec::dict::DictMode::Always).unwrap();
    let width = match encoded.codes.column_type() {
        ColumnType::Fixed { width } => width,
        _ => 1,
    };
    let dict = encoded.dict.clone();
    let seeds = vec![granule::encode_block(&encoded.codes, &CodecChain::plain(Compression::None))];
    out.push(("dictionary_codes", seeds, Box::new(move |b: &[u8]| {
        granule::decode_block(b, ColumnType::Fixed { width }, 300, &CodecChain::plain(Compression::None))
            .and_then(|codes| codec::dict::decode(&dict, &codes))
            .is_ok()
    })));
    // Sketch states, as mergetree.uniq_merge and quantile_merge read them.
    let mut u = Uniq::new();
    let mut big = Uniq::new();
    let mut q = Quantile::default();
    for i in 0..5000i64 {
        u.add_hash(mergetree::aggregate::sketch::hash_int(i % 40));
        big.add_hash(mergetree::aggregate::sketch::hash_int(i));
        q.add(i as f64 * 1.5 - 100.0);
    }
    let mut seeds = vec![u.to_bytes(), big.to_bytes()];
    seeds.iter_mut().for_each(|s| s.insert(0, 0));
    let mut qs = q.to_bytes();
    qs.insert(0, 1);
    seeds.push(qs);
    out.push(("sketch_state", seeds, Box::new(|b: &[u8]| {
        let Some((&k, state)) = b.split_first() else { return false };
        if k % 2 == 0 {
            Uniq::from_bytes(state).map(|u| u.estimate()).is_some()
        } else {
            Quantile::from_bytes(state).map(|q| (q.value(0.5), q.value(0.99))).is_some()
        }
    })));
    // Deleted-row sets.
    let mut d = DeletedRows::new();
    for _ in 0..200 {
        d.insert(rng.below(100_000) as u32);
    }
    out.push(("deleted_rows", vec![d.to_bytes()], Box::new(|b: &[u8]| {
        DeletedRows::from_bytes(b).map(|d| (d.len(), d.count_in(0, 50_000), d.kept(1000, 8192).map(|k| k.len()))).is_ok()
    })));
    // Whole parts: ints, sorted text in runs, JSON documents (framed, trained dictionary),
    // a low-cardinality column (part dictionary); every granule of every column, then
    // the part's own verification.
    let specs = vec![
        ColumnSpec { id: 1, ty: ColumnType::Fixed { width: 8 }, sort: SortKind::SignedInt },
        ColumnSpec { id: 2, ty: ColumnType::Var, sort: SortKind::Bytes },
        ColumnSpec { id: 3, ty: ColumnType::Var, sort: SortKind::Bytes },
        ColumnSpec { id: 4, ty: ColumnType::Var, sort: SortKind::Bytes },
    ];
    let rows = 3000;
    let mut cols = vec![ColumnData::new(ColumnType::Fixed { width: 8 }), texts(rng, rows, true), ColumnData::new(ColumnType::Var), ColumnData::new(ColumnType::Var)];
    cols[1].truncate(rows);
    for i in 0..rows {
        cols[0].push(&(i as i64 * 7).to_le_bytes());
        cols[2].push(format!("{{\"browser\":\"b{}\",\"n\":{}}}", i % 5, rng.below(1000)).as_bytes());
        cols[3].push(["page_view", "click", "purchase"][i % 3].as_bytes());
    }
    let settings = WriterSettings { index_granularity: 512, ..WriterSettings::default() };
    let (part, _) = PartWriter::new(settings).write(&specs, &cols, &[0]).unwrap();
    out.push(("part_reader", vec![part], Box::new(|b: &[u8]| {
        let Ok(r) = PartReader::open(VecStore(b.to_vec())) else { return false };
        let mut ok = true;
        for c in 0..r.meta().columns.len() {
            for g in 0..r.meta().granules() {
                ok &= r.read_granule(c, g).is_ok();
            }
        }
        ok & r.verify().is_empty()
    })));
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let execs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let only = args.get(3).cloned();
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    // Panics are caught and reported once, not printed for each.
    std::panic::set_hook(Box::new(|_| {}));
    let mut total = 0u64;
    for (name, seeds, run) in targets(&mut rng) {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let started = Instant::now();
        let (mut answers, mut errors) = (0u64, 0u64);
        for i in 0..execs {
            let base = &seeds[i as usize % seeds.len()];
            // One input in a hundred is a seed itself: the decoders must take those.
            let input = if i % 100 == 0 { base.clone() } else { mutate(&mut rng, base) };
            match catch_unwind(AssertUnwindSafe(|| run(&input))) {
                Ok(true) => answers += 1,
                Ok(false) => errors += 1,
                Err(e) => {
                    let what = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
                    let file = format!("fuzz-crash-{name}.bin");
                    let _ = std::fs::write(&file, &input);
                    println!("{name}: PANIC after {i} executions: {what} (input in {file})");
                    std::process::exit(1);
                }
            }
        }
        total += execs;
        println!("{name:<17} {execs:>11} executions  {answers:>10} answers  {errors:>10} errors  {:>7.1} s  no panic", started.elapsed().as_secs_f64());
    }
    println!("{total} executions, no panic");
}
