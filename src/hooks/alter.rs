//! The ALTER TABLE family on mergetree tables: SET/RESET of our options (those that
//! organise existing parts only while the table is empty), column renames followed by
//! the options, SET ACCESS METHOD to and from heap, and the statements that may give a
//! table new storage (rewrites: ALTER TABLE, CLUSTER, VACUUM FULL), after which parts of
//! storage no table owns any more are removed from the catalog.

use super::ddl::{range_var_oid, take_options, After, Handled};
use crate::error::{raise, raise_with_hint};
use crate::ffi::{cstr, list_ptrs};
use crate::options;
use crate::write::partition::Names;
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
                    let expr = crate::write::partition::analyze(rel, &table, text, Names::Session);
                    (k.clone(), Some(options::deparse_partition(rel, expr)))
                }
                ("ttl", Some(text)) => {
                    let expr = crate::write::partition::analyze_option(rel, &table, "ttl", text, Names::Session);
                    (k.clone(), Some(options::deparse_partition(rel, expr)))
                }
                ("engine", Some(_)) => (k.clone(), Some(options::canonical_engine(&table, &parsed.engine, &crate::datum::table_plan(rel), (*(*rel).rd_rel).relowner))),
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

/// Forgets the parts of storage no table owns any more, after a statement that may
/// have given tables new storage (Postgres drops the old storage without telling the
/// event trigger).
pub fn purge_orphans() {
    // SAFETY: makes this statement's catalog changes visible to the query below.
    unsafe { pg_sys::CommandCounterIncrement() };
    Spi::run("SELECT mergetree.purge_orphans()").unwrap_or_else(|e| {
        raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("pg_mergetree could not update its part catalog: {e}"))
    });
}

/// After SET ACCESS METHOD heap: our options go (heap's stay with either method).
unsafe fn options_after_am_change(relid: pg_sys::Oid) {
    let now_mergetree = crate::ffi::is_mergetree(relid);
    let drop: Vec<(String, Option<String>)> =
        options::stored_defs(relid).into_iter().filter(|(k, _)| !now_mergetree && options::is_option(k)).map(|(k, _)| (k, None)).collect();
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

/// What ALTER TABLE of a mergetree table does after Postgres ran the rest of it.
pub struct AlterAfter {
    relid: pg_sys::Oid,
    /// Options to store: ours (validated) and heap's (checked by heap's parser).
    changes: Vec<(String, Option<String>)>,
    /// order_by, primary_key or partition_by changed: record the new dependencies.
    structural: bool,
    sets_am: bool,
    /// Postgres ran commands of the statement (which may have rewritten the table).
    ran: bool,
}

impl AlterAfter {
    pub fn run(self) {
        crate::write::progress::rewriting(None);
        if !self.changes.is_empty() {
            options::store(self.relid, &self.changes);
            if self.structural {
                // SAFETY: the table is locked by the statement.
                unsafe {
                    let rel = pg_sys::relation_open(self.relid, pg_sys::NoLock as i32);
                    options::record_dependencies(rel, &options::for_relation(rel), true);
                    pg_sys::relation_close(rel, pg_sys::NoLock as i32);
                }
            }
        }
        if self.ran {
            if self.sets_am {
                // SAFETY: in the statement's transaction.
                unsafe { options_after_am_change(self.relid) };
            }
            purge_orphans();
        }
    }
}

/// ALTER TABLE: our options taken out and checked (sort key and partitions only while the
/// table is empty); UNLOGGED refused; rewrites of mergetree tables, also through a parent
/// or to and from heap, followed by a purge of the old storage's parts.
///
/// # Safety
/// `at` is a parsed statement in a private copy we may edit.
pub unsafe fn alter_table(at: *mut pg_sys::AlterTableStmt) -> Option<Handled> {
    // SAFETY: per the caller.
    unsafe {
        let relid = range_var_oid((*at).relation);
        let cmds = list_ptrs::<pg_sys::AlterTableCmd>((*at).cmds);
        let sets_am = cmds.iter().any(|c| (**c).subtype == pg_sys::AlterTableType::AT_SetAccessMethod);
        if !crate::ffi::involves_mergetree(relid) {
            // A heap table may become a mergetree table.
            return sets_am.then_some(Handled {
                run: true,
                after: Some(After::Alter(AlterAfter { relid, changes: Vec::new(), structural: false, sets_am, ran: true })),
            });
        }
        if !crate::ffi::is_mergetree(relid) {
            // A parent whose members are mergetree tables: they may be rewritten.
            return Some(Handled { run: true, after: Some(After::Purge) });
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
                        // A bare boolean option (SET (autovacuum_enabled)) means true.
                        let value = if reset { None } else if (*def).arg.is_null() { Some("true".to_string()) } else { cstr(pg_sys::defGetString(def)) };
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
        let ran = !kept.is_null();
        if ran {
            (*at).cmds = kept;
            // A rewrite reads the table through the table AM's scan, which reports it.
            crate::write::progress::rewriting(Some(relid));
        }
        Some(Handled { run: ran, after: Some(After::Alter(AlterAfter { relid, changes, structural, sets_am, ran })) })
    }
}

/// ALTER TABLE ... RENAME COLUMN (also through a parent): options follow the columns.
///
/// # Safety
/// `rs` is a parsed statement.
pub unsafe fn rename(rs: *mut pg_sys::RenameStmt) -> Option<Handled> {
    // SAFETY: per the caller.
    unsafe {
        let column = (*rs).renameType == pg_sys::ObjectType::OBJECT_COLUMN && (*rs).relationType == pg_sys::ObjectType::OBJECT_TABLE;
        let relid = if column && !(*rs).relation.is_null() { range_var_oid((*rs).relation) } else { pg_sys::InvalidOid };
        if !crate::ffi::involves_mergetree(relid) {
            return None;
        }
        let tracker = options::RenameTracker::before(relid, (*(*rs).relation).inh);
        Some(Handled { run: true, after: Some(After::Rename(tracker)) })
    }
}
