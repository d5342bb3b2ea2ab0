//! The ALTER TABLE family on mergetree tables: SET/RESET of our options (those that
//! organise existing parts only while the table is empty), column renames followed by
//! the options, SET ACCESS METHOD to and from heap, and the statements that may give a
//! table new storage (rewrites: ALTER TABLE, CLUSTER, VACUUM FULL), after which parts of
//! storage no table owns any more are removed from the catalog.

use super::ddl::{range_var_oid, run_next, take_options, Args};
use crate::error::{raise, raise_with_hint};
use crate::ffi::{cstr, list_oids, list_ptrs};
use crate::options;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// Checks `changes` merged into `rel`'s stored options and returns them ready to store:
/// the partition expression in its canonical form.
///
/// # Safety
/// `rel` is open and locked.
pub unsafe fn validated(rel: pg_sys::Relation, changes: &[(String, Option<String>)]) -> Vec<(String, Option<String>)> {
    // SAFETY: per the caller.
    unsafe {
        let relid = (*rel).rd_id;
        let table = crate::ffi::relname(rel);
        let mut merged: Vec<(String, String)> = options::stored_defs(relid).into_iter().filter(|(k, _)| options::is_option(k)).collect();
        for (k, v) in changes {
            merged.retain(|(mk, _)| mk != k);
            if let Some(v) = v {
                merged.push((k.clone(), v.clone()));
            }
        }
        let parsed = options::parse(&table, &merged);
        options::validate(rel, &table, &parsed, &crate::datum::table_plan(rel));
        changes
            .iter()
            .map(|(k, v)| match (k.as_str(), v) {
                ("partition_by", Some(text)) => {
                    let expr = crate::write::partition::analyze(rel, &table, text);
                    (k.clone(), Some(options::deparse_partition(rel, expr)))
                }
                _ => (k.clone(), v.clone()),
            })
            .collect()
    }
}

/// Whether `rel` has no rows: no part any transaction may see and nothing buffered.
///
/// # Safety
/// `rel` is open and locked against inserts.
unsafe fn is_empty(rel: pg_sys::Relation) -> bool {
    // SAFETY: per the caller.
    unsafe { crate::catalog::live_parts(rel).is_empty() && crate::write::buffer::buffered_row_count(rel) == 0 }
}

/// Whether `relid` or a table inheriting from it is a mergetree table.
unsafe fn involves_mergetree(relid: pg_sys::Oid) -> bool {
    if relid == pg_sys::InvalidOid {
        return false;
    }
    // SAFETY: catalog lookups; inheritors are listed without locking them.
    unsafe {
        crate::ffi::is_mergetree(relid)
            || (crate::ffi::has_subclass(relid)
                && list_oids(crate::ffi::find_all_inheritors(relid, pg_sys::NoLock as i32, std::ptr::null_mut())).into_iter().any(crate::ffi::is_mergetree))
    }
}

/// Runs a statement that may give mergetree tables new storage, then forgets the parts of
/// storage no table owns any more (Postgres drops the old storage without telling the
/// event trigger).
pub unsafe fn rewriting(args: Args) {
    // SAFETY: forwards Postgres' arguments.
    unsafe { run_next(args) };
    purge_orphans();
}

fn purge_orphans() {
    // SAFETY: makes this statement's catalog changes visible to the query below.
    unsafe { pg_sys::CommandCounterIncrement() };
    Spi::run("SELECT mergetree.purge_orphans()").unwrap_or_else(|e| {
        raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("pg_mergetree could not update its part catalog: {e}"))
    });
}

/// After SET ACCESS METHOD: options of the access method the table no longer has go.
unsafe fn options_after_am_change(relid: pg_sys::Oid) {
    let now_mergetree = crate::ffi::is_mergetree(relid);
    let drop: Vec<(String, Option<String>)> = options::stored_defs(relid)
        .into_iter()
        .filter(|(k, _)| if now_mergetree { !options::is_option(k) && !k.starts_with("autovacuum") } else { options::is_option(k) })
        .map(|(k, _)| (k, None))
        .collect();
    if !drop.is_empty() {
        options::store(relid, &drop);
    }
    if !now_mergetree {
        // SAFETY: the table is locked by the ALTER TABLE that changed it.
        unsafe {
            let rel = pg_sys::relation_open(relid, pg_sys::NoLock as i32);
            options::record_dependencies(rel, &options::TableOptions::default(), true);
            pg_sys::relation_close(rel, pg_sys::NoLock as i32);
        }
    }
}

