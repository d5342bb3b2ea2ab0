//! A merge worker: connected to one database, it merges, one merge per transaction, what
//! the merge selector finds worth merging in any mergetree table; with nothing left it
//! looks again every POLL_MS and leaves after LINGER idle (at once if it merged nothing).
//! Parts another merge claimed are skipped, tables whose lock is taken are skipped, and a
//! merge gives way (rolls back) when DDL wants the table. Merges run as the table's owner
//! in a security-restricted operation, as autovacuum does: the only user code they call
//! is the key types' comparison functions.

use crate::catalog::{self, PartRow};
use crate::write::merge::{merge_parts, partitions, select_within, NotMerged, MERGE_LOCK};
use crate::write::relocate::{self, Moved};
use pgrx::pg_sys;
use pgrx::prelude::*;

/// The mergetree tables of the current database (not other sessions' temporary ones).
///
/// # Safety
/// Called in a transaction.
unsafe fn mergetree_tables() -> Vec<pg_sys::Oid> {
    let am = crate::ffi::am_oid();
    let mut out = Vec::new();
    if am == pg_sys::InvalidOid {
        return out;
    }
    // SAFETY: per the caller.
    unsafe {
        crate::ffi::for_each_catalog_row(pg_sys::RelationRelationId, |c: &pg_sys::FormData_pg_class| {
            if c.relam == am && c.relkind == pg_sys::RELKIND_RELATION as i8 && c.relpersistence != pg_sys::RELPERSISTENCE_TEMP as i8 {
                out.push(c.oid);
            }
        });
    }
    out
}

/// How long a worker reuses its list of the database's mergetree tables: a round comes
/// every few milliseconds while small inserts stream in, and a table created meanwhile
/// waits at most this long for its first merge.
const TABLES_TTL: std::time::Duration = std::time::Duration::from_secs(1);

thread_local! {
    static TABLES: std::cell::RefCell<Option<(std::time::Instant, Vec<pg_sys::Oid>)>> = const { std::cell::RefCell::new(None) };
}

/// `mergetree_tables()`, read again once TABLES_TTL old (a dropped table is skipped
/// where it fails to open).
///
/// # Safety
/// Called in a transaction.
unsafe fn cached_tables() -> Vec<pg_sys::Oid> {
    if let Some(t) = TABLES.with(|t| t.borrow().as_ref().filter(|(at, _)| at.elapsed() < TABLES_TTL).map(|(_, v)| v.clone())) {
        return t;
    }
    // SAFETY: per the caller.
    let tables = unsafe { mergetree_tables() };
    TABLES.with(|t| *t.borrow_mut() = Some((std::time::Instant::now(), tables.clone())));
    tables
}

/// The next run of parts worth merging in `group` that no other merge holds, claimed by
/// this transaction. A run another merge claimed splits the group: the selector looks at
/// the parts before and after it.
fn claim_next(group: &[PartRow], now: i64, options: &crate::options::TableOptions, room: u64) -> Option<Vec<PartRow>> {
    let mut segments: Vec<&[PartRow]> = vec![group];
    while let Some(seg) = segments.pop() {
        let Some((start, end)) = select_within(seg, false, now, options, room) else { continue };
        if catalog::claim(&seg[start..end], false) {
            return Some(seg[start..end].to_vec());
        }
        segments.push(&seg[..start]);
        segments.push(&seg[end..]);
    }
    None
}

/// Whether no writer (DELETE, UPDATE) holds the table: a merge installs under the
/// writers' lock, so one started while a writer runs would only be thrown away.
fn writers_idle(relid: pg_sys::Oid) -> bool {
    let lock = crate::write::dml::WRITER_LOCK as i32;
    // SAFETY: a lock tried and, when got, let go at once (nothing was done under it).
    unsafe {
        if !pg_sys::ConditionalLockRelationOid(relid, lock) {
            return false;
        }
        pg_sys::UnlockRelationOid(relid, lock);
    }
    true
}

/// A part worth rewriting alone for its deleted rows (see
/// `mergetree.rewrite_deleted_percent`), claimed by this transaction.
fn claim_deleted(visible: &[PartRow]) -> Option<Vec<PartRow>> {
    let percent = crate::gucs::REWRITE_DELETED_PERCENT.get() as i64;
    let due = |p: &PartRow| p.deleted.as_ref().is_some_and(|d| d.len() as i64 * 100 >= percent * p.rows);
    visible.iter().filter(|p| !p.mine && due(p)).map(|p| vec![p.clone()]).find(|run| catalog::claim(run, false))
}

