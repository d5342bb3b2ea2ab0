//! Small FFI helpers over Postgres structures and the few Postgres functions pgrx does not
//! bind. A leaf module: it uses nothing else of this crate.

// Postgres' own names for the functions declared below.
#![allow(non_snake_case)]

use pgrx::pg_sys;

// `#[pg_guard]` on an extern block calls `crate::ffi::pg_guard_ffi_boundary`.
pub use pgrx::pg_sys::ffi::pg_guard_ffi_boundary;

#[pgrx::pg_guard]
unsafe extern "C-unwind" {
    /// utils/relfilenodemap.h: the relation whose storage is (tablespace, relfilenode);
    /// InvalidOid if none. `reltablespace` is 0 for the database's default tablespace.
    pub fn RelidByRelfilenode(reltablespace: pg_sys::Oid, relfilenode: pg_sys::Oid) -> pg_sys::Oid;
    /// catalog/pg_inherits.h: `relid` and every table inheriting from it (partitions too),
    /// each locked with `lockmode`.
    pub fn find_all_inheritors(relid: pg_sys::Oid, lockmode: pg_sys::LOCKMODE, numparents: *mut *mut pg_sys::List) -> *mut pg_sys::List;
    /// storage/predicate.h: a SERIALIZABLE transaction read the whole relation (a no-op
    /// at other isolation levels).
    pub fn PredicateLockRelation(relation: pg_sys::Relation, snapshot: pg_sys::Snapshot);
    /// storage/predicate.h: a SERIALIZABLE transaction writes to the relation; with no
    /// TID and no block, only relation-level readers conflict.
    pub fn CheckForSerializableConflictIn(relation: pg_sys::Relation, tid: pg_sys::ItemPointer, blkno: pg_sys::BlockNumber);
    /// catalog/pg_inherits.h: whether some table may inherit from `relid`.
    pub fn has_subclass(relid: pg_sys::Oid) -> bool;
}

unsafe extern "C-unwind" {
    /// executor/executor.h, declared without pgrx's guard, for a caller that lets the
    /// ERRORs of the quals and projections it evaluates reach Postgres as raised.
    #[link_name = "ExecScan"]
    pub fn ExecScan_unguarded(
        node: *mut pg_sys::ScanState,
        access: pg_sys::ExecScanAccessMtd,
        recheck: pg_sys::ExecScanRecheckMtd,
    ) -> *mut pg_sys::TupleTableSlot;
    /// tcop/tcopprot.h: Postgres' SIGTERM handler for backends: sets ProcDiePending, so
    /// the next interrupt check ends the process. pgrx binds it as a Rust function,
    /// which a signal handler slot cannot take.
    fn die(signal: std::ffi::c_int);
}

/// Iterates a List of pointers.
///
/// # Safety
/// `list` is NIL or a valid pointer List.
pub unsafe fn list_ptrs<T>(list: *mut pg_sys::List) -> Vec<*mut T> {
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: per the caller.
    unsafe { (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).ptr_value as *mut T).collect() }
}

/// Iterates a List of OIDs.
///
/// # Safety
/// `list` is NIL or a valid OID List.
pub unsafe fn list_oids(list: *mut pg_sys::List) -> Vec<pg_sys::Oid> {
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: per the caller.
    unsafe { (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).oid_value).collect() }
}

/// Iterates a List of ints.
///
/// # Safety
/// `list` is NIL or a valid integer List.
pub unsafe fn list_ints(list: *mut pg_sys::List) -> Vec<i32> {
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: per the caller.
    unsafe { (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).int_value).collect() }
}

