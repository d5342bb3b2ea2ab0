//! ProcessUtility hook: `WITH (order_by = ...)` on CREATE TABLE [AS], and the ALTER TABLE
//! family (alter.rs). Heap's option parser would reject our names, so the hook takes
//! them out of the statement, lets Postgres run the rest, then validates them against
//! the new table and stores them in pg_class.reloptions itself.

use super::alter;
use super::ddl::{range_var_oid, run_next, take_options, After, Args, Handled, PREV};
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

/// The hook. It owns nothing that needs dropping: our work happens in `before` and
/// `after`, each guarded, and the statement runs between them unguarded (`run_next`), so
/// its errors reach Postgres exactly as raised.
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
    let mut args: Args = (pstmt, query, read_only, context, params, env, dest, qc);
    // SAFETY: Postgres passes a valid statement; `before` leaves a plan in the statement's
    // memory (freed with it, also after an error) and may replace `args.0` by a copy.
    unsafe {
        let handled = before(&mut args);
        if handled.is_null() || (*handled).run {
            run_next(args);
        }
        if !handled.is_null() {
            after(handled);
        }
    }
}

/// Our half before the statement runs: options taken out, checks, what to remember.
/// NULL: nothing to do, run the statement as it is.
#[pg_guard]
unsafe extern "C-unwind" fn before(args: *mut Args) -> *mut Handled {
    // SAFETY: `args` points at the hook's arguments; we edit only a private copy of the
    // statement.
    unsafe {
        let a = &mut *args;
        let tag = (*(*a.0).utilityStmt).type_;
        if let Some(db) = database_wanted_alone((*a.0).utilityStmt) {
            crate::background::stop_workers_in(db);
        }
        let interesting = matches!(
            tag,
            pg_sys::NodeTag::T_CreateStmt
                | pg_sys::NodeTag::T_CreateTableAsStmt
                | pg_sys::NodeTag::T_AlterTableStmt
                | pg_sys::NodeTag::T_RenameStmt
                | pg_sys::NodeTag::T_ClusterStmt
                | pg_sys::NodeTag::T_VacuumStmt
                | pg_sys::NodeTag::T_IndexStmt
        );
        if !interesting || crate::ffi::am_oid() == pg_sys::InvalidOid {
            return std::ptr::null_mut();
        }
        if a.2 {
            // read_only: the statement belongs to a cached plan; edit a copy.
            a.0 = pg_sys::copyObjectImpl(a.0.cast()).cast();
            a.2 = false;
        }
        let stmt = (*a.0).utilityStmt;
        let handled = match tag {
            pg_sys::NodeTag::T_CreateStmt => create_table(stmt as *mut pg_sys::CreateStmt),
            pg_sys::NodeTag::T_CreateTableAsStmt => create_table_as(stmt as *mut pg_sys::CreateTableAsStmt),
            pg_sys::NodeTag::T_AlterTableStmt => alter::alter_table(stmt as *mut pg_sys::AlterTableStmt),
            pg_sys::NodeTag::T_RenameStmt => alter::rename(stmt as *mut pg_sys::RenameStmt),
            pg_sys::NodeTag::T_ClusterStmt => Some(Handled { run: true, after: Some(After::Purge) }),
            pg_sys::NodeTag::T_VacuumStmt => {
                let full = list_ptrs::<pg_sys::DefElem>((*(stmt as *mut pg_sys::VacuumStmt)).options)
                    .into_iter()
                    .any(|d| cstr((*d).defname).as_deref() == Some("full") && pg_sys::defGetBoolean(d));
                full.then_some(Handled { run: true, after: Some(After::Purge) })
            }
            pg_sys::NodeTag::T_IndexStmt => {
                create_index(stmt as *mut pg_sys::IndexStmt);
                None
            }
            _ => None,
        };
        match handled {
            Some(h) => pgrx::PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(h),
            None => std::ptr::null_mut(),
        }
    }
}

/// The database a statement needs no one else connected to (DROP DATABASE, ALTER
/// DATABASE, renaming it, copying it as a template): merge workers there must go first.
///
/// # Safety
/// `stmt` is a utility statement.
unsafe fn database_wanted_alone(stmt: *mut pg_sys::Node) -> Option<pg_sys::Oid> {
    // SAFETY: per the caller; each node is read as the type its tag says.
    unsafe {
        let name = match (*stmt).type_ {
            pg_sys::NodeTag::T_DropdbStmt => (*(stmt as *mut pg_sys::DropdbStmt)).dbname,
            pg_sys::NodeTag::T_AlterDatabaseStmt => (*(stmt as *mut pg_sys::AlterDatabaseStmt)).dbname,
            pg_sys::NodeTag::T_RenameStmt if (*(stmt as *mut pg_sys::RenameStmt)).renameType == pg_sys::ObjectType::OBJECT_DATABASE => {
                (*(stmt as *mut pg_sys::RenameStmt)).subname
            }
            pg_sys::NodeTag::T_CreatedbStmt => list_ptrs::<pg_sys::DefElem>((*(stmt as *mut pg_sys::CreatedbStmt)).options)
                .into_iter()
                .find(|&d| cstr((*d).defname).as_deref() == Some("template"))
                .map_or(std::ptr::null_mut(), |d| pg_sys::defGetString(d)),
            _ => std::ptr::null_mut(),
        };
        if name.is_null() {
            return None;
        }
        Some(pg_sys::get_database_oid(name, true)).filter(|&o| o != pg_sys::InvalidOid)
    }
}

