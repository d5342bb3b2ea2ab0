//! GROUP BY and aggregates over filtered granule batches: each batch's rows are mapped to
//! group ids (by dictionary code through a per-part table where the key is one
//! dictionary-encoded column, else through a hash table of encoded keys), then every
//! aggregate updates its state column for those rows. One `Aggregator` per thread; the
//! partial ones merge by key at the end. Memory is accounted, so the caller can give up
//! (and let Postgres aggregate) before a table outgrows its budget.

mod ddsketch;
pub(crate) mod input;
pub mod join;
mod distinct;
mod key_runs;
mod percentile;
pub mod sketch;
mod state;

use crate::column::{float_of, ColumnData, ColumnType, SortKind};
use crate::predicate::{FilterColumn, Predicate};
use crate::range_reader::{Dictionary, Fetched};
use hashbrown::HashMap;
use input::Input;
pub use percentile::Percentile;
use state::State;

/// How an aggregate reads its input values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ValueKind {
    /// Little-endian two's-complement integers (also dates, times, timestamps).
    Int,
    /// IEEE floats.
    Float,
    /// Bytes compared as unsigned strings (bool, uuid, bytea, text under C collation).
    Bytes,
}

impl ValueKind {
    fn sort_kind(self) -> SortKind {
        match self {
            ValueKind::Int => SortKind::SignedInt,
            ValueKind::Float => SortKind::Float,
            ValueKind::Bytes => SortKind::Bytes,
        }
    }
}

/// An aggregate over reader column `col` (an index into the batch's columns).
#[derive(Clone, Debug, PartialEq)]
pub enum AggFunc {
    CountStar,
    Count { col: usize },
    Sum { col: usize, kind: ValueKind },
    Avg { col: usize, kind: ValueKind },
    Min { col: usize, kind: ValueKind },
    Max { col: usize, kind: ValueKind },
    BoolAnd { col: usize },
    BoolOr { col: usize },
    CountDistinct { col: usize, kind: ValueKind },
    /// percentile_cont / percentile_disc WITHIN GROUP (ORDER BY col), ascending.
    Percentile { col: usize, kind: ValueKind, p: Percentile },
    /// mergetree.uniq(col): distinct values, estimated (sketch.rs).
    Uniq { col: usize, kind: ValueKind },
    /// mergetree.quantile(level, col), estimated (sketch.rs).
    Quantile { col: usize, kind: ValueKind, level: f64 },
}

impl AggFunc {
    pub fn input(&self) -> Option<usize> {
        match *self {
            AggFunc::CountStar => None,
            AggFunc::Count { col }
            | AggFunc::Sum { col, .. }
            | AggFunc::Avg { col, .. }
            | AggFunc::Min { col, .. }
            | AggFunc::Max { col, .. }
            | AggFunc::BoolAnd { col }
            | AggFunc::BoolOr { col }
            | AggFunc::CountDistinct { col, .. }
            | AggFunc::Percentile { col, .. }
            | AggFunc::Uniq { col, .. }
            | AggFunc::Quantile { col, .. } => Some(col),
        }
    }
    fn kind(&self) -> ValueKind {
        match *self {
            AggFunc::Sum { kind, .. }
            | AggFunc::Avg { kind, .. }
            | AggFunc::Min { kind, .. }
            | AggFunc::Max { kind, .. }
            | AggFunc::CountDistinct { kind, .. }
            | AggFunc::Percentile { kind, .. }
            | AggFunc::Uniq { kind, .. }
            | AggFunc::Quantile { kind, .. } => kind,
            _ => ValueKind::Int,
        }
    }
}

/// A grouping key: reader column `col`, of physical type `ty`; floats group by Postgres'
/// equality (-0 = 0, NaN = NaN).
#[derive(Clone, Debug, PartialEq)]
pub struct KeySpec {
    pub col: usize,
    pub ty: ColumnType,
    pub float: bool,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct AggSpec {
    pub keys: Vec<KeySpec>,
    pub aggs: Vec<AggFunc>,
    /// Each aggregate's FILTER (WHERE ...), over the batch's columns (empty: none has one).
    pub filters: Vec<Option<Predicate>>,
}

/// An aggregate's result for one group.
#[derive(Clone, Debug, PartialEq)]
pub enum AggValue {
    Null,
    Int(i128),
    Float(f64),
    Bytes(Vec<u8>),
    Bool(bool),
    /// avg of integers: Postgres divides the sum by the count as numeric.
    IntSumCount {
        sum: i128,
        count: i64,
    },
    /// Finite inputs whose sum is out of the type's range (Postgres raises an error).
    OutOfRange,
    /// One value per element (percentiles of an array of fractions).
    Array(Vec<AggValue>),
}

/// One output group: its key values (None: NULL) and aggregate values.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub keys: Vec<Option<Vec<u8>>>,
    pub values: Vec<AggValue>,
}

