//! `mergetree.optimize(table, partition, final)`: merges in the foreground, in the
//! caller's transaction.

use super::merge::{give_up_if_final, merge_parts, partitions, parts_for_round, select, MAX_ROUNDS, MERGE_LOCK};
use crate::catalog;
use crate::datum;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// Merges now, in this transaction: without `full` (SQL `final`), one merge per
/// partition that the merge selector finds worth it; with it, each partition's parts
/// into one; with `cleanup` too, a replacing table's winners marked deleted are dropped
/// (after it an older version inserted later is visible again). Only the table's owner may (as for VACUUM and CLUSTER). Returns how many
/// parts were merged away.
#[pg_extern]
fn optimize_oid(tbl: pg_sys::Oid, partition: Option<&str>, full: bool, cleanup: bool) -> i64 {
    if !crate::ffi::is_mergetree(tbl) {
        crate::error::raise(PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE, format!("\"{}\" is not a mergetree table", crate::ffi::relid_name(tbl)));
    }
    // SAFETY: the relation is opened and closed here, locked as merges lock it. The
    // first round reads the statement's snapshot; later rounds (READ COMMITTED only) the
    // latest one, registered while used.
    unsafe {
        let rel = pg_sys::relation_open(tbl, MERGE_LOCK as i32);
        if !pg_sys::pg_class_ownercheck(tbl, pg_sys::GetUserId()) {
            let name = std::ffi::CString::new(crate::ffi::relid_name(tbl)).unwrap_or_default();
            pg_sys::aclcheck_error(pg_sys::AclResult::ACLCHECK_NOT_OWNER, pg_sys::ObjectType::OBJECT_TABLE, name.as_ptr());
        }
        let table = crate::ffi::relname(rel);
        // Merges install under the writers' lock; taken first, so two optimize calls
        // never hold parts the other waits for.
        pg_sys::LockRelationOid(tbl, crate::write::dml::WRITER_LOCK as i32);
        let plan = datum::table_plan(rel);
        let options = crate::options::for_relation(rel);
        if cleanup && !(full && options.engine.is_deleted().is_some()) {
            crate::error::raise_with_hint(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("cleanup of mergetree table \"{table}\" needs final and an engine replacing(version, is_deleted)"),
                "cleanup drops the rows a replacing table's FINAL reads leave out as deleted: call mergetree.optimize(table, final => true, cleanup => true) on such a table.".into(),
            );
        }
        let wanted = partition.map(|p| super::partition::value_of_text(rel, &table, options.partition_by.as_deref(), p));
        let mut merged = 0i64;
        // Partitions done (by value); the others are looked at again next round.
        let mut done: Vec<Option<Vec<u8>>> = Vec::new();
        // A table without columns has nothing to merge.
        for round in (0..MAX_ROUNDS).filter(|_| !plan.columns.is_empty()) {
            let groups = partitions(&parts_for_round(rel, round));
            let now = pg_sys::GetCurrentTimestamp();
            let mut lost = false;
            for group in groups {
                let value = &group[0].partition_value;
                if wanted.as_ref().is_some_and(|w| w != value) || done.contains(value) {
                    continue;
                }
                // cleanup rewrites every part (a lone merged one may hold deleted rows).
                let chosen = if cleanup { Some((0, group.len())) } else { select(&group, full, now, &options) };
                let Some((start, end)) = chosen else {
                    done.push(value.clone());
                    continue;
                };
                let run = &group[start..end];
                // final needs every part, so it waits for merges holding some; otherwise
                // parts a background merge holds are left to it (waiting here, with the
                // writers' lock held, would stall every background merge of the table).
                let every_part = full || cleanup;
                if !catalog::claim(run, every_part) {
                    if every_part {
                        lost = true;
                    } else {
                        done.push(value.clone());
                    }
                    continue;
                }
                // None: rows of the parts were deleted meanwhile; merged next round.
                if merge_parts(rel, &plan, &options, run, false, cleanup).is_err() {
                    lost = true;
                    continue;
                }
                merged += run.len() as i64;
                done.push(value.clone());
            }
            if !lost {
                break;
            }
            give_up_if_final(round, &format!("merge parts of mergetree table \"{table}\""));
        }
        pg_sys::relation_close(rel, MERGE_LOCK as i32);
        merged
    }
}
