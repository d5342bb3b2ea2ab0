//! Refuses UPDATE, DELETE, MERGE and ON CONFLICT on mergetree tables at parse analysis,
//! before any row is touched, with an error naming the table and the operation.

use crate::ffi::list_ptrs;
use crate::error::unsupported;
use pgrx::pg_sys;
use pgrx::prelude::*;

static mut PREV: pg_sys::post_parse_analyze_hook_type = None;

pub unsafe fn install() {
    // SAFETY: single-threaded backend start-up.
    unsafe {
        PREV = pg_sys::post_parse_analyze_hook;
        pg_sys::post_parse_analyze_hook = Some(post_parse_analyze);
    }
}

unsafe fn check(query: *mut pg_sys::Query) {
    // SAFETY: `query` is an analysed Query tree.
    unsafe {
        for cte in list_ptrs::<pg_sys::CommonTableExpr>((*query).cteList) {
            let q = (*cte).ctequery as *mut pg_sys::Query;
            if !q.is_null() && (*q).type_ == pg_sys::NodeTag::T_Query {
                check(q);
            }
        }
        let r = (*query).resultRelation;
        if r <= 0 {
            return;
        }
        let rte = *list_ptrs::<pg_sys::RangeTblEntry>((*query).rtable).get(r as usize - 1).unwrap_or(&std::ptr::null_mut());
        if rte.is_null() || !crate::ffi::is_mergetree((*rte).relid) {
            return;
        }
        let table = crate::ffi::relid_name((*rte).relid);
        const HINT: &str = "mergetree tables are append-only for now: rewrite the table with CREATE TABLE ... AS, or TRUNCATE and reload.";
        match (*query).commandType {
            pg_sys::CmdType::CMD_UPDATE => unsupported(&table, "UPDATE", HINT),
            pg_sys::CmdType::CMD_DELETE => unsupported(&table, "DELETE", HINT),
            pg_sys::CmdType::CMD_MERGE => unsupported(&table, "MERGE", HINT),
            pg_sys::CmdType::CMD_INSERT if !(*query).onConflict.is_null() => {
                unsupported(&table, "INSERT ... ON CONFLICT", "mergetree tables have no unique indexes to detect conflicts with.")
            }
            _ => {}
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn post_parse_analyze(pstate: *mut pg_sys::ParseState, query: *mut pg_sys::Query, jstate: *mut pg_sys::JumbleState) {
    // SAFETY: forwards Postgres' arguments.
    unsafe {
        if let Some(prev) = PREV {
            prev(pstate, query, jstate);
        }
        if crate::ffi::am_oid() != pg_sys::InvalidOid {
            check(query);
        }
    }
}
