//! pg_mergetree: ClickHouse's MergeTree as a PostgreSQL table access method.
//!
//! This crate is the thin Postgres layer. The engine (`mergetree` crate) owns columns,
//! codecs and the part format; here we wire it into the table AM API, the relation's
//! pages and WAL, the part catalog, transactions and DDL.

use pgrx::prelude::*;

mod am;
mod api;
mod approx;
mod background;
mod catalog;
mod datum;
mod error;
mod ffi;
mod gucs;
mod hooks;
mod options;
mod scan;
mod skip;
mod storage;
mod write;

pgrx::pg_module_magic!();


extension_sql_file!("../sql/catalog.sql", name = "catalog", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // Scans decode granules into buffers of a few hundred kB to a few MB, freed at once.
    // glibc would map and unmap each (a page fault per 4 kB touched, a fifth of a point
    // query's time); keeping them in the heap lets the next granule reuse the memory.
    // Larger allocations (insert buffers) still get their own mappings and go back to the
    // system when freed, so a bulk load's memory stays bounded.
    // SAFETY: mallopt only tunes the allocator's thresholds.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
    }
    // pgrx captures a Rust backtrace with every error when RUST_BACKTRACE is set in the
    // server's environment and puts it into the error's DETAIL: twenty frames of noise in
    // a user's error. RUST_LIB_BACKTRACE takes precedence for captured backtraces (panic
    // messages in the server log keep following RUST_BACKTRACE). Set while the process
    // is single-threaded (the postmaster loading preloaded libraries, or a backend
    // starting), before anything captures one.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    gucs::init();
    hooks::init();
    // SAFETY: registers static methods once per backend, so plans can name the node.
    unsafe {
        pgrx::pg_sys::RegisterCustomScanMethods(&raw const scan::path::SCAN_METHODS);
        pgrx::pg_sys::RegisterCustomScanMethods(&raw const scan::agg::path::SCAN_METHODS);
    }
    write::xact::init();
    write::progress::init();
    background::register();
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
