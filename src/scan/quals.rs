//! WHERE clauses -> engine predicates. At plan time `pushable` decides which clauses the
//! scan evaluates itself (comparisons of a column with a constant or parameter, IN lists,
//! IS [NOT] NULL, boolean columns, AND/OR/NOT of those); the others stay with Postgres.
//! At execution `build` turns the pushed clauses into a `Predicate`, evaluating `$n` and
//! nested-loop parameters, so they prune too.

use crate::datum::{self, ColumnPlan, TablePlan};
use crate::ffi::list_ptrs;
use mergetree::predicate::{CmpOp, Predicate};
use mergetree::{ColumnData, SortKind};
use pgrx::pg_sys;
use pgrx::prelude::*;

const INTEGER_FAMILY: u32 = 1976;
const FLOAT_FAMILY: u32 = 1970;
/// numeric_ops.
const NUMERIC_FAMILY: u32 = 1988;
/// datetime_ops: date, timestamp and timestamptz with their cross-type operators.
const DATETIME_FAMILY: u32 = 434;
const ROWCOMPARE_NE: i32 = 6;

/// A column reference of relation `relid` (a user column, not of an outer query),
/// looking through binary-compatible relabeling.
///
/// # Safety
/// `node` is a valid expression node (or null).
pub unsafe fn var_of(node: *mut pg_sys::Node, relid: pg_sys::Index) -> Option<*mut pg_sys::Var> {
    // SAFETY: per the caller.
    unsafe {
        let mut n = node;
        while !n.is_null() && (*n).type_ == pg_sys::NodeTag::T_RelabelType {
            n = (*(n as *mut pg_sys::RelabelType)).arg as *mut pg_sys::Node;
        }
        if n.is_null() || (*n).type_ != pg_sys::NodeTag::T_Var {
            return None;
        }
        let v = n as *mut pg_sys::Var;
        ((*v).varno as pg_sys::Index == relid && (*v).varlevelsup == 0 && (*v).varattno > 0).then_some(v)
    }
}

/// The table plan's index of the column `node` references.
unsafe fn column_of(node: *mut pg_sys::Node, relid: pg_sys::Index, plan: &TablePlan) -> Option<usize> {
    // SAFETY: `node` is a valid expression node.
    unsafe { plan.index_of_attnum((*var_of(node, relid)?).varattno) }
}

/// A value known by execution: a constant, a parameter, or a column of another relation
/// (a join clause of a parameterized path: Postgres turns it into a nested-loop parameter).
unsafe fn is_value(node: *mut pg_sys::Node, relid: pg_sys::Index) -> bool {
    // SAFETY: `node` is a valid expression node.
    unsafe {
        let mut n = node;
        while !n.is_null() && (*n).type_ == pg_sys::NodeTag::T_RelabelType {
            n = (*(n as *mut pg_sys::RelabelType)).arg as *mut pg_sys::Node;
        }
        if n.is_null() {
            return false;
        }
        match (*n).type_ {
            pg_sys::NodeTag::T_Const | pg_sys::NodeTag::T_Param => true,
            pg_sys::NodeTag::T_Var => {
                let v = n as *mut pg_sys::Var;
                (*v).varno as pg_sys::Index != relid && (*v).varlevelsup == 0
            }
            _ => false,
        }
    }
}

/// Whether comparisons under `collation` are byte comparisons at heart: a deterministic
/// collation calls strings equal only when their bytes are. A nondeterministic one (case-
/// or accent-insensitive ICU collations) does not, so nothing under it is pushed.
unsafe fn deterministic(collation: pg_sys::Oid) -> bool {
    // SAFETY: a syscache lookup of a collation the expression names.
    collation == pg_sys::InvalidOid || unsafe { pg_sys::get_collation_isdeterministic(collation) }
}

/// How a comparison's value becomes one of the column's type (cross-type comparisons
/// of dates and timestamps: see `date_bound`, `timestamp_of_date`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Convert {
    None,
    TimestampToDate,
    DateToTimestamp,
}

