//! Raising Postgres errors: every error names the table and, where it helps, what to do.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

/// Raises an ERROR for an engine error on `table`.
pub fn report(table: &str, err: mergetree::Error) -> ! {
    match err {
        mergetree::Error::Corrupt { .. } => raise_with_hint(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("mergetree table \"{table}\": {err}"),
            format!("The table's stored data is damaged; restore it from a backup or a replica. Run SELECT * FROM mergetree.verify('{table}') to list damaged parts."),
        ),
        mergetree::Error::Unsupported(_) => raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("mergetree table \"{table}\": {err}"),
        ),
        // Postgres' own message, as its function would raise it.
        mergetree::Error::OutOfRange(msg) => raise(PgSqlErrorCode::ERRCODE_DATETIME_FIELD_OVERFLOW, msg),
        mergetree::Error::NumericRange(msg) => raise(PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, msg),
        mergetree::Error::DivisionByZero => raise(PgSqlErrorCode::ERRCODE_DIVISION_BY_ZERO, err.to_string()),
        // Callers that compute in the engine fall back before this; reaching here is a bug.
        mergetree::Error::Inexact(_) => raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("mergetree table \"{table}\": {err}")),
        mergetree::Error::Invalid(_) => raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("mergetree table \"{table}\": {err}"),
        ),
    }
}

pub fn raise(code: PgSqlErrorCode, msg: String) -> ! {
    ErrorReport::new(code, msg, "pg_mergetree").report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

pub fn raise_with_hint(code: PgSqlErrorCode, msg: String, hint: String) -> ! {
    ErrorReport::new(code, msg, "pg_mergetree").set_hint(hint).report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// An operation mergetree tables do not support (yet).
pub fn unsupported(table: &str, what: &str, hint: &str) -> ! {
    raise_with_hint(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, format!("{what} is not supported on mergetree table \"{table}\""), hint.to_string())
}
