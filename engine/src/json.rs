//! Top-level field extraction from JSON text, as `text::jsonb ->> 'key'` computes it, in
//! one pass without building a document (ClickHouse's `JSONExtractString`). It answers
//! only where it is sure to give what PostgreSQL gives; for anything else (escapes,
//! exponents, nested values asked for, invalid JSON, which PostgreSQL rejects with an
//! error) it says so, and the caller asks PostgreSQL.

/// One requested field of one document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    /// The field's text: a string's contents, a number's digits, `true` or `false`.
    Text(&'a [u8]),
    /// SQL NULL: the key is absent or its value is JSON `null`.
    Null,
}

/// Deepest nesting the scanner follows before leaving a document to PostgreSQL.
const MAX_DEPTH: usize = 64;
/// Longest number it reproduces (longer ones go through PostgreSQL's numeric).
const MAX_NUMBER: usize = 30;
/// Longest number it takes as valid at all (numeric holds far more digits).
const MAX_VALID_NUMBER: usize = 1000;

/// The values of `keys` in the top-level object `doc`, or `None` when the answer must come
/// from PostgreSQL. Duplicate keys keep the last value, as jsonb does.
pub fn object_fields<'a>(doc: &'a [u8], keys: &[impl AsRef<[u8]>]) -> Option<Vec<Field<'a>>> {
    // Per key: its last value so far; `None` for a nested one (only PostgreSQL prints it).
    let mut out: Vec<Option<Field<'a>>> = vec![Some(Field::Null); keys.len()];
    members(doc, |key, value| {
        // Later duplicates overwrite earlier ones, as in jsonb.
        for (k, _) in keys.iter().enumerate().filter(|(_, k)| k.as_ref() == key) {
            out[k] = match value {
                Value::Text(t) => Some(Field::Text(t)),
                Value::Null => Some(Field::Null),
                Value::Composite => None,
            };
        }
    })?;
    out.into_iter().collect()
}

/// The keys of the top-level object `doc`, in order (duplicates repeated), or `None`
/// where object_fields would not answer for the document.
pub fn object_keys(doc: &[u8]) -> Option<Vec<&[u8]>> {
    let mut keys = Vec::new();
    members(doc, |key, _| keys.push(key))?;
    Some(keys)
}

