//! At parse analysis, before any row is touched: refuses ON CONFLICT on mergetree tables
//! and the system columns their rows do not have (xmin, cmin, xmax, cmax), with errors
//! naming the table; and makes UPDATE, DELETE, MERGE and SELECT ... FOR UPDATE/SHARE of
//! mergetree tables take the writers' table lock (write/dml.rs) now, before the
//! statement's snapshot, and again whenever a cached plan of them runs.

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
        if (*query).commandType == pg_sys::CmdType::CMD_INSERT && !(*query).onConflict.is_null() {
            let table = crate::ffi::relid_name((*rte).relid);
            unsupported(&table, "INSERT ... ON CONFLICT", "mergetree tables have no unique indexes to detect conflicts with.");
        }
    }
}

/// Raises the lock of range table entry `rti` (1-based) of `query` to the writers'
/// lock, taking it now; partitions expanded later inherit the mode.
unsafe fn take_writer_lock(query: *mut pg_sys::Query, rti: i32) {
    // SAFETY: `query` is an analysed Query and `rti` one of its range table indexes.
    unsafe {
        let Some(&rte) = list_ptrs::<pg_sys::RangeTblEntry>((*query).rtable).get((rti as usize).wrapping_sub(1)) else { return };
        if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION || !crate::ffi::involves_mergetree((*rte).relid) {
            return;
        }
        let lock = crate::write::dml::WRITER_LOCK as i32;
        if (*rte).rellockmode < lock {
            (*rte).rellockmode = lock;
            pg_sys::LockRelationOid((*rte).relid, lock);
        }
    }
}

/// The writers' lock for the tables `query` changes or locks rows of (row locks that
/// must not wait, NOWAIT and SKIP LOCKED, try it when they lock).
unsafe fn writer_locks(query: *mut pg_sys::Query) {
    // SAFETY: `query` is an analysed Query.
    unsafe {
        if matches!((*query).commandType, pg_sys::CmdType::CMD_UPDATE | pg_sys::CmdType::CMD_DELETE | pg_sys::CmdType::CMD_MERGE) && (*query).resultRelation > 0 {
            take_writer_lock(query, (*query).resultRelation);
        }
        for rc in list_ptrs::<pg_sys::RowMarkClause>((*query).rowMarks) {
            if (*rc).waitPolicy == pg_sys::LockWaitPolicy::LockWaitBlock {
                take_writer_lock(query, (*rc).rti as i32);
            }
        }
    }
}

/// System columns mergetree rows do not have: rows carry no transaction ids (which
/// transaction inserted a part is in the part catalog).
fn missing_system_column(attno: i32) -> Option<&'static str> {
    match attno {
        -2 => Some("xmin"),
        -3 => Some("cmin"),
        -4 => Some("xmax"),
        -5 => Some("cmax"),
        _ => None,
    }
}

/// Refuses the system columns of mergetree tables `query` reads (in its own range table;
/// the walker below visits the queries inside it).
unsafe fn check_system_columns(query: *mut pg_sys::Query) {
    // SAFETY: `query` is an analysed Query; selectedCols holds the attribute numbers each
    // relation is read for (offset by FirstLowInvalidHeapAttributeNumber).
    unsafe {
        for rte in list_ptrs::<pg_sys::RangeTblEntry>((*query).rtable) {
            if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION || (*rte).selectedCols.is_null() || !crate::ffi::is_mergetree((*rte).relid) {
                continue;
            }
            let mut m = -1;
            loop {
                m = pg_sys::bms_next_member((*rte).selectedCols, m);
                if m < 0 {
                    break;
                }
                if let Some(col) = missing_system_column(m + pg_sys::FirstLowInvalidHeapAttributeNumber) {
                    crate::error::raise_with_hint(
                        PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                        format!("system column \"{col}\" is not available for mergetree table \"{}\"", crate::ffi::relid_name((*rte).relid)),
                        "mergetree rows carry no transaction ids; ctid and tableoid are available.".into(),
                    );
                }
            }
        }
    }
}

/// Visits every Query of a statement: subqueries in FROM, sublinks, CTEs.
#[pg_guard]
unsafe extern "C-unwind" fn walk(node: *mut pg_sys::Node, context: *mut std::ffi::c_void) -> bool {
    // SAFETY: the walkers pass nodes of an analysed tree.
    unsafe {
        if node.is_null() {
            return false;
        }
        if (*node).type_ == pg_sys::NodeTag::T_Query {
            let q = node as *mut pg_sys::Query;
            check_system_columns(q);
            writer_locks(q);
            return pg_sys::query_tree_walker(q, Some(walk), context, 0);
        }
        pg_sys::expression_tree_walker(node, Some(walk), context)
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
            walk(query.cast(), std::ptr::null_mut());
        }
    }
}
