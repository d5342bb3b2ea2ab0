//! `partition_by`: an immutable SQL expression over the row, compiled once per
//! transaction and evaluated for every inserted row.

use crate::error::{raise, raise_with_hint};
use mergetree::datetime::TruncUnit;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::CString;

/// Which names an option's expression text (partition_by, ttl) resolves against.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Names {
    /// Text a user gives in CREATE or ALTER: the session's search_path, as for any
    /// statement the user types.
    Session,
    /// The stored text, canonical (deparsed with an empty search_path, so every name
    /// outside pg_catalog is qualified): parsed with an empty search_path again, so it
    /// means what it meant when stored. Postgres keeps such expressions as trees of OIDs;
    /// text parsed under an inserting session's or a merge worker's search_path could
    /// resolve a name to a function someone put in a schema on that path (a better match
    /// for an implicitly cast argument), run with the inserter's or the owner's rights.
    Stored,
}

/// Parses, analyses and plans `expr` against `rel`; raises a clear error if it is not an
/// immutable scalar expression over the table's columns.
///
/// # Safety
/// `rel` is open.
pub unsafe fn compile(rel: pg_sys::Relation, table: &str, expr: &str, names: Names) -> *mut pg_sys::Expr {
    // SAFETY: per the caller.
    unsafe {
        let e = analyze(rel, table, expr, names);
        let planned = pg_sys::expression_planner(e as *mut pg_sys::Expr);
        if pg_sys::contain_mutable_functions(planned as *mut pg_sys::Node) {
            raise_with_hint(
                PgSqlErrorCode::ERRCODE_INVALID_OBJECT_DEFINITION,
                format!("partition_by expression of mergetree table \"{table}\" must be immutable: \"{expr}\""),
                "Functions whose result depends on settings (e.g. date_trunc on timestamptz, which depends on TimeZone) cannot define partitions. Use a timestamp column, or date_trunc('month', ts AT TIME ZONE 'UTC').".into(),
            );
        }
        if pg_sys::exprType(planned as *mut pg_sys::Node) == pg_sys::InvalidOid {
            raise(PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH, format!("partition_by of \"{table}\" has no type"));
        }
        planned
    }
}

/// Parses and analyses `expr` against `rel` (Vars of range table entry 1), without
/// planning it: the tree a dependency list or a deparse is made from.
///
/// # Safety
/// `rel` is open.
pub unsafe fn analyze(rel: pg_sys::Relation, table: &str, expr: &str, names: Names) -> *mut pg_sys::Node {
    // SAFETY: per the caller.
    unsafe { analyze_option(rel, table, "partition_by", expr, names) }
}

/// `analyze` for the expression of option `option` (partition_by, ttl).
///
/// # Safety
/// `rel` is open.
pub unsafe fn analyze_option(rel: pg_sys::Relation, table: &str, option: &str, expr: &str, names: Names) -> *mut pg_sys::Node {
    match names {
        // SAFETY: per the caller; in a transaction (the relation is open).
        Names::Stored => unsafe { crate::ffi::with_search_path(c"", || analyze_text(rel, table, option, expr)) },
        // SAFETY: per the caller.
        Names::Session => unsafe { analyze_text(rel, table, option, expr) },
    }
}

/// `analyze_option` under the current search_path.
///
/// # Safety
/// `rel` is open.
unsafe fn analyze_text(rel: pg_sys::Relation, table: &str, option: &str, expr: &str) -> *mut pg_sys::Node {
    let sql = CString::new(format!("SELECT ({expr})")).unwrap_or_default();
    let bad = |why: &str| -> ! {
        raise_with_hint(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("invalid {option} expression for mergetree table \"{table}\": {why}"),
            match option {
                "ttl" => "ttl takes one expression over the table's columns, e.g. ttl = '\"timestamp\" + interval ''90 days'''.".into(),
                _ => "partition_by takes one expression over the table's columns, e.g. partition_by = 'date_trunc(''month'', ts)'.".into(),
            },
        )
    };
    // SAFETY: the parser and analyser run on palloc'd copies in the current context.
    unsafe {
        let stmts = pg_sys::raw_parser(sql.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT);
        if stmts.is_null() || (*stmts).length != 1 {
            bad("not a single expression");
        }
        let raw = (*(*stmts).elements).ptr_value as *mut pg_sys::RawStmt;
        let sel = (*raw).stmt as *mut pg_sys::SelectStmt;
        if (*sel).type_ != pg_sys::NodeTag::T_SelectStmt
            || !(*sel).fromClause.is_null()
            || !(*sel).whereClause.is_null()
            || !(*sel).groupClause.is_null()
            || !(*sel).sortClause.is_null()
            || !(*sel).valuesLists.is_null()
            || (*sel).targetList.is_null()
            || (*(*sel).targetList).length != 1
        {
            bad("not a single expression");
        }
        let target = (*(*(*sel).targetList).elements).ptr_value as *mut pg_sys::ResTarget;
        let pstate = pg_sys::make_parsestate(std::ptr::null_mut());
        (*pstate).p_sourcetext = sql.as_ptr();
        let nsitem = pg_sys::addRangeTableEntryForRelation(pstate, rel, pg_sys::AccessShareLock as i32, std::ptr::null_mut(), false, true);
        pg_sys::addNSItemToQuery(pstate, nsitem, false, true, true);
        let e = pg_sys::transformExpr(pstate, (*target).val, pg_sys::ParseExprKind::EXPR_KIND_PARTITION_EXPRESSION);
        pg_sys::assign_expr_collations(pstate, e);
        e
    }
}