/// Calls `visit` with each member of the top-level object `doc`; `None` for a document
/// that is not one object the scanner reads exactly.
fn members<'a>(doc: &'a [u8], mut visit: impl FnMut(&'a [u8], Value<'a>)) -> Option<()> {
    let mut s = Scanner { doc, at: 0 };
    s.ws();
    if s.peek()? != b'{' {
        return None; // arrays and scalars: ->> gives NULL, but only after validation
    }
    s.at += 1;
    s.ws();
    if s.peek()? == b'}' {
        s.at += 1;
    } else {
        loop {
            let key = s.string()?;
            s.ws();
            s.expect(b':')?;
            s.ws();
            let value = s.value(1)?;
            visit(key, value);
            s.ws();
            match s.next()? {
                b',' => s.ws(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    s.ws();
    (s.at == doc.len()).then_some(())
}

enum Value<'a> {
    Text(&'a [u8]),
    Null,
    /// Valid, but only PostgreSQL prints it: nested values, negative zero, long numbers.
    Composite,
}

struct Scanner<'a> {
    doc: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.doc.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    /// JSON's four whitespace bytes, as PostgreSQL's lexer accepts them.
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A string without escapes (its raw bytes); control bytes are invalid JSON.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.at;
        let len = self.doc[start..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        self.at = start + len;
        self.expect(b'"')?;
        Some(&self.doc[start..start + len])
    }

    /// After a number or literal PostgreSQL's lexer needs a delimiter, not more letters.
    fn delimited(&self) -> Option<()> {
        match self.peek() {
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b'}' | b']' | b':') => Some(()),
            _ => None,
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Option<()> {
        if !self.doc[self.at..].starts_with(word) {
            return None;
        }
        self.at += word.len();
        self.delimited()
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`: its text, which numeric's output prints back
    /// unchanged; a negative zero (numeric has none) or a long number is valid but printed
    /// by PostgreSQL only (Composite); exponents (which can overflow numeric, an error)
    /// are left to PostgreSQL (None).
    fn number(&mut self) -> Option<Value<'a>> {
        let start = self.at;
        let digits = |s: &mut Self| {
            let n = s.doc[s.at..].iter().take_while(|b| b.is_ascii_digit()).count();
            s.at += n;
            n
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                digits(self);
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return None;
            }
        }
        self.delimited()?;
        let text = &self.doc[start..self.at];
        if text.len() > MAX_NUMBER || (text.starts_with(b"-0") && text.iter().all(|b| matches!(b, b'-' | b'0' | b'.'))) {
            return (text.len() <= MAX_VALID_NUMBER).then_some(Value::Composite);
        }
        Some(Value::Text(text))
    }

    fn value(&mut self, depth: usize) -> Option<Value<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Value::Text),
            b't' => self.literal(b"true").map(|_| Value::Text(b"true")),
            b'f' => self.literal(b"false").map(|_| Value::Text(b"false")),
            b'n' => self.literal(b"null").map(|_| Value::Null),
            b'{' | b'[' => {
                self.composite(depth + 1)?;
                Some(Value::Composite)
            }
            _ => self.number(),
        }
    }

    /// Validates a nested object or array.
    fn composite(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let close = match self.next()? {
            b'{' => b'}',
            _ => b']',
        };
        self.ws();
        if self.peek()? == close {
            self.at += 1;
            return Some(());
        }
        loop {
            if close == b'}' {
                self.string()?;
                self.ws();
                self.expect(b':')?;
                self.ws();
            }
            self.value(depth)?;
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b if b == close => return Some(()),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn get(doc: &str, key: &str) -> Option<Option<String>> {
        object_fields(doc.as_bytes(), &[key.as_bytes()]).map(|v| match v[0] {
            Field::Text(t) => Some(String::from_utf8(t.to_vec()).unwrap()),
            Field::Null => None,
        })
    }

    #[test]
    fn answers_what_jsonb_answers() {
        let doc = r#" {"page":"/p/1", "n": 12.50, "neg": -3, "ok": true, "no": false, "z": null, "o": {"a": [1, {"b": 2}]}, "e": ""} "#;
        assert_eq!(get(doc, "page"), Some(Some("/p/1".into())));
        assert_eq!(get(doc, "n"), Some(Some("12.50".into())));
        assert_eq!(get(doc, "neg"), Some(Some("-3".into())));
        assert_eq!(get(doc, "ok"), Some(Some("true".into())));
        assert_eq!(get(doc, "no"), Some(Some("false".into())));
        assert_eq!(get(doc, "z"), Some(None));
        assert_eq!(get(doc, "missing"), Some(None));
        assert_eq!(get(doc, "e"), Some(Some("".into())));
        assert_eq!(get("{}", "a"), Some(None));
        // Duplicate keys: the last one wins, as in jsonb.
        assert_eq!(get(r#"{"a":"1","b":2,"a":"3"}"#, "a"), Some(Some("3".into())));
        // Several keys in one pass, the same key twice.
        let v = object_fields(br#"{"os":"linux","browser":"chrome"}"#, &[&b"browser"[..], b"os", b"browser"]).unwrap();
        assert_eq!(v, vec![Field::Text(b"chrome"), Field::Text(b"linux"), Field::Text(b"chrome")]);
    }

    #[test]
    fn leaves_to_postgres_what_it_cannot_reproduce() {
        for doc in [
            r#"{"a":"x\"y"}"#,           // escapes
            r#"{"a\u0041":1}"#,          // escaped key
            r#"{"a":1e3}"#,              // exponent
            r#"{"a":-0}"#,               // negative zero prints as 0
            r#"{"a":-0.00}"#,            // likewise
            r#"{"a":{"b":1}}"#,          // a nested value asked for
            r#"{"a":[1,2]}"#,            // likewise
            r#"[1,2]"#,                  // not an object
            r#""a""#,                    // a scalar
            "",                          // invalid: empty
            r#"{"a":1,}"#,               // invalid: trailing comma
            r#"{"a":01}"#,               // invalid: leading zero
            r#"{"a":1.}"#,               // invalid: no fraction digits
            r#"{"a":tru}"#,              // invalid literal
            r#"{"a":truex}"#,            // invalid token
            r#"{"a":1} x"#,              // trailing garbage
            "{\"a\":\"tab\there\"}",     // control byte in a string
            r#"{"b":"x", "b" "y"}"#,     // missing colon
            r#"{"a":1"#,                 // unterminated
            r#"{"a":"unterminated}"#,    // unterminated string
        ] {
            assert_eq!(get(doc, "a"), None, "{doc}");
        }
        // A valid number it does not reproduce defers only its own key.
        assert_eq!(get(r#"{"a":"x","b":12345678901234567890123456789012345}"#, "a"), Some(Some("x".into())));
        assert_eq!(get(r#"{"a":"x","b":12345678901234567890123456789012345}"#, "b"), None);
        assert_eq!(get(r#"{"a":"x","b":-0.00}"#, "a"), Some(Some("x".into())));
        assert_eq!(get(r#"{"a":"x","b":-0.00}"#, "b"), None);
        // An exponent may overflow numeric (an error): the document is PostgreSQL's.
        assert_eq!(get(r#"{"a":"x","b":1e3}"#, "a"), None);
        let deep = format!("{{\"a\":1,\"b\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(get(&deep, "a"), None);
        let ok = format!("{{\"a\":1,\"b\":{}{}}}", "[".repeat(10), "]".repeat(10));
        assert_eq!(get(&ok, "a"), Some(Some("1".into())));
    }

    /// A generated JSON value and, for simple ones, the text `->>` gives.
    fn json_value() -> impl Strategy<Value = (String, Option<Option<String>>)> {
        let leaf = prop_oneof![
            "[a-z /.:é😀]{0,12}".prop_map(|s| (format!("\"{s}\""), Some(Some(s)))),
            (any::<i32>(), 0u32..4).prop_map(|(i, frac)| {
                let s = if frac == 0 { i.to_string() } else { format!("{i}.{}", "5".repeat(frac as usize)) };
                let sure = !(s.starts_with("-0"));
                (s.clone(), sure.then_some(Some(s)))
            }),
            Just(("true".to_string(), Some(Some("true".to_string())))),
            Just(("false".to_string(), Some(Some("false".to_string())))),
            Just(("null".to_string(), Some(None))),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| (format!("[{}]", v.into_iter().map(|x| x.0).collect::<Vec<_>>().join(", ")), None)),
                proptest::collection::vec(("[a-c]", inner), 0..4).prop_map(|v| (
                    format!("{{{}}}", v.into_iter().map(|(k, x)| format!("\"{k}\": {}", x.0)).collect::<Vec<_>>().join(",")),
                    None
                )),
            ]
        })
    }

    proptest! {
        /// For generated objects the scanner either answers exactly (the last value of the
        /// key, or NULL) or defers; it defers only for values it cannot print itself.
        #[test]
        fn generated_objects(fields in proptest::collection::vec(("[a-d]", json_value()), 0..8), ws in "[ \t\n]{0,2}") {
            let doc = format!("{ws}{{{}}}{ws}", fields.iter().map(|(k, (v, _))| format!("\"{k}\"{ws}:{ws}{v}")).collect::<Vec<_>>().join(&format!("{ws},")));
            for key in ["a", "b", "c", "d", "zz"] {
                let expected = fields.iter().rev().find(|(k, _)| k == key).map_or(Some(None), |(_, (_, e))| e.clone());
                let got = get(&doc, key);
                match expected {
                    Some(e) => prop_assert_eq!(got, Some(e), "{}", doc),
                    None => prop_assert_eq!(got, None, "{}", doc),
                }
            }
        }

        /// Arbitrary bytes never panic, and whatever is answered is a slice of valid JSON.
        #[test]
        fn arbitrary_bytes(doc in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = object_fields(&doc, &[b"a"]);
        }
    }
}
