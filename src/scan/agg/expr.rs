//! Aggregate arguments the engine computes (`ValueExpr`): integer, float8 and numeric
//! columns, constants, casts between them and `+ - * /`, each only where the engine's
//! result is exactly the Postgres operator's (numerics: a typmod with at most 18 digits,
//! so every value is an i64 at the column's scale; numeric division is left to Postgres).

use super::{ValueExpr, ValueType};
use crate::datum::TablePlan;
use crate::ffi::list_ptrs;
use mergetree::aggregate::ValueKind;
use mergetree::arith::{ArithOp, ArithType};
use pgrx::pg_sys;

/// Digits a numeric may have for its scaled value to fit an i64.
const MAX_NUMERIC_DIGITS: i32 = 18;

/// The (precision, scale) of a numeric typmod, None for an unconstrained numeric.
fn numeric_typmod(typmod: i32) -> Option<(i32, i32)> {
    if typmod < pg_sys::VARHDRSZ as i32 {
        return None;
    }
    let t = typmod - pg_sys::VARHDRSZ as i32;
    // The scale is an 11-bit signed field (Postgres 15 allows negative scales).
    Some(((t >> 16) & 0xFFFF, ((t & 0x7FF) ^ 1024) - 1024))
}

fn int_width(typ: pg_sys::Oid) -> Option<u8> {
    match typ {
        pg_sys::INT2OID => Some(2),
        pg_sys::INT4OID => Some(4),
        pg_sys::INT8OID => Some(8),
        _ => None,
    }
}

/// The operator a function implements: int2/4/8 `pl`, `mi`, `mul`, `div` (and their
/// cross-width forms), float8's, numeric_add/sub/mul.
fn arith_of(name: &str) -> Option<(ArithOp, char)> {
    let op = |s: &str| match s {
        "pl" | "add" => Some(ArithOp::Add),
        "mi" | "sub" => Some(ArithOp::Sub),
        "mul" => Some(ArithOp::Mul),
        "div" => Some(ArithOp::Div),
        _ => None,
    };
    if let Some(rest) = name.strip_prefix("numeric_") {
        return Some((op(rest)?, 'n'));
    }
    if let Some(rest) = name.strip_prefix("float8") {
        return Some((op(rest)?, 'f'));
    }
    let rest = name.strip_prefix("int")?;
    let digits = rest.chars().take_while(|c| matches!(c, '2' | '4' | '8')).count();
    (1..=2).contains(&digits).then_some(())?;
    Some((op(&rest[digits..])?, 'i'))
}

/// The name of a built-in function (of schema pg_catalog); None for any other: a user's
/// function of the same name is not the one the engine reproduces.
pub fn catalog_function(funcid: pg_sys::Oid) -> Option<String> {
    // SAFETY: syscache lookups of a function the query calls.
    unsafe {
        if pg_sys::get_func_namespace(funcid) != pg_sys::Oid::from(pg_sys::PG_CATALOG_NAMESPACE) {
            return None;
        }
        crate::ffi::cstr(pg_sys::get_func_name(funcid))
    }
}

/// The name of a function of this extension's schema (`mergetree`), else None.
pub fn extension_function(funcid: pg_sys::Oid) -> Option<String> {
    // SAFETY: syscache lookups of a function the query calls.
    unsafe {
        let ns = pg_sys::get_func_namespace(funcid);
        if crate::ffi::cstr(pg_sys::get_namespace_name(ns)).as_deref() != Some("mergetree") {
            return None;
        }
        crate::ffi::cstr(pg_sys::get_func_name(funcid))
    }
}

