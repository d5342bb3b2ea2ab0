//! The executor side of aggregation below a join (see `join`): the node's second child,
//! the other relation, read into lookups from join key to group code, its grouping
//! values numbered with their types' own hash and equality functions.

use super::join::MAX_JOIN_PARTS;
use super::JoinPlan;
use crate::ffi::list_ptrs;
use crate::storage::spill::SpillFile;
use mergetree::aggregate::join::{encode_record, JoinKey, JoinLookup, RecordDecoder};
use mergetree::part::stream::PartSink;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// The other relation's distinct grouping values: per group code, a Datum per key (None:
/// NULL), copied into the reader's memory context, which outlives the result rows.
pub type OtherGroups = Vec<Vec<Option<pg_sys::Datum>>>;

/// The grouping functions of one key of the other relation.
struct KeyFuncs {
    eq: Box<pg_sys::FmgrInfo>,
    hash: Box<pg_sys::FmgrInfo>,
    collation: pg_sys::Oid,
    typlen: i16,
    byval: bool,
}

/// Reads the other relation (the node's second child) into join lookups, a partition of
/// its keys at a time when one lookup of all would outgrow the budget. Its grouping values
/// are numbered once for all reads (the same value keeps its code), and copied into a
/// memory context that outlives the result rows.
pub struct OtherReader {
    child: *mut pg_sys::PlanState,
    plan: JoinPlan,
    key_type: pg_sys::Oid,
    funcs: Vec<KeyFuncs>,
    pub groups: OtherGroups,
    by_hash: std::collections::HashMap<u64, Vec<u32>>,
    /// Bytes the copied grouping values hold.
    held: usize,
    keep: pg_sys::MemoryContext,
    /// Reset for each row read: what detoasting and the hash and equality functions
    /// allocate.
    per_row: pg_sys::MemoryContext,
    /// Whether the child has been read (a later read rescans it).
    read: bool,
    /// From a read that outgrew the budget: the relation's rows with a key, and its byte
    /// keys' count and bytes per row, to allocate each partition's lookup at once.
    sizes: Option<(usize, f64, f64)>,
    /// Every row's record (group code, key), written by a first read that outgrew the
    /// budget: the partitions' reads replay it instead of running the plan again.
    spill: Option<SpillFile>,
    /// Codes of grouping values recently met, by their bytes (at most SEEN_BYTES of them).
    seen: std::collections::HashMap<Vec<u8>, u32>,
    seen_bytes: usize,
    scratch: Vec<u8>,
}

/// Bytes of grouping values `OtherReader::code` remembers before it forgets them all.
const SEEN_BYTES: usize = 64 * 1024;

/// A read that outgrew its budget: the bytes a lookup of every key would need, estimated.
pub struct Over(pub usize);

impl OtherReader {
    /// # Safety
    /// `child` is the initialized state of the plan of the other relation's path, whose
    /// output is that relation's reltarget at planning; `keep` outlives the result rows.
    pub unsafe fn new(child: *mut pg_sys::PlanState, plan: &JoinPlan, keep: pg_sys::MemoryContext) -> OtherReader {
        // SAFETY: per the caller; the functions are the grouping clauses' own.
        unsafe {
            let tlist = list_ptrs::<pg_sys::TargetEntry>((*(*child).plan).targetlist);
            let typ = |i: usize| pg_sys::exprType((*tlist[i]).expr as *mut pg_sys::Node);
            let funcs = plan
                .groups
                .iter()
                .map(|k| {
                    let (mut eq, mut hash) = (Box::new(pg_sys::FmgrInfo::default()), Box::new(pg_sys::FmgrInfo::default()));
                    pg_sys::fmgr_info(pg_sys::Oid::from(k.eq_func), &mut *eq);
                    pg_sys::fmgr_info(pg_sys::Oid::from(k.hash_func), &mut *hash);
                    let (mut typlen, mut byval) = (0i16, false);
                    pg_sys::get_typlenbyval(typ(k.position), &mut typlen, &mut byval);
                    KeyFuncs { eq, hash, collation: pg_sys::Oid::from(k.collation), typlen, byval }
                })
                .collect();
            let per_row = crate::ffi::memory_context(keep, c"MergeTreeAgg joined row");
            OtherReader {
                child,
                per_row,
                plan: plan.clone(),
                key_type: pg_sys::getBaseType(typ(plan.other_key)),
                funcs,
                groups: OtherGroups::new(),
                sizes: None,
                spill: None,
                seen: std::collections::HashMap::new(),
                seen_bytes: 0,
                scratch: Vec::new(),
                by_hash: Default::default(),
                held: 0,
                keep,
                read: false,
            }
        }
    }

