//! Keeping table options in step with the table: column renames are followed (options
//! name columns, and `partition_by` is an expression over them), dropping a key column
//! is refused, and the partition expression's functions and operators are recorded as
//! dependencies in pg_depend, as Postgres does for an expression index, so they cannot
//! be dropped from under the table.

use super::{for_relation, per_column, rewrite, stored_defs, TableOptions};
use crate::error::raise_with_hint;
use crate::ffi::quote_ident;
use crate::write::partition::{self, Names};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::collections::HashMap;
use std::ffi::CStr;

/// Attribute names of `rel` by number (live columns only).
///
/// # Safety
/// `rel` is open.
unsafe fn attnames(rel: pg_sys::Relation) -> HashMap<i16, String> {
    // SAFETY: per the caller.
    unsafe { crate::datum::table_plan(rel).columns.into_iter().map(|c| (c.attnum, c.name)).collect() }
}

/// The partition expression as Postgres deparses it with an empty search_path: every
/// name it needs qualified, so that pg_dump output (which restores with an empty
/// search_path) recreates the same expression, and column names as the table has them
/// now.
///
/// # Safety
/// `rel` is open; `expr` was analysed against it (see `partition::analyze`).
pub unsafe fn deparse_partition(rel: pg_sys::Relation, expr: *mut pg_sys::Node) -> String {
    // SAFETY: per the caller; deparsing reads the catalogs in the current transaction.
    unsafe {
        crate::ffi::with_search_path(c"", || {
            let name = pg_sys::get_rel_name((*rel).rd_id);
            let ctx = pg_sys::deparse_context_for(name, (*rel).rd_id);
            let text = pg_sys::deparse_expression(expr, ctx, false, false);
            CStr::from_ptr(text).to_string_lossy().into_owned()
        })
    }
}

/// Records what the table's partition expression depends on (functions, operators,
/// types, collations), replacing what an earlier expression recorded.
///
/// # Safety
/// `rel` is open and locked.
pub unsafe fn record_dependencies(rel: pg_sys::Relation, opts: &TableOptions, replace: bool) {
    // SAFETY: per the caller.
    unsafe {
        let relid = (*rel).rd_id;
        let rc = pg_sys::RelationRelationId;
        if replace {
            // Only an expression of ours makes the table itself (not a column) depend on
            // functions or operators, or a column depend on its own table as NORMAL.
            pg_sys::deleteDependencyRecordsForClass(rc, relid, pg_sys::ProcedureRelationId, pg_sys::DependencyType::DEPENDENCY_NORMAL as _);
            pg_sys::deleteDependencyRecordsForClass(rc, relid, pg_sys::OperatorRelationId, pg_sys::DependencyType::DEPENDENCY_NORMAL as _);
            pg_sys::deleteDependencyRecordsForSpecific(rc, relid, pg_sys::DependencyType::DEPENDENCY_NORMAL as _, rc, relid);
        }
        let me = pg_sys::ObjectAddress { classId: rc, objectId: relid, objectSubId: 0 };
        // An aggregating engine's combining functions cannot be dropped from under it.
        let table = crate::ffi::relname(rel);
        for f in super::function_oids(&table, &opts.engine, &crate::datum::table_plan(rel), (*(*rel).rd_rel).relowner) {
            let referenced = pg_sys::ObjectAddress { classId: pg_sys::ProcedureRelationId, objectId: f, objectSubId: 0 };
            pg_sys::recordDependencyOn(&me, &referenced, pg_sys::DependencyType::DEPENDENCY_NORMAL);
        }
        let exprs = [("partition_by", &opts.partition_by), ("ttl", &opts.ttl)];
        for (option, text) in exprs {
            let Some(text) = text else { continue };
            let expr = partition::analyze_option(rel, &table, option, text, Names::Stored);
            // Columns the expression uses are recorded as depending on the table (the
            // harmless direction: Postgres ignores it when the table is dropped); dropping
            // one is refused by `check_column_drop` with a message naming the option.
            pg_sys::recordDependencyOnSingleRelExpr(
                &me,
                expr,
                relid,
                pg_sys::DependencyType::DEPENDENCY_NORMAL,
                pg_sys::DependencyType::DEPENDENCY_NORMAL,
                true,
            );
        }
    }
}

