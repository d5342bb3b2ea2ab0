//! pg_mergetree: ClickHouse's MergeTree as a PostgreSQL table access method.
//!
//! This crate is the thin Postgres layer. The engine (`mergetree` crate) owns columns,
//! codecs and the part format; here we wire it into the table AM API, the relation's
//! pages and WAL, the part catalog, transactions and DDL.

use pgrx::prelude::*;

mod am;
mod api;
mod catalog;
mod datum;
mod error;
mod gucs;
mod hooks;
mod options;
mod scan;
mod storage;
mod write;

pgrx::pg_module_magic!();


extension_sql_file!("../sql/catalog.sql", name = "catalog", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
    hooks::init();
    // SAFETY: registers static methods once per backend, so plans can name the node.
    unsafe { pgrx::pg_sys::RegisterCustomScanMethods(&raw const scan::path::SCAN_METHODS) };
    write::xact::init();
}

#[cfg(any(test, feature = "pg_test"))]
mod pg_tests;

/// Used by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["shared_preload_libraries = 'pg_mergetree'"]
    }
}