/// The TTL pass over a table with nothing to merge: its parts entirely past the TTL
/// (every row's TTL, by the column's largest value, has passed) are dropped without being
/// read; else one part partly past it (by its smallest value) is rewritten without those
/// rows, at most once a TTL_REWRITE_EVERY per table (rows keep expiring as time goes
/// on). None when there was nothing to do or another merge holds the parts; Some(false)
/// when a rewrite gave way to DDL.
///
/// # Safety
/// `rel` is open and locked as merges lock it, in the worker's transaction.
unsafe fn ttl_step(rel: pg_sys::Relation, plan: &crate::datum::TablePlan, options: &crate::options::TableOptions, visible: &[PartRow]) -> Option<bool> {
    // SAFETY: per the caller.
    unsafe {
        let mut ttl = crate::write::ttl::Ttl::new(rel, plan, options.ttl.as_deref())?;
        let relid = (*rel).rd_id;
        let (mut gone, mut partly) = (Vec::new(), None);
        for p in visible.iter().filter(|p| !p.mine) {
            let Ok(reader) = crate::storage::part_cache::open(rel, p) else { continue };
            // A part that predates the column holds its default for every row: left alone.
            let Some((min, max, nulls)) = ttl.part_range(reader.meta()) else { continue };
            let (min, max) = (min.to_vec(), max.to_vec());
            if nulls == 0 && ttl.expired_up_to(&max) {
                gone.push(p.clone());
            } else if partly.is_none() && ttl.expired(&min) {
                partly = Some(p.clone());
            }
        }
        if !gone.is_empty() && catalog::claim(&gone, false) {
            crate::write::merge::remove_parts(rel, &gone, "ttl", std::time::Duration::ZERO, true);
            return Some(true);
        }
        let part = partly.filter(|_| ttl_rewrite_due(relid))?;
        let run = [part];
        if !catalog::claim(&run, false) {
            return None;
        }
        TTL_REWRITES.with(|m| m.borrow_mut().insert(relid, std::time::Instant::now()));
        Some(merge_parts(rel, plan, options, &run, true, false).is_ok())
    }
}

/// How often a worker rewrites a table's parts for rows past its TTL.
const TTL_REWRITE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

thread_local! {
    static TTL_REWRITES: std::cell::RefCell<std::collections::HashMap<pg_sys::Oid, std::time::Instant>> = Default::default();
}

fn ttl_rewrite_due(relid: pg_sys::Oid) -> bool {
    TTL_REWRITES.with(|m| m.borrow().get(&relid).is_none_or(|t| t.elapsed() >= TTL_REWRITE_EVERY))
}

/// Runs `f` as the owner of `rel`, in a security-restricted operation (as autovacuum
/// runs user code): merges call the key types' comparison functions, the TTL expression
/// and aggregating tables' combine functions. An error's abort restores the user.
///
/// # Safety
/// `rel` is open, in a transaction.
unsafe fn as_owner<R>(rel: pg_sys::Relation, f: impl FnOnce() -> R) -> R {
    // SAFETY: per the caller; the saved user and context are put back below.
    unsafe {
        let (mut saved_user, mut saved_context) = (pg_sys::InvalidOid, 0);
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
        pg_sys::SetUserIdAndSecContext((*(*rel).rd_rel).relowner, saved_context | pg_sys::SECURITY_RESTRICTED_OPERATION as i32);
        let out = f();
        pg_sys::SetUserIdAndSecContext(saved_user, saved_context);
        out
    }
}

enum Step {
    Merged,
    /// DDL wants a table: its merge rolled back.
    Yielded,
    /// Nothing merged because writers (DELETE, UPDATE) held a table or changed a merge's
    /// inputs: there is work, so the worker looks again soon.
    Busy,
    Idle,
}

