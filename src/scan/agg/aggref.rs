//! Which aggregates MergeTreeAgg computes, and how: each Aggref of the query as an
//! AggOut (the engine's aggregate, its input kind and Postgres' result type), only where
//! the result is exactly what Postgres' own aggregate returns.

use super::{expr, AggOp, AggOut, ResultKind, ValueExpr, ValueType};
use crate::datum::{self, TablePlan};
use crate::ffi::list_ptrs;
use crate::scan::quals::{self, var_of};
use mergetree::aggregate::ValueKind;
use mergetree::SortKind;
use pgrx::pg_sys;
use pgrx::FromDatum;

/// How values of column `ci` compare under `collation` for grouping, distinct counting
/// and min/max: by value (ints, floats) or by bytes (where bytes are equal exactly when
/// values are, and ordered as values where an order is needed).
pub unsafe fn value_kind(plan: &TablePlan, ci: usize, collation: pg_sys::Oid, typmod: i32, ordered: bool) -> Option<ValueKind> {
    let c = &plan.columns[ci];
    // SAFETY: catalog lookups.
    unsafe {
        let deterministic = collation == pg_sys::InvalidOid || pg_sys::get_collation_isdeterministic(collation);
        match datum::physical(c.typid, c.typlen, collation).1 {
            SortKind::SignedInt => Some(ValueKind::Int),
            SortKind::Float => Some(ValueKind::Float),
            SortKind::Bytes if deterministic => Some(ValueKind::Bytes),
            // Text under a deterministic collation: equal exactly when the bytes are.
            SortKind::Opaque if !ordered && deterministic && matches!(pg_sys::getBaseType(c.typid), pg_sys::TEXTOID | pg_sys::VARCHAROID) => {
                Some(ValueKind::Bytes)
            }
            // char(n): values are padded to n characters, so equal (trailing blanks
            // aside) exactly when the bytes are; unconstrained bpchar is not.
            SortKind::Opaque if !ordered && deterministic && typmod > 0 && pg_sys::getBaseType(c.typid) == pg_sys::BPCHAROID => Some(ValueKind::Bytes),
            // numeric(p, s): every value is stored at display scale s, in Postgres'
            // normalized digits, so equal exactly when the bytes are (1.0 and 1.00 cannot
            // both occur); unconstrained numeric is not.
            SortKind::Opaque if !ordered && typmod >= 0 && pg_sys::getBaseType(c.typid) == pg_sys::NUMERICOID => Some(ValueKind::Bytes),
            _ => None,
        }
    }
}

/// The aggregate `a` as the node computes it, if it can, exactly as Postgres would.
pub unsafe fn agg_out(a: *mut pg_sys::Aggref, relid: pg_sys::Index, plan: &TablePlan) -> Option<AggOut> {
    // SAFETY: `a` is an Aggref of the query.
    unsafe {
        // FILTER (WHERE ...): any predicate the scan evaluates. It sees only rows that
        // passed WHERE and row-level security, so it need not be leakproof.
        let filter = (*a).aggfilter as *mut pg_sys::Node;
        if !filter.is_null() && !quals::pushable(filter, relid, plan, false) {
            return None;
        }
        let mut out = agg_out_unfiltered(a, relid, plan)?;
        out.filtered = !filter.is_null();
        // Postgres computes an argument only for rows the FILTER keeps: one that can
        // raise an error must not be computed for the others.
        if out.filtered && out.arg.as_ref().is_some_and(|(e, _)| expr::may_raise(e)) {
            return None;
        }
        Some(out)
    }
}

