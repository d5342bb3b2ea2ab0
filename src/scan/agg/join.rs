//! Aggregation below a join: a grouping over an inner equi-join of a mergetree table and
//! one other relation on an integer key (events joined to users, grouped by event and
//! plan) is computed by the node without pushing the table's rows through a hash join.
//! The other relation, read whole by the node's second child, becomes a lookup from its
//! join key to its grouping values (deduplicated with their type's hash and equality
//! functions, so groups are Postgres' own); the engine joins each row to it during the
//! scan and groups by the match (mergetree::aggregate::join). Only aggregates of the
//! table's columns qualify, so every aggregate sees the joined rows exactly as the join
//! would produce them, repeated rows included.

use super::{JoinPlan, OtherKey};
use crate::ffi::list_ptrs;
use crate::scan::quals::var_of;
use crate::storage::spill::SpillFile;
use mergetree::aggregate::join::{encode_record, JoinKey, JoinLookup, RecordDecoder};
use mergetree::part::stream::PartSink;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// The join the grouping's input is, as the node can fold it in.
pub struct JoinInput {
    /// The mergetree table.
    pub table: *mut pg_sys::RelOptInfo,
    /// The other relation and its path (read whole, unparameterized).
    pub other: *mut pg_sys::RelOptInfo,
    pub other_path: *mut pg_sys::Path,
    /// The table's join key column and the other relation's join key's position in its
    /// rows (its reltarget, which its path's plan emits exactly).
    pub key: i16,
    pub other_key: usize,
    /// Keys are text (compared as bytes), else integers.
    pub bytes: bool,
    pub condition: String,
}

/// The relation with index `i` of the query, as the planner sees it.
unsafe fn rel(root: *mut pg_sys::PlannerInfo, i: i32) -> *mut pg_sys::RelOptInfo {
    // SAFETY: `i` is a member of a join relation's relids, so its base rel exists.
    unsafe { *(*root).simple_rel_array.add(i as usize) }
}

/// `alias.column` of a Var, for EXPLAIN.
unsafe fn var_name(root: *mut pg_sys::PlannerInfo, v: *mut pg_sys::Var) -> String {
    // SAFETY: `v` is a Var of a plain relation of the query.
    unsafe {
        let rte = *(*root).simple_rte_array.add((*v).varno as usize);
        let alias = crate::ffi::cstr((*(*rte).eref).aliasname).unwrap_or_default();
        let col = crate::ffi::cstr(pg_sys::get_attname((*rte).relid, (*v).varattno, true)).unwrap_or_default();
        format!("{alias}.{col}")
    }
}

/// The position of `e` in a relation's output.
unsafe fn position(rel: *mut pg_sys::RelOptInfo, e: *mut pg_sys::Node) -> Option<usize> {
    // SAFETY: reltarget's expressions are the relation's output.
    unsafe { list_ptrs::<pg_sys::Node>((*(*rel).reltarget).exprs).iter().position(|&x| pg_sys::equal(x.cast(), e.cast())) }
}

/// Whether a join key of type `typ` is looked up as bytes (text, varchar) or as an
/// integer (None: neither).
fn key_kind(typ: pg_sys::Oid) -> Option<bool> {
    match typ {
        pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID => Some(false),
        pg_sys::TEXTOID | pg_sys::VARCHAROID => Some(true),
        _ => None,
    }
}

/// Whether a base relation is a mergetree table the node can scan.
unsafe fn is_table(root: *mut pg_sys::PlannerInfo, i: i32) -> bool {
    // SAFETY: `i` indexes the query's range table.
    unsafe {
        let rte = *(*root).simple_rte_array.add(i as usize);
        (*rte).rtekind == pg_sys::RTEKind::RTE_RELATION && !(*rte).inh && (*rte).tablesample.is_null() && crate::ffi::is_mergetree((*rte).relid)
    }
}