/// Appends key column `k`'s encoding of row `r` to `out`: a NULL flag, then the value
/// (floats normalized; variable-length values with their length).
fn encode_key(k: &KeySpec, col: &Fetched, r: u32, out: &mut Vec<u8>) {
    match col.get(r) {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            if k.float {
                let x = float_key(float_of(v));
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            } else {
                if k.ty == ColumnType::Var {
                    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                }
                out.extend_from_slice(v);
            }
        }
    }
}

/// The share of the work one pass over the data does, when the groups do not fit in
/// memory at once: the data is read `passes` times, and each pass aggregates only the
/// groups (`Keys`) or the distinct values (`Distinct`) whose hash falls to it, so each
/// pass holds about 1/passes of the memory. Keys' passes yield disjoint groups;
/// Distinct's passes add up distinct counts, the other aggregates coming from pass 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Share {
    All,
    Keys { passes: u32, pass: u32 },
    Distinct { passes: u32, pass: u32 },
}

/// Which of `passes` passes a 128-bit key belongs to.
fn pass_of(key: u128, passes: u32) -> u32 {
    let h = ((key as u64) ^ ((key >> 64) as u64).rotate_left(31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((h >> 32) % passes as u64) as u32
}

/// A float as Postgres' equality sees it: -0 is 0, every NaN the same NaN.
pub(crate) fn float_key(x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else if x.is_nan() {
        f64::NAN
    } else {
        x
    }
}

/// The aggregation state of one thread (or the merged result).
pub struct Aggregator {
    share: Share,
    /// Of `bytes`, those the groups' keys hold.
    key_bytes: usize,
    /// Of `bytes`, those the distinct values hold.
    distinct_bytes: usize,
    spec: AggSpec,
    /// Encoded key -> group id.
    groups: HashMap<Box<[u8]>, u32>,
    /// Per group: its encoded key (normalized) and the first row's key values.
    keys: Vec<(Box<[u8]>, Vec<Option<Vec<u8>>>)>,
    states: Vec<State>,
    /// A single dictionary-encoded key: per part (by the caller's part number), group id
    /// of each code (u32::MAX: not looked up yet).
    code_groups: HashMap<usize, Vec<u32>>,
    /// A single fixed-width key: group id of each value (u128::MAX: NULL).
    int_groups: HashMap<u128, u32>,
    bytes: usize,
    /// Per aggregate: the earlier percentile whose value counts it reads (the same input
    /// and FILTER: p50, p90 and p99 of one column keep one count per value, not three).
    shared: Vec<Option<usize>>,
}

/// The group id of a row another pass of a Keys share aggregates.
const OTHER_PASS: u32 = u32::MAX - 1;

/// Bytes a group costs besides its key and distinct values (hash entry, states).
const GROUP_BYTES: usize = 64;

impl Aggregator {
    pub fn new(spec: AggSpec) -> Aggregator {
        let shared: Vec<Option<usize>> = (0..spec.aggs.len())
            .map(|i| {
                let AggFunc::Percentile { col, kind, .. } = spec.aggs[i] else { return None };
                let filter = |j: usize| spec.filters.get(j).and_then(Option::as_ref);
                (0..i).find(|&j| matches!(spec.aggs[j], AggFunc::Percentile { col: c, kind: k, .. } if c == col && k == kind) && filter(j) == filter(i))
            })
            .collect();
        // A shared percentile's own state stays empty.
        let states = spec.aggs.iter().zip(&shared).map(|(f, s)| if s.is_some() { State::Count(Vec::new()) } else { State::new(f) }).collect();
        Aggregator {
            share: Share::All,
            key_bytes: 0,
            distinct_bytes: 0,
            spec,
            groups: HashMap::new(),
            keys: Vec::new(),
            states,
            code_groups: HashMap::new(),
            int_groups: HashMap::new(),
            bytes: 0,
            shared,
        }
    }

    /// An aggregator for one pass of a partitioned aggregation.
    pub fn with_share(spec: AggSpec, share: Share) -> Aggregator {
        Aggregator { share, ..Aggregator::new(spec) }
    }

    /// Of memory(), the bytes distinct values hold.
    pub fn distinct_memory(&self) -> usize {
        self.distinct_bytes
    }

    /// Ends a Distinct pass: the distinct values counted so far are kept as counts and
    /// their memory freed; the next pass takes `pass`.
    pub fn next_distinct_pass(&mut self, pass: u32) {
        for s in &mut self.states {
            s.count_and_clear_distinct();
        }
        self.bytes -= self.distinct_bytes;
        self.distinct_bytes = 0;
        if let Share::Distinct { passes, .. } = self.share {
            self.share = Share::Distinct { passes, pass };
        }
    }

    /// Memory held, approximately (keys, states, distinct values).
    pub fn memory(&self) -> usize {
        self.bytes + self.keys.len() * GROUP_BYTES
    }

    pub fn groups(&self) -> usize {
        self.keys.len()
    }

    /// The group of an encoded key, made if new (its key values from `original`).
    fn group_of(&mut self, key: &[u8], original: impl FnOnce() -> Vec<Option<Vec<u8>>>) -> u32 {
        if let Some(&g) = self.groups.get(key) {
            return g;
        }
        let g = self.keys.len() as u32;
        self.groups.insert(key.into(), g);
        let orig = original();
        let key_bytes = key.len() * 2 + orig.iter().map(|k| k.as_ref().map_or(0, Vec::len)).sum::<usize>();
        self.key_bytes += key_bytes;
        self.bytes += key_bytes;
        self.keys.push((key.into(), orig));
        for s in &mut self.states {
            s.grow(self.keys.len());
        }
        g
    }

    /// Folds the `rows` of a batch into the groups: `columns` are the batch's reader
    /// columns (at least the keys' and the aggregates' inputs, for those rows); `part`
    /// numbers the part the batch comes from (dictionary codes are per part).
    pub fn update(&mut self, columns: &[Option<Fetched>], rows: &[u32], part: usize) {
        let distinct_share = match self.share {
            Share::Distinct { passes, pass } => Some((passes, pass)),
            _ => None,
        };
        let mut gids = self.group_ids(columns, rows, part);
        // Under a Keys share, only the rows whose group falls to this pass.
        let kept;
        let rows = if gids.contains(&OTHER_PASS) {
            // Without a branch per row: which pass a row's group falls to is a coin toss.
            let (mut r, mut g) = (vec![0u32; rows.len()], vec![0u32; rows.len()]);
            let mut n = 0;
            for (&row, &gid) in rows.iter().zip(&gids) {
                r[n] = row;
                g[n] = gid;
                n += (gid != OTHER_PASS) as usize;
            }
            r.truncate(n);
            g.truncate(n);
            kept = r;
            gids = g;
            &kept[..]
        } else {
            rows
        };
        // The rows (and their groups) each FILTER keeps.
        let fcols: Vec<Option<FilterColumn>> =
            if self.spec.filters.iter().any(Option::is_some) { columns.iter().map(|c| c.as_ref().map(Fetched::filter_column)).collect() } else { Vec::new() };
        let filtered: Vec<Option<(Vec<u32>, Vec<u32>)>> = self
            .spec
            .filters
            .iter()
            .map(|f| {
                let p = f.as_ref()?;
                let kept = p.evaluate_rows(&fcols, rows);
                // `kept` is a sorted subset of the sorted `rows`: walk both.
                let mut kept_gids = Vec::with_capacity(kept.len());
                let mut at = 0;
                for &r in &kept {
                    while rows[at] != r {
                        at += 1;
                    }
                    kept_gids.push(gids[at]);
                }
                Some((kept, kept_gids))
            })
            .collect();
        // Each input column decoded once for the aggregates that read it the same way
        // (over the same rows).
        let mut inputs: Vec<(usize, ValueKind, Option<usize>, Input)> = Vec::new();
        for (i, f) in self.spec.aggs.iter().enumerate() {
            let distinct = matches!(f, AggFunc::CountDistinct { .. });
            // Passes after the first add only distinct values.
            if (!distinct && distinct_share.is_some_and(|(_, pass)| pass > 0)) || self.shared[i].is_some() {
                continue;
            }
            let (rows, gids, filter) = match filtered.get(i) {
                Some(Some((r, g))) => (&r[..], &g[..], Some(i)),
                _ => (rows, &gids[..], None),
            };
            let Some(c) = f.input() else {
                self.bytes = self.bytes.saturating_add_signed(self.states[i].update(f, None, rows, gids, None));
                continue;
            };
            let col = columns[c].as_ref().expect("aggregate input fetched");
            // Counting reads only validity; distinct counts, booleans and byte-ordered
            // extremes read bytes.
            let kind = match f {
                AggFunc::Count { .. } | AggFunc::CountDistinct { .. } | AggFunc::BoolAnd { .. } | AggFunc::BoolOr { .. } | AggFunc::Uniq { .. } => {
                    ValueKind::Bytes
                }
                _ => f.kind(),
            };
            let at = match inputs.iter().position(|(ic, ik, ifl, _)| *ic == c && *ik == kind && *ifl == filter) {
                Some(at) => at,
                None => {
                    let input = match kind {
                        ValueKind::Int => input::ints(col, rows),
                        ValueKind::Float => input::floats(col, rows),
                        ValueKind::Bytes => Input::Bytes(col),
                    };
                    inputs.push((c, kind, filter, input));
                    inputs.len() - 1
                }
            };
            let added = self.states[i].update(f, Some(&inputs[at].3), rows, gids, distinct_share);
            self.bytes = self.bytes.saturating_add_signed(added);
            if distinct {
                self.distinct_bytes = self.distinct_bytes.saturating_add_signed(added);
            }
        }
    }

    /// The group of each row; OTHER_PASS for a row whose group another pass of a Keys
    /// share aggregates (decided once per key, when it is first met).
    fn group_ids(&mut self, columns: &[Option<Fetched>], rows: &[u32], part: usize) -> Vec<u32> {
        let keys = self.spec.keys.clone();
        if keys.is_empty() {
            let g = self.group_of(&[], Vec::new);
            return vec![g; rows.len()];
        }
        let share = self.share;
        let mine = |key: &[u8]| match share {
            Share::Keys { passes, pass } => pass_of(xxhash_rust::xxh3::xxh3_128(key), passes) == pass,
            _ => true,
        };
        let col = |k: &KeySpec| columns[k.col].as_ref().expect("key column fetched");
        if let [k] = keys.as_slice() {
            if let Fetched::Codes { codes, validity, dict } = col(k) {
                // Dictionary codes: one lookup per distinct code of the part (of the
                // granule, for a block's runs, whose codes mean nothing past it).
                let kept = if dict.of_part() { self.code_groups.remove(&part) } else { None };
                let mut table = kept.unwrap_or_else(|| vec![u32::MAX; dict.len() + 1]);
                let mut buf = Vec::new();
                let mut resolve = |table: &mut Vec<u32>, r: u32| {
                    let null = validity.as_ref().is_some_and(|v| !v.get(r as usize));
                    let slot = if null { dict.len() } else { codes[r as usize] as usize };
                    if table[slot] == u32::MAX {
                        buf.clear();
                        encode_key(k, col(k), r, &mut buf);
                        let value = (!null).then(|| dict.value(slot).to_vec());
                        table[slot] = if mine(&buf) { self.group_of(&buf, || vec![value]) } else { OTHER_PASS };
                    }
                    table[slot]
                };
                let out = match validity {
                    // No NULLs: a plain lookup per row, codes not met yet in this part
                    // resolved after (a few in the first batches, none later).
                    None => {
                        let mut out: Vec<u32> = rows.iter().map(|&r| table.get(codes[r as usize] as usize).copied().unwrap_or(u32::MAX)).collect();
                        if out.contains(&u32::MAX) {
                            for (o, &r) in out.iter_mut().zip(rows) {
                                if *o == u32::MAX {
                                    *o = resolve(&mut table, r);
                                }
                            }
                        }
                        out
                    }
                    Some(_) => rows.iter().map(|&r| resolve(&mut table, r)).collect(),
                };
                if dict.of_part() {
                    self.code_groups.insert(part, table);
                }
                return out;
            }
        }
        if keys.len() > 1 {
            if let Some(out) = self.composite_code_groups(columns, rows, part, &keys, &mine) {
                return out;
            }
        }
        if let [k] = keys.as_slice() {
            if let (false, Fetched::Values(c @ ColumnData { values: crate::column::Values::Fixed { width: 1..=8, .. }, .. })) = (k.float, col(k)) {
                // One fixed-width key: looked up by its value as an integer.
                let mut out = Vec::with_capacity(rows.len());
                let mut buf = Vec::new();
                let mut int_groups = std::mem::take(&mut self.int_groups);
                for &r in rows {
                    let v = c.get(r as usize);
                    let slot = v.map_or(u128::MAX, |v| {
                        let mut b = [0u8; 8];
                        b[..v.len()].copy_from_slice(v);
                        u64::from_le_bytes(b) as u128
                    });
                    let g = match int_groups.get(&slot) {
                        Some(&g) => g,
                        None => {
                            buf.clear();
                            encode_key(k, col(k), r, &mut buf);
                            // Values of other passes are not remembered: the map would
                            // hold every key, beyond the pass's share of memory.
                            if !mine(&buf) {
                                out.push(OTHER_PASS);
                                continue;
                            }
                            let g = self.group_of(&buf, || vec![v.map(<[u8]>::to_vec)]);
                            int_groups.insert(slot, g);
                            g
                        }
                    };
                    out.push(g);
                }
                self.int_groups = int_groups;
                return out;
            }
        }
        let mut buf = Vec::new();
        rows.iter()
            .map(|&r| {
                buf.clear();
                for k in &keys {
                    encode_key(k, col(k), r, &mut buf);
                }
                if !mine(&buf) {
                    return OTHER_PASS;
                }
                self.group_of(&buf, || keys.iter().map(|k| col(k).get(r).map(<[u8]>::to_vec)).collect())
            })
            .collect()
    }

    /// Several keys, each dictionary-encoded in this batch with small dictionaries: the
    /// group of each combination of codes (NULL a code of its own) looked up once per part
    /// in a table indexed by the combined code, as a single dictionary key is.
    fn composite_code_groups(&mut self, columns: &[Option<Fetched>], rows: &[u32], part: usize, keys: &[KeySpec], mine: &dyn Fn(&[u8]) -> bool) -> Option<Vec<u32>> {
        // 16 kB of table per part at most (counted in the memory held).
        const MAX_COMBINATIONS: usize = 1 << 12;
        let mut dicts = Vec::with_capacity(keys.len());
        let mut size = 1usize;
        for k in keys {
            // Only a part's dictionaries: the table is kept for the part.
            let Some(Fetched::Codes { codes, validity, dict: dict @ Dictionary::Part(_) }) = columns[k.col].as_ref() else { return None };
            size = size.checked_mul(dict.len() + 1).filter(|&n| n <= MAX_COMBINATIONS)?;
            dicts.push((codes, validity, dict.len()));
        }
        let mut table = match self.code_groups.remove(&part).filter(|t| t.len() == size) {
            Some(t) => t,
            None => {
                self.bytes += size * 4;
                vec![u32::MAX; size]
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        let mut buf = Vec::new();
        for &r in rows {
            let mut slot = 0usize;
            for (codes, validity, n) in &dicts {
                let null = validity.as_ref().is_some_and(|v| !v.get(r as usize));
                slot = slot * (n + 1) + if null { *n } else { codes[r as usize] as usize };
            }
            if table[slot] == u32::MAX {
                buf.clear();
                for k in keys {
                    encode_key(k, columns[k.col].as_ref().expect("key column fetched"), r, &mut buf);
                }
                table[slot] = if mine(&buf) {
                    self.group_of(&buf, || keys.iter().map(|k| columns[k.col].as_ref().and_then(|c| c.get(r)).map(<[u8]>::to_vec)).collect())
                } else {
                    OTHER_PASS
                };
            }
            out.push(table[slot]);
        }
        self.code_groups.insert(part, table);
        Some(out)
    }

    /// Folds another thread's groups into these.
    pub fn merge(&mut self, mut other: Aggregator) {
        if self.keys.is_empty() && self.code_groups.is_empty() {
            std::mem::swap(self, &mut other);
            if other.keys.is_empty() {
                return;
            }
        }
        let keys = std::mem::take(&mut other.keys);
        for (from, (key, orig)) in keys.into_iter().enumerate() {
            let to = self.group_of(&key, || orig) as usize;
            for (s, o) in self.states.iter_mut().zip(other.states.iter_mut()) {
                s.merge_group(o, from, to);
            }
        }
        // Recounted rather than added: merged groups and distinct values overlap.
        self.distinct_bytes = self.states.iter().filter(|s| s.is_distinct()).map(State::held).sum();
        self.bytes = self.key_bytes + self.states.iter().map(State::held).sum::<usize>();
    }

    /// The groups and their values. Without GROUP BY there is exactly one group, also
    /// when no row came in.
    pub fn finish(mut self) -> Vec<Group> {
        if self.spec.keys.is_empty() && self.keys.is_empty() {
            self.group_of(&[], Vec::new);
        }
        let aggs = self.spec.aggs.clone();
        self.keys
            .iter()
            .enumerate()
            .map(|(g, (_, orig))| Group {
                keys: orig.clone(),
                values: aggs.iter().enumerate().map(|(i, f)| self.states[self.shared[i].unwrap_or(i)].value(f, g)).collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
