//! Data-skipping indexes, as ClickHouse has them: a skip index on one column of a part
//! summarizes each index granule — `granularity` consecutive data granules, the last
//! one possibly fewer — into one entry (min/max, a set of values, or a bloom filter),
//! and a query skips the data granules of every index granule whose entry proves that
//! no row can satisfy the filter.
//!
//! Byte layout of a stored index:
//!
//! ```text
//! +--------+---------+----------+-------------------------------------------+
//! | "MTSI" | version | body_crc | SkipIndex bincode (fixint, little-endian) |
//! | 4 B    | u16 LE  | u32 LE   | the rest                                  |
//! +--------+---------+----------+-------------------------------------------+
//! ```

mod bloom;
mod index_type;
mod text;
#[cfg(test)]
mod tests;

pub use bloom::hash_value;
pub use index_type::{SkipIndexType, DEFAULT_FALSE_POSITIVE_RATE, MAX_FILTER_BYTES, MAX_HASHES, MAX_NGRAM, MAX_SET_VALUES};

use crate::column::{compare_values, ColumnData, SortKind};
use crate::error::{Error, Result};
use crate::predicate::{like, CmpOp, Predicate};
use bincode::Options as _;
use bloom::{hash_bytes, BloomFilter};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use hashbrown::HashSet;
use text::{exact_literal, literal_runs, ngrams, tokens, whole_tokens};

pub const MAGIC: &[u8; 4] = b"MTSI";
pub const FORMAT_VERSION: u16 = 1;
const HEADER_LEN: usize = 10;

/// A skip index over one column of a part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkipIndex {
    ty: SkipIndexType,
    /// How the indexed column's values compare (and so hash).
    kind: SortKind,
    /// Data granules per index granule.
    granularity: usize,
    /// Data granules covered.
    granules: usize,
    /// One per index granule.
    entries: Vec<Entry>,
}

/// What an index granule's rows hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Entry {
    has_null: bool,
    /// Some row is not NULL.
    has_value: bool,
    summary: Summary,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Summary {
    /// Empty when the index granule has no value.
    MinMax { min: Vec<u8>, max: Vec<u8> },
    /// Distinct values (by bytes), sorted by the column's order then bytes; `None`:
    /// more than the type allows.
    Set(Option<Vec<Vec<u8>>>),
    /// bloom_filter, ngrambf and tokenbf alike.
    Bloom(BloomFilter),
}

impl SkipIndex {
    pub fn index_type(&self) -> SkipIndexType {
        self.ty
    }

    pub fn kind(&self) -> SortKind {
        self.kind
    }

    pub fn granularity(&self) -> usize {
        self.granularity
    }

    /// Number of data granules covered.
    pub fn granules(&self) -> usize {
        self.granules
    }

    /// Appends the summary of the data granules that follow this one's, built
    /// separately (in parallel) over the same index. This one must end on a whole index
    /// granule, so the two pieces' entries line up with one build over all granules.
    pub fn append(&mut self, next: SkipIndex) -> Result<()> {
        if next.ty != self.ty || next.kind != self.kind || next.granularity != self.granularity || self.granules % self.granularity != 0 {
            return Err(Error::Invalid("skip index pieces do not line up".into()));
        }
        self.granules += next.granules;
        self.entries.extend(next.entries);
        Ok(())
    }

    /// False only when no row of data granule `g` can make `pred` TRUE, judging by this
    /// index over the predicate's column `col` (in the predicate's own numbering; atoms
    /// on other columns may match). Granules past the covered ones may match.
    pub fn granule_may_match(&self, g: usize, pred: &Predicate, col: usize) -> bool {
        if g >= self.granules {
            return true;
        }
        match self.entries.get(g / self.granularity) {
            Some(entry) => self.may_be(entry, pred, col, true),
            None => true,
        }
    }

