//! DELETE and UPDATE, ClickHouse's lightweight way: parts never change; a deleted row is
//! masked (`catalog::deleted`), and UPDATE masks the old version and inserts the new one
//! through the ordinary insert path (so it lands in sort order, in its partition).
//!
//! Locking is per table: DELETE, UPDATE, MERGE and SELECT ... FOR UPDATE/SHARE on a
//! mergetree table take its SHARE UPDATE EXCLUSIVE lock (hooks/analyze.rs raises the
//! statement's lock mode, so cached plans take it again before their snapshot) and keep
//! it until commit. Writers of one table thus run one after another; plain reads and
//! inserts never wait for them. A merge takes the same lock before it commits, so parts
//! a writer's snapshot sees stay until it ends. Under READ COMMITTED the statement's
//! snapshot is taken after the lock, so it sees every earlier writer's outcome (heap
//! would reach the same rows by re-checking them); under REPEATABLE READ and SERIALIZABLE
//! a row another transaction deleted, updated or merged away after the snapshot raises
//! a serialization failure, as heap does.

use crate::am::fetch;
use crate::catalog::{self, deleted::PartMasks};
use crate::datum;
use crate::write::buffer::{self, BufferedDelete};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// The lock writers and merges take on the table (see the module comment).
pub const WRITER_LOCK: u32 = pg_sys::ShareUpdateExclusiveLock;

/// What the latest snapshot shows of a table: read once per statement, under the writer
/// lock (no other writer can commit while it is held, so it stays the latest).
struct Latest {
    node: pg_sys::Oid,
    cid: pg_sys::CommandId,
    parts: HashSet<i64>,
    masks: HashMap<i64, PartMasks>,
}

thread_local! {
    static LATEST: RefCell<Vec<Latest>> = const { RefCell::new(Vec::new()) };
}

/// Forgets what was read of the latest snapshots (the transaction or a savepoint ended).
pub fn reset() {
    LATEST.with(|l| l.borrow_mut().clear());
}

/// Runs `f` on the latest state of `rel` for command `cid`.
///
/// # Safety
/// `rel` is open and locked with WRITER_LOCK.
unsafe fn with_latest<R>(rel: pg_sys::Relation, cid: pg_sys::CommandId, f: impl FnOnce(&Latest) -> R) -> R {
    // SAFETY: per the caller; the snapshot is registered while used.
    unsafe {
        let node = (*rel).rd_node.relNode;
        LATEST.with(|l| {
            let mut l = l.borrow_mut();
            if let Some(x) = l.iter().find(|x| x.node == node && x.cid == cid) {
                return f(x);
            }
            let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
            let parts = catalog::visible_parts(rel, snapshot).into_iter().map(|p| p.part_id).collect();
            let masks = catalog::deleted::committed(node, snapshot);
            pg_sys::UnregisterSnapshot(snapshot);
            l.retain(|x| x.node != node);
            l.push(Latest { node, cid, parts, masks });
            f(l.last().expect("pushed"))
        })
    }
}

/// A row of a part that another transaction changed after the writer's snapshot: under
/// REPEATABLE READ and above, the result Postgres turns into a serialization failure;
/// under READ COMMITTED a deleted row is skipped as heap skips it, and a row updated or
/// merged away (whose new version cannot be followed) fails the statement.
fn concurrently_changed(table: &str, updated: bool) -> pg_sys::TM_Result::Type {
    // SAFETY: reads the transaction's isolation level.
    let xact_snapshot = unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32;
    match (xact_snapshot, updated) {
        (true, true) => pg_sys::TM_Result::TM_Updated,
        (_, false) => pg_sys::TM_Result::TM_Deleted,
        (false, true) => crate::error::raise_with_hint(
            PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
            format!("could not serialize access to mergetree table \"{table}\": a row was updated or its part merged by another transaction"),
            "Run the statement again.".into(),
        ),
    }
}

/// Where a row to change is.
enum Target {
    Part { part_id: i64, offset: u32 },
    Buffered(u64),
}

