//! The part catalog (`mergetree.part_catalog`): one heap row per part. Which parts a
//! snapshot sees is decided here, by heap visibility of those rows. `skip` holds the
//! skip indexes' summaries the same way.
//!
//! Parts belong to a relation's *storage* (its relfilenode), not to its OID: Postgres
//! swaps storage between relations when ALTER TABLE, CLUSTER or VACUUM FULL rewrite a
//! table, and a part written into the new storage must follow it to the table that ends
//! up owning it. `relid` records the table the part was written for, for diagnosis only.

use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::CStr;

pub mod deleted;
pub mod skip;

/// Column numbers of `mergetree.part_catalog` (sql/catalog.sql).
mod att {
    pub const RELFILENODE: i16 = 2;
    pub const PARTITION_VALUE: usize = 13;
    pub const NATTS: usize = 18;
}

#[derive(Clone, Debug)]
pub struct PartRow {
    pub relid: pg_sys::Oid,
    pub relfilenode: pg_sys::Oid,
    pub part_id: i64,
    pub part_name: String,
    pub partition: String,
    pub level: i32,
    pub rows: i64,
    pub first_row: i64,
    pub start_block: i64,
    pub nblocks: i64,
    pub part_bytes: i64,
    pub uncompressed_bytes: i64,
    pub partition_value: Option<Vec<u8>>,
    /// The partition as part names spell it.
    pub partition_id: String,
    /// Insert block numbers of the part's rows.
    pub min_block: i64,
    pub max_block: i64,
    pub mutation: i64,
    /// When the part was written (a TimestampTz; set when read from the catalog).
    pub created: i64,
    /// Where the catalog row is (set when read from the catalog).
    pub tid: pg_sys::ItemPointerData,
    /// Written by this transaction (set when read from the catalog).
    pub mine: bool,
    /// The rows DELETE masked that the reading snapshot sees as deleted (set by
    /// `visible_parts`).
    pub deleted: Option<std::sync::Arc<mergetree::part::deleted::DeletedRows>>,
}

impl PartRow {
    /// Rows a reader of the part gets: those not deleted.
    pub fn live_rows(&self) -> i64 {
        self.rows - self.deleted.as_ref().map_or(0, |d| d.len() as i64)
    }

    /// ClickHouse's part name: partition id, block range, level (and mutation, if any).
    pub fn name(partition_id: &str, min_block: i64, max_block: i64, level: i32, mutation: i64) -> String {
        match mutation {
            0 => format!("{partition_id}_{min_block}_{max_block}_{level}"),
            m => format!("{partition_id}_{min_block}_{max_block}_{level}_{m}"),
        }
    }

    /// The id a partition's display value gets in part names.
    pub fn partition_id_of(display: &str) -> String {
        let id: String = display.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        if id.is_empty() { "all".into() } else { id }
    }
}

const PARTS: &CStr = c"part_catalog";
/// The index on (relfilenode, part_id).
const PARTS_BY_STORAGE: &CStr = c"part_catalog_storage_idx";

/// The catalog table or index `name` of schema mergetree, if this database has it.
fn find_catalog(name: &CStr) -> Option<pg_sys::Oid> {
    // SAFETY: plain catalog lookups by name.
    unsafe {
        let ns = pg_sys::get_namespace_oid(c"mergetree".as_ptr(), true);
        let oid = if ns == pg_sys::InvalidOid { ns } else { pg_sys::get_relname_relid(name.as_ptr(), ns) };
        (oid != pg_sys::InvalidOid).then_some(oid)
    }
}

