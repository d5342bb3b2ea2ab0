//! `mergetree.drop_partition(table, value)`: removes a partition's parts in the caller's
//! transaction (their catalog rows deleted, so a rollback brings them back; VACUUM
//! reclaims their pages once no snapshot sees them). The fast way to delete by partition,
//! as TRUNCATE is for the whole table.

use super::merge::{give_up_if_final, parts_for_round, MAX_ROUNDS, MERGE_LOCK};
use crate::catalog;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// Drops partition `value` of `tbl`; returns the rows dropped. Needs the TRUNCATE
/// privilege (it removes rows without looking at them, as TRUNCATE does).
#[pg_extern]
fn drop_partition_oid(tbl: pg_sys::Oid, value: &str) -> i64 {
    if !crate::ffi::is_mergetree(tbl) {
        crate::error::raise(PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE, format!("\"{}\" is not a mergetree table", crate::ffi::relid_name(tbl)));
    }
    // SAFETY: the relation is opened and closed here, locked as merges lock it (DDL and
    // TRUNCATE wait); snapshots are registered while used.
    unsafe {
        let rel = pg_sys::relation_open(tbl, MERGE_LOCK as i32);
        if pg_sys::pg_class_aclcheck(tbl, pg_sys::GetUserId(), pg_sys::ACL_TRUNCATE as pg_sys::AclMode) != pg_sys::AclResult::ACLCHECK_OK {
            let name = std::ffi::CString::new(crate::ffi::relid_name(tbl)).unwrap_or_default();
            pg_sys::aclcheck_error(pg_sys::AclResult::ACLCHECK_NO_PRIV, pg_sys::ObjectType::OBJECT_TABLE, name.as_ptr());
        }
        let table = crate::ffi::relname(rel);
        let options = crate::options::for_relation(rel);
        let wanted = super::partition::value_of_text(rel, &table, options.partition_by.as_deref(), value);
        let mut dropped = drop_buffered(rel, &table, &wanted);
        for round in 0..MAX_ROUNDS {
            let parts: Vec<_> = parts_for_round(rel, round).into_iter().filter(|p| p.partition_value == wanted).collect();
            if catalog::claim(&parts, true) {
                catalog::remove(&parts);
                dropped += parts.iter().map(|p| p.rows).sum::<i64>();
                if let Some(first) = parts.first() {
                    catalog::log_event(&catalog::PartEvent {
                        kind: "drop_partition",
                        relid: tbl,
                        partition: &first.partition,
                        part_name: None,
                        sources: parts.iter().map(|p| p.part_name.clone()).collect(),
                        rows: parts.iter().map(|p| p.rows).sum(),
                        bytes: parts.iter().map(|p| p.part_bytes).sum(),
                        duration: std::time::Duration::ZERO,
                        background: false,
                    });
                }
                break;
            }
            give_up_if_final(round, &format!("drop partition {value} of mergetree table \"{table}\""));
        }
        pg_sys::relation_close(rel, MERGE_LOCK as i32);
        dropped
    }
}

/// Drops the rows of partition `value` this transaction inserted and still buffers;
/// returns how many. Inside a subtransaction that is refused: a ROLLBACK TO SAVEPOINT
/// could not bring them back.
///
/// # Safety
/// `rel` is open.
unsafe fn drop_buffered(rel: pg_sys::Relation, table: &str, value: &Option<Vec<u8>>) -> i64 {
    // SAFETY: per the caller.
    let n = unsafe {
        super::buffer::with_existing(rel, |buf| {
            let drop: Vec<bool> = (0..buf.rows()).map(|i| buf.partition_values[buf.partition_of[i] as usize] == *value).collect();
            let n = drop.iter().filter(|&&d| d).count();
            // SAFETY: reads transaction state.
            if n > 0 && pg_sys::GetCurrentTransactionNestLevel() > 1 {
                crate::error::raise_with_hint(
                    PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                    format!("mergetree.drop_partition cannot drop rows of mergetree table \"{table}\" inserted in this transaction inside a savepoint"),
                    "Release the savepoint or commit the inserts first.".into(),
                );
            }
            buf.retain(|i| !drop[i]);
            n as i64
        })
    };
    n.unwrap_or(0)
}
