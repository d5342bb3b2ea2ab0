use super::*;
use crate::column::{ColumnData, ColumnType};
use proptest::prelude::*;

fn ints(width: usize) -> impl Strategy<Value = Vec<u8>> {
    let one = prop_oneof![
        any::<i64>(),
        Just(0i64),
        Just(i64::MIN),
        Just(i64::MAX),
        -3i64..3,
    ];
    let random = proptest::collection::vec(one, 0..300);
    let monotonic = (any::<i32>(), 0i64..1000, 0usize..300).prop_map(|(s, step, n)| (0..n as i64).map(|i| s as i64 + i * step).collect());
    let all_equal = (any::<i64>(), 0usize..300).prop_map(|(v, n)| vec![v; n]);
    let alternating = (any::<i64>(), any::<i64>(), 0usize..300).prop_map(|(a, b, n)| (0..n).map(|i| if i % 2 == 0 { a } else { b }).collect());
    // Values on a common step (milliseconds held in microseconds), for GCD.
    let stepped = (any::<i32>(), prop_oneof![Just(1000i64), Just(7), Just(1 << 20)], proptest::collection::vec(any::<i16>(), 0..300))
        .prop_map(|(base, step, ks)| ks.iter().map(|&k| (base as i64).wrapping_add(k as i64 * step)).collect());
    prop_oneof![random, monotonic, all_equal, alternating, stepped]
        .prop_map(move |v: Vec<i64>| v.iter().flat_map(|x| x.to_le_bytes()[..width].to_vec()).collect())
}

fn floats(width: usize) -> impl Strategy<Value = Vec<u8>> {
    let one = prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(0.0),
        Just(f64::MIN_POSITIVE),
        (0i32..100).prop_map(|x| x as f64 * 0.5),
    ];
    proptest::collection::vec(one, 0..300).prop_map(move |v| {
        v.iter()
            .flat_map(|x| if width == 8 { x.to_le_bytes().to_vec() } else { (*x as f32).to_le_bytes().to_vec() })
            .collect()
    })
}

fn roundtrip(chain: &CodecChain, data: &[u8], width: usize) {
    let n = data.len() / width;
    let enc = chain.encode_values(data, width);
    let block = compress(chain.compression, &enc);
    let raw = decompress(&block, enc.len()).unwrap();
    assert_eq!(chain.decode_values(&raw, width, n).unwrap(), data, "{chain}");
}

proptest! {
    #[test]
    fn integer_chains_roundtrip(width in prop_oneof![Just(1usize), Just(2), Just(4), Just(8)], seed in any::<u64>(), data in ints(8)) {
        let data: Vec<u8> = data.chunks_exact(8).flat_map(|c| c[..width].to_vec()).collect();
        let _ = seed;
        for chain in ["LZ4", "Delta, LZ4", "DoubleDelta, ZSTD(3)", "T64, LZ4", "Delta, T64, NONE", "Delta, DoubleDelta, LZ4", "ZSTD(1)", "GCD, LZ4", "GCD, T64, ZSTD(1)", "GCD, Delta, T64, LZ4", "Delta, GCD, DoubleDelta, NONE"] {
            roundtrip(&CodecChain::parse(chain, Compression::Lz4).unwrap(), &data, width);
        }
    }

    #[test]
    fn float_chains_roundtrip(wide in any::<bool>(), data in floats(8)) {
        let width = if wide { 8 } else { 4 };
        let data: Vec<u8> = if wide { data } else {
            data.chunks_exact(8).flat_map(|c| (f64::from_le_bytes(c.try_into().unwrap()) as f32).to_le_bytes()).collect()
        };
        for chain in ["Gorilla, LZ4", "Gorilla, ZSTD(5)", "LZ4"] {
            roundtrip(&CodecChain::parse(chain, Compression::Lz4).unwrap(), &data, width);
        }
    }

    #[test]
    fn decoders_reject_garbage_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..400), n in 0usize..200, w in prop_oneof![Just(1usize), Just(2), Just(4), Just(8)]) {
        let _ = delta::delta_decode(&bytes, w, n);
        let _ = delta::double_delta_decode(&bytes, w, n);
        let _ = t64::decode(&bytes, w, n);
        let _ = gorilla::decode(&bytes, if w >= 4 { w } else { 4 }, n);
        let _ = decompress(&bytes, n);
    }

    #[test]
    fn dictionary_roundtrip(vals in proptest::collection::vec(proptest::option::of(prop_oneof![Just(b"a".to_vec()), Just(b"".to_vec()), Just(b"zz".to_vec()), proptest::collection::vec(any::<u8>(), 0..5)]), 0..300)) {
        let mut col = ColumnData::new(ColumnType::Var);
        for v in &vals {
            match v { Some(v) => col.push(v), None => col.push_null() }
        }
        if let Some(e) = dict::encode(&col, dict::DictMode::Always) {
            let back = dict::decode(&e.dict, &e.codes).unwrap();
            for (i, v) in vals.iter().enumerate() {
                prop_assert_eq!(back.get(i), v.as_deref());
            }
            // Sorted dictionary: codes compare like the values.
            prop_assert!((1..e.dict.len()).all(|i| e.dict.value(i - 1) < e.dict.value(i)));
        }
    }
}