fn catalog_oid(name: &CStr) -> pg_sys::Oid {
    find_catalog(name).unwrap_or_else(|| {
        // An older version's catalog (the library was replaced, the database not updated).
        let installed = Spi::get_one::<String>("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pg_mergetree'").ok().flatten();
        if let Some(v) = installed.filter(|v| v != env!("CARGO_PKG_VERSION")) {
            crate::error::raise_with_hint(
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("the pg_mergetree extension in this database is version {v}, the server runs version {}", env!("CARGO_PKG_VERSION")),
                "Run ALTER EXTENSION pg_mergetree UPDATE in this database (mergetree tables are unreadable until then; their parts are kept).".into(),
            );
        }
        crate::error::raise_with_hint(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            format!("the pg_mergetree catalog table mergetree.{} is missing", name.to_string_lossy()),
            "Run CREATE EXTENSION pg_mergetree in this database, or ALTER EXTENSION pg_mergetree UPDATE where an older version of the extension is installed.".into(),
        )
    })
}

/// Whether this database has the extension's catalog as this build knows it (a merge
/// worker leaves alone a database whose extension predates it).
pub fn is_current() -> bool {
    // SAFETY: catalog lookups by name.
    unsafe {
        let ns = pg_sys::get_namespace_oid(c"mergetree".as_ptr(), true);
        ns != pg_sys::InvalidOid && pg_sys::get_relname_relid(PARTS_BY_STORAGE.as_ptr(), ns) != pg_sys::InvalidOid
    }
}

/// A catalog relation, opened with `lock`, closed on drop.
struct Catalog(pg_sys::Relation, i32);

impl Catalog {
    fn open(name: &CStr, lock: u32) -> Self {
        // SAFETY: the oid names an existing heap table.
        Catalog(unsafe { pg_sys::table_open(catalog_oid(name), lock as i32) }, lock as i32)
    }

    /// Inserts a row as command `cid`; `values` match the table's columns.
    fn insert(&self, values: &mut [pg_sys::Datum], nulls: &mut [bool], cid: pg_sys::CommandId) {
        // SAFETY: the caller's values match the catalog's tuple descriptor column by column.
        unsafe {
            let tup = pg_sys::heap_form_tuple((*self.0).rd_att, values.as_mut_ptr(), nulls.as_mut_ptr());
            pg_sys::heap_insert(self.0, tup, cid, 0, std::ptr::null_mut());
            self.index(tup);
            pg_sys::heap_freetuple(tup);
        }
    }

    /// Adds the entries of the just-inserted `tup` to every index of the catalog (plain
    /// column indexes: heap_insert, unlike CatalogTupleInsert, maintains none).
    ///
    /// # Safety
    /// `tup` was just inserted into this catalog (its t_self is set).
    unsafe fn index(&self, tup: pg_sys::HeapTuple) {
        // SAFETY: per the caller; each index is opened and closed here, its IndexInfo
        // names heap attributes of this catalog.
        unsafe {
            let desc = (*self.0).rd_att;
            let natts = (*desc).natts as usize;
            let mut all = vec![pg_sys::Datum::from(0); natts];
            let mut all_nulls = vec![false; natts];
            pg_sys::heap_deform_tuple(tup, desc, all.as_mut_ptr(), all_nulls.as_mut_ptr());
            let list = pg_sys::RelationGetIndexList(self.0);
            let n = if list.is_null() { 0 } else { (*list).length as usize };
            for i in 0..n {
                let oid = (*(*list).elements.add(i)).oid_value;
                let idx = pg_sys::index_open(oid, pg_sys::RowExclusiveLock as i32);
                let info = pg_sys::BuildIndexInfo(idx);
                let mut values = [pg_sys::Datum::from(0); pg_sys::INDEX_MAX_KEYS as usize];
                let mut nulls = [false; pg_sys::INDEX_MAX_KEYS as usize];
                for k in 0..(*info).ii_NumIndexAttrs as usize {
                    let attno = (*info).ii_IndexAttrNumbers[k] as usize;
                    values[k] = all[attno - 1];
                    nulls[k] = all_nulls[attno - 1];
                }
                pg_sys::index_insert(idx, values.as_mut_ptr(), nulls.as_mut_ptr(), &mut (*tup).t_self, self.0, pg_sys::IndexUniqueCheck::UNIQUE_CHECK_NO, false, info);
                pg_sys::index_close(idx, pg_sys::RowExclusiveLock as i32);
            }
            pg_sys::list_free(list);
        }
    }
}

