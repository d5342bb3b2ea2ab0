//! The transaction's insert buffer: per table, columnar, with each row's command id
//! (so a statement never sees its own inserts, later ones do) and subtransaction id
//! (so ROLLBACK TO SAVEPOINT drops exactly its rows).
//!
//! A buffer belongs to the table's storage (relfilenode), like its parts: when TRUNCATE
//! or a rewrite (ALTER TABLE, CLUSTER) gives the table new storage, the old buffer is no
//! longer the table's (the rewrite copied its rows into the new storage's buffer), and
//! a ROLLBACK TO SAVEPOINT that brings the old storage back brings its buffer back too.
//! The buffer follows the table's columns: ADD/DROP COLUMN while rows are buffered
//! migrates them (see `sync`).

use super::partition::Partitioner;
use crate::datum::{self, TablePlan};
use crate::options::TableOptions;
use mergetree::ColumnData;
use pgrx::pg_sys;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// The storage a buffer belongs to: (pg_class.reltablespace, relfilenode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StorageKey {
    pub spc: pg_sys::Oid,
    pub node: pg_sys::Oid,
}

/// # Safety
/// `rel` is open.
pub unsafe fn storage_key(rel: pg_sys::Relation) -> StorageKey {
    // SAFETY: per the caller; rd_rel is the relation's pg_class row.
    unsafe { StorageKey { spc: (*(*rel).rd_rel).reltablespace, node: (*rel).rd_node.relNode } }
}

/// Partitions a buffer finds by comparing values rather than by its hash map.
const FEW_PARTITIONS: usize = 32;

/// What deleting a buffered row found.
pub enum BufferedDelete {
    Done,
    /// Deleted already, by this command of the transaction.
    ByMe(pg_sys::CommandId),
    /// Written as a part since, as this row id.
    Moved(u64),
    Missing,
}

pub struct RelBuffer {
    /// The table the rows were inserted into (a rewrite's new storage is written through
    /// a transient table whose OID disappears at the end of the statement).
    pub relid: pg_sys::Oid,
    sig: datum::Signature,
    pub plan: TablePlan,
    pub options: TableOptions,
    pub partitioner: Option<Partitioner>,
    pub columns: Vec<ColumnData>,
    /// Per row: index into `partition_values`.
    pub partition_of: Vec<u32>,
    /// A collapsing engine's sign column (attribute number, length): rows must hold 1 or -1.
    sign: Option<(i16, i16)>,
    pub partition_values: Vec<Option<Vec<u8>>>,
    /// Reused space for evaluating a row's partition value.
    scratch: ColumnData,
    partition_index: HashMap<Option<Vec<u8>>, u32>,
    pub cids: Vec<pg_sys::CommandId>,
    pub subxids: Vec<pg_sys::SubTransactionId>,
    /// Per row: its sequence number in this transaction (its TID while buffered).
    pub seqs: Vec<u64>,
    next_seq: u64,
    pub bytes: usize,
    /// Bytes left behind by the last mid-transaction flush (rows of enclosing
    /// subtransactions); the next flush waits for a full buffer on top of them.
    pub floor: usize,
    /// Rows already written as parts mid-transaction, as (sequence number, row id in its
    /// part), sorted by sequence number: AFTER ROW triggers and foreign-key checks fetch
    /// inserted rows by the TID they had while buffered. Kept only for tables with such
    /// triggers.
    pub moved: Vec<(u64, u64)>,
    /// Whether the table has AFTER ROW INSERT triggers, or buffered rows were deleted or
    /// updated (so `moved` must be kept).
    pub track_moves: bool,
    /// Buffered rows this transaction deleted, by sequence number: the command and
    /// subtransaction that deleted each (visibility as for inserted rows).
    pub deleted: BTreeMap<u64, (pg_sys::CommandId, pg_sys::SubTransactionId)>,
    /// The first rows, being encoded on the engine threads (encode_ahead.rs); any change
    /// to the buffered rows other than appending drops it.
    pub pending: Option<Pending>,
    /// Bytes buffered when the rows last could not go ahead (mixed commands or
    /// subtransactions): the next try waits for a chunk more.
    pub ahead_from: usize,
}

