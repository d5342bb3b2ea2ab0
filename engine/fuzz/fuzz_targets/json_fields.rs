//! JSON field extraction: never panics, and whatever it answers agrees with serde_json
//! (a strict RFC 8259 parser; duplicate keys keep the last value, as in jsonb).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mergetree::json::{object_fields, Field};

fuzz_target!(|doc: &[u8]| {
    let keys: [&[u8]; 3] = [b"a", b"b", b""];
    let Some(fields) = object_fields(doc, &keys) else { return };
    // Text in a UTF-8 database is valid UTF-8, which serde_json insists on.
    if std::str::from_utf8(doc).is_err() {
        return;
    }
    let value: serde_json::Value = serde_json::from_slice(doc).expect("answered for invalid JSON");
    let map = value.as_object().expect("answered for a non-object");
    for (key, field) in keys.iter().zip(fields) {
        let expected = map.get(std::str::from_utf8(key).unwrap());
        match (expected, field) {
            (None | Some(serde_json::Value::Null), Field::Null) => {}
            (Some(serde_json::Value::String(s)), Field::Text(t)) => assert_eq!(s.as_bytes(), t),
            (Some(serde_json::Value::Bool(b)), Field::Text(t)) => assert_eq!(if *b { &b"true"[..] } else { b"false" }, t),
            (Some(serde_json::Value::Number(n)), Field::Text(t)) => {
                // serde_json's float parsing is not correctly rounded: compare closely.
                let (ours, theirs): (f64, f64) = (std::str::from_utf8(t).unwrap().parse().unwrap(), n.as_f64().unwrap());
                assert!((ours - theirs).abs() <= 1e-12 * ours.abs().max(1.0), "{ours} vs {theirs}");
            }
            (e, f) => panic!("{e:?} vs {f:?}"),
        }
    }
});