impl Drop for Catalog {
    fn drop(&mut self) {
        // SAFETY: opened in `open` with this lock.
        unsafe { pg_sys::table_close(self.0, self.1) };
    }
}

thread_local! {
    /// Bumped whenever this backend changes catalog rows or a (sub)transaction ends:
    /// caches of what a snapshot sees (row fetches by TID) are only reused within one
    /// generation.
    static GENERATION: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Marks every cached view of the catalog stale.
pub fn invalidate() {
    GENERATION.with(|g| g.set(g.get() + 1));
}

pub fn generation() -> u64 {
    GENERATION.with(|g| g.get())
}

/// The catalog columns of `row`, written at `created` (a TimestampTz).
fn datums(row: &PartRow, created: i64) -> ([pg_sys::Datum; att::NATTS], [bool; att::NATTS]) {
    let values: [pg_sys::Datum; att::NATTS] = [
        row.relid.into_datum().unwrap(),
        row.relfilenode.into_datum().unwrap(),
        row.part_id.into_datum().unwrap(),
        row.part_name.as_str().into_datum().unwrap(),
        row.partition.as_str().into_datum().unwrap(),
        row.level.into_datum().unwrap(),
        row.rows.into_datum().unwrap(),
        row.first_row.into_datum().unwrap(),
        row.start_block.into_datum().unwrap(),
        row.nblocks.into_datum().unwrap(),
        row.part_bytes.into_datum().unwrap(),
        row.uncompressed_bytes.into_datum().unwrap(),
        pg_sys::Datum::from(created),
        row.partition_value.as_deref().into_datum().unwrap_or(pg_sys::Datum::from(0)),
        row.partition_id.as_str().into_datum().unwrap(),
        row.min_block.into_datum().unwrap(),
        row.max_block.into_datum().unwrap(),
        row.mutation.into_datum().unwrap(),
    ];
    let mut nulls = [false; att::NATTS];
    nulls[att::PARTITION_VALUE] = row.partition_value.is_none();
    (values, nulls)
}

/// Adds the row for a new part, inserted as command `cid` of this transaction so that
/// it becomes visible exactly to the commands after the rows' own command.
pub fn insert(row: &PartRow, cid: pg_sys::CommandId) {
    let cat = Catalog::open(PARTS, pg_sys::RowExclusiveLock);
    // SAFETY: reads the clock.
    let (mut values, mut nulls) = datums(row, unsafe { pg_sys::GetCurrentTimestamp() });
    cat.insert(&mut values, &mut nulls, cid);
    invalidate();
}

/// Points the row of part `p` (claimed by this transaction) at its copy on the blocks
/// from `start_block`: a new version of the row, so snapshots that saw the old one keep
/// reading the old blocks until no snapshot can, when VACUUM frees them. The part keeps
/// its id, name, row ids (so TIDs) and skip index summaries.
pub fn move_part(p: &PartRow, start_block: i64) -> PartRow {
    let cat = Catalog::open(PARTS, pg_sys::RowExclusiveLock);
    let mut row = p.clone();
    row.start_block = start_block;
    let (mut values, mut nulls) = datums(&row, p.created);
    // SAFETY: the values match the catalog's descriptor; `p.tid` is the row this
    // transaction claimed (locked), so the update meets no concurrent change. A
    // heap-only (HOT) version needs no new index entries; any other does.
    unsafe {
        let tup = pg_sys::heap_form_tuple((*cat.0).rd_att, values.as_mut_ptr(), nulls.as_mut_ptr());
        let mut otid = p.tid;
        pg_sys::simple_heap_update(cat.0, &mut otid, tup);
        if (*(*tup).t_data).t_infomask2 & pg_sys::HEAP_ONLY_TUPLE as u16 == 0 {
            cat.index(tup);
        }
        row.tid = (*tup).t_self;
        pg_sys::heap_freetuple(tup);
    }
    row.mine = true;
    invalidate();
    row
}

const PART_LOG: &CStr = c"part_log_data";

/// A row of `mergetree.part_log`: parts merged or dropped.
pub struct PartEvent<'a> {
    pub kind: &'a str,
    pub relid: pg_sys::Oid,
    pub partition: &'a str,
    /// The part made (merges).
    pub part_name: Option<&'a str>,
    /// The parts merged or dropped.
    pub sources: Vec<String>,
    pub rows: i64,
    pub bytes: i64,
    pub duration: std::time::Duration,
    pub background: bool,
}

