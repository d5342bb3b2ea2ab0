//! Background merges: a launcher (one static worker, connected to no database) starts
//! merge workers, at most `mergetree.max_merge_workers` at once over all databases, each
//! for one database: it merges what the merge selector finds worth merging, one merge
//! per transaction, until nothing is left, then exits. The launcher looks at each
//! database again a little later. Needs `shared_preload_libraries` (already required).

pub mod launcher;
pub mod worker;

use pgrx::bgworkers::{BackgroundWorkerBuilder, BgWorkerStartTime};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgAtomic;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// A database whose inserts pile up parts while none of its merge workers runs (0: none):
/// the launcher starts one at its next tick instead of waiting for the database's turn.
// SAFETY: the name is this extension's own.
static WANTED: PgAtomic<AtomicU32> = unsafe { PgAtomic::new(c"pg_mergetree merge wanted") };
/// Set in the postmaster (inherited by every backend) once the shared memory is asked for.
static READY: AtomicBool = AtomicBool::new(false);

/// Asks for a merge worker in this backend's database soon (an insert found a partition's
/// parts piling up; a worker already merging there makes this a no-op).
pub fn want_worker() {
    if READY.load(Ordering::Relaxed) {
        // SAFETY: reads this backend's database id.
        WANTED.get().store(unsafe { pg_sys::MyDatabaseId }.to_u32(), Ordering::Relaxed);
    }
}

/// The database that asked for a worker since the last look, if any.
fn take_wanted() -> Option<pg_sys::Oid> {
    let db = WANTED.get().swap(0, Ordering::Relaxed);
    (db != 0).then(|| pg_sys::Oid::from(db))
}

/// The background worker type merge workers show in pg_stat_activity.
pub const WORKER_TYPE: &str = "pg_mergetree merge worker";

/// Registers the launcher; called from _PG_init while the postmaster loads the library.
pub fn register() {
    // SAFETY: reads a flag the postmaster sets while loading preloaded libraries.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    pgrx::pg_shmem_init!(WANTED);
    READY.store(true, Ordering::Relaxed);
    BackgroundWorkerBuilder::new("pg_mergetree merge launcher")
        .set_type("pg_mergetree merge launcher")
        .set_library("pg_mergetree")
        .set_function("mergetree_merge_launcher_main")
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(Some(std::time::Duration::from_secs(5)))
        .load();
}

/// Stops this cluster's merge workers connected to database `dboid` (before DROP DATABASE
/// and the commands that need a database nobody is connected to), and waits a little for
/// them to go: their merges roll back.
pub fn stop_workers_in(dboid: pg_sys::Oid) {
    // SAFETY: reads this backend's snapshot of the activity of all backends, and signals
    // only merge workers of the given database, which exit on SIGTERM.
    unsafe {
        for _ in 0..50 {
            let mut found = false;
            pg_sys::pgstat_clear_snapshot();
            let n = pg_sys::pgstat_fetch_stat_numbackends();
            for i in 1..=n {
                let entry = pg_sys::pgstat_fetch_stat_local_beentry(i);
                if entry.is_null() {
                    continue;
                }
                let be = &(*entry).backendStatus;
                if be.st_databaseid != dboid || be.st_backendType != pg_sys::BackendType::B_BG_WORKER {
                    continue;
                }
                let ty = pg_sys::GetBackgroundWorkerTypeByPid(be.st_procpid);
                if ty.is_null() || std::ffi::CStr::from_ptr(ty).to_bytes() != WORKER_TYPE.as_bytes() {
                    continue;
                }
                found = true;
                libc::kill(be.st_procpid, libc::SIGTERM);
            }
            if !found {
                return;
            }
            pg_sys::pg_usleep(100_000);
            pgrx::check_for_interrupts!();
        }
    }
}
