//! What the text indexes see of a value, and what a LIKE pattern guarantees about
//! the values it matches.

/// Token separators: ASCII bytes other than letters and digits. Bytes of non-ASCII
/// UTF-8 characters (>= 0x80) belong to tokens, as in ClickHouse's tokenbf.
fn is_separator(b: u8) -> bool {
    SEPARATOR[b as usize]
}

/// is_separator by table: index builds test every byte of every document.
static SEPARATOR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x80 {
        t[b] = !(b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    t
};

/// The maximal runs of non-separator bytes.
pub(crate) fn tokens(s: &[u8]) -> Tokens<'_> {
    Tokens { s, at: 0 }
}

/// Iterator of [`tokens`]: one forward walk over the bytes.
pub(crate) struct Tokens<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let s = self.s;
        let mut i = self.at;
        while i < s.len() && is_separator(s[i]) {
            i += 1;
        }
        if i == s.len() {
            self.at = i;
            return None;
        }
        let start = i;
        while i < s.len() && !is_separator(s[i]) {
            i += 1;
        }
        self.at = i;
        Some(&s[start..i])
    }
}

/// Every byte n-gram; none for values shorter than `n`.
pub(crate) fn ngrams(s: &[u8], n: usize) -> std::slice::Windows<'_, u8> {
    s.windows(n.max(1))
}

/// A stretch of a LIKE pattern between wildcards, unescaped. Any value the pattern
/// matches holds it as a contiguous byte substring.
#[derive(Debug, PartialEq)]
pub(crate) struct LiteralRun {
    pub bytes: Vec<u8>,
    /// Nothing precedes it in the pattern: the value starts with it.
    pub at_start: bool,
    /// Nothing follows it in the pattern: the value ends with it.
    pub at_end: bool,
}

/// Cuts a pattern at its unescaped `%` and `_`, reading `\x` as x (and a trailing lone
/// `\` as itself), exactly as [`crate::predicate::like`] does.
pub(crate) fn literal_runs(pattern: &[u8]) -> Vec<LiteralRun> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    let mut run_starts_pattern = true;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'%' | b'_' => {
                if !run.is_empty() {
                    runs.push(LiteralRun { bytes: std::mem::take(&mut run), at_start: run_starts_pattern, at_end: false });
                }
                run_starts_pattern = false;
            }
            b'\\' if i + 1 < pattern.len() => {
                run.push(pattern[i + 1]);
                i += 1;
            }
            b => run.push(b),
        }
        i += 1;
    }
    if !run.is_empty() || pattern.is_empty() {
        runs.push(LiteralRun { bytes: run, at_start: run_starts_pattern, at_end: true });
    }
    runs
}

/// The whole value a wildcard-free pattern matches.
pub(crate) fn exact_literal(runs: &[LiteralRun]) -> Option<&[u8]> {
    match runs {
        [only] if only.at_start && only.at_end => Some(&only.bytes),
        _ => None,
    }
}

/// Tokens of the run that are certainly whole tokens of any matching value: bounded on
/// each side by a separator inside the run, or by the value's start or end.
pub(crate) fn whole_tokens(run: &LiteralRun) -> impl Iterator<Item = &[u8]> {
    let last = run.bytes.iter().filter(|&&b| is_separator(b)).count();
    run.bytes
        .split(|&b| is_separator(b))
        .enumerate()
        .filter(move |&(i, t)| !t.is_empty() && (i > 0 || run.at_start) && (i < last || run.at_end))
        .map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(p: &str) -> Vec<(String, bool, bool)> {
        literal_runs(p.as_bytes())
            .into_iter()
            .map(|r| (String::from_utf8(r.bytes).unwrap(), r.at_start, r.at_end))
            .collect()
    }

    #[test]
    fn patterns_cut_into_literal_runs() {
        let r = |s: &str, a, b| (s.to_string(), a, b);
        assert_eq!(runs("abc"), vec![r("abc", true, true)]);
        assert_eq!(runs(""), vec![r("", true, true)]);
        assert_eq!(runs("%"), vec![]);
        assert_eq!(runs("ab%cd_e"), vec![r("ab", true, false), r("cd", false, false), r("e", false, true)]);
        assert_eq!(runs(r"%100\%%"), vec![r("100%", false, false)]);
        assert_eq!(runs(r"a\_b\\"), vec![r(r"a_b\", true, true)]);
        assert_eq!(runs("x\\"), vec![r("x\\", true, true)]);
    }

    #[test]
    fn only_bounded_tokens_are_whole() {
        let whole = |p: &str| {
            literal_runs(p.as_bytes())
                .iter()
                .flat_map(|r| whole_tokens(r).map(|t| String::from_utf8(t.to_vec()).unwrap()).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        assert_eq!(whole("%needle%"), Vec::<String>::new());
        assert_eq!(whole("% needle %"), vec!["needle"]);
        assert_eq!(whole("needle%"), Vec::<String>::new());
        assert_eq!(whole("needle %"), vec!["needle"]);
        assert_eq!(whole("%a big needle"), vec!["big", "needle"]);
        assert_eq!(whole("exact"), vec!["exact"]);
        assert_eq!(tokens("caf\u{e9}-au lait!".as_bytes()).count(), 3);
        let all = |s: &str| tokens(s.as_bytes()).map(|t| String::from_utf8(t.to_vec()).unwrap()).collect::<Vec<_>>();
        assert_eq!(all(""), Vec::<String>::new());
        assert_eq!(all("{\"a\": \"b1\", \"c\":[2,3]}"), vec!["a", "b1", "c", "2", "3"]);
        assert_eq!(all("x"), vec!["x"]);
        assert_eq!(all("--"), Vec::<String>::new());
        assert_eq!(all("_a_b_"), vec!["a", "b"]);
    }
}
