//! Encoding ahead: while a COPY or a big INSERT goes on reading rows, a chunk of the rows
//! already buffered is sorted and encoded on the engine threads; the backend writes the
//! chunk's parts (catalog rows, pages) when the next chunk is due, at the next flush or at
//! the end of the statement. The chunk's rows stay in the buffer until then, so scans of
//! the transaction read them there as before; a chunk whose rows changed meanwhile (a
//! savepoint rolled back, columns altered) is thrown away and its rows flushed as usual.

use super::buffer::{Pending, RelBuffer};
use super::flush::{self, Origin, Target};
use mergetree::part::chunk::{encode_groups, ChunkLayout, EncodedPart};
use mergetree::sort::SortColumn;
use mergetree::SortKind;
use pgrx::pg_sys;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::Duration;

type Outcome = std::thread::Result<mergetree::Result<Vec<EncodedPart>>>;

/// Statements whose rows one chunk may hold (each gets its own parts).
const MAX_COMMANDS: usize = 2;

/// Bytes of rows worth encoding ahead; 0 when the buffer is too small for two chunks.
fn chunk_bytes() -> usize {
    let chunk = crate::gucs::insert_chunk_bytes();
    if chunk > 0 && chunk * 2 <= crate::gucs::insert_buffer_bytes() { chunk } else { 0 }
}

/// After a row was buffered: once a chunk's worth of rows follows the chunk in flight,
/// writes that chunk's parts and sends the new rows off.
///
/// # Safety
/// `rel` is the open relation `b` belongs to.
pub unsafe fn after_push(rel: pg_sys::Relation, b: &mut RelBuffer) {
    let chunk = chunk_bytes();
    if chunk == 0 || b.bytes < b.pending.as_ref().map_or(b.ahead_from, |p| p.bytes) + chunk {
        return;
    }
    // SAFETY: per the caller.
    unsafe { drain(rel, b) };
    start(b);
}

/// Sends every buffered row off to be encoded, a part per command and partition, when
/// they can become parts as they are: rows of the current subtransaction, a key the
/// engine sorts by itself, and no AFTER ROW trigger that fetches rows by their buffered
/// TID. Rows of two statements are fine (a transaction's COPYs one after another: the
/// rows one left behind go with the next one's), of more wait for the commit.
fn start(b: &mut RelBuffer) {
    let rows = b.rows();
    let key = flush::sort_key(&b.plan, &b.options);
    // SAFETY: reads transaction state.
    let current = unsafe { pg_sys::GetCurrentSubTransactionId() };
    if rows == 0
        || b.track_moves
        || key.iter().any(|&k| b.plan.columns[k].sort == SortKind::Opaque)
        || b.subxids.iter().any(|&s| s != current)
    {
        // Look again a chunk later, not at every row.
        b.ahead_from = b.bytes;
        return;
    }
    let (keys, groups): (Vec<(pg_sys::CommandId, u32)>, Vec<Vec<u32>>) = b.groups(|i| Some(b.cids[i])).into_iter().unzip();
    // Rows of many statements (a transaction of small INSERTs) would make a tiny part per
    // statement here: those wait for the commit, which writes them together. (Groups come
    // ordered by command, so its distinct commands are its changes of command.)
    let commands = keys.iter().enumerate().filter(|(i, k)| *i == 0 || keys[i - 1].0 != k.0).count();
    if commands > MAX_COMMANDS {
        b.ahead_from = b.bytes;
        return;
    }
    let layout = ChunkLayout {
        specs: b.plan.specs(),
        key: key.iter().map(|&k| SortColumn { column: k, kind: b.plan.columns[k].sort }).collect(),
        primary_key: flush::primary_key(&b.plan, &b.options),
        settings: flush::writer_settings(&b.plan, &b.options, true),
    };
    let columns = b.columns.clone();
    let (tx, outcome) = sync_channel(1);
    crate::storage::threads::ensure();
    rayon::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| encode_groups(columns, &groups, &layout)));
        // The backend may have stopped waiting (its transaction aborted): nothing to do.
        let _ = tx.send(r);
    });
    b.pending = Some(Pending { rows, bytes: b.bytes, groups: keys, outcome });
}

/// Waits for the chunk in flight, if any, and writes its parts, removing its rows from
/// the buffer; rows that changed since the chunk left stay buffered instead.
///
/// # Safety
/// `rel` is the open relation `b` belongs to.
pub unsafe fn drain(rel: pg_sys::Relation, b: &mut RelBuffer) {
    let Some(p) = b.pending.take() else { return };
    let outcome = wait(&p.outcome);
    // SAFETY: reads transaction state.
    let current = unsafe { pg_sys::GetCurrentSubTransactionId() };
    let intact = b.rows() >= p.rows && b.subxids[..p.rows].iter().all(|&s| s == current);
    if !intact {
        return;
    }
    // SAFETY: per the caller.
    let table = unsafe { crate::ffi::relname(rel) };
    let parts = match outcome {
        Ok(Ok(parts)) => parts,
        Ok(Err(e)) => crate::error::report(&table, e),
        Err(_) => crate::error::raise(
            pgrx::PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("mergetree table \"{table}\": encoding inserted rows failed on an engine thread"),
        ),
    };
    for part in parts {
        let (cid, partition) = p.groups[part.group];
        let value = b.partition_values[partition as usize].clone();
        let partition = b.partitioner.as_ref().map_or_else(|| "all".to_string(), |pt| pt.display(&value));
        let target = Target { plan: &b.plan, options: &b.options, partition, partition_value: value };
        // SAFETY: per the caller; the part's rows are the chunk's rows of command `cid`.
        unsafe {
            super::backpressure::before_new_part(rel, &b.options, &target.partition_value, &target.partition);
            flush::install_part(rel, &target, &part.sorted, &part.bytes, &part.meta, cid, Origin::Insert);
        }
    }
    let n = p.rows;
    b.retain(|i| i >= n);
}

/// Writes every buffered row as parts ([`flush::flush`]), the chunk in flight first.
///
/// # Safety
/// `rel` is the open relation `b` belongs to.
pub unsafe fn flush(rel: pg_sys::Relation, b: &mut RelBuffer, at_commit: bool) {
    // SAFETY: per the caller.
    unsafe {
        drain(rel, b);
        flush::flush(rel, b, at_commit);
    }
}

/// The chunk's outcome, answering cancel requests while waiting.
fn wait(rx: &Receiver<Outcome>) -> Outcome {
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(outcome) => return outcome,
            Err(RecvTimeoutError::Timeout) => {
                pgrx::check_for_interrupts!();
            }
            Err(RecvTimeoutError::Disconnected) => return Err(Box::new("the engine thread went away")),
        }
    }
}