    /// The group code of a row's grouping values (numbered if new). Values byte for byte
    /// like ones met recently have their code (equality is reflexive), without calling
    /// the types' hash and equality functions: a million users have a few plans.
    unsafe fn code(&mut self, values: &[pg_sys::Datum], nulls: &[bool]) -> u32 {
        let mut bytes = std::mem::take(&mut self.scratch);
        bytes.clear();
        let mut known = true;
        for (k, f) in self.plan.groups.iter().zip(&self.funcs) {
            if nulls[k.position] {
                bytes.push(0);
                continue;
            }
            bytes.push(1);
            let d = values[k.position];
            // SAFETY: a value of the key's type: a varlena's header gives its size (a
            // toasted or compressed one's stored form), a fixed-size one has typlen bytes.
            unsafe {
                match (f.byval, f.typlen) {
                    (true, _) => bytes.extend_from_slice(&d.value().to_le_bytes()),
                    (false, -1) => {
                        let p = d.cast_mut_ptr::<u8>();
                        let n = pgrx::varlena::varsize_any(p.cast());
                        bytes.extend_from_slice(&(n as u32).to_le_bytes());
                        bytes.extend_from_slice(std::slice::from_raw_parts(p, n));
                    }
                    (false, n) if n > 0 => bytes.extend_from_slice(std::slice::from_raw_parts(d.cast_mut_ptr::<u8>(), n as usize)),
                    _ => known = false,
                }
            }
        }
        if let Some(&g) = known.then(|| self.seen.get(&bytes[..])).flatten() {
            self.scratch = bytes;
            return g;
        }
        // SAFETY: per the caller.
        let g = unsafe { self.code_by_functions(values, nulls) };
        if known {
            if self.seen_bytes + bytes.len() > SEEN_BYTES {
                self.seen.clear();
                self.seen_bytes = 0;
            }
            self.seen_bytes += bytes.len() + 16;
            self.seen.insert(bytes.clone(), g);
        }
        self.scratch = bytes;
        g
    }

    /// `code` through the types' hash and equality functions.
    unsafe fn code_by_functions(&mut self, values: &[pg_sys::Datum], nulls: &[bool]) -> u32 {
        // SAFETY: the values are the row's, of the keys' types; the functions theirs.
        unsafe {
            let mut h = 0u64;
            for (k, f) in self.plan.groups.iter().zip(&mut self.funcs) {
                let part = if nulls[k.position] { 0x9e37_79b9 } else { pg_sys::FunctionCall1Coll(&mut *f.hash, f.collation, values[k.position]).value() as u32 as u64 };
                h = (h.rotate_left(29) ^ part).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            }
            let candidates = self.by_hash.entry(h).or_default();
            for &g in candidates.iter() {
                let same = self.plan.groups.iter().zip(&mut self.funcs).zip(&self.groups[g as usize]).all(|((k, f), &known)| match (nulls[k.position], known) {
                    (true, None) => true,
                    (false, Some(d)) => pg_sys::FunctionCall2Coll(&mut *f.eq, f.collation, values[k.position], d).value() != 0,
                    _ => false,
                });
                if same {
                    return g;
                }
            }
            let g = self.groups.len() as u32;
            let old = pg_sys::MemoryContextSwitchTo(self.keep);
            let mut known = Vec::with_capacity(self.funcs.len());
            for (k, f) in self.plan.groups.iter().zip(&self.funcs) {
                let v = values[k.position];
                known.push(match (nulls[k.position], f.byval) {
                    (true, _) => None,
                    (false, true) => Some(v),
                    (false, false) => {
                        let copied = crate::ffi::copy_datum(v, f.typlen);
                        self.held += match f.typlen {
                            -1 => pgrx::varlena::varsize_any(copied.cast_mut_ptr()),
                            -2 => 64,
                            n => n as usize,
                        };
                        Some(copied)
                    }
                });
            }
            pg_sys::MemoryContextSwitchTo(old);
            self.groups.push(known);
            candidates.push(g);
            self.held += 64;
            g
        }
    }