/// How column `col` compares with a value of type `other` under operator `opno`:
/// the comparison kind and operator, when the engine can do it exactly.
unsafe fn interpret(opno: pg_sys::Oid, col: &ColumnPlan, other: pg_sys::Oid, collation: pg_sys::Oid) -> Option<(SortKind, CmpOp)> {
    // SAFETY: per the caller.
    unsafe { interpret_converting(opno, col, other, collation).filter(|i| i.2 == Convert::None).map(|i| (i.0, i.1)) }
}

unsafe fn interpret_converting(opno: pg_sys::Oid, col: &ColumnPlan, other: pg_sys::Oid, collation: pg_sys::Oid) -> Option<(SortKind, CmpOp, Convert)> {
    // SAFETY: catalog lookups.
    unsafe {
        if !deterministic(collation) {
            return None;
        }
        let base = pg_sys::getBaseType(col.typid);
        let other = pg_sys::getBaseType(other);
        let convert = match (base, other) {
            (pg_sys::DATEOID, pg_sys::TIMESTAMPOID) => Convert::TimestampToDate,
            (pg_sys::TIMESTAMPOID, pg_sys::DATEOID) => Convert::DateToTimestamp,
            _ => Convert::None,
        };
        for i in list_ptrs::<pg_sys::OpBtreeInterpretation>(pg_sys::get_op_btree_interpretation(opno)) {
            let fam = u32::from((*i).opfamily_id);
            let op = match (*i).strategy {
                1 => CmpOp::Lt,
                2 => CmpOp::Le,
                3 => CmpOp::Eq,
                4 => CmpOp::Ge,
                5 => CmpOp::Gt,
                ROWCOMPARE_NE => CmpOp::Ne,
                _ => continue,
            };
            let same = base == other;
            let equality = matches!(op, CmpOp::Eq | CmpOp::Ne);
            let kind = match col.sort {
                SortKind::SignedInt if fam == INTEGER_FAMILY || same || (convert != Convert::None && fam == DATETIME_FAMILY) => SortKind::SignedInt,
                SortKind::Float if fam == FLOAT_FAMILY => SortKind::Float,
                SortKind::Bytes if same && (equality || datum::physical(base, col.typlen, collation).1 == SortKind::Bytes) => SortKind::Bytes,
                // numeric with numeric (an integer constant is cast to numeric first).
                SortKind::Opaque if same && base == pg_sys::NUMERICOID && fam == NUMERIC_FAMILY => SortKind::Numeric,
                // Text under a collation we cannot order: equality is still byte equality.
                SortKind::Opaque if same && equality && matches!(base, pg_sys::TEXTOID | pg_sys::VARCHAROID) => SortKind::Bytes,
                _ => continue,
            };
            return Some((kind, op, if same { Convert::None } else { convert }));
        }
        None
    }
}

const USECS_PER_DAY: i64 = 86_400_000_000;
/// Postgres' first valid timestamp and first past the last (MIN_TIMESTAMP, END_TIMESTAMP).
const MIN_TIMESTAMP: i64 = -211_813_488_000_000_000;
const END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;

/// `date op timestamp` as a comparison of the date with a day number: a date is its
/// midnight (date_cmp_timestamp), infinities match infinities, and a date beyond the
/// timestamp range compares as beyond every finite timestamp.
fn date_bound(op: CmpOp, ts: i64) -> (CmpOp, i64) {
    let (day, exact) = match ts {
        i64::MIN => (i32::MIN as i64, true),
        i64::MAX => (i32::MAX as i64, true),
        _ => (ts.div_euclid(USECS_PER_DAY), ts.rem_euclid(USECS_PER_DAY) == 0),
    };
    match op {
        _ if exact => (op, day),
        // Between midnights: strict and non-strict bounds meet at the day before.
        CmpOp::Lt | CmpOp::Le => (CmpOp::Le, day),
        CmpOp::Gt | CmpOp::Ge => (CmpOp::Gt, day),
        // No date equals it: false for every date, NULL for NULL (no date is i64::MIN).
        CmpOp::Eq => (CmpOp::Eq, i64::MIN),
        CmpOp::Ne => (CmpOp::Ne, i64::MIN),
    }
}