/// # Safety
/// `p` is NULL or a NUL-terminated string.
pub unsafe fn cstr(p: *const std::ffi::c_char) -> Option<String> {
    // SAFETY: per the caller.
    (!p.is_null()).then(|| unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// Serializable snapshot isolation for a read of `rel` under `snapshot`: rows are not tied
/// to pages, so every read locks the whole relation (as a heap sequential scan does), and
/// any write to it by a concurrent SERIALIZABLE transaction is a read-write conflict.
///
/// # Safety
/// `rel` is open; `snapshot` NULL or valid.
pub unsafe fn predicate_lock_read(rel: pg_sys::Relation, snapshot: pg_sys::Snapshot) {
    // SAFETY: per the caller; only MVCC snapshots take predicate locks.
    unsafe {
        if !snapshot.is_null() && (*snapshot).snapshot_type == pg_sys::SnapshotType::SNAPSHOT_MVCC {
            PredicateLockRelation(rel, snapshot);
        }
    }
}

/// Serializable snapshot isolation for a write to `rel` (see `predicate_lock_read`).
///
/// # Safety
/// `rel` is open.
pub unsafe fn predicate_check_write(rel: pg_sys::Relation) {
    // SAFETY: per the caller.
    unsafe { CheckForSerializableConflictIn(rel, std::ptr::null_mut(), pg_sys::InvalidBlockNumber) }
}

/// An identifier quoted as SQL needs it (quote_identifier).
pub fn quote_ident(name: &str) -> String {
    let c = std::ffi::CString::new(name).unwrap_or_default();
    // SAFETY: quote_identifier returns its argument or a palloc'd quoted copy.
    unsafe { std::ffi::CStr::from_ptr(pg_sys::quote_identifier(c.as_ptr())).to_string_lossy().into_owned() }
}

/// Makes `slot` own its values (copies by-reference values into the slot's memory), as
/// ExecMaterializeSlot does: a slot filled from a granule must outlive the granule.
///
/// # Safety
/// `slot` is a valid slot holding a stored tuple.
pub unsafe fn materialize_slot(slot: *mut pg_sys::TupleTableSlot) {
    // SAFETY: per the caller; every slot type has a materialize callback.
    unsafe {
        if let Some(m) = (*(*slot).tts_ops).materialize {
            m(slot);
        }
    }
}

/// Clears `slot` (ExecClearTuple, an inline function in C).
///
/// # Safety
/// `slot` is a valid slot.
pub unsafe fn clear_slot(slot: *mut pg_sys::TupleTableSlot) {
    // SAFETY: per the caller.
    unsafe {
        if let Some(clear) = (*(*slot).tts_ops).clear {
            clear(slot);
        }
    }
}

/// pgstat_should_count_relation (a macro in C): whether statistics are collected for
/// `rel`, associating its counters on first use.
///
/// # Safety
/// `rel` is open.
unsafe fn should_count(rel: pg_sys::Relation) -> bool {
    // SAFETY: per the caller.
    unsafe {
        if !(*rel).pgstat_info.is_null() {
            return true;
        }
        if (*rel).pgstat_enabled {
            pg_sys::pgstat_assoc_relation(rel);
            return !(*rel).pgstat_info.is_null();
        }
        false
    }
}

/// pgstat_count_heap_scan (a macro in C): one sequential scan of `rel` started.
///
/// # Safety
/// `rel` is open.
pub unsafe fn count_scan(rel: pg_sys::Relation) {
    // SAFETY: per the caller; pgstat_info points at the relation's pending counters.
    unsafe {
        if should_count(rel) {
            (*(*rel).pgstat_info).t_counts.t_numscans += 1;
        }
    }
}

/// pgstat_count_heap_getnext (a macro in C): `n` rows returned by scans of `rel`.
///
/// # Safety
/// `rel` is open.
pub unsafe fn count_rows_read(rel: pg_sys::Relation, n: i64) {
    // SAFETY: per the caller.
    unsafe {
        if n > 0 && should_count(rel) {
            (*(*rel).pgstat_info).t_counts.t_tuples_returned += n;
        }
    }
}

/// pgstat_count_heap_fetch (a macro in C): one row of `rel` fetched by TID.
///
/// # Safety
/// `rel` is open.
pub unsafe fn count_fetch(rel: pg_sys::Relation) {
    // SAFETY: per the caller.
    unsafe {
        if should_count(rel) {
            (*(*rel).pgstat_info).t_counts.t_tuples_fetched += 1;
        }
    }
}

/// The relation's name, for messages. While Postgres rewrites a table it writes into a
/// transient table named `pg_temp_<oid of the table>`, which users never named: that
/// one is shown under the table's name.
///
/// # Safety
/// `rel` is open.
pub unsafe fn relname(rel: pg_sys::Relation) -> String {
    // SAFETY: rd_rel is the relation's pg_class row.
    let name = unsafe { std::ffi::CStr::from_ptr((*(*rel).rd_rel).relname.data.as_ptr()).to_string_lossy().into_owned() };
    match name.strip_prefix("pg_temp_").and_then(|o| o.parse::<u32>().ok()) {
        Some(oid) => {
            // SAFETY: syscache lookup; NULL when there is no such relation.
            let original = unsafe { pg_sys::get_rel_name(pg_sys::Oid::from(oid)) };
            if original.is_null() {
                name
            } else {
                // SAFETY: a palloc'd NUL-terminated name.
                unsafe { std::ffi::CStr::from_ptr(original) }.to_string_lossy().into_owned()
            }
        }
        None => name,
    }
}

/// Name of a relation by OID (for hooks that have no open relation).
pub fn relid_name(relid: pg_sys::Oid) -> String {
    // SAFETY: syscache lookup; NULL when the relation is gone.
    unsafe {
        let n = pg_sys::get_rel_name(relid);
        if n.is_null() {
            format!("{relid:?}")
        } else {
            std::ffi::CStr::from_ptr(n).to_string_lossy().into_owned()
        }
    }
}

/// OID of the `mergetree` access method, or InvalidOid before CREATE EXTENSION.
pub fn am_oid() -> pg_sys::Oid {
    // SAFETY: catalog lookup by name.
    unsafe { pg_sys::get_am_oid(c"mergetree".as_ptr(), true) }
}

/// Whether `relid` or a table inheriting from it (a partition) is a mergetree table.
pub fn involves_mergetree(relid: pg_sys::Oid) -> bool {
    if relid == pg_sys::InvalidOid {
        return false;
    }
    // SAFETY: catalog lookups; inheritors are listed without locking them.
    is_mergetree(relid)
        || unsafe { has_subclass(relid) && list_oids(find_all_inheritors(relid, pg_sys::NoLock as i32, std::ptr::null_mut())).into_iter().any(is_mergetree) }
}

/// Whether `relid` is a mergetree table.
pub fn is_mergetree(relid: pg_sys::Oid) -> bool {
    let am = am_oid();
    if am == pg_sys::InvalidOid {
        return false;
    }
    // SAFETY: syscache lookup, released before return.
    unsafe {
        let tup = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::RELOID as i32, pg_sys::Datum::from(relid));
        if tup.is_null() {
            return false;
        }
        let form = pg_sys::GETSTRUCT(tup) as *mut pg_sys::FormData_pg_class;
        let r = (*form).relam == am;
        pg_sys::ReleaseSysCache(tup);
        r
    }
}

/// A zeroed executor state of type `T` that begins with a CustomScanState, its methods
/// set: what a CreateCustomScanState callback returns.
///
/// # Safety
/// `T` is `#[repr(C)]` and starts with a `pg_sys::CustomScanState`; called in the
/// executor's memory context (the state lives as long as the plan's execution).
pub unsafe fn new_custom_state<T>(methods: *const pg_sys::CustomExecMethods) -> *mut pg_sys::Node {
    // SAFETY: per the caller; palloc0 zeroes every field Postgres reads before setting it.
    unsafe {
        let s = pg_sys::palloc0(std::mem::size_of::<T>()) as *mut pg_sys::CustomScanState;
        (*s).ss.ps.type_ = pg_sys::NodeTag::T_CustomScanState;
        (*s).methods = methods;
        s as *mut pg_sys::Node
    }
}

/// A copy of a by-reference Datum of a type of length `typlen` (varlena, cstring or
/// fixed) in the current memory context: Postgres' datumCopy, which pgrx does not bind.
///
/// # Safety
/// `d` points to a value of that type.
pub unsafe fn copy_datum(d: pg_sys::Datum, typlen: i16) -> pg_sys::Datum {
    // SAFETY: per the caller; the copy is allocated in the current context.
    unsafe {
        match typlen {
            -1 => pg_sys::Datum::from(pg_sys::pg_detoast_datum_copy(d.cast_mut_ptr())),
            -2 => pg_sys::Datum::from(pg_sys::pstrdup(d.cast_mut_ptr())),
            n => {
                let p = pg_sys::palloc(n as usize);
                std::ptr::copy_nonoverlapping(d.cast_mut_ptr::<u8>(), p as *mut u8, n as usize);
                pg_sys::Datum::from(p)
            }
        }
    }
}

/// A new memory context under `parent`, with AllocSet's default sizes.
///
/// # Safety
/// `parent` is a live memory context.
pub unsafe fn memory_context(parent: pg_sys::MemoryContext, name: &'static std::ffi::CStr) -> pg_sys::MemoryContext {
    // SAFETY: per the caller; `name` is static, as Postgres keeps the pointer.
    unsafe { pg_sys::AllocSetContextCreateInternal(parent, name.as_ptr(), 0, 8192, 8 << 20) }
}

/// Makes SIGTERM end this background worker at its next interrupt check, its
/// transaction rolled back, as it ends a backend.
pub fn terminate_on_sigterm() {
    // SAFETY: installs Postgres' own handler; called before signals are unblocked.
    unsafe { pg_sys::pqsignal(pg_sys::SIGTERM as i32, Some(die)) };
}

/// Calls `f` with the fixed part (`Form_*` struct `T`) of every row of system catalog
/// `relid`, read with a catalog snapshot.
///
/// # Safety
/// Called in a transaction; `T` is the catalog's row struct.
pub unsafe fn for_each_catalog_row<T>(relid: pg_sys::Oid, mut f: impl FnMut(&T)) {
    // SAFETY: per the caller; the scan is ended and the catalog closed before return, and
    // each row is read while the scan holds it.
    unsafe {
        let rel = pg_sys::table_open(relid, pg_sys::AccessShareLock as i32);
        let scan = pg_sys::table_beginscan_catalog(rel, 0, std::ptr::null_mut());
        loop {
            let tup = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
            if tup.is_null() {
                break;
            }
            f(&*(pg_sys::GETSTRUCT(tup) as *const T));
        }
        pg_sys::table_endscan(scan);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as i32);
    }
}