/// The join `input` is, when it is an inner join of a mergetree table and one other
/// relation on one equality of integers, or of text under a deterministic collation
/// (equal exactly when the bytes are), that is their only join condition, with no outer
/// joins or lateral references anywhere in the query.
///
/// # Safety
/// Planner structures of the grouping stage; `input` its input relation.
pub unsafe fn join_input(root: *mut pg_sys::PlannerInfo, input: *mut pg_sys::RelOptInfo) -> Option<JoinInput> {
    // SAFETY: per the caller.
    unsafe {
        if (*input).reloptkind != pg_sys::RelOptKind::RELOPT_JOINREL || pg_sys::bms_num_members((*input).relids) != 2 {
            return None;
        }
        if !(*root).join_info_list.is_null() || (*root).hasLateralRTEs {
            return None;
        }
        let a = pg_sys::bms_next_member((*input).relids, -1);
        let b = pg_sys::bms_next_member((*input).relids, a);
        // Of two mergetree tables, the larger is scanned by the node.
        let (t, o) = match (is_table(root, a), is_table(root, b)) {
            (true, true) if (*rel(root, b)).rows > (*rel(root, a)).rows => (b, a),
            (true, _) => (a, b),
            (false, true) => (b, a),
            _ => return None,
        };
        let (table, other) = (rel(root, t), rel(root, o));
        if (*table).reloptkind != pg_sys::RelOptKind::RELOPT_BASEREL || (*other).reloptkind != pg_sys::RelOptKind::RELOPT_BASEREL {
            return None;
        }
        // Join conditions other than equivalences (inequalities, ORs) stay Postgres'.
        if !(*table).joininfo.is_null() || !(*other).joininfo.is_null() {
            return None;
        }
        // A plain relation (read once per partition of its keys: the same rows each time),
        // without volatile filters.
        let other_rte = *(*root).simple_rte_array.add(o as usize);
        if (*other_rte).rtekind != pg_sys::RTEKind::RTE_RELATION {
            return None;
        }
        for ri in list_ptrs::<pg_sys::RestrictInfo>((*other).baserestrictinfo) {
            if pg_sys::contain_volatile_functions((*ri).clause as *mut pg_sys::Node) {
                return None;
            }
        }
        let other_path = (*other).cheapest_total_path;
        if other_path.is_null() || !(*other_path).param_info.is_null() {
            return None;
        }
        // Exactly one equivalence joins them: table.key = other.key, integers.
        let mut found = None;
        for ec in list_ptrs::<pg_sys::EquivalenceClass>((*root).eq_classes) {
            if (*ec).ec_has_const || !(*ec).ec_merged.is_null() {
                continue;
            }
            if !pg_sys::bms_is_member(t, (*ec).ec_relids) || !pg_sys::bms_is_member(o, (*ec).ec_relids) {
                continue;
            }
            if found.is_some() || (*ec).ec_broken || (*ec).ec_has_volatile {
                return None;
            }
            let members: Vec<*mut pg_sys::Node> = list_ptrs::<pg_sys::EquivalenceMember>((*ec).ec_members)
                .into_iter()
                .filter(|&m| !(*m).em_is_child)
                .map(|m| (*m).em_expr as *mut pg_sys::Node)
                .collect();
            let [x, y] = members.as_slice() else { return None };
            let (tv, ov) = match (var_of(*x, t as pg_sys::Index), var_of(*y, o as pg_sys::Index)) {
                (Some(tv), Some(ov)) => (tv, ov),
                _ => (var_of(*y, t as pg_sys::Index)?, var_of(*x, o as pg_sys::Index)?),
            };
            let bytes = key_kind(pg_sys::getBaseType((*tv).vartype))?;
            if key_kind(pg_sys::getBaseType((*ov).vartype))? != bytes {
                return None;
            }
            let family = if bytes { pg_sys::TEXT_BTREE_FAM_OID } else { pg_sys::INTEGER_BTREE_FAM_OID };
            if !pg_sys::list_member_oid((*ec).ec_opfamilies, family) || (bytes && !pg_sys::get_collation_isdeterministic((*ec).ec_collation)) {
                return None;
            }
            found = Some((tv, ov, bytes));
        }
        let (tv, ov, bytes) = found?;
        Some(JoinInput {
            table,
            other,
            other_path,
            key: (*tv).varattno,
            other_key: position(other, ov.cast())?,
            bytes,
            condition: format!("{} = {}", var_name(root, tv), var_name(root, ov)),
        })
    }
}

/// The bytes the other relation's lookup needs, by the planner's estimates: integer keys
/// up to 17 bytes a row (a hash table; 4 where they are dense), text keys about 20 and
/// their width.
///
/// # Safety
/// Planner structures of the grouping stage.
pub unsafe fn lookup_bytes(join: &JoinInput) -> f64 {
    // SAFETY: per the caller; a statistics lookup.
    unsafe {
        let per_row = if join.bytes {
            // The column's average width from its statistics (set_rel_width keeps it).
            let other = join.other;
            let width = list_ptrs::<pg_sys::Node>((*(*other).reltarget).exprs).get(join.other_key).map_or(32, |&e| {
                let stats = var_of(e, (*other).relid).map_or(0, |v| *(*other).attr_widths.add(((*v).varattno - (*other).min_attr) as usize));
                if stats > 0 {
                    stats
                } else {
                    pg_sys::get_typavgwidth(pg_sys::exprType(e), pg_sys::exprTypmod(e))
                }
            });
            28.0 + width as f64
        } else {
            17.0
        };
        (*join.other).rows * per_row
    }
}

