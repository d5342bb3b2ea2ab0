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

unsafe extern "C-unwind" {
    /// tcop/utility.h, declared without pgrx's guard: an ERROR it raises must reach
    /// Postgres' own handler as raised (see `run_next`).
    #[link_name = "standard_ProcessUtility"]
    fn standard_process_utility_unguarded(
        pstmt: *mut pg_sys::PlannedStmt,
        query: *const std::ffi::c_char,
        read_only: bool,
        context: pg_sys::ProcessUtilityContext::Type,
        params: pg_sys::ParamListInfo,
        env: *mut pg_sys::QueryEnvironment,
        dest: *mut pg_sys::DestReceiver,
        qc: *mut pg_sys::QueryCompletion,
    );
}

/// Runs the statement: the next ProcessUtility hook, or Postgres' own. Called without
/// any guard and from a frame that owns nothing to drop, so an ERROR the statement raises
/// (any DDL, COPY, DO, a function it calls) long-jumps straight to Postgres' handler with
/// every field it carries: cursor position, CONTEXT lines, schema/table/constraint names.
/// (pgrx's guard would catch it and raise a new error with the message, detail and hint
/// alone, for every utility statement of the cluster, since the library is preloaded.)
///
/// # Safety
/// The caller's frames up to Postgres own nothing that needs dropping.
pub unsafe fn run_next(a: Args) {
    // SAFETY: forwards the arguments Postgres gave us.
    unsafe {
        match PREV {
            Some(prev) => prev(a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7),
            None => standard_process_utility_unguarded(a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7),
        }
    }
}

/// What a handler does after the statement ran (its half before ran already).
pub enum After {
    /// CREATE TABLE [AS] of a mergetree table: store the options taken out of it.
    NewTable { relation: *mut pg_sys::RangeVar, defs: Vec<(String, Option<String>)> },
    /// ALTER TABLE of a mergetree table (alter.rs).
    Alter(super::alter::AlterAfter),
    /// Column renames: options follow.
    Rename(crate::options::RenameTracker),
    /// A statement that may have given tables new storage: forget the old storage's parts.
    Purge,
}

/// A handler's plan for one statement: whether the statement still has anything for
/// Postgres to run, and what to do afterwards.
pub struct Handled {
    pub run: bool,
    pub after: Option<After>,
}

/// Heap's own table options (PostgreSQL 15), passed through to Postgres with a mergetree
/// table: `autovacuum_*` steer autovacuum, `parallel_workers` the planner; the others have
/// no effect on parts but are accepted, as tools and dumps of heap tables use them.
fn is_heap_option(name: &str) -> bool {
    name.starts_with("autovacuum_")
        || matches!(
            name,
            "fillfactor" | "toast_tuple_target" | "parallel_workers" | "log_autovacuum_min_duration" | "user_catalog_table" | "vacuum_index_cleanup" | "vacuum_truncate"
        )
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
            if is_reset && !bare {
                raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, "RESET must not include values for parameters".into());
            }
            if !has_ns && options::is_option(&name) {
                let v = if is_reset || bare { None } else { cstr(pg_sys::defGetString(def)).map(|v| options::unquote(&v)) };
                if !is_reset && v.is_none() {
                    raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("option \"{name}\" of mergetree table \"{table}\" needs a value"));
                }
                if ours.iter().any(|(n, _)| *n == name) {
                    raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("option \"{name}\" of mergetree table \"{table}\" is given more than once"));
                }
                ours.push((name, v));
            } else if has_ns || is_heap_option(&name) {
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