/// One merge, in its own transaction.
///
/// # Safety
/// Called in a merge worker connected to a database, outside a transaction.
unsafe fn merge_one() -> Step {
    // SAFETY: per the caller; the transaction is started and ended here, the snapshot
    // pushed for its duration. Each table is locked before it is opened; the lock stays
    // until the transaction ends.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        let installed = pg_sys::get_extension_oid(c"pg_mergetree".as_ptr(), true) != pg_sys::InvalidOid && catalog::is_current();
        let mut step = Step::Idle;
        let mut busy = false;
        let mut no_space = false;
        for relid in if installed { cached_tables() } else { Vec::new() } {
            if !pg_sys::ConditionalLockRelationOid(relid, MERGE_LOCK as i32) {
                continue;
            }
            let rel = pg_sys::try_relation_open(relid, pg_sys::NoLock as i32);
            if rel.is_null() {
                continue;
            }
            // From a cached list: the OID may name another relation by now.
            if (*(*rel).rd_rel).relam != crate::ffi::am_oid() || (*(*rel).rd_rel).relkind != pg_sys::RELKIND_RELATION as i8 {
                pg_sys::relation_close(rel, MERGE_LOCK as i32);
                continue;
            }
            let options = crate::options::for_relation(rel);
            let plan = crate::datum::table_plan(rel);
            if !options.background_merges || plan.columns.is_empty() {
                pg_sys::relation_close(rel, MERGE_LOCK as i32);
                continue;
            }
            if !writers_idle(relid) {
                pg_sys::relation_close(rel, MERGE_LOCK as i32);
                busy = true;
                continue;
            }
            let now = pg_sys::GetCurrentTimestamp();
            let visible = catalog::visible_parts(rel, pg_sys::GetActiveSnapshot());
            // Merges no bigger than the disk has room for (none when it is full).
            let room = crate::write::merge::merge_room(rel);
            let run = partitions(&visible).iter().find_map(|g| claim_next(g, now, &options, room)).or_else(|| claim_deleted(&visible));
            // Nothing to merge: rows past the table's TTL go, as the table's owner (the
            // expression may call its functions).
            if run.is_none() && options.ttl.is_some() {
                if let Some(done) = as_owner(rel, || ttl_step(rel, &plan, &options, &visible)) {
                    pg_sys::relation_close(rel, pg_sys::NoLock as i32);
                    step = if done { Step::Merged } else { Step::Yielded };
                    break;
                }
            }
            // Nothing to merge: the file may be worth compacting (when it holds more
            // than its parts, at most once a RECLAIM_EVERY, after the free list is
            // rebuilt).
            if run.is_none() && (!reclaim_due(relid) || !relocate::worth_a_look(rel, &visible)) {
                // The table's lock goes now, not with the transaction.
                pg_sys::relation_close(rel, MERGE_LOCK as i32);
                continue;
            }
            let worked = as_owner(rel, || match run {
                Some(run) => {
                    let activity = std::ffi::CString::new(format!("merging {} parts of {}", run.len(), crate::ffi::relname(rel))).unwrap_or_default();
                    pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_RUNNING, activity.as_ptr());
                    if reclaim_due(relid) {
                        crate::am::vacuum::reclaim(rel);
                    }
                    match merge_parts(rel, &plan, &options, &run, true, false) {
                        Ok(_) => Some(true),
                        Err(NotMerged::DdlWaits) => Some(false),
                        // No room on the disk: rolled back, and the worker waits as when
                        // idle (then leaves), rather than look again at once.
                        Err(NotMerged::NoSpace) => {
                            no_space = true;
                            Some(false)
                        }
                        // Rolled back below like a merge giving way, but the worker stays.
                        Err(NotMerged::WritersChanged) => {
                            busy = true;
                            Some(false)
                        }
                    }
                }
                None => {
                    let used = crate::am::vacuum::reclaim(rel);
                    match relocate::move_last_part(rel, &visible, &used) {
                        Moved::Nothing => None,
                        Moved::Yielded => Some(false),
                        // Its old blocks are free once this commits: the next round
                        // rebuilds the free list and cuts the file's tail.
                        Moved::Part => {
                            reclaim_now(relid);
                            Some(true)
                        }
                    }
                }
            });
            let Some(done) = worked else {
                pg_sys::relation_close(rel, MERGE_LOCK as i32);
                continue;
            };
            pg_sys::relation_close(rel, pg_sys::NoLock as i32);
            step = if done { Step::Merged } else { Step::Yielded };
            break;
        }
        pg_sys::PopActiveSnapshot();
        match step {
            Step::Yielded => pg_sys::AbortCurrentTransaction(),
            _ => pg_sys::CommitTransactionCommand(),
        }
        let step = match step {
            Step::Yielded if no_space => Step::Idle,
            Step::Idle if busy => Step::Busy,
            step => step,
        };
        pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_IDLE, std::ptr::null());
        step
    }
}

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn mergetree_merge_worker_main(arg: pg_sys::Datum) {
    // SAFETY: standard signal handling of a backend: SIGTERM (shutdown, DROP DATABASE)
    // ends the process at the next interrupt check, rolling back a merge in progress.
    unsafe {
        crate::ffi::terminate_on_sigterm();
        pg_sys::BackgroundWorkerUnblockSignals();
        pg_sys::BackgroundWorkerInitializeConnectionByOid(pg_sys::Oid::from(arg.value() as u32), pg_sys::InvalidOid, 0);
    }
    // A merge need not wait for its commit to reach disk: one lost in a crash leaves its
    // input parts in place (its own part was never visible), and the WAL that frees the
    // inputs' pages later comes after its commit record. Under many small inserts the
    // fsync per merge was most of a merge's time.
    //
    // Nothing a worker runs resolves a name through the search_path (stored expressions
    // are parsed with an empty one, functions are kept by OID or qualified name); an
    // empty path makes sure no schema a user can create in is ever searched here.
    // SAFETY: sets settings of this process, as SET would; no transaction is needed.
    unsafe {
        pg_sys::SetConfigOption(c"synchronous_commit".as_ptr(), c"off".as_ptr(), pg_sys::GucContext::PGC_SUSET, pg_sys::GucSource::PGC_S_OVERRIDE);
        pg_sys::SetConfigOption(c"search_path".as_ptr(), c"".as_ptr(), pg_sys::GucContext::PGC_SUSET, pg_sys::GucSource::PGC_S_OVERRIDE);
    }
    let mut idle_since: Option<std::time::Instant> = None;
    let mut merged_any = false;
    let mut poll_ms = MIN_POLL_MS;
    loop {
        pgrx::check_for_interrupts!();
        // SAFETY: connected, outside a transaction.
        match unsafe { merge_one() } {
            Step::Merged => {
                idle_since = None;
                merged_any = true;
                poll_ms = MIN_POLL_MS;
            }
            // DDL (or optimize) wants a table: its merge rolled back and the table is
            // skipped while the DDL waits or runs (a conditional lock never queues
            // before a waiter). Writers (DELETE, UPDATE) held a table with parts to merge.
            // Either way there is work: look again soon, as for small inserts, rather than
            // leave the table to the launcher's next turn, seconds away, while inserts
            // pile up parts. (DROP DATABASE stops workers with SIGTERM.)
            Step::Yielded | Step::Busy => {
                merged_any = true;
                if !linger(&mut idle_since, MIN_POLL_MS) {
                    break;
                }
            }
            // Nothing to merge in a database that had nothing: leave at once, the worker
            // slot is another database's turn.
            Step::Idle if !merged_any => break,
            // Nothing worth merging now where merges just ran: small inserts keep coming,
            // so look again soon rather than wait for the launcher's next turn; leave
            // after a while idle.
            Step::Idle => {
                if !linger(&mut idle_since, poll_ms) {
                    break;
                }
                poll_ms = (poll_ms * 2).min(POLL_MS);
            }
        }
    }
}

