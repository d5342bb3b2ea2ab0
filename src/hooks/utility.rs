//! ProcessUtility hook: `WITH (order_by = ...)` on CREATE TABLE [AS] and ALTER TABLE
//! SET/RESET for mergetree tables. Heap's option parser would reject our names, so the
//! hook takes them out of the statement, lets Postgres run the rest, then validates them
//! against the new table and stores them in pg_class.reloptions itself.

use super::{cstr, list_ptrs};
use crate::error::{raise, raise_with_hint, unsupported};
use crate::options;
use pgrx::pg_sys;
use pgrx::prelude::*;

static mut PREV: pg_sys::ProcessUtility_hook_type = None;

pub unsafe fn install() {
    // SAFETY: single-threaded backend start-up.
    unsafe {
        PREV = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
    }
}

type Args = (
    *mut pg_sys::PlannedStmt,
    *const std::ffi::c_char,
    bool,
    pg_sys::ProcessUtilityContext::Type,
    pg_sys::ParamListInfo,
    *mut pg_sys::QueryEnvironment,
    *mut pg_sys::DestReceiver,
    *mut pg_sys::QueryCompletion,
);

unsafe fn run_next(a: Args) {
    // SAFETY: forwards the arguments Postgres gave us.
    unsafe {
        match PREV {
            Some(prev) => prev(a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7),
            None => pg_sys::standard_ProcessUtility(a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7),
        }
    }
}

/// Splits DefElems into mergetree options and the rest (which stay in the statement).
unsafe fn take_options(table: &str, list: *mut pg_sys::List, is_reset: bool) -> (Vec<(String, Option<String>)>, *mut pg_sys::List) {
    let mut ours = Vec::new();
    let mut rest: *mut pg_sys::List = std::ptr::null_mut();
    // SAFETY: `list` is a List of DefElem.
    unsafe {
        for def in list_ptrs::<pg_sys::DefElem>(list) {
            let name = cstr((*def).defname).unwrap_or_default();
            let has_ns = !(*def).defnamespace.is_null();
            if !has_ns && options::is_option(&name) {
                let v = if is_reset || (*def).arg.is_null() { None } else { cstr(pg_sys::defGetString(def)) };
                if !is_reset && v.is_none() {
                    raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("option \"{name}\" of mergetree table \"{table}\" needs a value"));
                }
                ours.push((name, v));
            } else if has_ns || name.starts_with("autovacuum") {
                rest = pg_sys::lappend(rest, def.cast());
            } else {
                raise_with_hint(
                    PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                    format!("unknown option \"{name}\" for mergetree table \"{table}\""),
                    format!("Valid options are: {}.", options::OPTION_NAMES.join(", ")),
                );
            }
        }
    }
    (ours, rest)
}

fn uses_mergetree(am: *const std::ffi::c_char) -> bool {
    // SAFETY: NULL or a parser-produced string; the default is a GUC string.
    unsafe {
        let name = cstr(am).or_else(|| cstr(pg_sys::default_table_access_method));
        name.as_deref() == Some("mergetree")
    }
}

/// Validates `defs` against the freshly created table and stores them.
unsafe fn apply_new_table_options(relid: pg_sys::Oid, defs: &[(String, Option<String>)]) {
    // SAFETY: the table was just created in this transaction and is locked.
    unsafe {
        let rel = pg_sys::relation_open(relid, pg_sys::AccessShareLock as i32);
        let table = crate::am::relname(rel);
        let plain: Vec<(String, String)> = defs.iter().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())).collect();
        let opts = options::parse(&table, &plain);
        options::validate(rel, &table, &opts, &crate::datum::table_plan(rel));
        pg_sys::relation_close(rel, pg_sys::AccessShareLock as i32);
    }
    if !defs.is_empty() {
        options::store(relid, defs);
    }
}