/// A date as the timestamp it compares as (date2timestamp_opt_overflow): dates past the
/// range sit between every finite timestamp and the infinity on their side.
fn timestamp_of_date(day: i32) -> i64 {
    match day {
        i32::MIN => i64::MIN,
        i32::MAX => i64::MAX,
        d => (d as i64).saturating_mul(USECS_PER_DAY).clamp(MIN_TIMESTAMP - 1, END_TIMESTAMP),
    }
}

/// `text LIKE pattern` / `NOT LIKE` (textlike, textnlike) and `ILIKE` / `NOT ILIKE`
/// (texticlike, texticnlike).
fn is_like(func: pg_sys::Oid) -> bool {
    [850u32, 851, 1633, 1634].iter().any(|&f| func == pg_sys::Oid::from(f))
}

fn like_negated(func: pg_sys::Oid) -> bool {
    func == pg_sys::Oid::from(851) || func == pg_sys::Oid::from(1634)
}

fn is_ilike(func: pg_sys::Oid) -> bool {
    func == pg_sys::Oid::from(1633) || func == pg_sys::Oid::from(1634)
}

extern "C-unwind" {
    /// utils/pg_locale.h; not in pgrx's bindings.
    fn lc_ctype_is_c(collation: pg_sys::Oid) -> bool;
}

/// Whether a collation's character classes are "C" ones: ILIKE then folds ASCII letters
/// only, which the engine reproduces exactly.
unsafe fn ctype_is_c(collation: pg_sys::Oid) -> bool {
    // SAFETY: a catalog lookup that may raise an ERROR, caught at the FFI boundary.
    unsafe { pg_sys::ffi::pg_guard_ffi_boundary(|| lc_ctype_is_c(collation)) }
}

/// Whether the scan can evaluate `clause` itself. Under row-level security only
/// leakproof operators are pushed, so nothing runs ahead of the security quals that
/// could leak a row.
pub unsafe fn pushable(clause: *mut pg_sys::Node, relid: pg_sys::Index, plan: &TablePlan, only_leakproof: bool) -> bool {
    // SAFETY: `clause` is a valid expression tree of the relation's restriction.
    unsafe {
        if clause.is_null() || pg_sys::contain_volatile_functions(clause) {
            return false;
        }
        match (*clause).type_ {
            pg_sys::NodeTag::T_OpExpr => {
                let op = clause as *mut pg_sys::OpExpr;
                let args = list_ptrs::<pg_sys::Node>((*op).args);
                if args.len() != 2 || (only_leakproof && !pg_sys::get_func_leakproof((*op).opfuncid)) {
                    return false;
                }
                let (c, v, opno) = if column_of(args[0], relid, plan).is_some() && is_value(args[1], relid) {
                    (args[0], args[1], (*op).opno)
                } else if column_of(args[1], relid, plan).is_some() && is_value(args[0], relid) {
                    (args[1], args[0], pg_sys::get_commutator((*op).opno))
                } else {
                    return false;
                };
                let col = &plan.columns[column_of(c, relid, plan).expect("checked")];
                if is_like((*op).opfuncid) {
                    // LIKE: column on the left, pattern a value, text under any deterministic
                    // collation; ILIKE only where case folding is ASCII's.
                    return c == args[0]
                        && matches!(pg_sys::getBaseType(col.typid), pg_sys::TEXTOID | pg_sys::VARCHAROID)
                        && deterministic((*op).inputcollid)
                        && (!is_ilike((*op).opfuncid) || ctype_is_c((*op).inputcollid));
                }
                opno != pg_sys::InvalidOid && interpret_converting(opno, col, pg_sys::exprType(v), (*op).inputcollid).is_some()
            }
            pg_sys::NodeTag::T_ScalarArrayOpExpr => {
                let op = clause as *mut pg_sys::ScalarArrayOpExpr;
                let args = list_ptrs::<pg_sys::Node>((*op).args);
                if !(*op).useOr || args.len() != 2 || !is_value(args[1], relid) || (only_leakproof && !pg_sys::get_func_leakproof((*op).opfuncid)) {
                    return false;
                }
                let Some(ci) = column_of(args[0], relid, plan) else { return false };
                let elem = pg_sys::get_element_type(pg_sys::exprType(args[1]));
                elem != pg_sys::InvalidOid
                    && matches!(interpret((*op).opno, &plan.columns[ci], elem, (*op).inputcollid), Some((_, CmpOp::Eq)))
            }
            pg_sys::NodeTag::T_NullTest => {
                let t = clause as *mut pg_sys::NullTest;
                !(*t).argisrow && column_of((*t).arg as *mut pg_sys::Node, relid, plan).is_some()
            }
            pg_sys::NodeTag::T_BoolExpr => {
                let b = clause as *mut pg_sys::BoolExpr;
                list_ptrs::<pg_sys::Node>((*b).args).into_iter().all(|a| pushable(a, relid, plan, only_leakproof))
            }
            pg_sys::NodeTag::T_Var => column_of(clause, relid, plan).is_some_and(|i| plan.columns[i].typid == pg_sys::BOOLOID),
            _ => false,
        }
    }
}

