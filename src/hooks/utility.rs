//! ProcessUtility hook: `WITH (order_by = ...)` on CREATE TABLE [AS], and the ALTER TABLE
//! family (alter.rs). Heap's option parser would reject our names, so the hook takes
//! them out of the statement, lets Postgres run the rest, then validates them against
//! the new table and stores them in pg_class.reloptions itself.

use super::alter;
use super::ddl::{range_var_oid, run_next, take_options, PREV};
use crate::error::unsupported;
use crate::ffi::{cstr, list_ptrs};
use crate::options;
use pgrx::pg_sys;
use pgrx::prelude::*;

pub unsafe fn install() {
    // SAFETY: single-threaded backend start-up.
    unsafe {
        PREV = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
    }
}

fn uses_mergetree(am: *const std::ffi::c_char) -> bool {
    // SAFETY: NULL or a parser-produced string; the default is a GUC string.
    unsafe {
        let name = cstr(am).or_else(|| cstr(pg_sys::default_table_access_method));
        name.as_deref() == Some("mergetree")
    }
}

/// Validates `defs` against the freshly created table, stores them (the partition
/// expression in its canonical form) and records the expression's dependencies.
unsafe fn apply_new_table_options(relid: pg_sys::Oid, defs: &[(String, Option<String>)]) {
    // SAFETY: the table was just created in this transaction and is locked.
    unsafe {
        let rel = pg_sys::relation_open(relid, pg_sys::AccessExclusiveLock as i32);
        let defs = alter::validated(rel, defs);
        if !defs.is_empty() {
            options::store(relid, &defs);
        }
        options::record_dependencies(rel, &options::for_relation(rel), false);
        pg_sys::relation_close(rel, pg_sys::NoLock as i32);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query: *const std::ffi::c_char,
    read_only: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    let (mut pstmt, mut read_only) = (pstmt, read_only);
    // SAFETY: Postgres passes a valid utility statement; we edit only a private copy.
    unsafe {
        let tag = (*(*pstmt).utilityStmt).type_;
        let interesting = matches!(
            tag,
            pg_sys::NodeTag::T_CreateStmt
                | pg_sys::NodeTag::T_CreateTableAsStmt
                | pg_sys::NodeTag::T_AlterTableStmt
                | pg_sys::NodeTag::T_RenameStmt
                | pg_sys::NodeTag::T_ClusterStmt
                | pg_sys::NodeTag::T_VacuumStmt
        );
        if !interesting || crate::ffi::am_oid() == pg_sys::InvalidOid {
            return run_next((pstmt, query, read_only, context, params, env, dest, qc));
        }
        if read_only {
            pstmt = pg_sys::copyObjectImpl(pstmt.cast()).cast();
            read_only = false;
        }
        let stmt = (*pstmt).utilityStmt;
        let args = (pstmt, query, read_only, context, params, env, dest, qc);
        match tag {
            pg_sys::NodeTag::T_CreateStmt => {
                let cs = stmt as *mut pg_sys::CreateStmt;
                let table = cstr((*(*cs).relation).relname).unwrap_or_default();
                if !(*cs).partspec.is_null() || !uses_mergetree((*cs).accessMethod) {
                    return run_next(args);
                }
                if (*cs).if_not_exists && range_var_oid((*cs).relation) != pg_sys::InvalidOid {
                    return run_next(args);
                }
                let (defs, rest) = take_options(&table, (*cs).options, false);
                (*cs).options = rest;
                run_next(args);
                let relid = range_var_oid((*cs).relation);
                if relid != pg_sys::InvalidOid {
                    apply_new_table_options(relid, &defs);
                }
            }
            pg_sys::NodeTag::T_CreateTableAsStmt => {
                let ctas = stmt as *mut pg_sys::CreateTableAsStmt;
                let into = (*ctas).into;
                if into.is_null() || !uses_mergetree((*into).accessMethod) {
                    return run_next(args);
                }
                let table = cstr((*(*into).rel).relname).unwrap_or_default();
                if (*ctas).objtype == pg_sys::ObjectType::OBJECT_MATVIEW {
                    unsupported(&table, "materialized views USING mergetree", "Create a mergetree table and fill it with INSERT ... SELECT.");
                }
                if (*ctas).if_not_exists && range_var_oid((*into).rel) != pg_sys::InvalidOid {
                    return run_next(args);
                }
                let (defs, rest) = take_options(&table, (*into).options, false);
                (*into).options = rest;
                let plain: Vec<(String, String)> = defs.iter().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())).collect();
                // Rows arrive while the statement runs, before the options reach pg_class.
                options::PENDING.with(|p| *p.borrow_mut() = Some(plain));
                struct Clear;
                impl Drop for Clear {
                    fn drop(&mut self) {
                        options::PENDING.with(|p| *p.borrow_mut() = None);
                    }
                }
                let _clear = Clear;
                run_next(args);
                let relid = range_var_oid((*into).rel);
                if relid != pg_sys::InvalidOid {
                    apply_new_table_options(relid, &defs);
                }
            }
            pg_sys::NodeTag::T_AlterTableStmt => alter::alter_table(stmt as *mut pg_sys::AlterTableStmt, args),
            pg_sys::NodeTag::T_RenameStmt => alter::rename(stmt as *mut pg_sys::RenameStmt, args),
            pg_sys::NodeTag::T_ClusterStmt => alter::rewriting(args),
            pg_sys::NodeTag::T_VacuumStmt => {
                let full = list_ptrs::<pg_sys::DefElem>((*(stmt as *mut pg_sys::VacuumStmt)).options)
                    .into_iter()
                    .any(|d| cstr((*d).defname).as_deref() == Some("full") && pg_sys::defGetBoolean(d));
                if full {
                    alter::rewriting(args)
                } else {
                    run_next(args)
                }
            }
            _ => run_next(args),
        }
    }
}
