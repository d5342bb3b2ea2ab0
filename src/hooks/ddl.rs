//! What the ProcessUtility handlers (utility.rs, alter.rs) share: the next hook in the
//! chain and the statement's arguments to pass on, and our options taken out of a
//! statement's WITH (...) list.

use crate::error::{raise, raise_with_hint};
use crate::ffi::{cstr, list_ptrs};
use crate::options;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// The ProcessUtility hook installed before ours (utility::install sets it).
pub static mut PREV: pg_sys::ProcessUtility_hook_type = None;

pub type Args = (
    *mut pg_sys::PlannedStmt,
    *const std::ffi::c_char,
    bool,
    pg_sys::ProcessUtilityContext::Type,
    pg_sys::ParamListInfo,
    *mut pg_sys::QueryEnvironment,
    *mut pg_sys::DestReceiver,
    *mut pg_sys::QueryCompletion,
);

pub unsafe fn run_next(a: Args) {
    // SAFETY: forwards the arguments Postgres gave us.
    unsafe {
        match PREV {
            Some(prev) => prev(a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7),
            None => pg_sys::standard_ProcessUtility(a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7),
        }
    }
}

/// Options that take a list of columns: bare names after them continue the list.
const COLUMN_LISTS: [&str; 2] = ["order_by", "primary_key"];

/// Splits DefElems into mergetree options and the rest (which stay in the statement).
/// Values are taken as given or, when they arrive as a quoted literal (pg_dump quotes
/// the stored literal form once more), without one layer of quotes. A bare name after a
/// column-list option (`order_by = org, ts`, as tools that re-emit reloptions unquoted
/// write it) continues that list.
pub unsafe fn take_options(table: &str, list: *mut pg_sys::List, is_reset: bool) -> (Vec<(String, Option<String>)>, *mut pg_sys::List) {
    let mut ours: Vec<(String, Option<String>)> = Vec::new();
    let mut rest: *mut pg_sys::List = std::ptr::null_mut();
    // SAFETY: `list` is a List of DefElem.
    unsafe {
        for def in list_ptrs::<pg_sys::DefElem>(list) {
            let name = cstr((*def).defname).unwrap_or_default();
            let has_ns = !(*def).defnamespace.is_null();
            let bare = (*def).arg.is_null();
            if !has_ns && options::is_option(&name) {
                let v = if is_reset || bare { None } else { cstr(pg_sys::defGetString(def)).map(|v| options::unquote(&v)) };
                if !is_reset && v.is_none() {
                    raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("option \"{name}\" of mergetree table \"{table}\" needs a value"));
                }
                if ours.iter().any(|(n, _)| *n == name) {
                    raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("option \"{name}\" of mergetree table \"{table}\" is given more than once"));
                }
                ours.push((name, v));
            } else if has_ns || name.starts_with("autovacuum") {
                rest = pg_sys::lappend(rest, def.cast());
            } else if let Some((_, Some(v))) = ours.last_mut().filter(|(n, v)| bare && !is_reset && v.is_some() && COLUMN_LISTS.contains(&n.as_str())) {
                v.push_str(", ");
                v.push_str(&crate::ffi::quote_ident(&name));
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

pub unsafe fn range_var_oid(rv: *mut pg_sys::RangeVar) -> pg_sys::Oid {
    // SAFETY: rv is a parsed RangeVar.
    unsafe { pg_sys::RangeVarGetRelidExtended(rv, pg_sys::NoLock as i32, pg_sys::RVROption::RVR_MISSING_OK, None, std::ptr::null_mut()) }
}

