//! Running merges, in shared memory (ClickHouse's system.merges): each merge, foreground
//! or background, holds a slot while it runs and updates its progress once per batch;
//! `mergetree.merges` lists them. A process that dies mid-merge leaves its slot behind:
//! readers skip, and writers reuse, slots whose process is gone.

use pgrx::lwlock::PgLwLock;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::shmem::PGRXSharedMemory;
use std::sync::atomic::{AtomicBool, Ordering};

const SLOTS: usize = 64;
const PARTITION_BYTES: usize = 64;

#[derive(Copy, Clone)]
pub struct Slot {
    pid: i32,
    dboid: u32,
    relid: u32,
    parts: u32,
    background: bool,
    rows_done: u64,
    rows_total: u64,
    memory: u64,
    started: i64,
    partition_len: u8,
    partition: [u8; PARTITION_BYTES],
}

#[derive(Copy, Clone)]
pub struct Slots([Slot; SLOTS]);

impl Default for Slots {
    fn default() -> Self {
        Slots([Slot { pid: 0, dboid: 0, relid: 0, parts: 0, background: false, rows_done: 0, rows_total: 0, memory: 0, started: 0, partition_len: 0, partition: [0; PARTITION_BYTES] }; SLOTS])
    }
}

// SAFETY: plain old data, no pointers.
unsafe impl PGRXSharedMemory for Slots {}

// SAFETY: the name is this extension's own.
static STATE: PgLwLock<Slots> = unsafe { PgLwLock::new(c"pg_mergetree merges") };
/// Set in the postmaster (inherited by every backend) once the shared memory is asked for.
static READY: AtomicBool = AtomicBool::new(false);

/// Asks for the shared memory; called from _PG_init while preloading.
pub fn init() {
    // SAFETY: reads a flag the postmaster sets while loading preloaded libraries.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        pgrx::pg_shmem_init!(STATE);
        READY.store(true, Ordering::Relaxed);
    }
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

thread_local! {
    /// The table the running statement may rewrite (ALTER TABLE, VACUUM FULL, CLUSTER).
    static REWRITING: std::cell::Cell<Option<pg_sys::Oid>> = const { std::cell::Cell::new(None) };
}

/// The statement about to run may rewrite table `relid` (None: it ended): whole-table
/// reads of it report their progress in `mergetree.merges` (partition "(rewrite)").
pub fn rewriting(relid: Option<pg_sys::Oid>) {
    REWRITING.with(|r| r.set(relid));
}

/// A progress slot for a read of `relid` of `rows_total` rows, when it is being rewritten.
pub fn rewrite_progress(relid: pg_sys::Oid, rows_total: u64) -> Option<Progress> {
    REWRITING.with(|r| r.get() == Some(relid)).then(|| Progress::start(relid, "(rewrite)", 0, rows_total, false))
}

/// A merge's slot, given back on drop.
pub struct Progress {
    slot: Option<usize>,
}

impl Progress {
    pub fn start(relid: pg_sys::Oid, partition: &str, parts: usize, rows_total: u64, background: bool) -> Progress {
        if !READY.load(Ordering::Relaxed) {
            return Progress { slot: None };
        }
        // SAFETY: reads this backend's identity and the clock.
        let (pid, dboid, now) = unsafe { (pg_sys::MyProcPid, pg_sys::MyDatabaseId.to_u32(), pg_sys::GetCurrentTimestamp()) };
        let mut state = STATE.exclusive();
        let free = state.0.iter().position(|s| s.pid == 0 || s.pid == pid || !alive(s.pid));
        let Some(i) = free else { return Progress { slot: None } };
        let mut p = [0u8; PARTITION_BYTES];
        let n = partition.len().min(PARTITION_BYTES);
        p[..n].copy_from_slice(&partition.as_bytes()[..n]);
        state.0[i] = Slot { pid, dboid, relid: relid.to_u32(), parts: parts as u32, background, rows_done: 0, rows_total, memory: 0, started: now, partition_len: n as u8, partition: p };
        Progress { slot: Some(i) }
    }

    pub fn update(&self, rows_done: u64, memory: u64) {
        if let Some(i) = self.slot {
            let mut state = STATE.exclusive();
            state.0[i].rows_done = rows_done;
            state.0[i].memory = memory;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // While an error unwinds the lock manager may be mid-cleanup; the slot's process
        // check frees it later instead.
        if let (Some(i), false) = (self.slot, std::thread::panicking()) {
            STATE.exclusive().0[i].pid = 0;
        }
    }
}

/// The merges running in this database on tables the user may read.
#[pg_extern]
#[allow(clippy::type_complexity)]
fn merges_list() -> TableIterator<
    'static,
    (
        name!(table_name, pg_sys::Oid),
        name!(partition, String),
        name!(parts, i32),
        name!(rows_done, i64),
        name!(rows_total, i64),
        name!(elapsed_seconds, f64),
        name!(memory_bytes, i64),
        name!(pid, i32),
        name!(background, bool),
    ),
> {
    let mut rows = Vec::new();
    if READY.load(Ordering::Relaxed) {
        // SAFETY: reads this backend's database and the clock.
        let (db, now) = unsafe { (pg_sys::MyDatabaseId.to_u32(), pg_sys::GetCurrentTimestamp()) };
        let slots: Vec<Slot> = STATE.share().0.iter().filter(|s| s.pid != 0 && s.dboid == db).copied().collect();
        for s in slots.into_iter().filter(|s| alive(s.pid)) {
            let relid = pg_sys::Oid::from(s.relid);
            // SAFETY: a privilege check on a relation that may be gone (then it is skipped).
            let readable = unsafe {
                pg_sys::SearchSysCacheExists(pg_sys::SysCacheIdentifier::RELOID as i32, pg_sys::Datum::from(relid), 0.into(), 0.into(), 0.into())
                    && pg_sys::pg_class_aclcheck(relid, pg_sys::GetUserId(), pg_sys::ACL_SELECT as pg_sys::AclMode) == pg_sys::AclResult::ACLCHECK_OK
            };
            if !readable {
                continue;
            }
            let partition = String::from_utf8_lossy(&s.partition[..s.partition_len as usize]).into_owned();
            rows.push((relid, partition, s.parts as i32, s.rows_done as i64, s.rows_total as i64, (now - s.started) as f64 / 1e6, s.memory as i64, s.pid, s.background));
        }
    }
    TableIterator::new(rows)
}