/// A chunk of the buffer's first rows in the hands of the engine threads
/// (encode_ahead.rs makes and takes it).
pub struct Pending {
    /// The chunk is the buffer's first `rows` rows, `bytes` of them.
    pub rows: usize,
    pub bytes: usize,
    /// Per group of the chunk: its rows' command and partition (index into the buffer's
    /// partition values).
    pub groups: Vec<(pg_sys::CommandId, u32)>,
    pub outcome: std::sync::mpsc::Receiver<std::thread::Result<mergetree::Result<Vec<mergetree::part::chunk::EncodedPart>>>>,
}

thread_local! {
    // Boxed: with_buffer takes a buffer out of the map and puts it back around every
    // row inserted, which moved the whole struct twice a row.
    static BUFFERS: RefCell<HashMap<StorageKey, Box<RelBuffer>>> = RefCell::new(HashMap::new());
}

/// # Safety
/// `rel` is open.
unsafe fn has_after_row_insert_triggers(rel: pg_sys::Relation) -> bool {
    // SAFETY: per the caller; trigdesc is NULL or the relation's trigger descriptor.
    unsafe { !(*rel).trigdesc.is_null() && (*(*rel).trigdesc).trig_insert_after_row }
}

impl RelBuffer {
    /// # Safety
    /// `rel` is open; called inside a transaction.
    unsafe fn new(rel: pg_sys::Relation) -> Self {
        // SAFETY: per the caller. The expression state must live as long as the
        // transaction's buffer, so it is built in TopTransactionContext.
        unsafe {
            let plan = datum::table_plan(rel);
            let options = crate::options::for_relation(rel);
            let partitioner = Self::partitioner(rel, &options);
            RelBuffer::with_layout((*rel).rd_id, datum::signature(rel), plan, options, partitioner, has_after_row_insert_triggers(rel))
        }
    }

    /// The compiled partition expression. Its state must live as long as the
    /// transaction's buffer, so it is built in TopTransactionContext.
    ///
    /// # Safety
    /// `rel` is open; called inside a transaction.
    unsafe fn partitioner(rel: pg_sys::Relation, options: &TableOptions) -> Option<Partitioner> {
        // SAFETY: per the caller.
        unsafe {
            options.partition_by.as_ref().map(|e| {
                let old = pg_sys::MemoryContextSwitchTo(pg_sys::TopTransactionContext);
                let p = Partitioner::new(rel, &crate::ffi::relname(rel), e);
                pg_sys::MemoryContextSwitchTo(old);
                p
            })
        }
    }

    /// Brings the buffer in line with the table's current columns after an ALTER TABLE
    /// that did not rewrite the table (those give it new storage, and a new buffer):
    /// buffered rows keep their values by attribute number; a column added since reads as
    /// its ADD COLUMN default (as in parts written before it existed), a dropped one goes.
    /// Options (renamed key columns) and the partition expression are read again.
    ///
    /// # Safety
    /// `rel` is the open relation the buffer belongs to.
    pub unsafe fn sync(&mut self, rel: pg_sys::Relation) {
        // SAFETY: per the caller.
        unsafe {
            if datum::signature_matches(rel, &self.sig) {
                return;
            }
            // Everything that can raise an error comes first, so a failure leaves the
            // buffer as it was (but for a chunk in flight: it has the old columns).
            self.pending = None;
            let plan = datum::table_plan(rel);
            let options = crate::options::for_relation(rel);
            let partitioner = Self::partitioner(rel, &options);
            let table = crate::ffi::relname(rel);
            for c in &plan.columns {
                // Same attribute: a type change that kept the storage (binary-coercible,
                // e.g. varchar(10) -> varchar(20)) keeps its bytes; any other rewrites.
                if let Some(o) = self.plan.columns.iter().find(|o| o.attnum == c.attnum) {
                    if o.typlen != c.typlen || o.typbyval != c.typbyval {
                        crate::error::raise(
                            pgrx::PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                            format!("mergetree table \"{table}\": column \"{}\" changed its storage without a rewrite", c.name),
                        );
                    }
                }
            }
            let rows = self.rows();
            let mut missing = Vec::with_capacity(plan.columns.len());
            for c in &plan.columns {
                if self.plan.index_of_attnum(c.attnum).is_some() {
                    missing.push(None);
                    continue;
                }
                let d = datum::missing_values(c, rows);
                missing.push(Some(d));
            }
            let mut old: HashMap<i16, ColumnData> =
                self.plan.columns.iter().map(|c| c.attnum).zip(std::mem::take(&mut self.columns)).collect();
            self.columns = plan
                .columns
                .iter()
                .zip(missing)
                .map(|(c, m)| m.unwrap_or_else(|| old.remove(&c.attnum).unwrap_or_else(|| ColumnData::new(c.ty))))
                .collect();
            self.plan = plan;
            self.options = options;
            self.partitioner = partitioner;
            self.sig = datum::signature(rel);
            self.track_moves = has_after_row_insert_triggers(rel);
            self.bytes = self.columns.iter().map(|c| c.data_bytes()).sum();
        }
    }