/// Records `e` in the part log, in this transaction (a merge rolled back leaves no row).
pub fn log_event(e: &PartEvent) {
    let cat = Catalog::open(PART_LOG, pg_sys::RowExclusiveLock);
    let mut values = [
        // SAFETY: reads the clock.
        pg_sys::Datum::from(unsafe { pg_sys::GetCurrentTimestamp() }),
        e.kind.into_datum().unwrap(),
        e.relid.into_datum().unwrap(),
        e.partition.into_datum().unwrap(),
        e.part_name.into_datum().unwrap_or(pg_sys::Datum::from(0)),
        e.sources.clone().into_datum().unwrap(),
        e.rows.into_datum().unwrap(),
        e.bytes.into_datum().unwrap(),
        (e.duration.as_secs_f64() * 1000.0).into_datum().unwrap(),
        e.background.into_datum().unwrap(),
    ];
    let mut nulls = [false; 10];
    nulls[4] = e.part_name.is_none();
    // SAFETY: reads the transaction's command id.
    cat.insert(&mut values, &mut nulls, unsafe { pg_sys::GetCurrentCommandId(true) });
}

/// Scans the rows of catalog `name` whose oid column `attno` is `oid`, under `snapshot`,
/// calling `f` with each tuple.
unsafe fn scan(name: &CStr, attno: i16, oid: pg_sys::Oid, snapshot: pg_sys::Snapshot, lock: u32, mut f: impl FnMut(&Catalog, pg_sys::HeapTuple)) {
    let cat = Catalog::open(name, lock);
    // SAFETY: a scan key on an oid column with oideq; the scan is ended before return.
    unsafe {
        let mut key: pg_sys::ScanKeyData = std::mem::zeroed();
        pg_sys::ScanKeyInit(&mut key, attno, pg_sys::BTEqualStrategyNumber as u16, pg_sys::Oid::from(pg_sys::F_OIDEQ), oid.into_datum().unwrap());
        let scan = pg_sys::table_beginscan_strat(cat.0, snapshot, 1, &mut key, true, false);
        loop {
            let tup = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
            if tup.is_null() {
                break;
            }
            f(&cat, tup);
        }
        pg_sys::table_endscan(scan);
    }
}

/// Scans the rows of catalog `name` whose leading index column (an oid) is `oid`, through
/// index `index`, under `snapshot`, calling `f` with each tuple.
unsafe fn index_scan(name: &CStr, index: &CStr, attno: i16, oid: pg_sys::Oid, snapshot: pg_sys::Snapshot, lock: u32, mut f: impl FnMut(&Catalog, pg_sys::HeapTuple)) {
    // pg_upgrade's schema restore (binary upgrade) creates the catalog's indexes after the
    // tables whose DDL may read it (ATTACH PARTITION scans the partition): every table and
    // the catalog are empty then (their files are copied afterwards), and a scan of the
    // catalog itself finds the same nothing.
    // SAFETY: a flag Postgres sets once at startup.
    if unsafe { pg_sys::IsBinaryUpgrade } {
        // SAFETY: per the caller.
        return unsafe { scan(name, attno, oid, snapshot, lock, f) };
    }
    let cat = Catalog::open(name, lock);
    // SAFETY: a scan key on the index's leading oid column (given as the heap's attribute
    // number, which systable_beginscan maps); the scan is ended before return.
    unsafe {
        let mut key: pg_sys::ScanKeyData = std::mem::zeroed();
        pg_sys::ScanKeyInit(&mut key, attno, pg_sys::BTEqualStrategyNumber as u16, pg_sys::Oid::from(pg_sys::F_OIDEQ), oid.into_datum().unwrap());
        let scan = pg_sys::systable_beginscan(cat.0, catalog_oid(index), true, snapshot, 1, &mut key);
        loop {
            let tup = pg_sys::systable_getnext(scan);
            if tup.is_null() {
                break;
            }
            f(&cat, tup);
        }
        pg_sys::systable_endscan(scan);
    }
}