    /// Whether some row of the entry's index granule may make `pred` evaluate to
    /// `want`. Asking for FALSE is how NOT is pushed down: SQL's three-valued NOT swaps
    /// TRUE and FALSE and keeps NULL, so De Morgan's laws hold.
    fn may_be(&self, e: &Entry, pred: &Predicate, col: usize, want: bool) -> bool {
        match pred {
            Predicate::Const(c) => *c == Some(want),
            Predicate::Not(p) => self.may_be(e, p, col, !want),
            Predicate::And(ps) if want => ps.iter().all(|p| self.may_be(e, p, col, true)),
            Predicate::And(ps) => ps.iter().any(|p| self.may_be(e, p, col, false)),
            Predicate::Or(ps) if want => ps.iter().any(|p| self.may_be(e, p, col, true)),
            Predicate::Or(ps) => ps.iter().all(|p| self.may_be(e, p, col, false)),
            Predicate::IsNull { col: c, negated } if *c == col => {
                if *negated == want {
                    e.has_value
                } else {
                    e.has_null
                }
            }
            // A NULL row never makes a comparison, IN or LIKE TRUE or FALSE.
            Predicate::Cmp { col: c, kind, op, value } if *c == col => {
                e.has_value && self.cmp_may_hold(e, *kind, if want { *op } else { negate(*op) }, value)
            }
            Predicate::In { col: c, kind, values, has_null } if *c == col => {
                e.has_value
                    && if want {
                        values.iter().any(|v| self.cmp_may_hold(e, *kind, CmpOp::Eq, v))
                    } else {
                        // NOT IN is never TRUE with a NULL in the list.
                        !has_null && (*kind == SortKind::Numeric || not_in_may_hold(e, *kind, values))
                    }
            }
            Predicate::Like { col: c, pattern, negated, ascii_ci } if *c == col => {
                e.has_value && self.like_may_hold(e, pattern, *negated == want, *ascii_ci)
            }
            // An atom on another column.
            _ => true,
        }
    }

    /// Whether some non-NULL value of the index granule may satisfy `v op value`.
    fn cmp_may_hold(&self, e: &Entry, kind: SortKind, op: CmpOp, value: &[u8]) -> bool {
        // Opaque comparisons are the caller's, whose order we do not know; equal
        // numerics may differ in bytes (1.0, 1.00), so summaries of bytes cannot tell.
        if matches!(kind, SortKind::Opaque | SortKind::Numeric) {
            return true;
        }
        match &e.summary {
            Summary::MinMax { min, max } => kind != self.kind || range_may_hold(kind, op, min, max, value),
            Summary::Set(Some(values)) => set_may_hold(values, order_of(self.kind), kind, op, value),
            Summary::Set(None) => true,
            Summary::Bloom(_) if op != CmpOp::Eq => true,
            Summary::Bloom(f) => match self.ty {
                // Equal values hash equally only when both sides normalize alike.
                SkipIndexType::BloomFilter { .. } => kind != order_of(self.kind) || f.may_contain(hash_value(kind, value)),
                SkipIndexType::NgramBf { n, .. } => kind != SortKind::Bytes || ngrams(value, n).all(|g| f.may_contain(hash_bytes(g))),
                SkipIndexType::TokenBf { .. } => kind != SortKind::Bytes || tokens(value).all(|t| f.may_contain(hash_bytes(t))),
                _ => true,
            },
        }
    }

    /// Whether some non-NULL value may make `v [NOT] [I]LIKE pattern` TRUE.
    fn like_may_hold(&self, e: &Entry, pattern: &[u8], negated: bool, ascii_ci: bool) -> bool {
        let text = matches!(self.kind, SortKind::Bytes | SortKind::Opaque);
        match &e.summary {
            Summary::Set(None) => true,
            // A set knows its values: evaluate exactly as the executor does.
            Summary::Set(Some(values)) if ascii_ci => {
                let pattern = pattern.to_ascii_lowercase();
                values.iter().any(|v| like(&v.to_ascii_lowercase(), &pattern) != negated)
            }
            Summary::Set(Some(values)) => values.iter().any(|v| like(v, pattern) != negated),
            // The rest only know what the value must contain.
            _ if negated || ascii_ci || !text => true,
            Summary::MinMax { min, max } => {
                let runs = literal_runs(pattern);
                match runs.first() {
                    Some(prefix) if prefix.at_start && self.kind == SortKind::Bytes => prefix_may_lie_within(&prefix.bytes, min, max),
                    _ => true,
                }
            }
            Summary::Bloom(f) => {
                let runs = literal_runs(pattern);
                match self.ty {
                    SkipIndexType::BloomFilter { .. } => exact_literal(&runs).is_none_or(|v| f.may_contain(hash_bytes(v))),
                    SkipIndexType::NgramBf { n, .. } => {
                        runs.iter().all(|r| ngrams(&r.bytes, n).all(|g| f.may_contain(hash_bytes(g))))
                    }
                    SkipIndexType::TokenBf { .. } => runs.iter().all(|r| whole_tokens(r).all(|t| f.may_contain(hash_bytes(t)))),
                    _ => true,
                }
            }
        }
    }