    pub fn rows(&self) -> usize {
        self.cids.len()
    }

    /// Appends the row in `slot`; returns its TID.
    ///
    /// # Safety
    /// `slot` holds a row of this buffer's relation.
    pub unsafe fn push(&mut self, slot: *mut pg_sys::TupleTableSlot, cid: pg_sys::CommandId) -> pg_sys::ItemPointerData {
        // SAFETY: per the caller; slot_getallattrs fills tts_values/tts_isnull for all attributes.
        unsafe {
            pg_sys::slot_getallattrs(slot);
            let values = std::slice::from_raw_parts((*slot).tts_values, self.plan.natts);
            let nulls = std::slice::from_raw_parts((*slot).tts_isnull, self.plan.natts);
            if let Some((attnum, len)) = self.sign {
                self.check_sign(values[attnum as usize - 1], nulls[attnum as usize - 1], attnum, len);
            }
            for (col, data) in self.plan.columns.iter().zip(self.columns.iter_mut()) {
                let i = col.attnum as usize - 1;
                if nulls[i] {
                    data.push_null();
                    self.bytes += 1;
                } else {
                    self.bytes += datum::push_datum(col, values[i], data) + 1;
                }
            }
            let idx = match &self.partitioner {
                None => 0,
                Some(p) => {
                    let value = p.eval_into(slot, &mut self.scratch).then(|| self.scratch.value(0));
                    // Rows usually arrive grouped by partition: check the previous row's first.
                    let last = self.partition_of.last().copied();
                    let values = &self.partition_values;
                    let found = last.filter(|&l| values[l as usize].as_deref() == value).or_else(|| {
                        // A load's few partitions (its months): comparing beats hashing
                        // an owned copy of the value for every row.
                        if values.len() <= FEW_PARTITIONS {
                            values.iter().position(|v| v.as_deref() == value).map(|i| i as u32)
                        } else {
                            self.partition_index.get(&value.map(<[u8]>::to_vec)).copied()
                        }
                    });
                    match found {
                        Some(l) => l,
                        None => {
                            let key = value.map(<[u8]>::to_vec);
                            let next = self.partition_values.len() as u32;
                            self.partition_index.insert(key.clone(), next);
                            self.partition_values.push(key);
                            next
                        }
                    }
                }
            };
            if self.partition_values.is_empty() {
                self.partition_values.push(None);
            }
            self.partition_of.push(idx);
            self.cids.push(cid);
            self.subxids.push(pg_sys::GetCurrentSubTransactionId());
            let seq = self.next_seq;
            self.next_seq += 1;
            self.seqs.push(seq);
            let tid = datum::row_id_to_tid(datum::BUFFER_ROW_BASE + seq);
            (*slot).tts_tid = tid;
            (*slot).tts_tableOid = pg_sys::InvalidOid;
            tid
        }
    }

    /// Refuses a row whose sign (collapsing engines) is not 1 or -1, as a CHECK
    /// constraint would: merges could not collapse it.
    fn check_sign(&self, value: pg_sys::Datum, null: bool, attnum: i16, len: i16) {
        let v = match len {
            2 => value.value() as i16 as i64,
            4 => value.value() as i32 as i64,
            _ => value.value() as i64,
        };
        if null || !(v == 1 || v == -1) {
            let name = self.plan.columns.iter().find(|c| c.attnum == attnum).map_or("sign", |c| c.name.as_str());
            let table = crate::ffi::relid_name(self.relid);
            crate::error::raise_with_hint(
                pgrx::PgSqlErrorCode::ERRCODE_CHECK_VIOLATION,
                format!("sign column \"{name}\" of mergetree table \"{table}\" must be 1 or -1 (got {})", if null { "NULL".to_string() } else { v.to_string() }),
                "Insert a state row with sign 1 and cancel it later with an identical row with sign -1.".into(),
            );
        }
    }

