//! Storage lifecycle: new relfilenodes (CREATE, TRUNCATE, rewrites), sizes, estimates.

use crate::catalog;
use crate::error::unsupported;
use crate::write::buffer;
use pgrx::pg_sys;

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_set_new_filenode(
    rel: pg_sys::Relation,
    newrnode: *const pg_sys::RelFileNode,
    persistence: std::ffi::c_char,
    freeze_xid: *mut pg_sys::TransactionId,
    minmulti: *mut pg_sys::MultiXactId,
) {
    // SAFETY: Postgres passes an open relation and out-parameters.
    unsafe {
        if persistence as u8 == pg_sys::RELPERSISTENCE_UNLOGGED {
            unsupported(
                &crate::ffi::relname(rel),
                "UNLOGGED",
                "The part catalog is WAL-logged, so parts must be too; create a regular (logged) table.",
            );
        }
        // Part pages carry no transaction ids: nothing ever needs freezing.
        *freeze_xid = pg_sys::InvalidTransactionId;
        *minmulti = 0.into();
        let srel = pg_sys::RelationCreateStorage(*newrnode, persistence, true);
        pg_sys::smgrclose(srel);
        // The new storage is empty. The parts of the old one go with it (transactionally:
        // a rolled-back TRUNCATE brings them back); its buffered rows stay with it, so a
        // ROLLBACK TO SAVEPOINT finds them. Rows left by an old relation that once had
        // the new relfilenode would be taken for parts of this one: they go too.
        let old = (*rel).rd_node.relNode;
        catalog::delete_storage(old);
        if (*newrnode).relNode != old {
            catalog::delete_storage((*newrnode).relNode);
        }
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_nontransactional_truncate(rel: pg_sys::Relation) {
    // SAFETY: TRUNCATE of a table whose storage was created in this subtransaction, or ON
    // COMMIT DELETE ROWS; the storage is ours alone, and so are its buffered rows. The
    // command counter advances so that part rows the commit-time flush inserted just now
    // can be deleted (a row is deletable only by a later command).
    unsafe {
        pg_sys::CommandCounterIncrement();
        buffer::discard(buffer::storage_key(rel));
        catalog::delete_storage((*rel).rd_node.relNode);
        pg_sys::RelationTruncate(rel, 0);
    }
}

/// ALTER TABLE ... SET TABLESPACE: the same pages in new storage. Parts keep their
/// blocks, so their catalog rows (and skip index summaries) only change relfilenode;
/// buffered rows are copied to the new storage's buffer.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_copy_data(rel: pg_sys::Relation, newrnode: *const pg_sys::RelFileNode) {
    // SAFETY: rel is open and locked exclusively by ALTER TABLE; as heap does, dirty
    // buffers are written out before the file is copied below the buffer manager.
    unsafe {
        let persistence = (*(*rel).rd_rel).relpersistence;
        pg_sys::FlushRelationBuffers(rel);
        let dst = pg_sys::RelationCreateStorage(*newrnode, persistence, true);
        pg_sys::RelationCopyStorage(pg_sys::RelationGetSmgr(rel), dst, pg_sys::ForkNumber::MAIN_FORKNUM, persistence);
        // The old storage is ours to drop (at commit), as heap's copy_data does.
        pg_sys::RelationDropStorage(rel);
        pg_sys::smgrclose(dst);
        let old = buffer::storage_key(rel);
        // pg_class stores 0 for the database's default tablespace.
        let spc = if (*newrnode).spcNode == pg_sys::MyDatabaseTableSpace { pg_sys::InvalidOid } else { (*newrnode).spcNode };
        let new = buffer::StorageKey { spc, node: (*newrnode).relNode };
        catalog::move_storage(old.node, new.node);
        buffer::copy_rows(old, new);
    }
}

/// VACUUM FULL and CLUSTER: every row into the new storage, written as fresh parts (so
/// this also compacts many small parts into few). Rows come out of the old storage's
/// parts and buffer in their stored order and are sorted again by `order_by`.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_copy_for_cluster(
    old: pg_sys::Relation,
    new: pg_sys::Relation,
    _old_index: pg_sys::Relation,
    _use_sort: bool,
    _oldest_xmin: pg_sys::TransactionId,
    xid_cutoff: *mut pg_sys::TransactionId,
    multi_cutoff: *mut pg_sys::MultiXactId,
    num_tuples: *mut f64,
    tups_vacuumed: *mut f64,
    tups_recently_dead: *mut f64,
) {
    // SAFETY: both relations are open, the old one locked exclusively (no other writer);
    // a fresh snapshot sees every committed part.
    unsafe {
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
        *num_tuples = super::insert::copy_rows(old, new, snapshot) as f64;
        pg_sys::UnregisterSnapshot(snapshot);
        *tups_vacuumed = 0.0;
        *tups_recently_dead = 0.0;
        // As at creation (relation_set_new_filenode): nothing to freeze.
        *xid_cutoff = pg_sys::InvalidTransactionId;
        *multi_cutoff = 0.into();
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_size(rel: pg_sys::Relation, fork: pg_sys::ForkNumber::Type) -> u64 {
    // SAFETY: rel is open; the block-based size is exactly our pages.
    unsafe { pg_sys::table_block_relation_size(rel, fork) }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_needs_toast_table(_rel: pg_sys::Relation) -> bool {
    // Large values live inside parts, compressed; no TOAST table.
    false
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_toast_am(_rel: pg_sys::Relation) -> pg_sys::Oid {
    pg_sys::Oid::from(pg_sys::HEAP_TABLE_AM_OID)
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn relation_estimate_size(
    rel: pg_sys::Relation,
    _attr_widths: *mut i32,
    pages: *mut pg_sys::BlockNumber,
    tuples: *mut f64,
    allvisfrac: *mut f64,
) {
    // SAFETY: rel is open; the planner runs with an active snapshot (or we take the latest).
    unsafe {
        let snap = if pg_sys::ActiveSnapshotSet() { pg_sys::GetActiveSnapshot() } else { pg_sys::GetLatestSnapshot() };
        let rows: i64 = catalog::visible_parts(rel, snap).iter().map(|p| p.live_rows()).sum();
        *tuples = (rows as usize + buffer::buffered_row_count(rel)) as f64;
        *pages = pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM);
        *allvisfrac = 0.0;
    }
}