/// ALTER TABLE.
///
/// # Safety
/// `at` is the statement of `args`, in a private copy we may edit.
pub unsafe fn alter_table(at: *mut pg_sys::AlterTableStmt, args: Args) {
    // SAFETY: per the caller.
    unsafe {
        let relid = range_var_oid((*at).relation);
        let cmds = list_ptrs::<pg_sys::AlterTableCmd>((*at).cmds);
        let sets_am = cmds.iter().any(|c| (**c).subtype == pg_sys::AlterTableType::AT_SetAccessMethod);
        if !involves_mergetree(relid) {
            run_next(args);
            if sets_am && crate::ffi::is_mergetree(relid) {
                options_after_am_change(relid);
                purge_orphans();
            }
            return;
        }
        if !crate::ffi::is_mergetree(relid) {
            // A parent whose members are mergetree tables: they may be rewritten.
            return rewriting(args);
        }
        let table = crate::ffi::relid_name(relid);
        let mut changes = Vec::new();
        let mut kept: *mut pg_sys::List = std::ptr::null_mut();
        let mut structural = false;
        for cmd in cmds {
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
                    structural |= defs.iter().any(|(k, _)| !options::ALTERABLE.contains(&k.as_str()));
                    changes.extend(defs);
                }
                pg_sys::AlterTableType::AT_SetUnLogged => crate::error::unsupported(
                    &table,
                    "UNLOGGED",
                    "The part catalog is WAL-logged, so parts must be too; mergetree tables stay logged.",
                ),
                _ => kept = pg_sys::lappend(kept, cmd.cast()),
            }
        }
        if !changes.is_empty() {
            // Sort key and partitions organise existing parts: they may change only while
            // there are none (a table made by CREATE TABLE ... (LIKE ...) and given its
            // options afterwards, as pg_partman does for new partitions).
            let lock = if structural { pg_sys::AccessExclusiveLock } else { pg_sys::ShareUpdateExclusiveLock };
            let rel = pg_sys::relation_open(relid, lock as i32);
            if structural && !is_empty(rel) {
                let k = changes.iter().map(|(k, _)| k.as_str()).find(|k| options::is_option(k) && !options::ALTERABLE.contains(k)).unwrap_or("");
                raise_with_hint(
                    PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                    format!("option \"{k}\" of mergetree table \"{table}\" cannot be changed while the table has rows"),
                    "Existing parts are sorted and partitioned by it. Create a new table with the new option and copy the rows with INSERT ... SELECT.".into(),
                );
            }
            let ours: Vec<(String, Option<String>)> = changes.iter().filter(|(k, _)| options::is_option(k)).cloned().collect();
            let ours = validated(rel, &ours);
            changes.retain(|(k, _)| !options::is_option(k));
            changes.extend(ours);
            pg_sys::relation_close(rel, pg_sys::NoLock as i32);
        }
        if !kept.is_null() {
            (*at).cmds = kept;
            run_next(args);
        }
        if !changes.is_empty() {
            options::store(relid, &changes);
            if structural {
                let rel = pg_sys::relation_open(relid, pg_sys::NoLock as i32);
                options::record_dependencies(rel, &options::for_relation(rel), true);
                pg_sys::relation_close(rel, pg_sys::NoLock as i32);
            }
        }
        if !kept.is_null() {
            if sets_am {
                options_after_am_change(relid);
            }
            purge_orphans();
        }
    }
}

/// ALTER TABLE ... RENAME [COLUMN]: options follow renamed columns.
///
/// # Safety
/// `rs` is the statement of `args`.
pub unsafe fn rename(rs: *mut pg_sys::RenameStmt, args: Args) {
    // SAFETY: per the caller.
    unsafe {
        let column = (*rs).renameType == pg_sys::ObjectType::OBJECT_COLUMN && (*rs).relationType == pg_sys::ObjectType::OBJECT_TABLE;
        let relid = if column && !(*rs).relation.is_null() { range_var_oid((*rs).relation) } else { pg_sys::InvalidOid };
        if !involves_mergetree(relid) {
            return run_next(args);
        }
        let tracker = options::RenameTracker::before(relid, (*(*rs).relation).inh);
        run_next(args);
        tracker.after();
    }
}