    /// The buffered rows (their indices) grouped by command and partition, in that order:
    /// a part each. `cid_of(i)` is the command row `i` is written as, None to leave it out.
    pub fn groups(&self, cid_of: impl Fn(usize) -> Option<pg_sys::CommandId>) -> BTreeMap<(pg_sys::CommandId, u32), Vec<u32>> {
        let mut groups: BTreeMap<(pg_sys::CommandId, u32), Vec<u32>> = BTreeMap::new();
        for i in 0..self.rows() {
            if let Some(cid) = cid_of(i) {
                groups.entry((cid, self.partition_of[i])).or_default().push(i as u32);
            }
        }
        groups
    }

    /// Keeps only the rows for which `keep` is true.
    pub fn retain(&mut self, keep: impl Fn(usize) -> bool) {
        let idx: Vec<u32> = (0..self.rows()).filter(|&i| keep(i)).map(|i| i as u32).collect();
        if idx.len() == self.rows() {
            return;
        }
        self.pending = None;
        self.ahead_from = 0;
        let n = self.rows();
        // The rows after a chunk written ahead: moved to the front of the same memory.
        if let Some(&first) = idx.first().filter(|&&f| idx.len() == n - f as usize) {
            let first = first as usize;
            self.columns.iter_mut().for_each(|c| c.remove_front(first));
            self.partition_of.drain(..first);
            self.cids.drain(..first);
            self.subxids.drain(..first);
            self.seqs.drain(..first);
            self.bytes = self.columns.iter().map(|c| c.data_bytes()).sum();
            return;
        }
        self.columns = self.columns.iter().map(|c| c.take(&idx)).collect();
        let pick = |v: &Vec<u32>| idx.iter().map(|&i| v[i as usize]).collect::<Vec<_>>();
        self.partition_of = pick(&self.partition_of);
        self.cids = pick(&self.cids);
        self.subxids = pick(&self.subxids);
        self.seqs = idx.iter().map(|&i| self.seqs[i as usize]).collect();
        self.bytes = self.columns.iter().map(|c| c.data_bytes()).sum();
    }

    /// Drops a half-appended row left by an error in the middle of `push`.
    fn repair(&mut self) {
        let n = self.rows();
        for c in &mut self.columns {
            c.truncate(n);
        }
        self.partition_of.truncate(n);
    }

    /// Whether buffered row `i` is visible to a command `curcid` (None: after every
    /// command): inserted before it and not deleted before it.
    pub fn row_visible(&self, i: usize, curcid: Option<pg_sys::CommandId>) -> bool {
        curcid.is_none_or(|c| self.cids[i] < c) && self.deleted.get(&self.seqs[i]).is_none_or(|&(d, _)| curcid.is_some_and(|c| d >= c))
    }

    /// What deleting buffered row `seq` would find (Done: it is here to delete).
    pub fn delete_state(&self, seq: u64) -> BufferedDelete {
        match self.deleted.get(&seq) {
            Some(&(by, _)) => BufferedDelete::ByMe(by),
            None if self.seqs.binary_search(&seq).is_ok() => BufferedDelete::Done,
            None => self.moved_row(seq).map_or(BufferedDelete::Missing, BufferedDelete::Moved),
        }
    }

    /// Deletes buffered row `seq` as command `cid` (DELETE, or UPDATE's old version).
    pub fn delete_row(&mut self, seq: u64, cid: pg_sys::CommandId) -> BufferedDelete {
        let state = self.delete_state(seq);
        if matches!(state, BufferedDelete::Done) {
            // From now on rows written as parts mid-transaction keep their deletes (see
            // flush): their moves are recorded, and nothing is encoded ahead.
            self.track_moves = true;
            self.pending = None;
            self.ahead_from = 0;
            // SAFETY: reads transaction state.
            let subxid = unsafe { pg_sys::GetCurrentSubTransactionId() };
            self.deleted.insert(seq, (cid, subxid));
        }
        state
    }

    /// Whether sequence number `seq` was handed to a row of this buffer.
    pub fn assigned(&self, seq: u64) -> bool {
        seq < self.next_seq
    }

    /// Where buffered row `seq` went when it was written as a part mid-transaction.
    pub fn moved_row(&self, seq: u64) -> Option<u64> {
        self.moved.binary_search_by_key(&seq, |&(s, _)| s).ok().map(|i| self.moved[i].1)
    }