/// The aggregate `a`, its FILTER aside.
unsafe fn agg_out_unfiltered(a: *mut pg_sys::Aggref, relid: pg_sys::Index, plan: &TablePlan) -> Option<AggOut> {
    // SAFETY: `a` is an Aggref of the query; catalog lookups.
    unsafe {
        if (*a).agglevelsup != 0 {
            return None;
        }
        if let Some(name) = expr::extension_function((*a).aggfnoid) {
            return approx_out(a, &name, relid, plan);
        }
        let name = expr::catalog_function((*a).aggfnoid)?;
        if (*a).aggkind as u8 == b'o' {
            return percentile_out(a, &name, relid, plan);
        }
        if (*a).aggkind as u8 != b'n' || !(*a).aggdirectargs.is_null() {
            return None;
        }
        let args = list_ptrs::<pg_sys::TargetEntry>((*a).args);
        let distinct = !(*a).aggdistinct.is_null();
        if (*a).aggstar {
            return (name == "count" && !distinct).then(|| AggOut::new(AggOp::CountStar, 0, None, ValueKind::Int, ResultKind::Int8));
        }
        if args.len() != 1 || (!(*a).aggorder.is_null() && !distinct) {
            return None;
        }
        let arg = (*args[0]).expr as *mut pg_sys::Node;
        // numeric columns and expressions: computed in the engine.
        let Some(v) = var_of(arg, relid).filter(|v| pg_sys::getBaseType((**v).vartype) != pg_sys::NUMERICOID) else {
            return computed_agg(&name, distinct, arg, relid, plan);
        };
        let ci = plan.index_of_attnum((*v).varattno)?;
        let typ = pg_sys::getBaseType(plan.columns[ci].typid);
        let int = matches!(typ, pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID);
        let float = matches!(typ, pg_sys::FLOAT4OID | pg_sys::FLOAT8OID);
        let out = |op, kind, result| Some(AggOut::new(op, (*v).varattno, None, kind, result));
        match (name.as_str(), distinct) {
            ("count", false) => out(AggOp::Count, ValueKind::Int, ResultKind::Int8),
            ("count", true) => out(AggOp::CountDistinct, value_kind(plan, ci, (*a).inputcollid, (*v).vartypmod, false)?, ResultKind::Int8),
            (_, true) => None,
            ("sum", _) if int => out(AggOp::Sum, ValueKind::Int, if typ == pg_sys::INT8OID { ResultKind::NumericSum } else { ResultKind::Int8Sum }),
            ("sum", _) if float => out(AggOp::Sum, ValueKind::Float, if typ == pg_sys::FLOAT4OID { ResultKind::Float4 } else { ResultKind::Float8 }),
            ("avg", _) if int => out(AggOp::Avg, ValueKind::Int, ResultKind::NumericAvg),
            ("avg", _) if float => out(AggOp::Avg, ValueKind::Float, ResultKind::Float8),
            ("min" | "max", _) => {
                let kind = value_kind(plan, ci, (*a).inputcollid, (*v).vartypmod, true)?;
                // bool has no min/max; uuid and the like order by bytes.
                let op = if name == "min" { AggOp::Min } else { AggOp::Max };
                out(op, kind, ResultKind::Input)
            }
            ("bool_and" | "every", _) if typ == pg_sys::BOOLOID => out(AggOp::BoolAnd, ValueKind::Bytes, ResultKind::Bool),
            ("bool_or", _) if typ == pg_sys::BOOLOID => out(AggOp::BoolOr, ValueKind::Bytes, ResultKind::Bool),
            _ => None,
        }
    }
}