    /// The lookup the aggregation starts with, and the partitions of the relation's keys
    /// it is read in: the whole relation's (one), or an empty one loaded partition by
    /// partition as the passes go; Err (why) when that would take more than
    /// MAX_JOIN_PARTS partitions.
    ///
    /// # Safety
    /// As for `read`.
    pub unsafe fn first_lookup(&mut self, limit: usize) -> Result<(JoinLookup, u32), String> {
        // SAFETY: per the caller.
        match unsafe { self.read(0, 1, limit) } {
            Ok(lookup) => Ok((lookup, 1)),
            Err(Over(bytes)) => {
                let mut parts = ((bytes as f64 * 1.25 / limit as f64).ceil() as u32).max(2);
                // Byte keys: as many partitions as it takes for one's lookup, allocated
                // at once (see `read`), to fit.
                if let Some((rows, keys, key_bytes)) = self.sizes.filter(|_| self.plan.bytes) {
                    let fits = |parts: u32| {
                        let share = JoinLookup::partition_rows(rows, parts);
                        JoinLookup::planned_bytes_memory((share * keys) as usize, (share * key_bytes) as usize) + self.held <= limit
                    };
                    while parts <= MAX_JOIN_PARTS && !fits(parts) {
                        parts += 1;
                    }
                }
                if parts > MAX_JOIN_PARTS {
                    return Err(format!("the joined relation needs more than {} kB of memory", MAX_JOIN_PARTS as usize * limit / 1024));
                }
                Ok((JoinLookup::new(self.plan.bytes), parts))
            }
        }
    }

