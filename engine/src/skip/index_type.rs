//! The kinds of skip index and their text form, as users write it in
//! `CREATE INDEX ... WITH (type = '...')`.

use crate::column::{ColumnType, SortKind};
use serde::{Deserialize, Serialize};

/// `bloom_filter`'s false positive rate when the user gives none (ClickHouse's default).
pub const DEFAULT_FALSE_POSITIVE_RATE: f64 = 0.025;
/// The most distinct values a `set(N)` index may be asked to keep per index granule.
pub const MAX_SET_VALUES: usize = 100_000;
/// Bounds of the text bloom filters' parameters.
pub const MAX_NGRAM: usize = 8;
pub const MAX_FILTER_BYTES: usize = 65_536;
pub const MAX_HASHES: usize = 16;

const EXPECTED: &str =
    "expected minmax, set(N), bloom_filter([false_positive_rate]), ngrambf(n, size_bytes, hashes) or tokenbf(size_bytes, hashes)";

/// What a skip index keeps about each index granule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum SkipIndexType {
    /// Smallest and largest non-NULL value.
    MinMax,
    /// The distinct non-NULL values, up to `max_values` (0 = unlimited); a granule with
    /// more keeps none and never prunes.
    Set { max_values: usize },
    /// A bloom filter of the distinct non-NULL values, sized per index granule for
    /// this false positive rate.
    BloomFilter { false_positive_rate: f64 },
    /// A bloom filter of `size_bytes` bytes over every byte n-gram of the values (text).
    NgramBf { n: usize, size_bytes: usize, hashes: usize },
    /// A bloom filter of `size_bytes` bytes over the alphanumeric tokens of the values (text).
    TokenBf { size_bytes: usize, hashes: usize },
}