/// A partition expression computed here rather than by the executor, exactly as
/// Postgres' function computes it (mergetree::scalar, as grouping keys are): per row the
/// executor's call was about 5% of a COPY's backend time. Holds the column's attribute
/// index (attnum - 1), a timestamp without time zone.
#[derive(Clone, Copy, Debug)]
enum Native {
    /// `date_trunc(unit, ts)`.
    Trunc(TruncUnit, usize),
    /// `ts::date`.
    DateOf(usize),
}

impl Native {
    /// The native form of planned expression `e`, if it has one.
    ///
    /// # Safety
    /// `e` is a planned expression over the table (Vars of range table entry 1).
    unsafe fn of(e: *mut pg_sys::Expr) -> Option<Native> {
        // SAFETY: per the caller; node tags are checked before each cast.
        unsafe {
            let n = e as *mut pg_sys::Node;
            if (*n).type_ != pg_sys::NodeTag::T_FuncExpr {
                return None;
            }
            let f = n as *mut pg_sys::FuncExpr;
            let args = crate::ffi::list_ptrs::<pg_sys::Node>((*f).args);
            let timestamp_attr = |a: *mut pg_sys::Node| {
                let v = a as *mut pg_sys::Var;
                ((*a).type_ == pg_sys::NodeTag::T_Var && (*v).varattno > 0 && (*v).varlevelsup == 0 && (*v).vartype == pg_sys::TIMESTAMPOID)
                    .then(|| (*v).varattno as usize - 1)
            };
            match ((*f).funcid.to_u32(), args.as_slice()) {
                (pg_sys::F_DATE_TIMESTAMP, &[ts]) => Some(Native::DateOf(timestamp_attr(ts)?)),
                (pg_sys::F_DATE_TRUNC_TEXT_TIMESTAMP, &[unit, ts]) => {
                    let c = unit as *mut pg_sys::Const;
                    if (*unit).type_ != pg_sys::NodeTag::T_Const || (*c).constisnull {
                        return None;
                    }
                    // date_trunc lower-cases its unit too (ASCII letters only).
                    let unit: String = pgrx::FromDatum::from_datum((*c).constvalue, false)?;
                    Some(Native::Trunc(TruncUnit::parse(&unit.to_ascii_lowercase())?, timestamp_attr(ts)?))
                }
                _ => None,
            }
        }
    }

    /// Writes the value's bytes as the column stores it (date: 4, timestamp: 8,
    /// little-endian) for a non-NULL timestamp; false where Postgres raises an error
    /// (the executor then raises it).
    fn eval(self, ts: i64, out: &mut mergetree::ColumnData) -> bool {
        out.truncate(0);
        match self {
            Native::DateOf(_) => out.push(&mergetree::datetime::date_of_timestamp(ts).to_le_bytes()),
            Native::Trunc(unit, _) => match mergetree::datetime::trunc_timestamp(unit, ts) {
                Ok(v) => out.push(&v.to_le_bytes()),
                Err(_) => return false,
            },
        }
        true
    }

    fn attr(self) -> usize {
        match self {
            Native::DateOf(a) | Native::Trunc(_, a) => a,
        }
    }
}

/// A compiled partition expression ready to evaluate on inserted rows. Copies share the
/// compiled state (it lives in TopTransactionContext, as long as any buffer).
#[derive(Clone)]
pub struct Partitioner {
    state: *mut pg_sys::ExprState,
    econtext: *mut pg_sys::ExprContext,
    native: Option<Native>,
    pub typid: pg_sys::Oid,
    pub plan: crate::datum::ColumnPlan,
}