#[test]
fn regular_timestamps_shrink_with_double_delta() {
    let data: Vec<u8> = (0..8192i64).flat_map(|i| (1_700_000_000_000_000 + i * 1_000_000).to_le_bytes()).collect();
    let plain = compress(Compression::Lz4, &data).len();
    let chain = CodecChain::parse("DoubleDelta, LZ4", Compression::Lz4).unwrap();
    let dd = compress(chain.compression, &chain.encode_values(&data, 8)).len();
    assert!(dd * 20 < plain, "DoubleDelta {dd} vs plain {plain}");
}

#[test]
fn chains_parse_and_validate() {
    assert_eq!(CodecChain::parse("delta, zstd(3)", Compression::Lz4).unwrap().to_string(), "Delta, ZSTD(3)");
    assert_eq!(CodecChain::parse("T64", Compression::Lz4).unwrap().to_string(), "T64, LZ4");
    assert!(CodecChain::parse("Brotli", Compression::Lz4).unwrap_err().contains("unknown codec"));
    assert!(CodecChain::parse("LZ4, Delta", Compression::Lz4).is_err());
    assert!(CodecChain::parse("ZSTD(99)", Compression::Lz4).is_err());
    let gorilla = CodecChain::parse("Gorilla", Compression::Lz4).unwrap();
    assert!(gorilla.check_fits(Some(8), true).is_ok());
    assert!(gorilla.check_fits(Some(8), false).is_err());
    assert!(gorilla.check_fits(None, false).is_err());
    assert!(CodecChain::parse("T64, Delta", Compression::Lz4).unwrap().check_fits(Some(8), false).is_err());
}

#[test]
fn gcd_shrinks_values_on_a_common_step() {
    // Millisecond timestamps stored in microseconds: T64 alone keeps the 10 idle low bits.
    let data: Vec<u8> = (0..8192i64).flat_map(|i| (1_780_000_000_000_000 + (i * 7919 % 5000) * 1000 * 977).to_le_bytes()).collect();
    let t64 = compress(Compression::Lz4, &CodecChain::parse("T64", Compression::Lz4).unwrap().encode_values(&data, 8)).len();
    let gcd = compress(Compression::Lz4, &CodecChain::parse("GCD, T64", Compression::Lz4).unwrap().encode_values(&data, 8)).len();
    assert!(gcd * 10 < t64 * 8, "GCD, T64 {gcd} bytes vs T64 {t64}");
}

#[test]
fn gcd_rejects_wrong_lengths() {
    assert!(gcd::decode(&[0u8; 15], 8, 0).is_err());
    assert!(gcd::decode(&[0u8; 16], 8, 1).is_err());
    assert!(gcd::decode(&[0u8; 16], 8, 0).unwrap().is_empty());
}

/// The bit planes exactly as the first T64 writer laid them out (one bit at a time), so
/// parts written before the transpose-based encoder stay readable.
#[test]
fn t64_layout_is_stable() {
    let values: Vec<i64> = (0..200i64).map(|i| (i * 7919) % 100_003 - 50_000).collect();
    let mut reference = Vec::new();
    for group in values.chunks(64) {
        let min = *group.iter().min().unwrap();
        let max = *group.iter().max().unwrap();
        let nbits = 64 - ((max as i128 - min as i128) as u64).leading_zeros();
        reference.extend_from_slice(&min.to_le_bytes());
        reference.push(nbits as u8);
        for b in 0..nbits {
            let mut plane = 0u64;
            for (j, &v) in group.iter().enumerate() {
                plane |= (((v.wrapping_sub(min) as u64) >> b) & 1) << j;
            }
            reference.extend_from_slice(&plane.to_le_bytes());
        }
    }
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(t64::encode(&data, 8), reference);
    assert_eq!(t64::decode(&reference, 8, values.len()).unwrap(), data);
}

proptest! {
    /// Decoding only some rows of a T64 chain gives those rows exactly.
    #[test]
    fn t64_partial_decode_matches(vals in proptest::collection::vec(any::<i32>(), 1..700), pick in proptest::collection::vec(any::<bool>(), 700), gcd in any::<bool>()) {
        let data: Vec<u8> = vals.iter().flat_map(|v| ((*v as i64) * 1000).to_le_bytes()).collect();
        let chain = CodecChain::parse(if gcd { "GCD, T64" } else { "T64" }, Compression::Lz4).unwrap();
        let enc = chain.encode_values(&data, 8);
        let wanted: Vec<u32> = (0..vals.len() as u32).filter(|&i| pick[i as usize]).collect();
        let part = chain.decode_values_rows(&enc, 8, vals.len(), &wanted).unwrap();
        prop_assert_eq!(part.len(), data.len());
        for &r in &wanted {
            let r = r as usize;
            prop_assert_eq!(&part[r * 8..r * 8 + 8], &data[r * 8..r * 8 + 8]);
        }
    }
}
