//! The `ttl` option (ClickHouse's TTL): an expression of one date or timestamp column,
//! non-decreasing in it (`"timestamp" + interval '90 days'`, `day + 30`,
//! `date_trunc('month', ts) + interval '1 year'`); a row whose TTL has passed (`now()`
//! of the merging transaction) is removed by the merges that read it. Because the
//! expression never decreases, a part's TTL range is the expression at its column's
//! min and max: the merge workers drop parts entirely past it without reading them and
//! rewrite parts partly past it (ttl_pass).

use crate::datum::{self, ColumnPlan, TablePlan};
use crate::error::raise_with_hint;
use mergetree::ColumnData;
use super::partition::Names;
use pgrx::pg_sys;
use pgrx::prelude::*;

fn bad(table: &str, expr: &str, why: &str) -> ! {
    raise_with_hint(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("invalid ttl expression for mergetree table \"{table}\": {why}: \"{expr}\""),
        "Give one date or timestamp column, optionally plus or minus a constant interval or number of days, e.g. ttl = '\"timestamp\" + interval ''90 days'''.".into(),
    )
}

/// Whether `n` is non-decreasing in exactly one Var (the column it returns), which is
/// set in `var`.
///
/// # Safety
/// `n` is an analysed expression tree.
unsafe fn monotonic(n: *mut pg_sys::Node, var: &mut Option<i16>) -> bool {
    // SAFETY: per the caller; node tags are checked before each cast.
    unsafe {
        match (*n).type_ {
            pg_sys::NodeTag::T_Var => {
                let v = n as *mut pg_sys::Var;
                if (*v).varlevelsup != 0 || (*v).varattno <= 0 || var.is_some() {
                    return false;
                }
                *var = Some((*v).varattno);
                true
            }
            pg_sys::NodeTag::T_RelabelType => monotonic((*(n as *mut pg_sys::RelabelType)).arg as *mut pg_sys::Node, var),
            pg_sys::NodeTag::T_OpExpr => {
                let op = n as *mut pg_sys::OpExpr;
                let args = crate::ffi::list_ptrs::<pg_sys::Node>((*op).args);
                let name = crate::ffi::cstr(pg_sys::get_opname((*op).opno)).unwrap_or_default();
                let is_const = |a: *mut pg_sys::Node| (*a).type_ == pg_sys::NodeTag::T_Const;
                match (name.as_str(), args.as_slice()) {
                    ("+", &[a, b]) if is_const(b) => monotonic(a, var),
                    ("+", &[a, b]) if is_const(a) => monotonic(b, var),
                    ("-", &[a, b]) if is_const(b) => monotonic(a, var),
                    _ => false,
                }
            }
            pg_sys::NodeTag::T_FuncExpr => {
                let f = n as *mut pg_sys::FuncExpr;
                let args = crate::ffi::list_ptrs::<pg_sys::Node>((*f).args);
                // Casts between date and timestamps, and date_trunc, never decrease.
                const CASTS: [u32; 5] = [pg_sys::F_DATE_TIMESTAMP, pg_sys::F_TIMESTAMP_DATE, pg_sys::F_TIMESTAMPTZ_DATE, pg_sys::F_DATE_TIMESTAMPTZ, pg_sys::F_TIMESTAMPTZ_TIMESTAMP];
                const TRUNC: [u32; 2] = [pg_sys::F_DATE_TRUNC_TEXT_TIMESTAMP, pg_sys::F_DATE_TRUNC_TEXT_TIMESTAMPTZ];
                let id = (*f).funcid.to_u32();
                match args.as_slice() {
                    &[a] if CASTS.contains(&id) || id == pg_sys::F_TIMESTAMP_TIMESTAMPTZ => monotonic(a, var),
                    &[unit, a] if TRUNC.contains(&id) && (*unit).type_ == pg_sys::NodeTag::T_Const => monotonic(a, var),
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

/// Checks a `ttl` expression against `rel`; returns the column it reads (attribute
/// number).
///
/// # Safety
/// `rel` is open.
pub unsafe fn check(rel: pg_sys::Relation, table: &str, expr: &str, names: Names) -> i16 {
    // SAFETY: per the caller.
    unsafe {
        let e = super::partition::analyze_option(rel, table, "ttl", expr, names);
        let ty = pg_sys::exprType(e);
        if !matches!(ty, pg_sys::DATEOID | pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID) {
            bad(table, expr, "it must give a date, timestamp or timestamptz");
        }
        if pg_sys::contain_volatile_functions(e) {
            bad(table, expr, "it must not call volatile functions");
        }
        let mut var = None;
        if !monotonic(e, &mut var) {
            bad(table, expr, "it must be one column, optionally plus or minus a constant (or cast or date_trunc of that)");
        }
        var.unwrap_or_else(|| bad(table, expr, "it reads no column"))
    }
}

/// A table's TTL, compiled for a merge or a worker's pass: whether rows are past it now.
/// Its expression state, context and slot live in the memory context it was made in
/// (the merge's transaction).
pub struct Ttl {
    /// `((ttl)::timestamptz <= now())`, over the relation's row.
    state: *mut pg_sys::ExprState,
    econtext: *mut pg_sys::ExprContext,
    slot: *mut pg_sys::TupleTableSlot,
    /// The TTL column: its plan index and how it is stored.
    pub column: usize,
    col: ColumnPlan,
    /// Within `range` (stored values as integers: dates and timestamps are), the largest
    /// value past the TTL (None: none is): since the expression does not decrease (but
    /// between values days apart, see `expired_rows`), a value in the range is past it
    /// when it is at most this. Found once by bisection, so rows are compared, not
    /// evaluated.
    threshold: Option<((i64, i64), Option<i64>)>,
}

impl Ttl {
    /// The TTL `ttl` of `rel` (the option's text; None without one), compiled in the
    /// current memory context.
    ///
    /// # Safety
    /// `rel` is open.
    pub unsafe fn new(rel: pg_sys::Relation, plan: &TablePlan, ttl: Option<&str>) -> Option<Ttl> {
        let expr = ttl?;
        // SAFETY: per the caller.
        unsafe {
            let table = crate::ffi::relname(rel);
            let attnum = check(rel, &table, expr, Names::Stored);
            let column = plan.index_of_attnum(attnum)?;
            let e = super::partition::analyze_option(rel, &table, "ttl", &format!("(({expr})::timestamptz <= now())"), Names::Stored);
            let planned = pg_sys::expression_planner(e as *mut pg_sys::Expr);
            Some(Ttl {
                state: pg_sys::ExecInitExpr(planned, std::ptr::null_mut()),
                econtext: pg_sys::CreateStandaloneExprContext(),
                // A copy of the descriptor: not reference-counted, so the slot pins
                // nothing the transaction's end would report as leaked.
                slot: pg_sys::MakeSingleTupleTableSlot(pg_sys::CreateTupleDescCopy((*rel).rd_att), &raw const pg_sys::TTSOpsVirtual),
                column,
                col: plan.columns[column].clone(),
                threshold: None,
            })
        }
    }

    /// The TTL column's smallest and largest value in a part, and how many NULLs it holds;
    /// None when the part predates the column (every row holds its default) or holds
    /// only NULLs there.
    pub fn part_range<'m>(&self, meta: &'m mergetree::PartMeta) -> Option<(&'m [u8], &'m [u8], u64)> {
        let id = self.col.attnum as u32;
        let c = meta.columns.iter().find(|c| c.spec.id == id)?;
        Some((c.min.as_deref()?, c.max.as_deref()?, c.null_count))
    }

    /// `prepare_range` for a merge of the parts `metas`: their values' overall range,
    /// when every part has one (else rows stay evaluated one by one).
    pub fn prepare_for_parts<'m>(&mut self, metas: impl Iterator<Item = &'m mergetree::PartMeta>) {
        let width = self.width();
        let ranges: Option<Vec<(i64, i64)>> = metas.map(|m| self.part_range(m).and_then(|(lo, hi, _)| Some((int_of(lo, width)?, int_of(hi, width)?)))).collect();
        let Some(ranges) = ranges else { return };
        if let (Some(lo), Some(hi)) = (ranges.iter().map(|r| r.0).min(), ranges.iter().map(|r| r.1).max()) {
            self.prepare_range(lo, hi);
        }
    }

    /// Makes `expired_rows` compare values in `lo..=hi` (the TTL column's values as
    /// integers, the smallest and largest a merge will see) with a threshold found by bisection
    /// (about 64 evaluations) instead of evaluating the expression per row.
    fn prepare_range(&mut self, lo: i64, hi: i64) {
        if lo > hi {
            return;
        }
        let threshold = if !self.expired_int(lo) {
            None
        } else {
            // expired(lo) holds; find the largest v in lo..=hi with expired(v).
            let (mut good, mut bad) = (lo, hi as i128 + 1);
            while (good as i128) + 1 < bad {
                let mid = ((good as i128 + bad) / 2) as i64;
                if self.expired_int(mid) {
                    good = mid;
                } else {
                    bad = mid as i128;
                }
            }
            Some(good)
        };
        self.threshold = Some(((lo, hi), threshold));
    }

    fn width(&self) -> usize {
        self.col.typlen.max(0) as usize
    }

    fn expired_int(&mut self, v: i64) -> bool {
        let width = self.width();
        self.expired_by_eval(&v.to_le_bytes()[..width])
    }

    fn expired_by_eval(&mut self, value: &[u8]) -> bool {
        let mut c = ColumnData::new(self.col.ty);
        c.push(value);
        self.evaluate(&c)[0]
    }

    /// Per value of the TTL column (NULL: never expires): whether it is past the TTL.
    pub fn expired_rows(&mut self, values: &ColumnData) -> Vec<bool> {
        let width = self.width();
        if let Some(((lo, hi), threshold)) = self.threshold {
            let ints: Vec<Option<i64>> = (0..values.len()).map(|r| values.get(r).and_then(|v| int_of(v, width))).collect();
            if ints.iter().flatten().all(|v| (lo..=hi).contains(v)) {
                // Adding months is monotonic only between dates a few days apart (Oct 30
                // 12:00 and Oct 31 06:00 plus a month are Nov 30 12:00 and 06:00): values
                // near the threshold are evaluated.
                let band = if width == 4 { NEAR_DAYS } else { NEAR_DAYS * 86_400_000_000 };
                return ints
                    .iter()
                    .map(|v| match (v, threshold) {
                        (None, _) => false,
                        (Some(v), Some(t)) if v.abs_diff(t) > band as u64 => *v <= t,
                        (Some(v), None) if v.abs_diff(lo) > band as u64 => false,
                        (Some(v), _) => self.expired_int(*v),
                    })
                    .collect();
            }
        }
        self.evaluate(values)
    }

    /// `expired_rows` by the executor, row by row.
    fn evaluate(&mut self, values: &ColumnData) -> Vec<bool> {
        let datums = datum::to_datums(&self.col, values.clone());
        let attr = self.col.attnum as usize - 1;
        (0..values.len())
            .map(|r| {
                if datums.nulls[r] {
                    return false;
                }
                // SAFETY: the slot has the relation's descriptor; only the TTL column is
                // set (the expression reads no other), with a value of its type; per-row
                // memory is reset each time.
                unsafe {
                    pg_sys::ExecClearTuple(self.slot);
                    let natts = (*(*self.slot).tts_tupleDescriptor).natts as usize;
                    for i in 0..natts {
                        *(*self.slot).tts_isnull.add(i) = true;
                    }
                    *(*self.slot).tts_values.add(attr) = datums.datums[r];
                    *(*self.slot).tts_isnull.add(attr) = false;
                    pg_sys::ExecStoreVirtualTuple(self.slot);
                    pg_sys::MemoryContextReset((*self.econtext).ecxt_per_tuple_memory);
                    (*self.econtext).ecxt_scantuple = self.slot;
                    let mut isnull = false;
                    let d = pg_sys::ExecEvalExprSwitchContext(self.state, self.econtext, &mut isnull);
                    !isnull && d.value() != 0
                }
            })
            .collect()
    }

    /// Whether a stored value of the TTL column is past the TTL.
    pub fn expired(&mut self, value: &[u8]) -> bool {
        self.expired_by_eval(value)
    }

    /// Whether every value up to `max` is past the TTL: a value NEAR_DAYS later is (month
    /// arithmetic may order values a few days apart either way).
    pub fn expired_up_to(&mut self, max: &[u8]) -> bool {
        let width = self.width();
        match int_of(max, width) {
            Some(v) => {
                let band = if width == 4 { NEAR_DAYS } else { NEAR_DAYS * 86_400_000_000 };
                self.expired_int(v.saturating_add(band))
            }
            None => self.expired_by_eval(max),
        }
    }
}

/// Days around a bisected threshold within which rows are evaluated one by one.
const NEAR_DAYS: i64 = 7;

/// A stored date (4 bytes) or timestamp (8 bytes) as an integer.
fn int_of(bytes: &[u8], width: usize) -> Option<i64> {
    match (bytes.len(), width) {
        (4, 4) => Some(i32::from_le_bytes(bytes.try_into().ok()?) as i64),
        (8, 8) => Some(i64::from_le_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}
