//! Backpressure on inserts (ClickHouse's parts_to_delay_insert / parts_to_throw_insert):
//! when merges fall behind, a partition's active parts pile up and every read pays for
//! them. Past `parts_to_delay_insert` active parts, an insert into the partition waits,
//! longer the further past (up to a second); past `parts_to_throw_insert` it fails.

use crate::catalog;
use crate::options::TableOptions;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The longest wait, in milliseconds (ClickHouse's max_delay_to_insert).
const MAX_DELAY_MS: f64 = 1000.0;
/// How long an insert at `parts_to_throw_insert` waits for merges before it fails.
const THROW_AFTER: Duration = Duration::from_secs(10);

/// ClickHouse's delay: grows geometrically from 1 ms just past the threshold to the
/// maximum at `parts_to_throw_insert`.
pub fn delay_ms(parts: usize, delay_at: usize, throw_at: usize) -> u64 {
    if parts <= delay_at {
        return 0;
    }
    let over = (parts - delay_at) as f64;
    let allowed = throw_at.saturating_sub(delay_at).max(1) as f64;
    MAX_DELAY_MS.powf(over.min(allowed) / allowed).min(MAX_DELAY_MS) as u64
}

/// How long a partition's part count stays good enough, far below the limits: other
/// backends add parts meanwhile (thousands a second under single-row inserts), so the
/// window is short and the margin wide.
const FRESH: Duration = Duration::from_millis(20);

thread_local! {
    /// Part counts this backend took lately, per storage and partition value, with when.
    static COUNTS: RefCell<HashMap<(pg_sys::Oid, Option<Vec<u8>>), (usize, Instant)>> = RefCell::new(HashMap::new());
}

/// The active parts of partition `value` of `rel`. Counting reads the partition's catalog
/// rows (and the dead rows merges left), which a single-row insert would pay every time:
/// a count under a quarter of `parts_to_delay_insert` is reused for `FRESH`, plus the
/// parts this backend added since; nearer the limits every insert counts.
///
/// # Safety
/// `rel` is open.
unsafe fn active_parts(rel: pg_sys::Relation, options: &TableOptions, value: &Option<Vec<u8>>) -> usize {
    // SAFETY: per the caller.
    let key = (unsafe { (*rel).rd_node.relNode }, value.clone());
    let now = Instant::now();
    let cached = COUNTS.with(|c| {
        let mut c = c.borrow_mut();
        let hit = c.get_mut(&key).filter(|(n, at)| now.duration_since(*at) < FRESH && *n < options.parts_to_delay_insert / 4)?;
        hit.0 += 1;
        Some(hit.0 - 1)
    });
    if let Some(n) = cached {
        return n;
    }
    // SAFETY: per the caller; the snapshot is registered while the catalog is read.
    let n = unsafe {
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
        let n = catalog::count_parts(rel, snapshot, value);
        pg_sys::UnregisterSnapshot(snapshot);
        n
    };
    COUNTS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 1024 {
            c.retain(|_, (_, at)| now.duration_since(*at) < FRESH);
        }
        c.insert(key, (n + 1, now));
    });
    n
}

/// Waits or fails before a part is added to partition `value` (shown as `display`) of
/// `rel`, by how many active parts it has.
///
/// # Safety
/// `rel` is open.
pub unsafe fn before_new_part(rel: pg_sys::Relation, options: &TableOptions, value: &Option<Vec<u8>>, display: &str) {
    // SAFETY: per the caller.
    let parts = unsafe { active_parts(rel, options, value) };
    // Parts piling up: a merge worker should be on it before inserts have to wait.
    if parts >= options.parts_to_delay_insert / 8 && options.background_merges {
        crate::background::want_worker();
    }
    // A transaction that holds the writers' lock (an UPDATE's new rows, rows inserted
    // after a DELETE) neither waits nor fails: merges install under that lock, so waiting
    // for them would only hold every merge of the table back until it gave up.
    // SAFETY: per the caller; asks the lock manager about this backend's own locks.
    if unsafe { pg_sys::CheckRelationLockedByMe(rel, super::dml::WRITER_LOCK as i32, true) } {
        return;
    }
    if parts < options.parts_to_delay_insert && parts < options.parts_to_throw_insert {
        return;
    }
    // At the limit, the insert waits a while for merges to bring the count down (a burst
    // of inserts from many connections overshoots the delays, which each insert takes
    // from a count made before the others' parts land); it fails only when merges do
    // not catch up within THROW_AFTER.
    let mut parts = parts;
    let waited = Instant::now();
    let merging = options.background_merges && crate::gucs::BACKGROUND_MERGES.get() && crate::gucs::MAX_MERGE_WORKERS.get() > 0;
    while parts >= options.parts_to_throw_insert && merging && waited.elapsed() < THROW_AFTER {
        crate::background::want_worker();
        // SAFETY: sleeps this backend; interrupts are checked after.
        unsafe { pg_sys::pg_usleep(50_000) };
        pgrx::check_for_interrupts!();
        COUNTS.with(|c| c.borrow_mut().clear());
        // SAFETY: per the caller.
        parts = unsafe { active_parts(rel, options, value) };
    }
    // SAFETY: per the caller.
    let table = unsafe { crate::ffi::relname(rel) };
    if parts >= options.parts_to_throw_insert {
        crate::error::raise_with_hint(
            PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
            format!("too many parts ({parts}) in partition {display} of mergetree table \"{table}\": merges are not keeping up with inserts"),
            format!(
                "Insert fewer, larger batches, or wait for merges (mergetree.optimize merges now); the limit is the table's parts_to_throw_insert option ({}).",
                options.parts_to_throw_insert
            ),
        );
    }
    let mut left = delay_ms(parts, options.parts_to_delay_insert, options.parts_to_throw_insert);
    while left > 0 {
        let step = left.min(10);
        // SAFETY: sleeps this backend; interrupts are checked between steps.
        unsafe { pg_sys::pg_usleep(step as std::ffi::c_long * 1000) };
        pgrx::check_for_interrupts!();
        left -= step;
    }
}

#[cfg(test)]
mod tests {
    use super::delay_ms;

    #[test]
    fn delay_grows_to_a_second_at_the_limit() {
        assert_eq!(delay_ms(150, 150, 300), 0);
        assert_eq!(delay_ms(151, 150, 300), 1);
        assert!(delay_ms(225, 150, 300) > 20 && delay_ms(225, 150, 300) < 40);
        assert_eq!(delay_ms(300, 150, 300), 1000);
        assert_eq!(delay_ms(400, 150, 300), 1000);
    }
}