/// Whether values of `typ` that are equal under `collation` are also identical (btree's
/// equalimage support function says so): only then may a group print the value of any
/// of its rows, such as one that joined nothing (numeric 1.0 and 1.00 are equal, not
/// identical).
///
/// # Safety
/// Catalog lookups.
unsafe fn equal_image(typ: pg_sys::Oid, collation: pg_sys::Oid) -> bool {
    // SAFETY: per the caller; the support function takes the type's oid.
    unsafe {
        let opclass = pg_sys::GetDefaultOpClass(typ, pg_sys::BTREE_AM_OID);
        if opclass == pg_sys::InvalidOid {
            return false;
        }
        let (family, input) = (pg_sys::get_opclass_family(opclass), pg_sys::get_opclass_input_type(opclass));
        // BTEQUALIMAGE_PROC (nbtree.h): btree's "equal means identical" support function.
        const BTEQUALIMAGE_PROC: i16 = 4;
        let proc = pg_sys::get_opfamily_proc(family, input, input, BTEQUALIMAGE_PROC);
        proc != pg_sys::InvalidOid && pg_sys::OidFunctionCall1Coll(proc, collation, pg_sys::Datum::from(input)).value() != 0
    }
}

/// A grouping key of the other relation: one of its output columns, hashable, whose
/// equal values are identical.
///
/// # Safety
/// Planner structures of the grouping stage; `e` the grouping expression of `sgc`.
pub unsafe fn other_key(root: *mut pg_sys::PlannerInfo, join: &JoinInput, e: *mut pg_sys::Node, sgc: *mut pg_sys::SortGroupClause) -> Option<OtherKey> {
    // SAFETY: per the caller; catalog lookups.
    unsafe {
        let v = var_of(e, (*join.other).relid)?;
        if !(*sgc).hashable || !equal_image(pg_sys::exprType(e), pg_sys::exprCollation(e)) {
            return None;
        }
        let (mut lhs, mut rhs) = (pg_sys::InvalidOid, pg_sys::InvalidOid);
        if !pg_sys::get_op_hash_functions((*sgc).eqop, &mut lhs, &mut rhs) || lhs != rhs {
            return None;
        }
        Some(OtherKey {
            position: position(join.other, v.cast())?,
            eq_func: pg_sys::get_opcode((*sgc).eqop).to_u32(),
            hash_func: lhs.to_u32(),
            collation: pg_sys::exprCollation(e).to_u32(),
            name: var_name(root, v),
        })
    }
}

/// Whether an aggregate reads only the table's columns (an aggregate of the other
/// relation's would need its rows repeated per table row).
///
/// # Safety
/// Planner structures; `aggref` an Aggref of the query.
pub unsafe fn reads_only_table(root: *mut pg_sys::PlannerInfo, join: &JoinInput, aggref: *mut pg_sys::Node) -> bool {
    // SAFETY: per the caller.
    unsafe {
        let varnos = pg_sys::pull_varnos(root, aggref);
        pg_sys::bms_is_subset(varnos, (*join.table).relids)
    }
}

/// The other relation's distinct grouping values: per group code, a Datum per key (None:
/// NULL), copied into the reader's memory context, which outlives the result rows.
pub type OtherGroups = Vec<Vec<Option<pg_sys::Datum>>>;

/// Partitions of the joined relation's keys the node reads it in at most before leaving
/// the query to Postgres' plan: each is a pass over the table (and over the relation),
/// and past a few the hash join of Postgres' plan, which reads the table once, is as
/// fast. Events joined to a million users (q06) take 8: 5.9 s, where Postgres' plan took
/// 16.7 s (count(DISTINCT) now takes one pass, so passes no longer multiply).
pub const MAX_JOIN_PARTS: u32 = 8;

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
}

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
                by_hash: Default::default(),
                held: 0,
                keep,
                read: false,
            }
        }
    }

    /// The group code of a row's grouping values (numbered if new).
    unsafe fn code(&mut self, values: &[pg_sys::Datum], nulls: &[bool]) -> u32 {
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
                        let share = rows as f64 / parts as f64 * 1.1;
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
            let share = rows as f64 / parts as f64 * 1.1;
            lookup.reserve((share * keys) as usize, (share * bytes) as usize);
        }
        if let Some(spill) = self.spill.as_mut() {
            let mut records = RecordDecoder::new(self.plan.bytes);
            spill.replay(|chunk| {
                check_for_interrupts!();
                records.feed(chunk, |key, code| {
                    if key.partition_of(parts) == part {
                        lookup.insert(key, code);
                    }
                })
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
                    self.sizes = Some((rows, keys as f64 / at, bytes as f64 / at));
                    Err(Over((needed as f64 * rows as f64 * parts as f64 / at) as usize + self.held))
                }
                None => Ok(lookup.holding_partition(part, parts)),
            }
        }
    }
}
