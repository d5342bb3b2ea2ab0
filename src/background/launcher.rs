//! The merge launcher: every tick, starts merge workers for databases whose turn has
//! come, at most `mergetree.max_merge_workers` running at once. A database's turn comes
//! `RECHECK` after its last worker ended (a worker ends when nothing is left to merge),
//! so a database without mergetree tables costs a connection every few seconds; one with
//! a worker still busy after `RECHECK` gets another (they skip each other's parts).

use super::WORKER_TYPE;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, DynamicBackgroundWorker, SignalWakeFlags};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often the launcher looks at its workers and the databases.
const TICK: Duration = Duration::from_millis(250);
/// How long after its last worker ended a database gets another.
const RECHECK: Duration = Duration::from_secs(2);
/// How long a database's worker runs before inserts piling up parts get it a second one.
const SECOND_WORKER_AFTER: Duration = Duration::from_secs(1);

/// The databases merge workers may connect to: not templates, accepting connections.
///
/// # Safety
/// Called in a transaction of a backend that may read shared catalogs.
unsafe fn databases() -> Vec<pg_sys::Oid> {
    let mut out = Vec::new();
    // SAFETY: per the caller.
    unsafe {
        crate::ffi::for_each_catalog_row(pg_sys::DatabaseRelationId, |db: &pg_sys::FormData_pg_database| {
            if db.datallowconn && !db.datistemplate {
                out.push(db.oid);
            }
        });
    }
    out
}

fn start_worker(dboid: pg_sys::Oid) -> Option<DynamicBackgroundWorker> {
    BackgroundWorkerBuilder::new(WORKER_TYPE)
        .set_type(WORKER_TYPE)
        .set_library("pg_mergetree")
        .set_function("mergetree_merge_worker_main")
        .set_argument(Some(pg_sys::Datum::from(dboid)))
        .enable_spi_access()
        .set_restart_time(None)
        // SAFETY: reads this process' pid.
        .set_notify_pid(unsafe { pg_sys::MyProcPid })
        .load_dynamic()
        .ok()
}

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn mergetree_merge_launcher_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    BackgroundWorker::connect_worker_to_spi(None, None);
    let mut running: Vec<(pg_sys::Oid, DynamicBackgroundWorker)> = Vec::new();
    let mut next_turn: HashMap<pg_sys::Oid, Instant> = HashMap::new();
    let mut last_start: HashMap<pg_sys::Oid, Instant> = HashMap::new();
    let mut rotate = 0usize;
    while BackgroundWorker::wait_latch(Some(TICK)) {
        if BackgroundWorker::sighup_received() {
            // SAFETY: reloads the configuration file, as any backend does on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        let now = Instant::now();
        running.retain(|(db, w)| {
            let alive = w.pid().is_ok() || matches!(w.pid(), Err(pgrx::bgworkers::BackgroundWorkerStatus::NotYetStarted));
            if !alive {
                next_turn.insert(*db, now + RECHECK);
            }
            alive
        });
        // A database whose inserts pile up parts gets a worker now, another one too when
        // its worker is busy (a long merge of big parts holds it while small parts pile
        // up; workers skip each other's parts).
        if let Some(db) = super::take_wanted() {
            let busy = running.iter().any(|(d, _)| *d == db);
            if !busy || last_start.get(&db).is_none_or(|t| now.duration_since(*t) >= SECOND_WORKER_AFTER) {
                next_turn.remove(&db);
                last_start.remove(&db);
            }
        }
        let limit = if crate::gucs::BACKGROUND_MERGES.get() { crate::gucs::MAX_MERGE_WORKERS.get().max(0) as usize } else { 0 };
        if running.len() >= limit {
            continue;
        }
        // SAFETY: a short transaction of its own to read pg_database.
        let dbs = unsafe {
            pg_sys::StartTransactionCommand();
            let dbs = databases();
            pg_sys::CommitTransactionCommand();
            dbs
        };
        rotate = rotate.wrapping_add(1);
        for k in 0..dbs.len() {
            if running.len() >= limit {
                break;
            }
            let db = dbs[(k + rotate) % dbs.len()];
            if next_turn.get(&db).is_some_and(|t| *t > now) || last_start.get(&db).is_some_and(|t| now.duration_since(*t) < RECHECK) {
                continue;
            }
            match start_worker(db) {
                Some(w) => {
                    running.push((db, w));
                    last_start.insert(db, now);
                }
                // No free worker slot (max_worker_processes): try again later.
                None => {
                    next_turn.insert(db, now + RECHECK);
                    break;
                }
            }
        }
    }
}