unsafe fn decode(cat: &Catalog, tup: pg_sys::HeapTuple) -> PartRow {
    let mut values = [pg_sys::Datum::from(0); att::NATTS];
    let mut nulls = [false; att::NATTS];
    // SAFETY: `tup` is a catalog tuple; datums are copied into Rust values right away.
    unsafe {
        pg_sys::heap_deform_tuple(tup, (*cat.0).rd_att, values.as_mut_ptr(), nulls.as_mut_ptr());
        let i64_at = |i: usize| i64::from_datum(values[i], nulls[i]).unwrap_or(0);
        PartRow {
            relid: pg_sys::Oid::from_datum(values[0], nulls[0]).unwrap_or(pg_sys::InvalidOid),
            relfilenode: pg_sys::Oid::from_datum(values[1], nulls[1]).unwrap_or(pg_sys::InvalidOid),
            part_id: i64_at(2),
            part_name: String::from_datum(values[3], nulls[3]).unwrap_or_default(),
            partition: String::from_datum(values[4], nulls[4]).unwrap_or_default(),
            level: i32::from_datum(values[5], nulls[5]).unwrap_or(0),
            rows: i64_at(6),
            first_row: i64_at(7),
            start_block: i64_at(8),
            nblocks: i64_at(9),
            part_bytes: i64_at(10),
            uncompressed_bytes: i64_at(11),
            partition_value: Vec::<u8>::from_datum(values[att::PARTITION_VALUE], nulls[att::PARTITION_VALUE]),
            partition_id: String::from_datum(values[14], nulls[14]).unwrap_or_default(),
            min_block: i64_at(15),
            max_block: i64_at(16),
            mutation: i64_at(17),
            created: i64_at(12),
            tid: (*tup).t_self,
            mine: pg_sys::TransactionIdIsCurrentTransactionId(pg_sys::HeapTupleHeaderGetXmin((*tup).t_data)),
            deleted: None,
        }
    }
}

/// Parts of `rel` that `snapshot` sees, in part-id order, each with the rows deleted
/// for it (`deleted.rs`).
///
/// # Safety
/// `rel` is open and `snapshot` is a valid registered or active snapshot.
pub unsafe fn visible_parts(rel: pg_sys::Relation, snapshot: pg_sys::Snapshot) -> Vec<PartRow> {
    let mut out = Vec::new();
    // SAFETY: per the caller.
    unsafe {
        let node = (*rel).rd_node.relNode;
        // A SERIALIZABLE reader predicate-locks what it reads of the catalog: through the
        // index that is a lock per index page and catalog row, through a scan of the
        // catalog one lock on it, as before the index existed (and as pg_locks lists it).
        if pg_sys::XactIsoLevel == pg_sys::XACT_SERIALIZABLE as i32 {
            scan(PARTS, att::RELFILENODE, node, snapshot, pg_sys::AccessShareLock, |cat, tup| out.push(decode(cat, tup)));
        } else {
            index_scan(PARTS, PARTS_BY_STORAGE, att::RELFILENODE, node, snapshot, pg_sys::AccessShareLock, |cat, tup| out.push(decode(cat, tup)));
        }
    }
    out.sort_by_key(|r| r.part_id);
    // SAFETY: per the caller.
    unsafe { deleted::attach(rel, snapshot, &mut out) };
    out
}