/// Finds the row `tid` names for command `cid` under `snapshot`, checking that no one
/// changed it since: the row's place, or the result to report.
///
/// # Safety
/// `rel` is open and locked with WRITER_LOCK; `snapshot` valid; `tmfd` writable.
unsafe fn locate(rel: pg_sys::Relation, tid: pg_sys::ItemPointer, cid: pg_sys::CommandId, snapshot: pg_sys::Snapshot, tmfd: *mut pg_sys::TM_FailureData) -> Result<Target, pg_sys::TM_Result::Type> {
    // SAFETY: per the caller.
    unsafe {
        (*tmfd).ctid = *tid;
        (*tmfd).xmax = pg_sys::InvalidTransactionId;
        (*tmfd).cmax = pg_sys::InvalidCommandId;
        (*tmfd).traversed = false;
        let Some(mut row_id) = datum::tid_to_row_id(&*tid) else { return Err(pg_sys::TM_Result::TM_Invisible) };
        let snapshot = if snapshot.is_null() { pg_sys::GetActiveSnapshot() } else { snapshot };
        let by_me = |by: pg_sys::CommandId| {
            (*tmfd).xmax = pg_sys::GetCurrentTransactionId();
            (*tmfd).cmax = by;
            // Heap's rule: deleted by this command (or a later one it triggered) is
            // "self-modified", by an earlier one invisible.
            Err(if by >= cid { pg_sys::TM_Result::TM_SelfModified } else { pg_sys::TM_Result::TM_Invisible })
        };
        if row_id >= datum::BUFFER_ROW_BASE {
            let seq = row_id - datum::BUFFER_ROW_BASE;
            match buffer::peek(rel, |b| b.delete_state(seq)) {
                Some(BufferedDelete::Done) => return Ok(Target::Buffered(seq)),
                Some(BufferedDelete::ByMe(by)) => return by_me(by),
                Some(BufferedDelete::Moved(r)) => row_id = r,
                _ => return Err(pg_sys::TM_Result::TM_Invisible),
            }
        }
        let Some(found) = fetch::part_of_row(rel, row_id, snapshot) else { return Err(pg_sys::TM_Result::TM_Invisible) };
        let node = (*rel).rd_node.relNode;
        if let Some(by) = catalog::deleted::deleted_by_me(node, found.part_id, found.offset) {
            return by_me(by);
        }
        if found.masked {
            return Err(pg_sys::TM_Result::TM_Invisible);
        }
        // No one else changes rows of a part this transaction wrote.
        if !found.mine {
            let changed = with_latest(rel, cid, |l| {
                if !l.parts.contains(&found.part_id) {
                    return Some(true);
                }
                l.masks.get(&found.part_id).and_then(|m| m.contains(found.offset))
            });
            if let Some(updated) = changed {
                return Err(concurrently_changed(&crate::ffi::relname(rel), updated));
            }
        }
        Ok(Target::Part { part_id: found.part_id, offset: found.offset })
    }
}

/// Deletes the row `tid` names (DELETE; UPDATE's old version with `by_update`).
///
/// # Safety
/// `rel` is open; `snapshot` valid or NULL; `tmfd` writable.
pub unsafe fn delete_row(
    rel: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    cid: pg_sys::CommandId,
    snapshot: pg_sys::Snapshot,
    by_update: bool,
    tmfd: *mut pg_sys::TM_FailureData,
) -> pg_sys::TM_Result::Type {
    // SAFETY: per the caller; the lock is usually held already (taken at parse analysis).
    unsafe {
        pg_sys::LockRelationOid((*rel).rd_id, WRITER_LOCK as i32);
        crate::ffi::predicate_check_write(rel);
        match locate(rel, tid, cid, snapshot, tmfd) {
            Err(r) => r,
            Ok(Target::Buffered(seq)) => match buffer::with_existing(rel, |b| b.delete_row(seq, cid)) {
                Some(BufferedDelete::Done) => pg_sys::TM_Result::TM_Ok,
                _ => pg_sys::TM_Result::TM_Invisible,
            },
            Ok(Target::Part { part_id, offset }) => {
                let subxid = pg_sys::GetCurrentSubTransactionId();
                catalog::deleted::add((*rel).rd_node.relNode, part_id, offset, cid, subxid, by_update);
                pg_sys::TM_Result::TM_Ok
            }
        }
    }
}

/// Checks that the row `tid` names is still there for a row lock (SELECT ... FOR
/// UPDATE/SHARE, EvalPlanQual): the table lock is the row lock.
///
/// # Safety
/// `rel` is open; `snapshot` valid or NULL; `tmfd` writable.
pub unsafe fn lock_row(rel: pg_sys::Relation, tid: pg_sys::ItemPointer, cid: pg_sys::CommandId, snapshot: pg_sys::Snapshot, wait: pg_sys::LockWaitPolicy::Type, tmfd: *mut pg_sys::TM_FailureData) -> pg_sys::TM_Result::Type {
    // SAFETY: per the caller.
    unsafe {
        let relid = (*rel).rd_id;
        match wait {
            pg_sys::LockWaitPolicy::LockWaitBlock => pg_sys::LockRelationOid(relid, WRITER_LOCK as i32),
            _ if pg_sys::ConditionalLockRelationOid(relid, WRITER_LOCK as i32) => {}
            pg_sys::LockWaitPolicy::LockWaitSkip => return pg_sys::TM_Result::TM_WouldBlock,
            _ => crate::error::raise(
                PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE,
                format!("could not obtain lock on row in relation \"{}\"", crate::ffi::relname(rel)),
            ),
        }
        match locate(rel, tid, cid, snapshot, tmfd) {
            Ok(_) => pg_sys::TM_Result::TM_Ok,
            Err(r) => r,
        }
    }
}