/// Attribute numbers the partition expression reads.
///
/// # Safety
/// `rel` is open.
unsafe fn partition_attnums(rel: pg_sys::Relation, opts: &TableOptions) -> Vec<i16> {
    let Some(text) = &opts.partition_by else { return Vec::new() };
    // SAFETY: per the caller.
    unsafe {
        let expr = partition::analyze(rel, &crate::ffi::relname(rel), text, Names::Stored);
        let mut attrs: *mut pg_sys::Bitmapset = std::ptr::null_mut();
        pg_sys::pull_varattnos(expr, 1, &mut attrs);
        let mut out = Vec::new();
        let mut m = -1;
        loop {
            m = pg_sys::bms_next_member(attrs, m);
            if m < 0 {
                break;
            }
            out.push((m + pg_sys::FirstLowInvalidHeapAttributeNumber) as i16);
        }
        out
    }
}

/// Called before column `attnum` of mergetree table `relid` is dropped: refuses when the
/// column is in `order_by`, `primary_key` or the partition expression, and takes it out
/// of per-column `codecs` and `dictionary` settings.
pub fn check_column_drop(relid: pg_sys::Oid, attnum: i16) {
    // SAFETY: the table is locked by the ALTER TABLE (or DROP ... CASCADE) dropping it.
    unsafe {
        let rel = pg_sys::relation_open(relid, pg_sys::NoLock as i32);
        let table = crate::ffi::relname(rel);
        let names = attnames(rel);
        let Some(name) = names.get(&attnum).cloned() else {
            pg_sys::relation_close(rel, pg_sys::NoLock as i32);
            return;
        };
        let opts = for_relation(rel);
        let refuse = |opt: &str, why: &str| -> ! {
            raise_with_hint(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("cannot drop column \"{name}\" of mergetree table \"{table}\": it is in option \"{opt}\""),
                format!("{why} Create a new table without it and copy the rows with INSERT ... SELECT."),
            )
        };
        if opts.order_by.contains(&name) {
            refuse("order_by", "Every part is sorted by it.");
        }
        if opts.primary_key.contains(&name) {
            refuse("primary_key", "The sparse primary index is built on it.");
        }
        if opts.engine.columns().contains(&&name) {
            refuse("engine", "The table's merges and FINAL reads use it.");
        }
        if let Some(ttl) = &opts.ttl {
            if crate::write::ttl::check(rel, &table, ttl, Names::Stored) == attnum {
                refuse("ttl", "Merges remove rows by it.");
            }
        }
        if partition_attnums(rel, &opts).contains(&attnum) {
            refuse("partition_by", "Every part belongs to a partition computed from it.");
        }
        let mut changes = Vec::new();
        for opt in ["codecs", "dictionary"] {
            let Some((_, text)) = stored_defs(relid).into_iter().find(|(k, _)| k == opt) else { continue };
            let entries = per_column(&table, opt, &text);
            if entries.iter().any(|(c, _)| *c == name) {
                let kept: Vec<String> = entries
                    .iter()
                    .filter(|(c, _)| *c != name)
                    .map(|(c, spec)| if c.is_empty() { spec.to_string() } else { format!("{}: {spec}", quote_ident(c)) })
                    .collect();
                changes.push((opt.to_string(), (!kept.is_empty()).then(|| kept.join("; "))));
            }
        }
        pg_sys::relation_close(rel, pg_sys::NoLock as i32);
        if !changes.is_empty() {
            rewrite(relid, &changes);
        }
    }
}

/// Column renames (ALTER TABLE ... RENAME COLUMN, also through a parent): before the
/// statement runs, the column names of every mergetree table it may rename in and its
/// partition expression analysed (columns by number); after it, options rewritten with
/// the new names.
pub struct RenameTracker {
    tables: Vec<Tracked>,
}

struct Tracked {
    relid: pg_sys::Oid,
    names: HashMap<i16, String>,
    /// The partition expression, analysed against the old names (Vars by number), in the
    /// statement's memory.
    partition: Option<*mut pg_sys::Node>,    /// The same of the ttl expression.
    ttl: Option<*mut pg_sys::Node>,
}