unsafe fn range_var_oid(rv: *mut pg_sys::RangeVar) -> pg_sys::Oid {
    // SAFETY: rv is a parsed RangeVar.
    unsafe { pg_sys::RangeVarGetRelidExtended(rv, pg_sys::NoLock as i32, pg_sys::RVROption::RVR_MISSING_OK, None, std::ptr::null_mut()) }
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
        let interesting = matches!(tag, pg_sys::NodeTag::T_CreateStmt | pg_sys::NodeTag::T_CreateTableAsStmt | pg_sys::NodeTag::T_AlterTableStmt);
        if !interesting || crate::am::am_oid() == pg_sys::InvalidOid {
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
            pg_sys::NodeTag::T_AlterTableStmt => {
                let at = stmt as *mut pg_sys::AlterTableStmt;
                let relid = range_var_oid((*at).relation);
                if relid == pg_sys::InvalidOid || !crate::am::is_mergetree(relid) {
                    return run_next(args);
                }
                let table = crate::am::relid_name(relid);
                let mut changes = Vec::new();
                let mut kept: *mut pg_sys::List = std::ptr::null_mut();
                for cmd in list_ptrs::<pg_sys::AlterTableCmd>((*at).cmds) {
                    match (*cmd).subtype {
                        pg_sys::AlterTableType::AT_SetRelOptions | pg_sys::AlterTableType::AT_ResetRelOptions => {
                            let reset = (*cmd).subtype == pg_sys::AlterTableType::AT_ResetRelOptions;
                            let (defs, rest) = take_options(&table, (*cmd).def as *mut pg_sys::List, reset);
                            // Postgres would re-validate the whole stored list (ours included)
                            // with heap's parser, so heap options are checked here and stored
                            // together with ours.
                            for def in list_ptrs::<pg_sys::DefElem>(rest) {
                                if !(*def).defnamespace.is_null() {
                                    raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("mergetree table \"{table}\" has no TOAST table to set options on"));
                                }
                                let name = cstr((*def).defname).unwrap_or_default();
                                let value = if reset || (*def).arg.is_null() { None } else { cstr(pg_sys::defGetString(def)) };
                                if !reset {
                                    let one = pg_sys::lappend(std::ptr::null_mut(), def.cast());
                                    let d = pg_sys::transformRelOptions(pg_sys::Datum::from(0), one, std::ptr::null(), std::ptr::null_mut(), false, false);
                                    pg_sys::heap_reloptions(pg_sys::RELKIND_RELATION as std::ffi::c_char, d, true);
                                }
                                changes.push((name, value));
                            }
                            for (k, _) in &defs {
                                if !options::ALTERABLE.contains(&k.as_str()) {
                                    raise_with_hint(
                                        PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                                        format!("option \"{k}\" of mergetree table \"{table}\" cannot be changed"),
                                        "Existing parts are sorted and partitioned by it. Create a new table with the new option and copy the rows with INSERT ... SELECT.".into(),
                                    );
                                }
                            }
                            changes.extend(defs);
                        }
                        pg_sys::AlterTableType::AT_AlterColumnType => unsupported(&table, "ALTER COLUMN ... TYPE", "Create a new table with the new column type and copy the rows with INSERT ... SELECT."),
                        pg_sys::AlterTableType::AT_SetAccessMethod => unsupported(&table, "ALTER TABLE ... SET ACCESS METHOD", "Create a new table USING the other access method and copy the rows with INSERT ... SELECT."),
                        _ => kept = pg_sys::lappend(kept, cmd.cast()),
                    }
                }
                // Check new values before anything changes.
                let mut merged = options::stored_defs(relid);
                for (k, v) in &changes {
                    merged.retain(|(mk, _)| mk != k);
                    if let Some(v) = v {
                        merged.push((k.clone(), v.clone()));
                    }
                }
                let merged: Vec<(String, String)> = merged.into_iter().filter(|(k, _)| options::is_option(k)).collect();
                let parsed = options::parse(&table, &merged);
                let rel = pg_sys::relation_open(relid, pg_sys::AccessShareLock as i32);
                options::validate(rel, &table, &parsed, &crate::datum::table_plan(rel));
                pg_sys::relation_close(rel, pg_sys::AccessShareLock as i32);
                if !kept.is_null() {
                    (*at).cmds = kept;
                    run_next(args);
                }
                if !changes.is_empty() {
                    // Same lock ALTER TABLE SET (...) takes for reloptions.
                    pg_sys::LockRelationOid(relid, pg_sys::ShareUpdateExclusiveLock as i32);
                    options::store(relid, &changes);
                }
            }
            _ => run_next(args),
        }
    }
}