/// Bytes free on the filesystem holding `rel`'s file (its tablespace's), for an
/// unprivileged user; None when it cannot be told.
///
/// # Safety
/// `rel` is open.
pub unsafe fn free_disk_bytes(rel: pg_sys::Relation) -> Option<u64> {
    // SAFETY: per the caller, rd_node and rd_backend are the open relation's; the path
    // is palloc'd in the current context and read before it goes; statvfs fills the
    // zeroed struct it is given.
    unsafe {
        let node = (*rel).rd_node;
        let path = pg_sys::GetRelationPath(node.dbNode, node.spcNode, node.relNode, (*rel).rd_backend, pg_sys::ForkNumber::MAIN_FORKNUM);
        let file = std::ffi::CStr::from_ptr(path).to_str().ok()?.to_owned();
        pg_sys::pfree(path.cast());
        // The file's directory (the server's working directory is the data directory).
        let dir = std::path::Path::new(&file).parent()?;
        let dir = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(dir.as_ptr(), &mut st) != 0 {
            return None;
        }
        Some(st.f_bavail as u64 * st.f_frsize as u64)
    }
}

/// Runs `f` with `search_path` set to `path` for its duration (a GUC nest level, undone
/// after `f`, or by the transaction's abort if `f` raises).
///
/// # Safety
/// In a transaction.
pub unsafe fn with_search_path<R>(path: &std::ffi::CStr, f: impl FnOnce() -> R) -> R {
    // SAFETY: per the caller; the level is popped below on the normal path, and by
    // AbortTransaction's GUC cleanup when `f` raises.
    unsafe {
        let level = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"search_path".as_ptr(),
            path.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        let out = f();
        pg_sys::AtEOXact_GUC(true, level);
        out
    }
}