    /// Drops the bookkeeping of rows whose columns were handed to a part (see flush).
    pub fn forget_rows(&mut self) {
        self.pending = None;
        self.ahead_from = 0;
        self.partition_of.clear();
        self.cids.clear();
        self.subxids.clear();
        self.seqs.clear();
        self.bytes = 0;
    }

    /// Empties the buffer after its rows were written as parts.
    pub fn clear(&mut self) {
        self.retain(|_| false);
        self.bytes = 0;
    }
}

/// Runs `f` on the buffer of `rel`'s storage, creating it on first use in this
/// transaction and bringing it in line with the table's columns.
///
/// # Safety
/// `rel` is open.
pub unsafe fn with_buffer<R>(rel: pg_sys::Relation, f: impl FnOnce(&mut RelBuffer) -> R) -> R {
    // SAFETY: rel is open.
    let key = unsafe { storage_key(rel) };
    let existing = BUFFERS.with(|b| b.borrow_mut().remove(&key));
    // Put the buffer back even if `f` (or the column sync) raises an error: a failed
    // statement inside a savepoint must not lose the rows of earlier statements.
    struct Restore(StorageKey, Option<Box<RelBuffer>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(mut b) = self.1.take() {
                b.repair();
                BUFFERS.with(|m| m.borrow_mut().insert(self.0, b));
            }
        }
    }
    let mut guard = Restore(key, existing);
    let b = match guard.1.as_mut() {
        Some(b) => {
            // SAFETY: per the caller.
            unsafe { b.sync(rel) };
            b
        }
        // SAFETY: per the caller.
        None => guard.1.insert(Box::new(unsafe { RelBuffer::new(rel) })),
    };
    f(b)
}

/// Runs `f` on the buffer of `rel`'s storage if there is one, in line with its columns.
///
/// # Safety
/// `rel` is open.
pub unsafe fn with_existing<R>(rel: pg_sys::Relation, f: impl FnOnce(&mut RelBuffer) -> R) -> Option<R> {
    // SAFETY: rel is open.
    let key = unsafe { storage_key(rel) };
    if !BUFFERS.with(|b| b.borrow().contains_key(&key)) {
        return None;
    }
    // SAFETY: per the caller.
    Some(unsafe { with_buffer(rel, f) })
}

/// Removes and returns every storage's buffer (commit, abort).
pub fn take_all() -> Vec<(StorageKey, RelBuffer)> {
    BUFFERS.with(|b| b.borrow_mut().drain().map(|(k, v)| (k, *v)).collect())
}

/// Drops the buffer of a storage (TRUNCATE of a table created in this transaction).
pub fn discard(key: StorageKey) {
    BUFFERS.with(|b| b.borrow_mut().remove(&key));
}

pub fn for_each(mut f: impl FnMut(&mut RelBuffer)) {
    BUFFERS.with(|b| b.borrow_mut().values_mut().for_each(|v| f(v)));
}

/// Copies every buffered row of storage `from` into a new buffer for storage `to` (same
/// table, same columns), as rows of the current subtransaction and command: ALTER TABLE
/// SET TABLESPACE moves a table's storage. The old buffer stays, for a ROLLBACK TO
/// SAVEPOINT that moves the table back.
pub fn copy_rows(from: StorageKey, to: StorageKey) {
    BUFFERS.with(|b| {
        let mut b = b.borrow_mut();
        let Some(src) = b.get(&from) else { return };
        // SAFETY: reads transaction state.
        let cid = unsafe { pg_sys::GetCurrentCommandId(true) };
        let mut dst = src.empty_like();
        dst.append_from(src, cid);
        b.insert(to, Box::new(dst));
    });
}

impl RelBuffer {
    /// A buffer for the same table and columns, with no rows.
    fn empty_like(&self) -> RelBuffer {
        RelBuffer::with_layout(self.relid, self.sig.clone(), self.plan.clone(), self.options.clone(), self.partitioner.clone(), self.track_moves)
    }