/// How many parts of `rel` in partition `value` `snapshot` sees: what inserts check
/// before adding a part, so only the partition value of each row is read.
///
/// # Safety
/// `rel` is open and `snapshot` is a valid registered or active snapshot.
pub unsafe fn count_parts(rel: pg_sys::Relation, snapshot: pg_sys::Snapshot, value: &Option<Vec<u8>>) -> usize {
    let mut n = 0usize;
    // SAFETY: per the caller; the partition value is read while the scan holds the tuple.
    unsafe {
        let node = (*rel).rd_node.relNode;
        index_scan(PARTS, PARTS_BY_STORAGE, att::RELFILENODE, node, snapshot, pg_sys::AccessShareLock, |cat, tup| {
            let mut values = [pg_sys::Datum::from(0); att::NATTS];
            let mut nulls = [false; att::NATTS];
            pg_sys::heap_deform_tuple(tup, (*cat.0).rd_att, values.as_mut_ptr(), nulls.as_mut_ptr());
            let i = att::PARTITION_VALUE;
            let same = match value {
                None => nulls[i],
                Some(v) => !nulls[i] && <&[u8]>::from_datum(values[i], false).is_some_and(|b| b == v.as_slice()),
            };
            n += usize::from(same);
        });
    }
    n
}

/// Deletes every part row of the storage `relfilenode` (TRUNCATE, new storage for a table,
/// storage moved to another tablespace).
pub fn delete_storage(relfilenode: pg_sys::Oid) {
    delete_rows(PARTS, att::RELFILENODE, relfilenode);
    skip::delete_storage(relfilenode);
    deleted::delete_storage(relfilenode);
}

/// Deletes every row of catalog `name` whose oid column `attno` is `oid`.
fn delete_rows(name: &CStr, attno: i16, oid: pg_sys::Oid) {
    // SAFETY: SnapshotSelf finds every committed row and every row of this transaction,
    // also those of the current command (the commit-time flush right before ON COMMIT
    // DELETE ROWS truncates the table); the table (or index) they describe is locked
    // exclusively, so no one else changes its rows concurrently.
    unsafe {
        let mut tids = Vec::new();
        scan(name, attno, oid, &raw mut pg_sys::SnapshotSelfData, pg_sys::RowExclusiveLock, |_, tup| tids.push((*tup).t_self));
        let cat = Catalog::open(name, pg_sys::RowExclusiveLock);
        for mut tid in tids {
            pg_sys::simple_heap_delete(cat.0, &mut tid);
        }
    }
    invalidate();
}

/// Deletes the rows of catalog `name` (of `natts` columns) over storage `node` (its oid
/// column `attno`) whose part id (column `part_col`, 0-based) is one of `part_ids`: parts
/// this transaction removes (merged, dropped).
fn delete_part_rows(name: &CStr, natts: usize, attno: i16, part_col: usize, node: pg_sys::Oid, part_ids: &[i64]) {
    // SAFETY: SnapshotSelf also finds rows this transaction wrote; the parts are claimed by
    // it, so no one else changes rows about them.
    unsafe {
        let mut tids = Vec::new();
        scan(name, attno, node, &raw mut pg_sys::SnapshotSelfData, pg_sys::RowExclusiveLock, |cat, tup| {
            let mut values = vec![pg_sys::Datum::from(0); natts];
            let mut nulls = vec![false; natts];
            pg_sys::heap_deform_tuple(tup, (*cat.0).rd_att, values.as_mut_ptr(), nulls.as_mut_ptr());
            if i64::from_datum(values[part_col], nulls[part_col]).is_some_and(|id| part_ids.contains(&id)) {
                tids.push((*tup).t_self);
            }
        });
        let cat = Catalog::open(name, pg_sys::RowExclusiveLock);
        for mut tid in tids {
            pg_sys::simple_heap_delete(cat.0, &mut tid);
        }
    }
}

