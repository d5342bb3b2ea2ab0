//! Aggregating tables' columns combined by Postgres functions (`hll_union`, a tdigest
//! union...): each key's states folded pairwise with the function the table names, as
//! the table's owner (merges and FINAL reads never run it with more rights), in a memory
//! context reset after every key so a merge of millions of keys stays small.

use crate::datum::{self, TablePlan};
use crate::options::TableOptions;
use mergetree::merge::algorithm::Combiner;
use mergetree::{ColumnData, Result};
use pgrx::pg_sys;
use pgrx::PgMemoryContexts;

pub struct FunctionCombiner<'a> {
    plan: &'a TablePlan,
    owner: pg_sys::Oid,
    /// Per plan column: the combining function's call info.
    finfo: Vec<Option<Box<pg_sys::FmgrInfo>>>,
    scratch: PgMemoryContexts,
}

impl<'a> FunctionCombiner<'a> {
    /// The functions of `options`' aggregating engine, resolved and checked again (one
    /// may have been replaced since CREATE); None when the engine has none.
    ///
    /// # Safety
    /// `rel` is open.
    pub unsafe fn new(rel: pg_sys::Relation, plan: &'a TablePlan, options: &TableOptions) -> Option<Self> {
        let functions = options.engine.functions();
        if functions.is_empty() {
            return None;
        }
        // SAFETY: per the caller.
        let (table, owner) = unsafe { (crate::ffi::relname(rel), (*(*rel).rd_rel).relowner) };
        let mut finfo: Vec<Option<Box<pg_sys::FmgrInfo>>> = plan.columns.iter().map(|_| None).collect();
        for (column, name) in functions {
            let i = plan.index_of_name(column)?;
            let f = crate::options::combine_function(&table, column, name, plan.columns[i].typid, owner);
            // SAFETY: a zeroed FmgrInfo is what fmgr_info fills; the box keeps its address.
            let mut info: Box<pg_sys::FmgrInfo> = Box::new(unsafe { std::mem::zeroed() });
            // SAFETY: `f` is a valid function oid; the info lives as long as the combiner.
            unsafe { pg_sys::fmgr_info(f, info.as_mut()) };
            finfo[i] = Some(info);
        }
        Some(FunctionCombiner { plan, owner, finfo, scratch: PgMemoryContexts::new("mergetree combine") })
    }
}

impl Combiner for FunctionCombiner<'_> {
    fn combine(&mut self, column: usize, col: &ColumnData, rows: &[u32]) -> Result<Vec<u8>> {
        let plan_col = &self.plan.columns[column];
        let info: *mut pg_sys::FmgrInfo = match self.finfo[column].as_mut() {
            Some(f) => f.as_mut(),
            None => return Err(mergetree::Error::Invalid(format!("no combining function for column \"{}\"", plan_col.name))),
        };
        let states = datum::to_datums(plan_col, col.take(rows));
        let owner = self.owner;
        let mut out = ColumnData::new(col.column_type());
        let fold = |_: &mut PgMemoryContexts| {
            // SAFETY: the states are non-NULL values of the column's type, alive while
            // `states` is; the function takes two of them and returns one (checked when
            // it was resolved). The user switch is undone below, or by the transaction's
            // abort if the function raises.
            unsafe {
                let (mut saved_user, mut saved_context) = (pg_sys::InvalidOid, 0);
                pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
                pg_sys::SetUserIdAndSecContext(owner, saved_context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32 | pg_sys::SECURITY_RESTRICTED_OPERATION as i32);
                let mut acc = states.datums[0];
                for &d in &states.datums[1..] {
                    acc = pg_sys::FunctionCall2Coll(info, plan_col.collation, acc, d);
                }
                datum::push_datum(plan_col, acc, &mut out);
                pg_sys::SetUserIdAndSecContext(saved_user, saved_context);
            }
        };
        // SAFETY: the scratch context is this combiner's; nothing allocated in it outlives
        // the call (the result is copied into `out`), so resetting it after is sound.
        unsafe {
            self.scratch.switch_to(fold);
            self.scratch.reset();
        }
        Ok(out.value(0).to_vec())
    }
}
