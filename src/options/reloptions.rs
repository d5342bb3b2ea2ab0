//! Table options in `pg_class.reloptions`: `name=value` text, as `\\d+` shows and pg_dump
//! dumps them. Values that are not plain identifiers or numbers are stored as SQL string
//! literals (`order_by='org, ts'`), so tools that copy reloptions into `WITH (...)` or
//! `ALTER TABLE ... SET (...)` without quoting them (SQLAlchemy's reflection, pg_partman's
//! template tables) still hand Postgres one value; pg_dump quotes the literal once more,
//! and `unquote` takes one layer off whatever arrives.

use super::{is_option, parse, TableOptions};
use crate::error::raise;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// Whether `v` survives being written into `WITH (name = v)` unquoted: a lower-case
/// identifier or an unsigned integer.
fn is_plain(v: &str) -> bool {
    let mut chars = v.chars();
    match chars.next() {
        Some(c) if c.is_ascii_digit() => v.chars().all(|c| c.is_ascii_digit()),
        Some(c) if c.is_ascii_lowercase() || c == '_' => chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        _ => false,
    }
}

/// The text `v` is stored as: itself when plain, else an SQL string literal.
fn stored_form(v: &str) -> String {
    if is_plain(v) {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "''"))
    }
}

/// `v` without one layer of SQL string quoting, if it is a quoted literal (`'a, b'`);
/// else `v` itself.
pub fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) else { return v.to_string() };
    if v.len() < 2 {
        return v.to_string();
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            // Inside a literal a quote is always doubled.
            if chars.next() != Some('\'') {
                return v.to_string();
            }
        }
        out.push(c);
    }
    out
}

/// `name=value` pairs stored in `pg_class.reloptions` for `relid`, values unquoted.
pub fn stored_defs(relid: pg_sys::Oid) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // SAFETY: syscache lookup, released before return; the list is copied out.
    unsafe {
        let tup = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::RELOID as i32, relid.into_datum().unwrap());
        if tup.is_null() {
            return out;
        }
        let mut isnull = false;
        let d = pg_sys::SysCacheGetAttr(pg_sys::SysCacheIdentifier::RELOID as i32, tup, pg_sys::Anum_pg_class_reloptions as i16, &mut isnull);
        if !isnull {
            let arr = Vec::<Option<String>>::from_datum(d, false).unwrap_or_default();
            for s in arr.into_iter().flatten() {
                if let Some((k, v)) = s.split_once('=') {
                    out.push((k.to_string(), unquote(v)));
                }
            }
        }
        pg_sys::ReleaseSysCache(tup);
    }
    out
}

thread_local! {
    /// Options of a table being created by CREATE TABLE AS, before they reach pg_class.
    pub static PENDING: std::cell::RefCell<Option<Vec<(String, String)>>> = const { std::cell::RefCell::new(None) };
}

/// The options of an open mergetree relation.
///
/// # Safety
/// `rel` is open.
pub unsafe fn for_relation(rel: pg_sys::Relation) -> TableOptions {
    // SAFETY: rel is open.
    let (relid, table, new_in_xact) = unsafe { ((*rel).rd_id, crate::ffi::relname(rel), (*rel).rd_createSubid != 0) };
    let mut defs: Vec<(String, String)> = stored_defs(relid).into_iter().filter(|(k, _)| is_option(k)).collect();
    if defs.is_empty() && new_in_xact {
        if let Some(p) = PENDING.with(|p| p.borrow().clone()) {
            defs = p;
        }
    }
    parse(&table, &defs)
}

/// Writes `defs` into `pg_class.reloptions` of `relid` as ALTER TABLE SET/RESET does: an
/// option set again moves to the end, one reset goes (`None`). No validation by heap's
/// option parser happens here.
pub fn store(relid: pg_sys::Oid, defs: &[(String, Option<String>)]) {
    let mut current = stored_defs(relid);
    for (k, v) in defs {
        current.retain(|(ck, _)| ck != k);
        if let Some(v) = v {
            current.push((k.clone(), v.clone()));
        }
    }
    write(relid, &current);
}

/// Rewrites options of `relid` in place (a renamed column in them): each keeps its place.
pub fn rewrite(relid: pg_sys::Oid, defs: &[(String, Option<String>)]) {
    let mut current = stored_defs(relid);
    for (k, v) in defs {
        match (current.iter().position(|(ck, _)| ck == k), v) {
            (Some(i), Some(v)) => current[i].1 = v.clone(),
            (Some(i), None) => {
                current.remove(i);
            }
            (None, Some(v)) => current.push((k.clone(), v.clone())),
            (None, None) => {}
        }
    }
    write(relid, &current);
}

/// Replaces `pg_class.reloptions` of `relid` with `current` (ours in their stored form,
/// heap's as given, as heap stores them).
fn write(relid: pg_sys::Oid, current: &[(String, String)]) {
    let items: Vec<String> = current.iter().map(|(k, v)| if is_option(k) { format!("{k}={}", stored_form(v)) } else { format!("{k}={v}") }).collect();
    // SAFETY: updates a copy of the pg_class row through the catalog API.
    unsafe {
        let classrel = pg_sys::table_open(pg_sys::RelationRelationId, pg_sys::RowExclusiveLock as i32);
        let tup = pg_sys::SearchSysCacheCopy(pg_sys::SysCacheIdentifier::RELOID as i32, relid.into_datum().unwrap(), 0.into(), 0.into(), 0.into());
        if tup.is_null() {
            raise(PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE, format!("relation {relid:?} vanished while setting options"));
        }
        let natts = (*(*classrel).rd_att).natts as usize;
        let mut values = vec![pg_sys::Datum::from(0); natts];
        let mut nulls = vec![false; natts];
        let mut repl = vec![false; natts];
        let i = pg_sys::Anum_pg_class_reloptions as usize - 1;
        repl[i] = true;
        if items.is_empty() {
            nulls[i] = true;
        } else {
            values[i] = items.into_datum().unwrap();
        }
        let newtup = pg_sys::heap_modify_tuple(tup, (*classrel).rd_att, values.as_mut_ptr(), nulls.as_mut_ptr(), repl.as_mut_ptr());
        pg_sys::CatalogTupleUpdate(classrel, &mut (*newtup).t_self, newtup);
        pg_sys::heap_freetuple(newtup);
        pg_sys::table_close(classrel, pg_sys::RowExclusiveLock as i32);
        pg_sys::CommandCounterIncrement();
    }
}