impl SkipIndexType {
    /// Parses `minmax`, `set(N)`, `bloom_filter[(p)]`, `ngrambf(n, size_bytes, hashes)` or
    /// `tokenbf(size_bytes, hashes)`, in any case and with spaces anywhere between
    /// tokens. ClickHouse's spellings `ngrambf_v1` / `tokenbf_v1` and their trailing
    /// random seed argument are accepted too; the seed is ignored (our hash seeds are
    /// fixed by the on-disk format).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (name, args) = match text.find('(') {
            None => (text, Vec::new()),
            Some(open) => {
                let Some(inner) = text[open + 1..].trim_end().strip_suffix(')') else {
                    return Err(format!("skip index type \"{text}\" lacks its closing parenthesis"));
                };
                let args: Vec<&str> = inner.split(',').map(str::trim).collect();
                (text[..open].trim_end(), if args == [""] { Vec::new() } else { args })
            }
        };
        let ty = match name.to_ascii_lowercase().as_str() {
            "minmax" => {
                arity("minmax", &args, 0, 0, "minmax")?;
                SkipIndexType::MinMax
            }
            "set" => {
                arity("set", &args, 1, 1, "set(N)")?;
                SkipIndexType::Set { max_values: integer("set", "N", args[0])? }
            }
            "bloom_filter" => {
                arity("bloom_filter", &args, 0, 1, "bloom_filter([false_positive_rate])")?;
                let false_positive_rate = match args.first() {
                    None => DEFAULT_FALSE_POSITIVE_RATE,
                    Some(a) => a.parse().map_err(|_| {
                        format!("bloom_filter false_positive_rate must be a number between 0 and 1, got \"{a}\"")
                    })?,
                };
                SkipIndexType::BloomFilter { false_positive_rate }
            }
            "ngrambf" | "ngrambf_v1" => {
                arity("ngrambf", &args, 3, 4, "ngrambf(n, size_bytes, hashes)")?;
                SkipIndexType::NgramBf {
                    n: integer("ngrambf", "n", args[0])?,
                    size_bytes: integer("ngrambf", "size_bytes", args[1])?,
                    hashes: integer("ngrambf", "hashes", args[2])?,
                }
            }
            "tokenbf" | "tokenbf_v1" => {
                arity("tokenbf", &args, 2, 3, "tokenbf(size_bytes, hashes)")?;
                SkipIndexType::TokenBf {
                    size_bytes: integer("tokenbf", "size_bytes", args[0])?,
                    hashes: integer("tokenbf", "hashes", args[1])?,
                }
            }
            _ => return Err(format!("unknown skip index type \"{text}\": {EXPECTED}")),
        };
        if let Some(seed) = args.get(match ty {
            SkipIndexType::NgramBf { .. } => 3,
            SkipIndexType::TokenBf { .. } => 2,
            _ => usize::MAX,
        }) {
            integer(name, "random_seed", seed)?;
        }
        ty.validate()?;
        Ok(ty)
    }

    /// Parameter bounds; `parse` checks them, and so does reading an index from disk.
    pub fn validate(&self) -> Result<(), String> {
        let range = |ty: &str, what: &str, v: usize, lo: usize, hi: usize| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("{ty} {what} must be between {lo} and {hi}, got {v}"))
            }
        };
        match *self {
            SkipIndexType::MinMax => Ok(()),
            SkipIndexType::Set { max_values } => range("set", "N", max_values, 0, MAX_SET_VALUES),
            SkipIndexType::BloomFilter { false_positive_rate: p } => {
                if p > 0.0 && p < 1.0 {
                    Ok(())
                } else {
                    Err(format!("bloom_filter false_positive_rate must be between 0 and 1 (exclusive), got {p}"))
                }
            }
            SkipIndexType::NgramBf { n, size_bytes, hashes } => {
                range("ngrambf", "n", n, 1, MAX_NGRAM)?;
                range("ngrambf", "size_bytes", size_bytes, 1, MAX_FILTER_BYTES)?;
                range("ngrambf", "hashes", hashes, 1, MAX_HASHES)
            }
            SkipIndexType::TokenBf { size_bytes, hashes } => {
                range("tokenbf", "size_bytes", size_bytes, 1, MAX_FILTER_BYTES)?;
                range("tokenbf", "hashes", hashes, 1, MAX_HASHES)
            }
        }
    }

    /// Whether a column of this shape and order can carry the index.
    pub fn check_column(&self, ty: ColumnType, kind: SortKind) -> Result<(), String> {
        match self {
            SkipIndexType::NgramBf { .. } | SkipIndexType::TokenBf { .. } if ty != ColumnType::Var => {
                Err(format!("{} indexes only text (variable-length) columns", self.name()))
            }
            SkipIndexType::MinMax if kind == SortKind::Opaque => Err(
                "minmax needs a column whose order the engine knows (integers, floats, or text and bytes in \"C\" order); \
                 use set(N) or bloom_filter for this column"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    /// Canonical text, accepted back by [`SkipIndexType::parse`].
    pub fn describe(&self) -> String {
        match self {
            SkipIndexType::MinMax => "minmax".into(),
            SkipIndexType::Set { max_values } => format!("set({max_values})"),
            // `{}` prints the shortest text that reads back as the same f64.
            SkipIndexType::BloomFilter { false_positive_rate } => format!("bloom_filter({false_positive_rate})"),
            SkipIndexType::NgramBf { n, size_bytes, hashes } => format!("ngrambf({n}, {size_bytes}, {hashes})"),
            SkipIndexType::TokenBf { size_bytes, hashes } => format!("tokenbf({size_bytes}, {hashes})"),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            SkipIndexType::MinMax => "minmax",
            SkipIndexType::Set { .. } => "set",
            SkipIndexType::BloomFilter { .. } => "bloom_filter",
            SkipIndexType::NgramBf { .. } => "ngrambf",
            SkipIndexType::TokenBf { .. } => "tokenbf",
        }
    }
}

fn arity(name: &str, args: &[&str], min: usize, max: usize, usage: &str) -> Result<(), String> {
    if (min..=max).contains(&args.len()) {
        return Ok(());
    }
    let wanted = match (min, max) {
        (0, 0) => "no arguments".to_string(),
        (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
        (a, b) => format!("{a} to {b} arguments"),
    };
    Err(format!("{name} takes {wanted}, got {}: {usage}", args.len()))
}

fn integer(ty: &str, what: &str, arg: &str) -> Result<usize, String> {
    arg.parse().map_err(|_| format!("{ty} {what} must be a non-negative integer, got \"{arg}\""))
}