    /// A lookup of the keys in partition `part` of `parts`, or Over when it (with the
    /// grouping values) would hold more than `limit` bytes.
    ///
    /// # Safety
    /// In the executor, with the child's plan state valid.
    pub unsafe fn read(&mut self, part: u32, parts: u32, limit: usize) -> Result<JoinLookup, Over> {
        let mut lookup = JoinLookup::new(self.plan.bytes);
        if let Some((rows, keys, bytes)) = self.sizes.filter(|_| parts > 1) {
            // A partition's share of the keys, and a little more (hashing is not
            // exactly even): no doubling growth, whose slack could outgrow the budget.
            let share = JoinLookup::partition_rows(rows, parts);
            lookup.reserve((share * keys) as usize, (share * bytes) as usize);
        }
        if let Some(spill) = self.spill.as_mut() {
            let mut records = RecordDecoder::new(self.plan.bytes);
            spill.replay(|chunk| {
                check_for_interrupts!();
                records.feed(chunk, |key, code| lookup.insert_in_partition(key, code, part, parts))
            });
            if !records.finished() {
                error!("could not read the temporary file of a join: it ends inside a row");
            }
            if lookup.memory() + self.held > limit {
                return Err(Over(lookup.needed().0 * parts as usize + self.held));
            }
            return Ok(lookup.holding_partition(part, parts));
        }
        // SAFETY: per the caller.
        unsafe {
            // The first read keeps every row's record in a file, in case it outgrows the
            // budget (and while the grouping values, which stay in memory, are small).
            let mut spill = (!self.read && parts == 1).then(SpillFile::new);
            let mut records = Vec::new();
            if self.read {
                pg_sys::ExecReScan(self.child);
            }
            self.read = true;
            let natts = list_ptrs::<pg_sys::TargetEntry>((*(*self.child).plan).targetlist).len();
            // Past the budget, rows are only counted (and written to the file), to size
            // the partitions.
            let (mut over_at, mut rows) = (None, 0usize);
            // Key bytes of every row, and of those up to the budget: keys need not be
            // alike in length throughout (ids grow longer), and a partition's arena is
            // sized by them.
            let (mut key_len, mut key_len_at, mut len_rows) = (0usize, 0usize, 0usize);
            loop {
                let slot = pg_sys::ExecProcNode(self.child);
                if slot.is_null() || (*slot).tts_flags & pg_sys::TTS_FLAG_EMPTY as u16 != 0 {
                    break;
                }
                check_for_interrupts!();
                pg_sys::slot_getsomeattrs(slot, natts as i32);
                let values = std::slice::from_raw_parts((*slot).tts_values, natts);
                let nulls = std::slice::from_raw_parts((*slot).tts_isnull, natts);
                // A NULL key joins nothing.
                if nulls[self.plan.other_key] {
                    continue;
                }
                rows += 1;
                if over_at.is_some() && spill.is_none() {
                    continue;
                }
                len_rows += 1;
                pg_sys::MemoryContextReset(self.per_row);
                let old = pg_sys::MemoryContextSwitchTo(self.per_row);
                let d = values[self.plan.other_key];
                // (Rows of other partitions are skipped: values are numbered by what they
                // are, so a value keeps its code whichever partition meets it first.)
                let text;
                let key = if self.plan.bytes {
                    text = pgrx::varlena::varlena_to_byte_slice(pg_sys::pg_detoast_datum_packed(d.cast_mut_ptr()));
                    JoinKey::Bytes(text)
                } else {
                    JoinKey::Int(match self.key_type {
                        pg_sys::INT2OID => d.value() as i16 as i64,
                        pg_sys::INT4OID => d.value() as i32 as i64,
                        _ => d.value() as i64,
                    })
                };
                if let JoinKey::Bytes(b) = key {
                    key_len += b.len();
                }
                let wanted = over_at.is_none() && (parts == 1 || key.partition_of(parts) == part);
                if wanted || spill.is_some() {
                    let code = self.code(values, nulls);
                    if let Some(file) = spill.as_mut() {
                        encode_record(key, code, &mut records);
                        if records.len() >= 1 << 16 {
                            let _ = file.write(&records);
                            records.clear();
                        }
                    }
                    if wanted {
                        lookup.insert(key, code);
                    }
                }
                pg_sys::MemoryContextSwitchTo(old);
                if over_at.is_none() && lookup.memory() + self.held > limit {
                    over_at = Some((rows, lookup.needed()));
                    key_len_at = key_len;
                }
                if self.held > limit / 2 {
                    spill = None;
                }
            }
            match over_at {
                // The whole relation's lookup, by what the rows so far took.
                Some((at, (needed, keys, bytes))) => {
                    if let Some(mut file) = spill {
                        let _ = file.write(&records);
                        self.spill = Some(file);
                    }
                    let at = at.max(1) as f64;
                    let keys_per_row = keys as f64 / at;
                    // A key's arena bytes: its length over all rows, and the rest (length
                    // prefix, code) as measured.
                    let overhead = bytes as f64 / (keys.max(1) as f64) - key_len_at as f64 / at;
                    let bytes_per_row = keys_per_row * (key_len as f64 / len_rows.max(1) as f64 + overhead.max(0.0));
                    self.sizes = Some((rows, keys_per_row, bytes_per_row.max(bytes as f64 / at)));
                    Err(Over((needed as f64 * rows as f64 * parts as f64 / at) as usize + self.held))
                }
                None => Ok(lookup.holding_partition(part, parts)),
            }
        }
    }
}