    /// The index as stored: header, checksum, body.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing plain owned data into a Vec cannot fail.
        let body = bincode_options().serialize(self).expect("a skip index serializes");
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Reads what [`SkipIndex::to_bytes`] wrote; anything else is an error, never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<SkipIndex> {
        let corrupt = |d: String| Error::corrupt("skip index", d);
        if bytes.len() < HEADER_LEN {
            return Err(corrupt(format!("{} bytes, shorter than the header", bytes.len())));
        }
        let (header, body) = bytes.split_at(HEADER_LEN);
        if &header[..4] != MAGIC {
            return Err(corrupt("bad magic".into()));
        }
        let version = u16::from_le_bytes([header[4], header[5]]);
        if version != FORMAT_VERSION {
            return Err(corrupt(format!("format version {version} (this build reads {FORMAT_VERSION})")));
        }
        if crc32fast::hash(body) != u32::from_le_bytes([header[6], header[7], header[8], header[9]]) {
            return Err(corrupt("checksum mismatch".into()));
        }
        // The limit stops a bogus length from allocating more than the input could hold.
        let index: SkipIndex =
            bincode_options().with_limit(body.len() as u64).deserialize(body).map_err(|e| corrupt(e.to_string()))?;
        index.validate().map_err(corrupt)?;
        Ok(index)
    }

    /// Consistency of a decoded index: everything pruning relies on.
    fn validate(&self) -> std::result::Result<(), String> {
        self.ty.validate()?;
        if self.granularity == 0 {
            return Err("granularity 0".into());
        }
        if self.entries.len() != self.granules.div_ceil(self.granularity) {
            return Err(format!("{} entries for {} granules at granularity {}", self.entries.len(), self.granules, self.granularity));
        }
        let order = order_of(self.kind);
        for (i, e) in self.entries.iter().enumerate() {
            let ok = match (&e.summary, self.ty) {
                (Summary::MinMax { .. }, SkipIndexType::MinMax) => true,
                (Summary::Set(None), SkipIndexType::Set { max_values }) => max_values > 0,
                (Summary::Set(Some(vs)), SkipIndexType::Set { max_values }) => {
                    (max_values == 0 || vs.len() <= max_values)
                        && vs.is_empty() != e.has_value
                        && vs.windows(2).all(|w| set_order(order, &w[0], &w[1]) == Ordering::Less)
                }
                (Summary::Bloom(f), SkipIndexType::BloomFilter { .. }) => f.is_well_formed(),
                (Summary::Bloom(f), SkipIndexType::NgramBf { size_bytes, hashes, .. } | SkipIndexType::TokenBf { size_bytes, hashes }) => {
                    f.is_well_formed() && f.bits() == size_bytes as u64 * 8 && f.hashes() == hashes
                }
                _ => false,
            };
            if !ok {
                return Err(format!("entry {i} does not fit a {} index", self.ty.describe()));
            }
        }
        Ok(())
    }

    /// Approximate heap size, for cache accounting.
    pub fn size_bytes(&self) -> usize {
        let heap: usize = self
            .entries
            .iter()
            .map(|e| match &e.summary {
                Summary::MinMax { min, max } => min.capacity() + max.capacity(),
                Summary::Set(None) => 0,
                Summary::Set(Some(vs)) => vs.iter().map(|v| v.capacity() + std::mem::size_of::<Vec<u8>>()).sum(),
                Summary::Bloom(f) => f.heap_bytes(),
            })
            .sum();
        std::mem::size_of::<Self>() + self.entries.capacity() * std::mem::size_of::<Entry>() + heap
    }
}