impl RenameTracker {
    /// Remembers `relid` and, when `recurse`, its inheritors that are mergetree tables.
    ///
    /// # Safety
    /// Called inside a transaction, before the statement runs.
    pub unsafe fn before(relid: pg_sys::Oid, recurse: bool) -> RenameTracker {
        let mut tables = Vec::new();
        // SAFETY: per the caller; tables are locked as RENAME will lock them.
        unsafe {
            let members = if recurse {
                crate::ffi::list_oids(crate::ffi::find_all_inheritors(relid, pg_sys::AccessExclusiveLock as i32, std::ptr::null_mut()))
            } else {
                vec![relid]
            };
            for oid in members {
                if !crate::ffi::is_mergetree(oid) {
                    continue;
                }
                let rel = pg_sys::relation_open(oid, pg_sys::AccessExclusiveLock as i32);
                let opts = for_relation(rel);
                let partition = opts.partition_by.as_ref().map(|t| partition::analyze(rel, &crate::ffi::relname(rel), t, Names::Stored));
                let ttl = opts.ttl.as_ref().map(|t| partition::analyze_option(rel, &crate::ffi::relname(rel), "ttl", t, Names::Stored));
                tables.push(Tracked { relid: oid, names: attnames(rel), partition, ttl });
                pg_sys::relation_close(rel, pg_sys::NoLock as i32);
            }
        }
        RenameTracker { tables }
    }

    /// Rewrites the options of every remembered table whose columns got new names.
    ///
    /// # Safety
    /// Called after the statement ran, in the same transaction and memory context.
    pub unsafe fn after(self) {
        // SAFETY: per the caller; the new names are visible once the command counter
        // advances.
        unsafe {
            pg_sys::CommandCounterIncrement();
            for t in self.tables {
                let rel = pg_sys::relation_open(t.relid, pg_sys::NoLock as i32);
                let new = attnames(rel);
                let renamed: HashMap<String, String> =
                    t.names.iter().filter_map(|(a, o)| new.get(a).filter(|n| *n != o).map(|n| (o.clone(), n.clone()))).collect();
                if !renamed.is_empty() {
                    let mut changes = renamed_options(rel, &renamed);
                    if let Some(expr) = t.partition {
                        changes.push(("partition_by".to_string(), Some(deparse_partition(rel, expr))));
                    }
                    if let Some(expr) = t.ttl {
                        changes.push(("ttl".to_string(), Some(deparse_partition(rel, expr))));
                    }
                    if !changes.is_empty() {
                        rewrite(t.relid, &changes);
                    }
                }
                pg_sys::relation_close(rel, pg_sys::NoLock as i32);
            }
        }
    }
}

/// The column-naming options of `rel` that name a renamed column, rewritten (`renamed`:
/// old -> new).
///
/// # Safety
/// `rel` is open.
unsafe fn renamed_options(rel: pg_sys::Relation, renamed: &HashMap<String, String>) -> Vec<(String, Option<String>)> {
    // SAFETY: per the caller.
    let (table, relid) = unsafe { (crate::ffi::relname(rel), (*rel).rd_id) };
    let map = |c: &String| renamed.get(c).unwrap_or(c).clone();
    let mut changes = Vec::new();
    for (k, v) in stored_defs(relid) {
        let text = match k.as_str() {
            "order_by" | "primary_key" => {
                let cols = super::split_identifiers(&table, &k, &v);
                if !cols.iter().any(|c| renamed.contains_key(c)) {
                    continue;
                }
                cols.iter().map(|c| quote_ident(&map(c))).collect::<Vec<_>>().join(", ")
            }
            "engine" => {
                let engine = super::Engine::parse(&table, &v);
                if !engine.columns().iter().any(|c| renamed.contains_key(*c)) {
                    continue;
                }
                engine.renamed(&map).to_text()
            }
            "codecs" | "dictionary" => {
                let entries = per_column(&table, &k, &v);
                if !entries.iter().any(|(c, _)| renamed.contains_key(c)) {
                    continue;
                }
                entries
                    .iter()
                    .map(|(c, spec)| if c.is_empty() { spec.to_string() } else { format!("{}: {spec}", quote_ident(&map(c))) })
                    .collect::<Vec<_>>()
                    .join("; ")
            }
            _ => continue,
        };
        changes.push((k, Some(text)));
    }
    changes
}