/// Our half after the statement ran.
#[pg_guard]
unsafe extern "C-unwind" fn after(handled: *mut Handled) {
    // SAFETY: made by `before` in memory that lives until the statement's end; taken
    // once.
    let Some(after) = (unsafe { (*handled).after.take() }) else { return };
    match after {
        After::NewTable { relation, defs } => {
            options::PENDING.with(|p| *p.borrow_mut() = None);
            // SAFETY: the RangeVar lives in the statement's memory.
            let relid = unsafe { range_var_oid(relation) };
            if relid != pg_sys::InvalidOid {
                // SAFETY: the table was just created by the statement.
                unsafe { apply_new_table_options(relid, &defs) };
            }
        }
        After::Alter(a) => a.run(),
        // SAFETY: in the statement's transaction, after it ran.
        After::Rename(tracker) => unsafe { tracker.after() },
        After::Purge => alter::purge_orphans(),
    }
}

/// CREATE TABLE ... USING mergetree WITH (...): our options out of the statement.
unsafe fn create_table(cs: *mut pg_sys::CreateStmt) -> Option<Handled> {
    // SAFETY: a parsed CreateStmt in our private copy.
    unsafe {
        let table = cstr((*(*cs).relation).relname).unwrap_or_default();
        if !(*cs).partspec.is_null() || !uses_mergetree((*cs).accessMethod) {
            return None;
        }
        if (*cs).if_not_exists && range_var_oid((*cs).relation) != pg_sys::InvalidOid {
            return None;
        }
        let (defs, rest) = take_options(&table, (*cs).options, false);
        (*cs).options = rest;
        Some(Handled { run: true, after: Some(After::NewTable { relation: (*cs).relation, defs }) })
    }
}

/// CREATE TABLE ... USING mergetree AS / SELECT INTO: as CREATE TABLE, and the options
/// are known to the inserts that run while the statement does (PENDING). A materialized
/// view cannot be a mergetree table: named explicitly that is an error; by default (the
/// database's default_table_access_method) it becomes a heap one.
unsafe fn create_table_as(ctas: *mut pg_sys::CreateTableAsStmt) -> Option<Handled> {
    // SAFETY: a parsed CreateTableAsStmt in our private copy.
    unsafe {
        let into = (*ctas).into;
        if into.is_null() || !uses_mergetree((*into).accessMethod) {
            return None;
        }
        let table = cstr((*(*into).rel).relname).unwrap_or_default();
        if (*ctas).objtype == pg_sys::ObjectType::OBJECT_MATVIEW {
            if (*into).accessMethod.is_null() {
                pgrx::notice!("materialized view \"{table}\" uses the heap access method: mergetree tables cannot be materialized views");
                (*into).accessMethod = pg_sys::pstrdup(c"heap".as_ptr());
                return None;
            }
            unsupported(&table, "materialized views USING mergetree", "Create a mergetree table and fill it with INSERT ... SELECT.");
        }
        if (*ctas).if_not_exists && range_var_oid((*into).rel) != pg_sys::InvalidOid {
            return None;
        }
        let (defs, rest) = take_options(&table, (*into).options, false);
        (*into).options = rest;
        let plain: Vec<(String, String)> = defs.iter().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())).collect();
        // Cleared after the statement, or by the (sub)transaction's abort (write/xact.rs).
        options::PENDING.with(|p| *p.borrow_mut() = Some(plain));
        Some(Handled { run: true, after: Some(After::NewTable { relation: (*into).rel, defs }) })
    }
}

/// CREATE INDEX on a mergetree table: only skip indexes. Refused here, before Postgres
/// creates anything (CREATE INDEX CONCURRENTLY would otherwise commit an invalid index).
unsafe fn create_index(ix: *mut pg_sys::IndexStmt) {
    // SAFETY: a parsed IndexStmt.
    unsafe {
        let relid = range_var_oid((*ix).relation);
        if relid == pg_sys::InvalidOid || !crate::ffi::is_mergetree(relid) {
            return;
        }
        if cstr((*ix).accessMethod).as_deref() != Some("mergetree_skip") {
            unsupported(&crate::ffi::relid_name(relid), "CREATE INDEX (and PRIMARY KEY/UNIQUE constraints)", crate::am::modify::INDEX_HINT);
        }
    }
}