/// `percentile_cont(f)` / `percentile_disc(f) WITHIN GROUP (ORDER BY x)`: a constant
/// fraction in [0, 1] (else Postgres' own error or NULL), x ascending by its type's order,
/// an integer, float, date or time (or an expression of them); cont over float8 only.
unsafe fn percentile_out(a: *mut pg_sys::Aggref, name: &str, relid: pg_sys::Index, plan: &TablePlan) -> Option<AggOut> {
    // SAFETY: `a` is an ordered-set Aggref of the query; catalog lookups.
    unsafe {
        let op = match name {
            "percentile_cont" => AggOp::PercentileCont,
            "percentile_disc" => AggOp::PercentileDisc,
            _ => return None,
        };
        let direct = list_ptrs::<pg_sys::Node>((*a).aggdirectargs);
        let (args, order) = (list_ptrs::<pg_sys::TargetEntry>((*a).args), list_ptrs::<pg_sys::SortGroupClause>((*a).aggorder));
        let ([fraction], [arg], [order]) = (direct.as_slice(), args.as_slice(), order.as_slice()) else { return None };
        let c = const_of(*fraction)?;
        // One fraction, or an array of them (the result an array of the same shape).
        let (fraction, fractions) = match (*c).consttype {
            pg_sys::FLOAT8OID => (f64::from_bits((*c).constvalue.value() as u64), Vec::new()),
            pg_sys::FLOAT8ARRAYOID => {
                let fractions = fraction_array((*c).constvalue)?;
                // NULL fractions give NULL elements; the group's emptiness (a NULL
                // result) is told by the others, so at least one must be there.
                (fractions.iter().flatten().next().copied()?, fractions)
            }
            _ => return None,
        };
        let arg = (**arg).expr as *mut pg_sys::Node;
        let typ = pg_sys::exprType(arg);
        let ascending = (*pg_sys::lookup_type_cache(typ, pg_sys::TYPECACHE_LT_OPR as i32)).lt_opr == (**order).sortop;
        let in_range = |f: f64| (0.0..=1.0).contains(&f);
        if !in_range(fraction) || !fractions.iter().flatten().all(|&f| in_range(f)) || !ascending || (op == AggOp::PercentileCont && typ != pg_sys::FLOAT8OID) {
            return None;
        }
        let out = match var_of(arg, relid).filter(|v| pg_sys::getBaseType((**v).vartype) != pg_sys::NUMERICOID) {
            Some(v) => {
                let ci = plan.index_of_attnum((*v).varattno)?;
                let kind = value_kind(plan, ci, pg_sys::InvalidOid, (*v).vartypmod, true)?;
                let result = if op == AggOp::PercentileCont { ResultKind::Float8 } else { ResultKind::Input };
                AggOut { fraction, ..AggOut::new(op, (*v).varattno, None, kind, result) }
            }
            None => {
                let (e, ty) = expr::value_expr(arg, relid, plan).filter(|(e, _)| reads_column(e))?;
                // percentile_cont of an integer column cast to float8: the integers are
                // counted as they are stored (exact, and narrow ranges count without
                // hashing), interpolated as floats.
                let int_column = match &e {
                    super::ValueExpr::ToFloat8 { arg, int: true } if op == AggOp::PercentileCont => match **arg {
                        super::ValueExpr::Column(attnum) => Some(attnum),
                        _ => None,
                    },
                    _ => None,
                };
                let out = match int_column {
                    Some(attnum) => AggOut::new(op, attnum, None, ValueKind::Int, ResultKind::Float8),
                    None => {
                        let result = if op == AggOp::PercentileCont { ResultKind::Float8 } else { ResultKind::Computed(ty) };
                        AggOut::new(op, 0, Some((e, ty)), ty.kind(), result)
                    }
                };
                AggOut { fraction, ..out }
            }
        };
        // Values compared as bytes (bool, uuid, text) are not kept by the counts; arrays of
        // computed values or of by-reference types are left to Postgres.
        let by_value = |o: &AggOut| o.attnum != 0 && plan.index_of_attnum(o.attnum).is_some_and(|ci| plan.columns[ci].typbyval);
        if out.kind == ValueKind::Bytes || (!fractions.is_empty() && out.result != ResultKind::Float8 && !by_value(&out)) {
            return None;
        }
        Some(AggOut { fractions, ..out })
    }
}

/// `n` as a non-NULL constant.
///
/// # Safety
/// `n` is an expression node.
pub unsafe fn const_of(n: *mut pg_sys::Node) -> Option<*mut pg_sys::Const> {
    // SAFETY: per the caller; the tag says it is a Const.
    unsafe { ((*n).type_ == pg_sys::NodeTag::T_Const && !(*(n as *mut pg_sys::Const)).constisnull).then_some(n as *mut pg_sys::Const) }
}

/// Whether a computed argument reads a column (the engine computes only those).
fn reads_column(e: &super::ValueExpr) -> bool {
    let mut cols = Vec::new();
    e.attnums(&mut cols);
    !cols.is_empty()
}

/// The fractions of a one-dimensional float8[] constant (lower bound 1), NULLs as None.
///
/// # Safety
/// `d` is a non-NULL float8[] Datum.
unsafe fn fraction_array(d: pg_sys::Datum) -> Option<Vec<Option<f64>>> {
    // SAFETY: per the caller; the array is detoasted before its header is read.
    unsafe {
        let arr = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *mut pg_sys::ArrayType;
        if (*arr).ndim != 1 {
            return None;
        }
        // ARR_LBOUND: the lower bounds follow the header and the ndim dimensions.
        let lbound = *((arr as *const u8).add(std::mem::size_of::<pg_sys::ArrayType>()) as *const i32).add(1);
        if lbound != 1 {
            return None;
        }
        let a = pgrx::Array::<f64>::from_polymorphic_datum(pg_sys::Datum::from(arr), false, pg_sys::FLOAT8ARRAYOID)?;
        let v: Vec<Option<f64>> = a.iter().collect();
        (!v.is_empty()).then_some(v)
    }
}