/// Moves every row of catalog `name` whose oid column `attno` is `old` to `new` (a table's
/// storage copied to another tablespace: same pages, new relfilenode). Transactional.
fn rekey(name: &CStr, attno: i16, old: pg_sys::Oid, new: pg_sys::Oid) {
    // SAFETY: as in delete_rows; each row is copied with the one column replaced, then
    // the original deleted, as the current command.
    unsafe {
        let mut rows = Vec::new();
        scan(name, attno, old, &raw mut pg_sys::SnapshotSelfData, pg_sys::RowExclusiveLock, |_, tup| rows.push(pg_sys::heap_copytuple(tup)));
        let cat = Catalog::open(name, pg_sys::RowExclusiveLock);
        let natts = (*(*cat.0).rd_att).natts as usize;
        let mut values = vec![pg_sys::Datum::from(0); natts];
        let mut nulls = vec![false; natts];
        let mut repl = vec![false; natts];
        values[attno as usize - 1] = new.into_datum().unwrap();
        repl[attno as usize - 1] = true;
        for tup in rows {
            let copy = pg_sys::heap_modify_tuple(tup, (*cat.0).rd_att, values.as_mut_ptr(), nulls.as_mut_ptr(), repl.as_mut_ptr());
            pg_sys::simple_heap_insert(cat.0, copy);
            cat.index(copy);
            pg_sys::simple_heap_delete(cat.0, &mut (*tup).t_self);
            pg_sys::heap_freetuple(copy);
            pg_sys::heap_freetuple(tup);
        }
    }
    invalidate();
}

/// The table's storage moved from relfilenode `old` to `new` (same pages): its part rows
/// and its skip index summaries follow.
pub fn move_storage(old: pg_sys::Oid, new: pg_sys::Oid) {
    rekey(PARTS, att::RELFILENODE, old, new);
    skip::move_storage(old, new);
    deleted::move_storage(old, new);
}

/// Calls `f` with every part row of `rel`'s storage that some transaction may still
/// see: rows of aborted or crashed inserts are skipped, and so are rows of parts replaced
/// (merged, dropped) by a transaction that committed before every running snapshot.
///
/// # Safety
/// `rel` is open.
unsafe fn for_each_live(rel: pg_sys::Relation, mut f: impl FnMut(PartRow)) -> Option<pg_sys::TransactionId> {
    let mut removed_by: Option<pg_sys::TransactionId> = None;
    let cat = Catalog::open(PARTS, pg_sys::AccessShareLock);
    // SAFETY: SnapshotAny returns every tuple and we judge each one as VACUUM would, with
    // the buffer holding it share-locked (the check may set hint bits); the scan is ended
    // before return.
    unsafe {
        let horizon = pg_sys::GetOldestNonRemovableTransactionId(cat.0);
        let mut key: pg_sys::ScanKeyData = std::mem::zeroed();
        let node = (*rel).rd_node.relNode;
        pg_sys::ScanKeyInit(&mut key, att::RELFILENODE, pg_sys::BTEqualStrategyNumber as u16, pg_sys::Oid::from(pg_sys::F_OIDEQ), node.into_datum().unwrap());
        let scan = pg_sys::table_beginscan_strat(cat.0, &raw mut pg_sys::SnapshotAnyData, 1, &mut key, true, false);
        loop {
            let tup = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
            if tup.is_null() {
                break;
            }
            let buf = (*(scan as pg_sys::HeapScanDesc)).rs_cbuf;
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_SHARE as i32);
            let state = pg_sys::HeapTupleSatisfiesVacuum(tup, horizon, buf);
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_UNLOCK as i32);
            if state != pg_sys::HTSV_Result::HEAPTUPLE_DEAD {
                f(decode(&cat, tup));
            } else {
                // The newest transaction whose removal of a part frees its pages.
                let xmax = crate::ffi::update_xid((*tup).t_data);
                if pg_sys::TransactionIdIsNormal(xmax) && removed_by.is_none_or(|r| pg_sys::TransactionIdPrecedes(r, xmax)) {
                    removed_by = Some(xmax);
                }
            }
        }
        pg_sys::table_endscan(scan);
    }
    removed_by
}