/// Evaluates a constant or parameter expression in `econtext`.
unsafe fn value_of(node: *mut pg_sys::Node, parent: *mut pg_sys::PlanState, econtext: *mut pg_sys::ExprContext) -> (pg_sys::Datum, bool, pg_sys::Oid) {
    // SAFETY: a Const/Param expression, evaluated in the scan's per-tuple context.
    unsafe {
        let state = pg_sys::ExecInitExpr(node as *mut pg_sys::Expr, parent);
        let mut isnull = false;
        let d = pg_sys::ExecEvalExprSwitchContext(state, econtext, &mut isnull);
        (d, isnull, pg_sys::exprType(node))
    }
}

/// Encodes a value of type `typid` the way a column of that type stores it.
///
/// # Safety
/// `d` is a non-NULL value of `typid`.
pub unsafe fn encode(d: pg_sys::Datum, typid: pg_sys::Oid) -> Vec<u8> {
    // SAFETY: `d` is a non-NULL value of `typid`.
    unsafe {
        let plan = ColumnPlan::of_type(typid);
        let mut c = ColumnData::new(plan.ty);
        datum::push_datum(&plan, d, &mut c);
        c.value(0).to_vec()
    }
}

/// The predicate of a pushed clause (see `pushable`), with parameters evaluated now.
pub unsafe fn build(clause: *mut pg_sys::Node, relid: pg_sys::Index, plan: &TablePlan, parent: *mut pg_sys::PlanState, econtext: *mut pg_sys::ExprContext) -> Predicate {
    // SAFETY: `clause` passed `pushable` at plan time; same tree after setrefs.
    unsafe {
        match (*clause).type_ {
            pg_sys::NodeTag::T_OpExpr => {
                let op = clause as *mut pg_sys::OpExpr;
                let args = list_ptrs::<pg_sys::Node>((*op).args);
                let (c, v, opno) = if column_of(args[0], relid, plan).is_some() {
                    (args[0], args[1], (*op).opno)
                } else {
                    (args[1], args[0], pg_sys::get_commutator((*op).opno))
                };
                let ci = column_of(c, relid, plan).expect("pushable");
                let (d, isnull, typid) = value_of(v, parent, econtext);
                if is_like((*op).opfuncid) {
                    if isnull {
                        return Predicate::Const(None);
                    }
                    let (negated, ascii_ci) = (like_negated((*op).opfuncid), is_ilike((*op).opfuncid));
                    return Predicate::Like { col: ci, pattern: encode(d, pg_sys::TEXTOID), negated, ascii_ci };
                }
                let (kind, cmp, convert) = interpret_converting(opno, &plan.columns[ci], typid, (*op).inputcollid).expect("pushable");
                if isnull {
                    return Predicate::Const(None);
                }
                match convert {
                    Convert::None => Predicate::Cmp { col: ci, kind, op: cmp, value: encode(d, pg_sys::getBaseType(typid)) },
                    Convert::TimestampToDate => {
                        let (op, day) = date_bound(cmp, d.value() as i64);
                        Predicate::Cmp { col: ci, kind, op, value: day.to_le_bytes().to_vec() }
                    }
                    Convert::DateToTimestamp => {
                        Predicate::Cmp { col: ci, kind, op: cmp, value: timestamp_of_date(d.value() as i32).to_le_bytes().to_vec() }
                    }
                }
            }
            pg_sys::NodeTag::T_ScalarArrayOpExpr => {
                let op = clause as *mut pg_sys::ScalarArrayOpExpr;
                let args = list_ptrs::<pg_sys::Node>((*op).args);
                let ci = column_of(args[0], relid, plan).expect("pushable");
                let (d, isnull, typid) = value_of(args[1], parent, econtext);
                if isnull {
                    return Predicate::Const(None);
                }
                let elem = pg_sys::get_element_type(typid);
                let (kind, _) = interpret((*op).opno, &plan.columns[ci], elem, (*op).inputcollid).expect("pushable");
                let arr = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *mut pg_sys::ArrayType;
                let (mut len, mut byval, mut align) = (0i16, false, 0 as std::ffi::c_char);
                pg_sys::get_typlenbyvalalign(elem, &mut len, &mut byval, &mut align);
                let mut elems: *mut pg_sys::Datum = std::ptr::null_mut();
                let mut nulls: *mut bool = std::ptr::null_mut();
                let mut n = 0i32;
                pg_sys::deconstruct_array(arr, elem, len as i32, byval, align, &mut elems, &mut nulls, &mut n);
                let mut values = Vec::new();
                let mut has_null = false;
                for i in 0..n as usize {
                    if *nulls.add(i) {
                        has_null = true;
                    } else {
                        values.push(encode(*elems.add(i), pg_sys::getBaseType(elem)));
                    }
                }
                Predicate::In { col: ci, kind, values, has_null }
            }
            pg_sys::NodeTag::T_NullTest => {
                let t = clause as *mut pg_sys::NullTest;
                let ci = column_of((*t).arg as *mut pg_sys::Node, relid, plan).expect("pushable");
                Predicate::IsNull { col: ci, negated: (*t).nulltesttype == pg_sys::NullTestType::IS_NOT_NULL }
            }
            pg_sys::NodeTag::T_BoolExpr => {
                let b = clause as *mut pg_sys::BoolExpr;
                let parts: Vec<Predicate> = list_ptrs::<pg_sys::Node>((*b).args).into_iter().map(|a| build(a, relid, plan, parent, econtext)).collect();
                match (*b).boolop {
                    pg_sys::BoolExprType::AND_EXPR => Predicate::And(parts),
                    pg_sys::BoolExprType::OR_EXPR => Predicate::Or(parts),
                    _ => Predicate::Not(Box::new(parts.into_iter().next().unwrap_or(Predicate::Const(None)))),
                }
            }
            pg_sys::NodeTag::T_Var => {
                let ci = column_of(clause, relid, plan).expect("pushable");
                Predicate::Cmp { col: ci, kind: SortKind::Bytes, op: CmpOp::Eq, value: vec![1] }
            }
            _ => error!("mergetree: clause was not pushable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_against_timestamps() {
        let noon = 5 * USECS_PER_DAY + USECS_PER_DAY / 2;
        // d < day 5 noon: d <= 5; d >= day 5 noon: d > 5; at midnight the operator stays.
        assert_eq!(date_bound(CmpOp::Lt, noon), (CmpOp::Le, 5));
        assert_eq!(date_bound(CmpOp::Ge, noon), (CmpOp::Gt, 5));
        assert_eq!(date_bound(CmpOp::Lt, 5 * USECS_PER_DAY), (CmpOp::Lt, 5));
        assert_eq!(date_bound(CmpOp::Le, -noon), (CmpOp::Le, -6));
        assert_eq!(date_bound(CmpOp::Eq, noon), (CmpOp::Eq, i64::MIN));
        assert_eq!(date_bound(CmpOp::Gt, i64::MAX), (CmpOp::Gt, i32::MAX as i64));
        assert_eq!(timestamp_of_date(i32::MAX - 1), END_TIMESTAMP);
        assert_eq!(timestamp_of_date(i32::MIN + 1), MIN_TIMESTAMP - 1);
        assert_eq!(timestamp_of_date(-1), -USECS_PER_DAY);
        assert_eq!(timestamp_of_date(i32::MIN), i64::MIN);
    }
}