/// `mergetree.uniq(x)` of a column the node hashes as the SQL aggregate does (approx.rs:
/// integers, dates and times, floats, bool, uuid, bytea, text and varchar; not char(n),
/// whose trailing blanks the SQL aggregate drops), and `mergetree.quantile(level, x)`
/// with a constant level in [0, 1] and x a float8 column or an exact float8 expression.
unsafe fn approx_out(a: *mut pg_sys::Aggref, name: &str, relid: pg_sys::Index, plan: &TablePlan) -> Option<AggOut> {
    // SAFETY: `a` is a plain Aggref of the query; catalog lookups.
    unsafe {
        if (*a).aggkind as u8 != b'n' || (*a).aggstar || !(*a).aggdistinct.is_null() || !(*a).aggorder.is_null() {
            return None;
        }
        let args: Vec<*mut pg_sys::Node> = list_ptrs::<pg_sys::TargetEntry>((*a).args).iter().map(|&t| (*t).expr as *mut pg_sys::Node).collect();
        match (name, args.as_slice()) {
            ("uniq", &[arg]) => {
                let v = var_of(arg, relid)?;
                let ci = plan.index_of_attnum((*v).varattno)?;
                let c = &plan.columns[ci];
                let typ = pg_sys::getBaseType(c.typid);
                if typ == pg_sys::BPCHAROID || typ == pg_sys::NUMERICOID || pg_sys::exprType(arg) != c.typid {
                    return None;
                }
                // Collation aside: the SQL aggregate hashes text by its bytes too.
                let kind = value_kind(plan, ci, pg_sys::C_COLLATION_OID, (*v).vartypmod, false)?;
                Some(AggOut::new(AggOp::Uniq, (*v).varattno, None, kind, ResultKind::Int8))
            }
            ("quantile", &[level, arg]) => {
                let c = const_of(level).filter(|&c| (*c).consttype == pg_sys::FLOAT8OID)?;
                let fraction = f64::from_bits((*c).constvalue.value() as u64);
                if !(0.0..=1.0).contains(&fraction) {
                    return None;
                }
                let out = |attnum, arg, kind| Some(AggOut { fraction, ..AggOut::new(AggOp::Quantile, attnum, arg, kind, ResultKind::Float8) });
                match var_of(arg, relid) {
                    Some(v) if pg_sys::getBaseType((*v).vartype) == pg_sys::FLOAT8OID => {
                        plan.index_of_attnum((*v).varattno)?;
                        out((*v).varattno, None, ValueKind::Float)
                    }
                    Some(_) => None,
                    None => {
                        let (e, ty) = expr::value_expr(arg, relid, plan)?;
                        // An integer column as float8: the state takes the integers as they
                        // are (the same rounding as the cast), without computing a column.
                        if let ValueExpr::ToFloat8 { arg: a, int: true } = &e {
                            if let ValueExpr::Column(attnum) = **a {
                                return out(attnum, None, ValueKind::Int);
                            }
                        }
                        // An expression of a column (a constant is Postgres' to compute).
                        (ty == ValueType::Float8 && reads_column(&e)).then(|| out(0, Some((e, ValueType::Float8)), ValueKind::Float)).flatten()
                    }
                }
            }
            _ => None,
        }
    }
}

/// An aggregate over a computed argument (expr.rs): results as Postgres' aggregates of
/// the argument's type return them.
unsafe fn computed_agg(name: &str, distinct: bool, arg: *mut pg_sys::Node, relid: pg_sys::Index, plan: &TablePlan) -> Option<AggOut> {
    // SAFETY: `arg` is the aggregate's argument expression.
    let (e, ty) = unsafe { expr::value_expr(arg, relid, plan)? };
    if !reads_column(&e) || ty == ValueType::Float4 {
        return None;
    }
    let out = |op, result| Some(AggOut::new(op, 0, Some((e.clone(), ty)), ty.kind(), result));
    match (name, distinct, ty) {
        ("count", false, _) => out(AggOp::Count, ResultKind::Int8),
        ("count", true, _) => out(AggOp::CountDistinct, ResultKind::Int8),
        (_, true, _) => None,
        ("sum", _, ValueType::Int { width }) => out(AggOp::Sum, if width == 8 { ResultKind::NumericSum } else { ResultKind::Int8Sum }),
        ("sum", _, ValueType::Float8) => out(AggOp::Sum, ResultKind::Float8),
        ("sum", _, ValueType::Numeric { scale }) => out(AggOp::Sum, ResultKind::Numeric(scale)),
        ("avg", _, ValueType::Int { .. }) => out(AggOp::Avg, ResultKind::NumericAvg),
        ("avg", _, ValueType::Float8) => out(AggOp::Avg, ResultKind::Float8),
        ("avg", _, ValueType::Numeric { scale }) => out(AggOp::Avg, ResultKind::NumericScaledAvg(scale)),
        ("min", _, _) => out(AggOp::Min, ResultKind::Computed(ty)),
        ("max", _, _) => out(AggOp::Max, ResultKind::Computed(ty)),
        _ => None,
    }
}
