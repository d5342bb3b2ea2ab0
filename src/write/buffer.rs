//! The transaction's insert buffer: per table, columnar, with each row's command id
//! (so a statement never sees its own inserts, later ones do) and subtransaction id
//! (so ROLLBACK TO SAVEPOINT drops exactly its rows).

use super::partition::Partitioner;
use crate::datum::{self, TablePlan};
use crate::options::TableOptions;
use mergetree::ColumnData;
use pgrx::pg_sys;
use std::cell::RefCell;
use std::collections::HashMap;

pub struct RelBuffer {
    pub plan: TablePlan,
    pub options: TableOptions,
    pub partitioner: Option<Partitioner>,
    pub columns: Vec<ColumnData>,
    /// Per row: index into `partition_values`.
    pub partition_of: Vec<u32>,
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
}

thread_local! {
    static BUFFERS: RefCell<HashMap<pg_sys::Oid, RelBuffer>> = RefCell::new(HashMap::new());
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
            let partitioner = options.partition_by.as_ref().map(|e| {
                let old = pg_sys::MemoryContextSwitchTo(pg_sys::TopTransactionContext);
                let p = Partitioner::new(rel, &crate::am::relname(rel), e);
                pg_sys::MemoryContextSwitchTo(old);
                p
            });
            RelBuffer {
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
            }
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
                    match last.filter(|&l| self.partition_values[l as usize].as_deref() == value) {
                        Some(l) => l,
                        None => {
                            let key = value.map(<[u8]>::to_vec);
                            let next = self.partition_values.len() as u32;
                            let idx = *self.partition_index.entry(key.clone()).or_insert(next);
                            if idx == next {
                                self.partition_values.push(key);
                            }
                            idx
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

    /// Keeps only the rows for which `keep` is true.
    pub fn retain(&mut self, keep: impl Fn(usize) -> bool) {
        let idx: Vec<u32> = (0..self.rows()).filter(|&i| keep(i)).map(|i| i as u32).collect();
        if idx.len() == self.rows() {
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

    /// Drops the bookkeeping of rows whose columns were handed to a part (see flush).
    pub fn forget_rows(&mut self) {
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

/// Runs `f` on the buffer of `rel`, creating it on first use in this transaction.
///
/// # Safety
/// `rel` is open.
pub unsafe fn with_buffer<R>(rel: pg_sys::Relation, f: impl FnOnce(&mut RelBuffer) -> R) -> R {
    // SAFETY: rel is open.
    let relid = unsafe { (*rel).rd_id };
    let existing = BUFFERS.with(|b| b.borrow_mut().remove(&relid));
    // SAFETY: per the caller.
    let b = existing.unwrap_or_else(|| unsafe { RelBuffer::new(rel) });
    // Put the buffer back even if `f` raises an error: a failed statement inside a
    // savepoint must not lose the rows of earlier statements.
    struct Restore(pg_sys::Oid, Option<RelBuffer>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(mut b) = self.1.take() {
                if std::thread::panicking() {
                    b.repair();
                }
                BUFFERS.with(|m| m.borrow_mut().insert(self.0, b));
            }
        }
    }
    let mut guard = Restore(relid, Some(b));
    f(guard.1.as_mut().expect("buffer present"))
}

/// Removes and returns every table's buffer (commit, abort).
pub fn take_all() -> Vec<(pg_sys::Oid, RelBuffer)> {
    BUFFERS.with(|b| b.borrow_mut().drain().collect())
}

pub fn discard(relid: pg_sys::Oid) {
    BUFFERS.with(|b| b.borrow_mut().remove(&relid));
}

pub fn for_each(mut f: impl FnMut(&mut RelBuffer)) {
    BUFFERS.with(|b| b.borrow_mut().values_mut().for_each(&mut f));
}

/// Rows of `relid` this transaction buffered, visible to a command `curcid` (None: all),
/// copied out with their TIDs' row ids.
pub fn visible_rows(relid: pg_sys::Oid, curcid: Option<pg_sys::CommandId>) -> Option<(Vec<ColumnData>, Vec<u64>, TablePlan)> {
    BUFFERS.with(|b| {
        let b = b.borrow();
        let buf = b.get(&relid)?;
        let idx: Vec<u32> = (0..buf.rows()).filter(|&i| curcid.is_none_or(|c| buf.cids[i] < c)).map(|i| i as u32).collect();
        if idx.is_empty() {
            return None;
        }
        let cols = buf.columns.iter().map(|c| c.take(&idx)).collect();
        let ids = idx.iter().map(|&i| datum::BUFFER_ROW_BASE + buf.seqs[i as usize]).collect();
        Some((cols, ids, buf.plan.clone()))
    })
}

pub fn buffered_row_count(relid: pg_sys::Oid) -> usize {
    BUFFERS.with(|b| b.borrow().get(&relid).map_or(0, |b| b.rows()))
}