fn bincode_options() -> impl bincode::Options {
    bincode::DefaultOptions::new().with_fixint_encoding().with_little_endian()
}

/// Builds a skip index while a part is written, one data granule at a time.
pub struct SkipIndexBuilder {
    ty: SkipIndexType,
    kind: SortKind,
    granularity: usize,
    granules: usize,
    entries: Vec<Entry>,
    /// The index granule being filled: data granules so far, and what they hold.
    pending: usize,
    has_null: bool,
    has_value: bool,
    acc: Accumulator,
}

/// An index granule's summary under construction.
enum Accumulator {
    MinMax(Option<(Vec<u8>, Vec<u8>)>),
    /// `None` once over the limit.
    Set(Option<HashSet<Vec<u8>>>),
    /// bloom_filter: the distinct hashes, which size the filter.
    Hashes(HashSet<u64>),
    /// ngrambf, tokenbf: a filter of fixed size.
    Filter(BloomFilter),
}

impl SkipIndexBuilder {
    /// `kind` is the indexed column's; `granularity` (data granules per index granule)
    /// is raised to at least 1. `ty` should be valid (as `SkipIndexType::parse` returns).
    pub fn new(ty: SkipIndexType, kind: SortKind, granularity: usize) -> Self {
        SkipIndexBuilder {
            ty,
            kind,
            granularity: granularity.max(1),
            granules: 0,
            entries: Vec::new(),
            pending: 0,
            has_null: false,
            has_value: false,
            acc: Accumulator::new(ty),
        }
    }

    /// Adds the indexed column's values of the next data granule.
    pub fn add_granule(&mut self, column: &ColumnData) {
        for i in 0..column.len() {
            match column.get(i) {
                None => self.has_null = true,
                Some(v) => {
                    self.has_value = true;
                    self.add_value(v);
                }
            }
        }
        self.granules += 1;
        self.pending += 1;
        if self.pending == self.granularity {
            self.close_index_granule();
        }
    }

    fn add_value(&mut self, v: &[u8]) {
        let kind = self.kind;
        match (&mut self.acc, self.ty) {
            (Accumulator::MinMax(None), _) => self.acc = Accumulator::MinMax(Some((v.to_vec(), v.to_vec()))),
            (Accumulator::MinMax(Some((min, max))), _) => {
                if compare_values(kind, v, min) == Ordering::Less {
                    *min = v.to_vec();
                } else if compare_values(kind, v, max) == Ordering::Greater {
                    *max = v.to_vec();
                }
            }
            (Accumulator::Set(Some(set)), SkipIndexType::Set { max_values }) if !set.contains(v) => {
                if max_values != 0 && set.len() == max_values {
                    self.acc = Accumulator::Set(None);
                } else {
                    set.insert(v.to_vec());
                }
            }
            (Accumulator::Hashes(hashes), _) => {
                hashes.insert(hash_value(kind, v));
            }
            (Accumulator::Filter(f), SkipIndexType::NgramBf { n, .. }) => ngrams(v, n).for_each(|g| f.insert(hash_bytes(g))),
            (Accumulator::Filter(f), _) => tokens(v).for_each(|t| f.insert(hash_bytes(t))),
            _ => {}
        }
    }

    fn close_index_granule(&mut self) {
        let summary = match std::mem::replace(&mut self.acc, Accumulator::new(self.ty)) {
            Accumulator::MinMax(mm) => {
                let (min, max) = mm.unwrap_or_default();
                Summary::MinMax { min, max }
            }
            Accumulator::Set(set) => Summary::Set(set.map(|set| {
                let order = order_of(self.kind);
                let mut values: Vec<Vec<u8>> = set.into_iter().collect();
                values.sort_by(|a, b| set_order(order, a, b));
                values
            })),
            Accumulator::Hashes(hashes) => {
                let p = match self.ty {
                    SkipIndexType::BloomFilter { false_positive_rate } => false_positive_rate,
                    _ => DEFAULT_FALSE_POSITIVE_RATE,
                };
                let mut f = BloomFilter::for_keys(hashes.len(), p);
                hashes.into_iter().for_each(|h| f.insert(h));
                Summary::Bloom(f)
            }
            Accumulator::Filter(f) => Summary::Bloom(f),
        };
        self.entries.push(Entry { has_null: self.has_null, has_value: self.has_value, summary });
        self.pending = 0;
        self.has_null = false;
        self.has_value = false;
    }