    /// An empty buffer for table `relid` with the given columns and options.
    fn with_layout(
        relid: pg_sys::Oid,
        sig: datum::Signature,
        plan: TablePlan,
        options: TableOptions,
        partitioner: Option<Partitioner>,
        track_moves: bool,
    ) -> RelBuffer {
        let sign = options.engine.sign().and_then(|n| plan.index_of_name(n)).map(|i| (plan.columns[i].attnum, plan.columns[i].typlen));
        RelBuffer {
            relid,
            sig,
            sign,
            columns: plan.new_columns(),
            plan,
            options,
            partitioner,
            partition_of: Vec::new(),
            partition_values: Vec::new(),
            scratch: ColumnData::new(mergetree::ColumnType::Var),
            partition_index: HashMap::new(),
            cids: Vec::new(),
            subxids: Vec::new(),
            seqs: Vec::new(),
            next_seq: 0,
            bytes: 0,
            floor: 0,
            moved: Vec::new(),
            track_moves,
            deleted: BTreeMap::new(),
            pending: None,
            ahead_from: 0,
        }
    }

    /// Appends every row of `src` (same table, same columns) as command `cid` of the
    /// current subtransaction.
    fn append_from(&mut self, src: &RelBuffer, cid: pg_sys::CommandId) {
        // SAFETY: reads transaction state.
        let subxid = unsafe { pg_sys::GetCurrentSubTransactionId() };
        let kept: Vec<usize> = (0..src.rows()).filter(|&i| !src.deleted.contains_key(&src.seqs[i])).collect();
        for (d, s) in self.columns.iter_mut().zip(&src.columns) {
            for &i in &kept {
                if s.is_null(i) {
                    d.push_null();
                } else {
                    d.push(s.value(i));
                }
            }
        }
        for &i in &kept {
            let value = src.partition_values[src.partition_of[i] as usize].clone();
            let next = self.partition_values.len() as u32;
            let idx = *self.partition_index.entry(value.clone()).or_insert(next);
            if idx == next {
                self.partition_values.push(value);
            }
            self.partition_of.push(idx);
            self.cids.push(cid);
            self.subxids.push(subxid);
            self.seqs.push(self.next_seq);
            self.next_seq += 1;
        }
        self.bytes = self.columns.iter().map(|c| c.data_bytes()).sum();
    }
}

/// Runs `f` on the buffer of `rel`'s storage as it is, without bringing it in line with
/// the table's columns (readers map columns by attribute number: during an ALTER TABLE
/// rewrite the rows are read with the old columns while the table has the new ones).
///
/// # Safety
/// `rel` is open.
pub unsafe fn peek<R>(rel: pg_sys::Relation, f: impl FnOnce(&RelBuffer) -> R) -> Option<R> {
    // SAFETY: per the caller.
    let key = unsafe { storage_key(rel) };
    BUFFERS.with(|b| b.borrow().get(&key).map(|v| f(v)))
}

/// Rows of `rel` this transaction buffered, visible to a command `curcid` (None: all),
/// copied out with their TIDs' row ids; columns by attribute number, in the buffer's
/// layout.
///
/// # Safety
/// `rel` is open.
pub unsafe fn visible_rows(rel: pg_sys::Relation, curcid: Option<pg_sys::CommandId>) -> Option<(Vec<(i16, ColumnData)>, Vec<u64>)> {
    // SAFETY: per the caller.
    unsafe {
        peek(rel, |buf| {
            let idx: Vec<u32> = (0..buf.rows()).filter(|&i| buf.row_visible(i, curcid)).map(|i| i as u32).collect();
            if idx.is_empty() {
                return None;
            }
            let cols = buf.plan.columns.iter().zip(&buf.columns).map(|(p, c)| (p.attnum, c.take(&idx))).collect();
            let ids = idx.iter().map(|&i| datum::BUFFER_ROW_BASE + buf.seqs[i as usize]).collect();
            Some((cols, ids))
        })
        .flatten()
    }
}

/// The partition value of each row `visible_rows` returns (same `curcid`, same order).
///
/// # Safety
/// `rel` is open.
pub unsafe fn visible_partitions(rel: pg_sys::Relation, curcid: Option<pg_sys::CommandId>) -> Vec<Option<Vec<u8>>> {
    // SAFETY: per the caller.
    unsafe {
        peek(rel, |buf| {
            (0..buf.rows()).filter(|&i| buf.row_visible(i, curcid)).map(|i| buf.partition_values[buf.partition_of[i] as usize].clone()).collect()
        })
        .unwrap_or_default()
    }
}

/// Rows buffered for `rel`'s storage.
///
/// # Safety
/// `rel` is open.
pub unsafe fn buffered_row_count(rel: pg_sys::Relation) -> usize {
    // SAFETY: per the caller.
    let key = unsafe { storage_key(rel) };
    BUFFERS.with(|b| b.borrow().get(&key).map_or(0, |b| b.rows()))
}