/// Locks the catalog rows of `parts` for this transaction (as SELECT FOR UPDATE would), so
/// that no other merge or drop can replace or remove them until it ends. False when one of
/// them is gone or taken: replaced or dropped by a transaction that committed, or locked
/// by one still running (then, with `wait`, after waiting for it to end).
pub fn claim(parts: &[PartRow], wait: bool) -> bool {
    let cat = Catalog::open(PARTS, pg_sys::RowShareLock);
    let policy = if wait { pg_sys::LockWaitPolicy::LockWaitBlock } else { pg_sys::LockWaitPolicy::LockWaitSkip };
    for p in parts {
        // SAFETY: `p.tid` is a row of the catalog read in this transaction; the tuple
        // header is filled in by heap_lock_tuple and the buffer it pins released here.
        let result = unsafe {
            let mut tuple: pg_sys::HeapTupleData = std::mem::zeroed();
            tuple.t_self = p.tid;
            let mut buffer: pg_sys::Buffer = pg_sys::InvalidBuffer as pg_sys::Buffer;
            let mut tmfd: pg_sys::TM_FailureData = std::mem::zeroed();
            let r = pg_sys::heap_lock_tuple(cat.0, &mut tuple, pg_sys::GetCurrentCommandId(false), pg_sys::LockTupleMode::LockTupleExclusive, policy, false, &mut buffer, &mut tmfd);
            if buffer != pg_sys::InvalidBuffer as pg_sys::Buffer {
                pg_sys::ReleaseBuffer(buffer);
            }
            r
        };
        if result != pg_sys::TM_Result::TM_Ok {
            return false;
        }
    }
    true
}

/// Deletes the catalog rows of `parts` (claimed by this transaction) and their skip
/// index summaries: the parts disappear for every snapshot taken after the commit.
pub fn remove(parts: &[PartRow]) {
    let cat = Catalog::open(PARTS, pg_sys::RowExclusiveLock);
    for p in parts {
        let mut tid = p.tid;
        // SAFETY: the row was claimed (locked) by this transaction, so the delete cannot
        // meet a concurrent update.
        unsafe { pg_sys::simple_heap_delete(cat.0, &mut tid) };
    }
    if let Some(first) = parts.first() {
        let ids: Vec<i64> = parts.iter().map(|p| p.part_id).collect();
        skip::delete_parts(first.relfilenode, &ids);
        deleted::delete_parts(first.relfilenode, &ids);
    }
    invalidate();
}

/// Extents of `rel` that some transaction may still see: parts inserted by committed or
/// running transactions; and the newest transaction that removed a part no snapshot of
/// this server sees any more (its pages are free).
///
/// # Safety
/// `rel` is open; the caller holds the metapage lock so no allocation races this.
pub unsafe fn referenced_extents(rel: pg_sys::Relation) -> (Vec<(u32, u32)>, Option<pg_sys::TransactionId>) {
    let mut out = Vec::new();
    // SAFETY: per the caller.
    let removed_by = unsafe { for_each_live(rel, |row| out.push((row.start_block as u32, row.nblocks as u32))) };
    (out, removed_by)
}

/// Every part of `rel`'s storage not rolled back (what SnapshotAny may fetch rows from).
///
/// # Safety
/// `rel` is open.
pub unsafe fn live_parts(rel: pg_sys::Relation) -> Vec<PartRow> {
    let mut out = Vec::new();
    // SAFETY: per the caller.
    unsafe { for_each_live(rel, |row| out.push(row)) };
    out
}