/// The transaction that deleted or updated a tuple (HeapTupleHeaderGetUpdateXid).
///
/// # Safety
/// `t` is a valid tuple header, its buffer locked.
pub unsafe fn update_xid(t: pg_sys::HeapTupleHeader) -> pg_sys::TransactionId {
    // SAFETY: per the caller; a multixact's update member is looked up as heapam does.
    unsafe {
        if u32::from((*t).t_infomask) & pg_sys::HEAP_XMAX_IS_MULTI != 0 {
            pg_sys::HeapTupleGetUpdateXid(t)
        } else {
            (*t).t_choice.t_heap.t_xmax
        }
    }
}

/// The WAL record of nbtree's page reuse (nbtxlog.h, PostgreSQL 15): its replay only
/// resolves recovery conflicts with standby snapshots that could see rows removed by
/// `latest_removed` (heap's cleanup records do it for the pages they prune).
#[repr(C)]
struct BtreeReusePage {
    node: pg_sys::RelFileNode,
    block: pg_sys::BlockNumber,
    latest_removed: pg_sys::FullTransactionId,
}
const XLOG_BTREE_REUSE_PAGE: u8 = 0xD0;

/// Makes standbys cancel (after max_standby_streaming_delay) queries whose snapshots may
/// still see parts that transaction `removed_by` removed, before their pages are reused or
/// cut off: mergetree pages carry no per-row visibility that replay could check.
///
/// # Safety
/// `rel` is open, in a transaction; `removed_by` a normal transaction id of the past.
pub unsafe fn log_standby_conflict(rel: pg_sys::Relation, removed_by: pg_sys::TransactionId) {
    // SAFETY: per the caller; the record is built on the stack and copied by XLogInsert.
    unsafe {
        let persistent = (*(*rel).rd_rel).relpersistence as u8 == pg_sys::RELPERSISTENCE_PERMANENT;
        if pg_sys::wal_level < pg_sys::WalLevel::WAL_LEVEL_REPLICA as i32 || !persistent {
            return;
        }
        // The full id of `removed_by`: the current epoch, or the one before if the xid is
        // past the next one (it wrapped since).
        let next = pg_sys::ReadNextFullTransactionId().value;
        let mut epoch = next >> 32;
        let xid = removed_by.into_inner();
        if xid > next as u32 && epoch > 0 {
            epoch -= 1;
        }
        let mut rec = BtreeReusePage {
            node: (*rel).rd_node,
            block: 0,
            latest_removed: pg_sys::FullTransactionId { value: (epoch << 32) | u64::from(xid) },
        };
        pg_sys::XLogBeginInsert();
        pg_sys::XLogRegisterData((&raw mut rec).cast(), std::mem::size_of::<BtreeReusePage>() as i32);
        pg_sys::XLogInsert(pg_sys::RmgrIds::RM_BTREE_ID as u8, XLOG_BTREE_REUSE_PAGE);
    }
}