    pub fn finish(mut self) -> SkipIndex {
        if self.pending > 0 {
            self.close_index_granule();
        }
        SkipIndex { ty: self.ty, kind: self.kind, granularity: self.granularity, granules: self.granules, entries: self.entries }
    }
}

impl Accumulator {
    fn new(ty: SkipIndexType) -> Self {
        match ty {
            SkipIndexType::MinMax => Accumulator::MinMax(None),
            SkipIndexType::Set { .. } => Accumulator::Set(Some(HashSet::new())),
            SkipIndexType::BloomFilter { .. } => Accumulator::Hashes(HashSet::new()),
            SkipIndexType::NgramBf { size_bytes, hashes, .. } | SkipIndexType::TokenBf { size_bytes, hashes } => {
                Accumulator::Filter(BloomFilter::with_bits(size_bytes as u64 * 8, hashes))
            }
        }
    }
}

/// The order a column's values sort in: opaque values are kept in byte order.
fn order_of(kind: SortKind) -> SortKind {
    match kind {
        SortKind::Opaque => SortKind::Bytes,
        k => k,
    }
}

/// The order of a set's values: the column's, ties (like -0 and 0) by bytes.
fn set_order(order: SortKind, a: &[u8], b: &[u8]) -> Ordering {
    compare_values(order, a, b).then_with(|| a.cmp(b))
}

fn negate(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Le => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Le,
        CmpOp::Ge => CmpOp::Lt,
    }
}

/// Whether some value in [min, max] may satisfy `v op value`.
fn range_may_hold(kind: SortKind, op: CmpOp, min: &[u8], max: &[u8], value: &[u8]) -> bool {
    let (lo, hi) = (compare_values(kind, min, value), compare_values(kind, max, value));
    match op {
        CmpOp::Eq => lo != Ordering::Greater && hi != Ordering::Less,
        CmpOp::Ne => !(lo == Ordering::Equal && hi == Ordering::Equal),
        CmpOp::Lt => lo == Ordering::Less,
        CmpOp::Le => lo != Ordering::Greater,
        CmpOp::Gt => hi == Ordering::Greater,
        CmpOp::Ge => hi != Ordering::Less,
    }
}

/// Whether some value of a (non-empty) set satisfies `v op value` under `kind`. When the
/// set is sorted in that very order, its ends and a binary search answer it.
fn set_may_hold(values: &[Vec<u8>], order: SortKind, kind: SortKind, op: CmpOp, value: &[u8]) -> bool {
    let cmp = |v: &Vec<u8>| compare_values(kind, v, value);
    if order != kind {
        return values.iter().any(|v| op.holds(cmp(v)));
    }
    let (Some(first), Some(last)) = (values.first(), values.last()) else {
        return false;
    };
    match op {
        CmpOp::Eq => values.get(values.partition_point(|v| cmp(v) == Ordering::Less)).is_some_and(|v| cmp(v) == Ordering::Equal),
        CmpOp::Ne => cmp(first) != Ordering::Equal || cmp(last) != Ordering::Equal,
        CmpOp::Lt | CmpOp::Le => op.holds(cmp(first)),
        CmpOp::Gt | CmpOp::Ge => op.holds(cmp(last)),
    }
}

/// Whether some value of a set equals none of `values` (NOT IN may be TRUE).
fn not_in_may_hold(e: &Entry, kind: SortKind, values: &[Vec<u8>]) -> bool {
    match &e.summary {
        Summary::Set(Some(set)) if kind != SortKind::Opaque => {
            set.iter().any(|v| values.iter().all(|x| compare_values(kind, v, x) != Ordering::Equal))
        }
        _ => true,
    }
}

/// Whether a value starting with `prefix` may lie in [min, max] (bytes order).
fn prefix_may_lie_within(prefix: &[u8], min: &[u8], max: &[u8]) -> bool {
    // Every such value v has prefix <= v, and v's first |prefix| bytes equal prefix.
    max >= prefix && min[..prefix.len().min(min.len())] <= *prefix
}