/// The argument `e` as the engine computes it, with its type.
///
/// # Safety
/// `e` is an expression of the query over relation `relid`.
pub unsafe fn value_expr(e: *mut pg_sys::Node, relid: pg_sys::Index, plan: &TablePlan) -> Option<(ValueExpr, ValueType)> {
    // SAFETY: per the caller; catalog lookups.
    unsafe {
        if e.is_null() {
            return None;
        }
        match (*e).type_ {
            pg_sys::NodeTag::T_RelabelType => value_expr((*(e as *mut pg_sys::RelabelType)).arg as *mut pg_sys::Node, relid, plan),
            pg_sys::NodeTag::T_Var => {
                let v = crate::scan::quals::var_of(e, relid)?;
                plan.index_of_attnum((*v).varattno)?;
                let attnum = (*v).varattno;
                match pg_sys::getBaseType((*v).vartype) {
                    t if int_width(t).is_some() => Some((ValueExpr::Column(attnum), ValueType::Int { width: int_width(t)? })),
                    pg_sys::FLOAT8OID => Some((ValueExpr::Column(attnum), ValueType::Float8)),
                    pg_sys::FLOAT4OID => Some((ValueExpr::Column(attnum), ValueType::Float4)),
                    pg_sys::NUMERICOID => {
                        // A domain's typmod is on the base type; a column's on the Var.
                        let (precision, scale) = numeric_typmod((*v).vartypmod)?;
                        (precision <= MAX_NUMERIC_DIGITS && scale >= 0).then_some(())?;
                        let scale = scale as u16;
                        Some((ValueExpr::Numeric { attnum, scale }, ValueType::Numeric { scale }))
                    }
                    _ => None,
                }
            }
            pg_sys::NodeTag::T_Const => {
                let c = e as *mut pg_sys::Const;
                if (*c).constisnull {
                    return None;
                }
                let d = (*c).constvalue;
                match (*c).consttype {
                    pg_sys::INT2OID => Some((ValueExpr::Int(d.value() as i16 as i64), ValueType::Int { width: 2 })),
                    pg_sys::INT4OID => Some((ValueExpr::Int(d.value() as i32 as i64), ValueType::Int { width: 4 })),
                    pg_sys::INT8OID => Some((ValueExpr::Int(d.value() as i64), ValueType::Int { width: 8 })),
                    pg_sys::FLOAT8OID => Some((ValueExpr::Float(f64::from_bits(d.value() as u64)), ValueType::Float8)),
                    pg_sys::NUMERICOID => {
                        match mergetree::numeric::read(&crate::scan::quals::encode(d, pg_sys::NUMERICOID))? {
                            mergetree::numeric::Numeric::Finite { mantissa, dscale } => {
                                Some((ValueExpr::Int(i64::try_from(mantissa).ok()?), ValueType::Numeric { scale: dscale }))
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                }
            }
            pg_sys::NodeTag::T_FuncExpr => {
                // Casts: integer widening, integer to numeric (scale 0), to float8.
                let f = e as *mut pg_sys::FuncExpr;
                let args = list_ptrs::<pg_sys::Node>((*f).args);
                if args.len() != 1 {
                    return None;
                }
                let name = catalog_function((*f).funcid)?;
                let (arg, ty) = value_expr(args[0], relid, plan)?;
                match ((*f).funcresulttype, name.as_str(), ty) {
                    (pg_sys::NUMERICOID, "numeric", ValueType::Int { .. }) => Some((arg, ValueType::Numeric { scale: 0 })),
                    (pg_sys::FLOAT8OID, "float8", ValueType::Int { .. } | ValueType::Float4) => {
                        Some((ValueExpr::ToFloat8 { arg: Box::new(arg), int: ty != ValueType::Float4 }, ValueType::Float8))
                    }
                    (t, "int8" | "int4", ValueType::Int { width }) if int_width(t).is_some_and(|w| w >= width) => Some((arg, ValueType::Int { width: int_width(t)? })),
                    _ => None,
                }
            }
            pg_sys::NodeTag::T_CaseExpr => {
                // CASE WHEN c1 THEN a WHEN c2 THEN b ELSE d END as nested two-way choices.
                let c = e as *mut pg_sys::CaseExpr;
                if !(*c).arg.is_null() {
                    return None;
                }
                let def = (*c).defresult as *mut pg_sys::Node;
                let no_else = def.is_null() || ((*def).type_ == pg_sys::NodeTag::T_Const && (*(def as *mut pg_sys::Const)).constisnull);
                let (mut acc, mut ty) = match no_else {
                    true => (None, None),
                    false => {
                        let (v, t) = value_expr(def, relid, plan)?;
                        (Some(v), Some(t))
                    }
                };
                for w in list_ptrs::<pg_sys::CaseWhen>((*c).args).into_iter().rev() {
                    let cond = (*w).expr as *mut pg_sys::Node;
                    if !crate::scan::quals::pushable(cond, relid, plan, false) {
                        return None;
                    }
                    let (then, t) = value_expr((*w).result as *mut pg_sys::Node, relid, plan)?;
                    if *ty.get_or_insert(t) != t {
                        return None;
                    }
                    let mut cond_attnums = Vec::new();
                    var_attnums(cond, relid, &mut cond_attnums);
                    let text = crate::ffi::cstr(pg_sys::nodeToString(cond.cast()))?;
                    let float = t.kind() == ValueKind::Float;
                    acc = Some(ValueExpr::Case { cond: text, cond_attnums, then: Box::new(then), otherwise: acc.map(Box::new), float });
                }
                choice_type(&acc?, ty?)
            }
            pg_sys::NodeTag::T_CoalesceExpr => {
                let c = e as *mut pg_sys::CoalesceExpr;
                let mut args = Vec::new();
                let mut ty = None;
                for a in list_ptrs::<pg_sys::Node>((*c).args) {
                    let (v, t) = value_expr(a, relid, plan)?;
                    if *ty.get_or_insert(t) != t {
                        return None;
                    }
                    args.push(v);
                }
                let ty = ty?;
                choice_type(&ValueExpr::Coalesce { args, float: ty.kind() == ValueKind::Float }, ty)
            }
            pg_sys::NodeTag::T_OpExpr => {
                let o = e as *mut pg_sys::OpExpr;
                let args = list_ptrs::<pg_sys::Node>((*o).args);
                if args.len() != 2 {
                    return None;
                }
                let name = catalog_function((*o).opfuncid)?;
                let (op, family) = arith_of(&name)?;
                let (a, ta) = value_expr(args[0], relid, plan)?;
                let (b, tb) = value_expr(args[1], relid, plan)?;
                let (ty, result) = match (family, ta, tb) {
                    ('i', ValueType::Int { .. }, ValueType::Int { .. }) => {
                        let width = int_width((*o).opresulttype)?;
                        (ArithType::Int { width }, ValueType::Int { width })
                    }
                    ('f', ValueType::Float8, ValueType::Float8) => (ArithType::Float8, ValueType::Float8),
                    ('n', ValueType::Numeric { scale: sa }, ValueType::Numeric { scale: sb }) if op != ArithOp::Div => {
                        let ty = ArithType::Numeric { a: sa, b: sb };
                        (ty, ValueType::Numeric { scale: ty.numeric_scale(op)? })
                    }
                    _ => return None,
                };
                Some((ValueExpr::Arith { op, ty, a: Box::new(a), b: Box::new(b) }, result))
            }
            _ => None,
        }
    }
}

/// A CASE or coalesce of values of type `ty`: only where every branch is computed
/// without error for every row (Postgres computes only the branch it takes) and the
/// type is one the choice can carry (not float4, which appears only under a cast).
fn choice_type(e: &ValueExpr, ty: ValueType) -> Option<(ValueExpr, ValueType)> {
    let branches: Vec<&ValueExpr> = match e {
        ValueExpr::Case { then, otherwise, .. } => std::iter::once(&**then).chain(otherwise.as_deref()).collect(),
        ValueExpr::Coalesce { args, .. } => args.iter().collect(),
        _ => vec![e],
    };
    (ty != ValueType::Float4 && !branches.iter().any(|b| may_raise(b))).then(|| (e.clone(), ty))
}

/// The attribute numbers of relation `relid`'s Vars in `e`.
///
/// # Safety
/// `e` is an expression of the query.
unsafe fn var_attnums(e: *mut pg_sys::Node, relid: pg_sys::Index, out: &mut Vec<i16>) {
    // SAFETY: pull_var_clause walks the expression; the list holds its Vars.
    unsafe {
        let vars = pg_sys::pull_var_clause(e, 0);
        for v in list_ptrs::<pg_sys::Var>(vars) {
            if (*v).varno as pg_sys::Index == relid {
                out.push((*v).varattno);
            }
        }
    }
}

/// Whether evaluating it can raise an error (integer and float arithmetic): such an
/// argument must not be computed for rows an aggregate's FILTER would skip.
pub fn may_raise(e: &ValueExpr) -> bool {
    match e {
        ValueExpr::Arith { ty, a, b, .. } => !matches!(ty, ArithType::Numeric { .. }) || may_raise(a) || may_raise(b),
        ValueExpr::ToFloat8 { arg, .. } => may_raise(arg),
        ValueExpr::Case { then, otherwise, .. } => may_raise(then) || otherwise.as_deref().is_some_and(may_raise),
        ValueExpr::Coalesce { args, .. } => args.iter().any(may_raise),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_by_name() {
        assert_eq!(arith_of("int4pl"), Some((ArithOp::Add, 'i')));
        assert_eq!(arith_of("int48mul"), Some((ArithOp::Mul, 'i')));
        assert_eq!(arith_of("int8div"), Some((ArithOp::Div, 'i')));
        assert_eq!(arith_of("float8mi"), Some((ArithOp::Sub, 'f')));
        assert_eq!(arith_of("numeric_mul"), Some((ArithOp::Mul, 'n')));
        assert_eq!(arith_of("int4mod"), None);
        assert_eq!(arith_of("interval_pl"), None);
        assert_eq!(arith_of("int4um"), None);
        assert_eq!(numeric_typmod((15 << 16) + 2 + 4), Some((15, 2)));
        assert_eq!(numeric_typmod(-1), None);
    }
}