impl Partitioner {
    /// Compiles `expr` in the current memory context (the caller picks one that lives
    /// as long as the transaction's buffer).
    ///
    /// # Safety
    /// `rel` is open.
    pub unsafe fn new(rel: pg_sys::Relation, table: &str, expr: &str) -> Self {
        // SAFETY: per the caller.
        unsafe {
            let e = compile(rel, table, expr, Names::Stored);
            let typid = pg_sys::exprType(e as *mut pg_sys::Node);
            let mut typlen = 0i16;
            let mut byval = false;
            pg_sys::get_typlenbyval(typid, &mut typlen, &mut byval);
            let collation = pg_sys::exprCollation(e as *mut pg_sys::Node);
            let (ty, sort) = crate::datum::physical(typid, typlen, collation);
            let plan = crate::datum::ColumnPlan {
                attnum: 0,
                name: "partition".into(),
                typid,
                typlen,
                typbyval: byval,
                collation,
                ty,
                sort,
                missing: None,
            };
            Partitioner {
                state: pg_sys::ExecInitExpr(e, std::ptr::null_mut()),
                econtext: pg_sys::CreateStandaloneExprContext(),
                native: Native::of(e),
                typid,
                plan,
            }
        }
    }

    /// Evaluates the partition value of the row in `slot` into `out` (encoded like a
    /// column value); returns false for NULL.
    ///
    /// # Safety
    /// `slot` holds a row of the relation the expression was compiled for.
    pub unsafe fn eval_into(&self, slot: *mut pg_sys::TupleTableSlot, out: &mut mergetree::ColumnData) -> bool {
        // SAFETY: per the caller; per-row memory is reset each call. The native form's
        // column is a timestamp (by value) of the slot's deformed attributes.
        unsafe {
            if let Some(n) = self.native {
                pg_sys::slot_getallattrs(slot);
                if *(*slot).tts_isnull.add(n.attr()) {
                    return false; // both functions are strict
                }
                if n.eval((*(*slot).tts_values.add(n.attr())).value() as i64, out) {
                    return true;
                }
            }
            pg_sys::MemoryContextReset((*self.econtext).ecxt_per_tuple_memory);
            (*self.econtext).ecxt_scantuple = slot;
            let mut isnull = false;
            let d = pg_sys::ExecEvalExprSwitchContext(self.state, self.econtext, &mut isnull);
            if isnull {
                return false;
            }
            out.truncate(0);
            crate::datum::push_datum(&self.plan, d, out);
            true
        }
    }

    /// A partition value given as text (`mergetree.optimize(..., partition => '...')`),
    /// read with the expression type's input function and encoded as parts store it.
    pub fn parse(&self, text: &str) -> Vec<u8> {
        let c = std::ffi::CString::new(text).unwrap_or_default();
        // SAFETY: the type's input function raises a Postgres error for bad input; the
        // datum it returns is a valid value of `typid`, encoded before this returns.
        unsafe {
            let (mut input, mut ioparam) = (pg_sys::InvalidOid, pg_sys::InvalidOid);
            pg_sys::getTypeInputInfo(self.typid, &mut input, &mut ioparam);
            let d = pg_sys::OidInputFunctionCall(input, c.as_ptr() as *mut _, ioparam, -1);
            let mut out = mergetree::ColumnData::new(self.plan.ty);
            crate::datum::push_datum(&self.plan, d, &mut out);
            out.value(0).to_vec()
        }
    }

    /// Text form of an encoded partition value (for `mergetree.parts`).
    pub fn display(&self, value: &Option<Vec<u8>>) -> String {
        let Some(v) = value else { return "NULL".into() };
        let mut col = mergetree::ColumnData::new(self.plan.ty);
        col.push(v);
        let d = crate::datum::to_datums(&self.plan, col);
        // SAFETY: the datum is a valid value of `typid` while `d` lives.
        unsafe {
            let mut out = pg_sys::InvalidOid;
            let mut varlena = false;
            pg_sys::getTypeOutputInfo(self.typid, &mut out, &mut varlena);
            let s = pg_sys::OidOutputFunctionCall(out, d.datums[0]);
            std::ffi::CStr::from_ptr(s).to_string_lossy().into_owned()
        }
    }
}

/// The stored partition value a user names as text (`mergetree.optimize`,
/// `mergetree.drop_partition`): as the table's partition expression produces it, in the
/// type's input syntax.
///
/// # Safety
/// `rel` is open.
pub unsafe fn value_of_text(rel: pg_sys::Relation, table: &str, partition_by: Option<&str>, text: &str) -> Option<Vec<u8>> {
    let Some(expr) = partition_by else {
        crate::error::raise_with_hint(
            pgrx::PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("mergetree table \"{table}\" has no partitions"),
            "Its parts form one partition: leave the partition out of mergetree.optimize; TRUNCATE removes every row.".into(),
        );
    };
    // SAFETY: per the caller.
    Some(unsafe { Partitioner::new(rel, table, expr) }.parse(text))
}
