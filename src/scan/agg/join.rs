//! Aggregation below a join: a grouping over an inner equi-join of a mergetree table and
//! one other relation on an integer key (events joined to users, grouped by event and
//! plan) is computed by the node without pushing the table's rows through a hash join.
//! The other relation, read whole by the node's second child, becomes a lookup from its
//! join key to its grouping values (deduplicated with their type's hash and equality
//! functions, so groups are Postgres' own); the engine joins each row to it during the
//! scan and groups by the match (mergetree::aggregate::join). Only aggregates of the
//! table's columns qualify, so every aggregate sees the joined rows exactly as the join
//! would produce them, repeated rows included.

use super::OtherKey;
use crate::ffi::list_ptrs;
use crate::scan::quals::var_of;
use pgrx::pg_sys;

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
/// up to 17 bytes a row (a hash table; 4 where they are dense), text keys their width and
/// up to 16 (length and code in the arena, 2; the table's 5 bytes a bucket at a load of
/// 7/8 to 7/16 after a power-of-two growth, up to 12; the rest for uneven partitions).
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
            16.0 + width as f64
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

/// Partitions of the joined relation's keys the node reads it in at most before leaving
/// the query to Postgres' plan: each is a pass over the table (and over the relation),
/// and past a few the hash join of Postgres' plan, which reads the table once, is as
/// fast. Events joined to a million users (q06) take 4 at the default work_mem (4 MB).
pub const MAX_JOIN_PARTS: u32 = 8;
