//! A skip index from arbitrary bytes: read it, then prune with it. Decoding must fail
//! cleanly or give an index that answers any granule without panicking. The input is
//! tried as is and as the body behind a valid header, so that mutations get past the
//! checksum into decoding and validation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mergetree::predicate::{CmpOp, Predicate};
use mergetree::skip::{FORMAT_VERSION, MAGIC};
use mergetree::{SkipIndex, SortKind};

fuzz_target!(|data: &[u8]| {
    let mut framed = MAGIC.to_vec();
    framed.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    framed.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    framed.extend_from_slice(data);
    for bytes in [data, &framed[..]] {
        if let Ok(index) = SkipIndex::from_bytes(bytes) {
            prune(&index);
        }
    }
});

fn prune(index: &SkipIndex) {
    let preds = [
        Predicate::Cmp { col: 0, kind: SortKind::SignedInt, op: CmpOp::Eq, value: 42i64.to_le_bytes().to_vec() },
        Predicate::Cmp { col: 0, kind: SortKind::Bytes, op: CmpOp::Lt, value: b"needle".to_vec() },
        Predicate::Like { col: 0, pattern: b"% needle%".to_vec(), negated: false, ascii_ci: false },
        Predicate::Not(Box::new(Predicate::IsNull { col: 0, negated: false })),
    ];
    // Granule counts come from the input: look at a bounded number of them.
    for g in 0..index.granules().min(1000) + 1 {
        for p in &preds {
            let _ = index.granule_may_match(g, p, 0);
        }
    }
    let _ = index.size_bytes();
}