/// Waits `ms` before the worker looks again; false (no wait) once it has been without a
/// merge for LINGER since `idle_since` (set now if unset).
fn linger(idle_since: &mut Option<std::time::Instant>, ms: std::ffi::c_long) -> bool {
    if idle_since.get_or_insert_with(std::time::Instant::now).elapsed() >= LINGER {
        return false;
    }
    // SAFETY: waits on this process' latch; SIGTERM still ends the process at the
    // worker's next interrupt check.
    unsafe {
        pg_sys::WaitLatch(pg_sys::MyLatch, (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32, ms, pg_sys::PG_WAIT_EXTENSION);
        pg_sys::ResetLatch(pg_sys::MyLatch);
    }
    true
}

/// How often an idle worker looks for merges again, and how long it stays idle. Right
/// after a merge it looks again within MIN_POLL_MS, doubling the wait each time it finds
/// nothing: single-row inserts from many connections make hundreds of parts in 100 ms,
/// past `parts_to_delay_insert`, while merging them as they come keeps a few dozen.
const POLL_MS: std::ffi::c_long = 100;
const MIN_POLL_MS: std::ffi::c_long = 10;
/// How often a worker rebuilds a table's free list: before merging it, or to compact its
/// file when nothing is left to merge.
const RECLAIM_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

thread_local! {
    static LAST_RECLAIM: std::cell::RefCell<std::collections::HashMap<pg_sys::Oid, std::time::Instant>> = Default::default();
}

/// Makes table `relid`'s free list due for a rebuild at once.
fn reclaim_now(relid: pg_sys::Oid) {
    LAST_RECLAIM.with(|m| m.borrow_mut().remove(&relid));
}

/// Whether table `relid`'s free list is due for a rebuild (at most once a `RECLAIM_EVERY`).
fn reclaim_due(relid: pg_sys::Oid) -> bool {
    LAST_RECLAIM.with(|m| {
        let mut m = m.borrow_mut();
        let now = std::time::Instant::now();
        if m.get(&relid).is_some_and(|t| now.duration_since(*t) < RECLAIM_EVERY) {
            return false;
        }
        m.insert(relid, now);
        true
    })
}
const LINGER: std::time::Duration = std::time::Duration::from_secs(10);
