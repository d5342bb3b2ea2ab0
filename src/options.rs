//! Table options (`WITH (order_by = ..., ...)`): parsing, validation against the table,
//! and reading them back from `pg_class.reloptions`, where they live so that `\d+` shows
//! them and pg_dump keeps them.

use crate::datum::TablePlan;
use crate::error::{raise, raise_with_hint};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::{CStr, CString};

pub const OPTION_NAMES: [&str; 5] = ["order_by", "primary_key", "partition_by", "index_granularity", "index_granularity_bytes"];
/// Options that only affect parts written from now on, so ALTER TABLE SET may change them.
pub const ALTERABLE: [&str; 2] = ["index_granularity", "index_granularity_bytes"];

#[derive(Clone, Debug, Default)]
pub struct TableOptions {
    pub order_by: Vec<String>,
    pub primary_key: Vec<String>,
    pub partition_by: Option<String>,
    pub index_granularity: usize,
    pub index_granularity_bytes: usize,
}

pub fn is_option(name: &str) -> bool {
    OPTION_NAMES.contains(&name)
}

fn parse_number(table: &str, name: &str, v: &str, min: i64, max: i64) -> usize {
    match v.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => n as usize,
        _ => raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("invalid value for option \"{name}\" of mergetree table \"{table}\": \"{v}\" (expected an integer from {min} to {max})"),
        ),
    }
}

/// Splits an identifier list like `a, "B c", d` the way Postgres does (quotes, case folding).
pub fn split_identifiers(table: &str, name: &str, v: &str) -> Vec<String> {
    if v.trim().is_empty() {
        return Vec::new();
    }
    let c = CString::new(v).unwrap_or_default();
    // SAFETY: SplitIdentifierString edits a palloc'd copy and returns pointers into it.
    unsafe {
        let raw = pg_sys::pstrdup(c.as_ptr());
        let mut list: *mut pg_sys::List = std::ptr::null_mut();
        if !pg_sys::SplitIdentifierString(raw, b',' as std::ffi::c_char, &mut list) {
            raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("invalid column list in option \"{name}\" of mergetree table \"{table}\": \"{v}\""),
            );
        }
        crate::hooks::list_ptrs::<std::ffi::c_char>(list).into_iter().map(|p| CStr::from_ptr(p).to_string_lossy().into_owned()).collect()
    }
}

/// Parses option values given as (name, value) pairs; unknown names are errors.
pub fn parse(table: &str, defs: &[(String, String)]) -> TableOptions {
    let mut o = TableOptions { index_granularity: 8192, index_granularity_bytes: 10 << 20, ..Default::default() };
    for (name, v) in defs {
        match name.as_str() {
            "order_by" => o.order_by = split_identifiers(table, name, v),
            "primary_key" => o.primary_key = split_identifiers(table, name, v),
            "partition_by" => o.partition_by = Some(v.clone()).filter(|s| !s.trim().is_empty()),
            "index_granularity" => o.index_granularity = parse_number(table, name, v, 1, 1 << 20),
            "index_granularity_bytes" => o.index_granularity_bytes = parse_number(table, name, v, 1024, 1 << 30),
            other => raise_with_hint(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("unknown option \"{other}\" for mergetree table \"{table}\""),
                format!("Valid options are: {}.", OPTION_NAMES.join(", ")),
            ),
        }
    }
    if o.primary_key.is_empty() {
        o.primary_key = o.order_by.clone();
    }
    o
}

/// Checks options against the table's columns; raises a clear error on any problem.
///
/// # Safety
/// `rel` is open.
pub unsafe fn validate(rel: pg_sys::Relation, table: &str, o: &TableOptions, plan: &TablePlan) {
    for (opt, cols) in [("order_by", &o.order_by), ("primary_key", &o.primary_key)] {
        for c in cols {
            let Some(i) = plan.index_of_name(c) else {
                raise_with_hint(
                    PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
                    format!("column \"{c}\" named in option \"{opt}\" does not exist in mergetree table \"{table}\""),
                    format!("Columns are: {}.", plan.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")),
                );
            };
            let col = &plan.columns[i];
            // SAFETY: type cache lookup.
            let cmp = unsafe { (*pg_sys::lookup_type_cache(col.typid, pg_sys::TYPECACHE_CMP_PROC as i32)).cmp_proc };
            if cmp == pg_sys::InvalidOid {
                raise(
                    PgSqlErrorCode::ERRCODE_UNDEFINED_FUNCTION,
                    format!("column \"{c}\" of mergetree table \"{table}\" cannot be in \"{opt}\": its type has no default btree ordering"),
                );
            }
        }
    }
    if o.primary_key.len() > o.order_by.len() || o.primary_key.iter().zip(&o.order_by).any(|(a, b)| a != b) {
        raise_with_hint(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("primary_key of mergetree table \"{table}\" must be a prefix of order_by"),
            format!("order_by is ({}), primary_key is ({}).", o.order_by.join(", "), o.primary_key.join(", ")),
        );
    }
    if let Some(expr) = &o.partition_by {
        // SAFETY: rel is open; compiling validates and raises on error.
        unsafe { crate::write::partition::compile(rel, table, expr) };
    }
}

/// `name=value` pairs stored in `pg_class.reloptions` for `relid`.
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
                    out.push((k.to_string(), v.to_string()));
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
    let (relid, table, new_in_xact) = unsafe { ((*rel).rd_id, crate::am::relname(rel), (*rel).rd_createSubid != 0) };
    let mut defs: Vec<(String, String)> = stored_defs(relid).into_iter().filter(|(k, _)| is_option(k)).collect();
    if defs.is_empty() && new_in_xact {
        if let Some(p) = PENDING.with(|p| p.borrow().clone()) {
            defs = p;
        }
    }
    parse(&table, &defs)
}

/// Writes `defs` into `pg_class.reloptions` of `relid`, replacing same-named entries
/// (`None` value removes the option). No validation by heap's option parser happens here.
pub fn store(relid: pg_sys::Oid, defs: &[(String, Option<String>)]) {
    let mut current = stored_defs(relid);
    for (k, v) in defs {
        current.retain(|(ck, _)| ck != k);
        if let Some(v) = v {
            current.push((k.clone(), v.clone()));
        }
    }
    let items: Vec<String> = current.iter().map(|(k, v)| format!("{k}={v}")).collect();
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
