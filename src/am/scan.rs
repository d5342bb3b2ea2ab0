//! Sequential scans and ANALYZE sampling: visible parts (from the catalog, under the
//! scan's snapshot) granule by granule, then the transaction's own buffered rows. Values
//! reach the slot as Datums pointing into the current decoded granule, valid until the
//! next row is asked for (as a heap scan's are while its buffer stays pinned); ANALYZE
//! sample rows are materialized. Fetches by TID live in `fetch.rs`.

use crate::catalog::{self, PartRow};
use crate::datum::{self, DatumColumn, TablePlan};
use crate::ffi::clear_slot;
use crate::storage::blob::PageStore;
use crate::write::buffer;
use mergetree::{ColumnData, PartReader};
use pgrx::pg_sys;
use pgrx::prelude::*;

/// One decoded granule, as Datums per plan column.
struct Granule {
    cols: Vec<DatumColumn>,
    /// Row id of the granule's first row (TIDs derive from it).
    first_row_id: u64,
    rows: usize,
    /// Per row, whether DELETE masked it (None: none is).
    deleted: Option<Vec<bool>>,
}

enum Source {
    Part(PartRow),
    /// Buffered rows: columns by attribute number, in the buffer's own layout.
    Buffered { cols: Vec<(i16, ColumnData)>, row_ids: Vec<u64> },
}

impl Source {
    fn rows(&self) -> u64 {
        match self {
            Source::Part(p) => p.rows as u64,
            Source::Buffered { row_ids, .. } => row_ids.len() as u64,
        }
    }
}

pub struct Cursor {
    rel: pg_sys::Relation,
    table: String,
    /// How rows are returned: the columns of the descriptor `desc` of the slots asked to
    /// hold them. That is the relation's, except while ALTER TABLE rewrites the table:
    /// then the relation already has the new column types and the slot the old ones,
    /// which are the ones stored.
    plan: TablePlan,
    desc: pg_sys::TupleDesc,
    sources: Vec<Source>,
    src: usize,
    reader: Option<PartReader<PageStore>>,
    granule: usize,
    cur: Option<Granule>,
    row: usize,
    /// Global index (over all sources) of the row `next` returns next.
    pos: u64,
    /// A rewrite's progress report (ALTER TABLE, VACUUM FULL, CLUSTER read through here).
    progress: Option<crate::write::progress::Progress>,
}

fn open_reader(rel: pg_sys::Relation, table: &str, p: &PartRow) -> PartReader<PageStore> {
    crate::storage::part_cache::open(rel, p).unwrap_or_else(|e| crate::error::report(table, e))
}

/// Every plan column of granule `g` of a part as Datums (a column the part predates reads
/// as its default): all its rows, or with `only`, those rows alone (in that order).
pub fn decode_granule(reader: &PartReader<PageStore>, plan: &TablePlan, g: usize, only: Option<&[u32]>, table: &str) -> Vec<DatumColumn> {
    let meta = reader.meta();
    let rows = meta.granule_rows[g] as usize;
    plan.columns
        .iter()
        .map(|c| match (meta.columns.iter().position(|m| m.spec.id == c.attnum as u32), only) {
            (Some(i), None) => datum::to_datums(c, reader.read_granule(i, g).unwrap_or_else(|e| crate::error::report(table, e))),
            (Some(i), Some(wanted)) => {
                datum::to_datums_of(c, reader.read_granule_rows(i, g, Some(wanted)).unwrap_or_else(|e| crate::error::report(table, e)), wanted)
            }
            (None, only) => datum::missing_column(c, only.map_or(rows, <[u32]>::len)),
        })
        .collect()
}

impl Cursor {
    /// # Safety
    /// `rel` is open and `snapshot` valid for the cursor's lifetime.
    pub unsafe fn new(rel: pg_sys::Relation, snapshot: pg_sys::Snapshot) -> Self {
        // SAFETY: per the caller.
        unsafe {
            let plan = datum::table_plan(rel);
            let mut sources: Vec<Source> = catalog::visible_parts(rel, snapshot).into_iter().map(Source::Part).collect();
            let curcid = if !snapshot.is_null() && (*snapshot).snapshot_type == pg_sys::SnapshotType::SNAPSHOT_MVCC {
                Some((*snapshot).curcid)
            } else {
                None
            };
            if let Some((cols, row_ids)) = buffer::visible_rows(rel, curcid) {
                sources.push(Source::Buffered { cols, row_ids });
            }
            let mut c = Cursor { rel, table: crate::ffi::relname(rel), plan, desc: (*rel).rd_att, sources, src: 0, reader: None, granule: 0, cur: None, row: 0, pos: 0, progress: None };
            c.progress = crate::write::progress::rewrite_progress((*rel).rd_id, c.total_rows());
            c
        }
    }

    /// Returns rows as `desc` describes them from now on (see `plan`); the current
    /// granule, if any, is decoded again.
    ///
    /// # Safety
    /// `desc` is a valid tuple descriptor of this relation's rows.
    unsafe fn use_descriptor(&mut self, desc: pg_sys::TupleDesc) {
        if desc == self.desc {
            return;
        }
        // SAFETY: per the caller.
        self.plan = unsafe { datum::plan_of_desc(desc) };
        self.desc = desc;
        if let Some(g) = &self.cur {
            let first_row_id = g.first_row_id;
            let again = match (self.sources.get(self.src), &self.reader) {
                (Some(Source::Part(_)), Some(reader)) => self.decode_part_granule(reader, self.granule - 1, first_row_id),
                (Some(Source::Buffered { cols, row_ids }), _) => self.decode_buffered(cols, row_ids),
                _ => return,
            };
            self.cur = Some(again);
        }
    }

    fn decode_buffered(&self, cols: &[(i16, ColumnData)], row_ids: &[u64]) -> Granule {
        let dcols = self
            .plan
            .columns
            .iter()
            .map(|c| match cols.iter().find(|(a, _)| *a == c.attnum) {
                Some((_, d)) => datum::to_datums(c, d.clone()),
                None => datum::missing_column(c, row_ids.len()),
            })
            .collect();
        Granule { cols: dcols, first_row_id: row_ids[0], rows: row_ids.len(), deleted: None }
    }

    pub fn total_rows(&self) -> u64 {
        self.sources.iter().map(Source::rows).sum()
    }

    fn decode_part_granule(&self, reader: &PartReader<PageStore>, g: usize, first_row_id: u64) -> Granule {
        let cols = decode_granule(reader, &self.plan, g, None, &self.table);
        let rows = reader.meta().granule_rows[g] as usize;
        let deleted = match self.sources.get(self.src) {
            Some(Source::Part(p)) => p.deleted.as_ref().and_then(|d| {
                let gone = d.in_range(first_row_id - p.first_row as u64, rows);
                (!gone.is_empty()).then(|| {
                    let mut flags = vec![false; rows];
                    gone.iter().for_each(|&r| flags[r as usize] = true);
                    flags
                })
            }),
            _ => None,
        };
        Granule { cols, first_row_id, rows, deleted }
    }

    /// Loads the next granule; false at the end of all sources.
    fn load_next(&mut self) -> bool {
        if let Some(p) = &self.progress {
            p.update(self.pos, 0);
        }
        loop {
            check_for_interrupts!();
            let Some(src) = self.sources.get(self.src) else { return false };
            match src {
                Source::Part(p) => {
                    if self.reader.is_none() {
                        self.reader = Some(open_reader(self.rel, &self.table, p));
                        self.granule = 0;
                    }
                    let reader = self.reader.as_ref().expect("reader open");
                    if self.granule < reader.meta().granules() {
                        let start: u64 = reader.meta().granule_rows[..self.granule].iter().map(|&n| n as u64).sum();
                        let g = self.decode_part_granule(reader, self.granule, p.first_row as u64 + start);
                        self.granule += 1;
                        self.cur = Some(g);
                        self.row = 0;
                        return true;
                    }
                    self.reader = None;
                    self.src += 1;
                    self.granule = 0;
                }
                Source::Buffered { cols, row_ids } => {
                    if self.granule == 0 {
                        self.cur = Some(self.decode_buffered(cols, row_ids));
                        self.granule = 1;
                        self.row = 0;
                        return true;
                    }
                    self.src += 1;
                    self.granule = 0;
                }
            }
        }
    }

    /// Advances to the next row not deleted; returns its index within the current
    /// granule. (Deleted rows keep their places in the global index.)
    pub fn next(&mut self) -> Option<usize> {
        loop {
            if let Some(g) = &self.cur {
                if self.row < g.rows {
                    self.row += 1;
                    self.pos += 1;
                    if g.deleted.as_ref().is_some_and(|d| d[self.row - 1]) {
                        continue;
                    }
                    return Some(self.row - 1);
                }
                self.cur = None;
            }
            if !self.load_next() {
                return None;
            }
        }
    }

    /// Moves forward so the next row returned is the one at global index `target`,
    /// skipping whole parts and granules without decoding them.
    pub fn skip_to(&mut self, target: u64) {
        while self.pos < target {
            if let Some(g) = &self.cur {
                let left = (g.rows - self.row) as u64;
                let step = left.min(target - self.pos);
                self.row += step as usize;
                self.pos += step;
                if self.row >= g.rows {
                    self.cur = None;
                }
                continue;
            }
            let Some(src) = self.sources.get(self.src) else { return };
            if self.reader.is_none() && self.granule == 0 && self.pos + src.rows() <= target {
                self.pos += src.rows();
                self.src += 1;
                continue;
            }
            if let (Some(r), Source::Part(_)) = (&self.reader, src) {
                if self.granule < r.meta().granules() {
                    let n = r.meta().granule_rows[self.granule] as u64;
                    if self.pos + n <= target {
                        self.pos += n;
                        self.granule += 1;
                        continue;
                    }
                }
            }
            if !self.load_next() {
                return;
            }
        }
    }

    /// Stores the next row into `slot`, or clears it at the end; true when a row was stored.
    ///
    /// # Safety
    /// `slot` has the relation's tuple descriptor.
    pub unsafe fn next_into(&mut self, slot: *mut pg_sys::TupleTableSlot) -> bool {
        // SAFETY: per the caller.
        unsafe {
            self.use_descriptor((*slot).tts_tupleDescriptor);
            match self.next() {
                Some(i) => {
                    self.store(i, slot);
                    true
                }
                None => {
                    clear_slot(slot);
                    false
                }
            }
        }
    }

    /// Stores row `i` of the current granule into `slot`.
    ///
    /// # Safety
    /// `slot` has the relation's tuple descriptor.
    pub unsafe fn store(&self, i: usize, slot: *mut pg_sys::TupleTableSlot) {
        let g = self.cur.as_ref().expect("a current granule");
        // SAFETY: tts_values/tts_isnull have natts entries.
        unsafe {
            clear_slot(slot);
            let values = std::slice::from_raw_parts_mut((*slot).tts_values, self.plan.natts);
            let nulls = std::slice::from_raw_parts_mut((*slot).tts_isnull, self.plan.natts);
            nulls.fill(true);
            for (c, d) in self.plan.columns.iter().zip(&g.cols) {
                let a = c.attnum as usize - 1;
                values[a] = d.datums[i];
                nulls[a] = d.nulls[i];
            }
            pg_sys::ExecStoreVirtualTuple(slot);
            (*slot).tts_tid = datum::row_id_to_tid(g.first_row_id + i as u64);
            (*slot).tts_tableOid = (*self.rel).rd_id;
        }
    }
}

/// The scan descriptor Postgres sees; `base` must come first.
#[repr(C)]
struct ScanDesc {
    base: pg_sys::TableScanDescData,
    cursor: *mut Cursor,
    /// ANALYZE and TABLESAMPLE: rows of the current sampled block, [lo, hi).
    sample: (u64, u64),
    /// ANALYZE: the block count ANALYZE samples from (the relation's pages).
    sample_blocks: u64,
    /// TABLESAMPLE: the next block of a sequential pass (methods without NextSampleBlock).
    next_block: u64,
}

/// TABLESAMPLE blocks: rows are not tied to pages, so block b stands for rows
/// [b * SAMPLE_BLOCK_ROWS, (b + 1) * SAMPLE_BLOCK_ROWS) of the scan's order (as many as
/// a heap page of narrow rows holds, so SYSTEM sampling keeps its granularity).
const SAMPLE_BLOCK_ROWS: u64 = datum::ROWS_PER_TID_BLOCK;

unsafe fn desc<'a>(scan: pg_sys::TableScanDesc) -> &'a mut ScanDesc {
    // SAFETY: every scan of this AM is allocated by scan_begin as a ScanDesc.
    unsafe { &mut *(scan as *mut ScanDesc) }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_begin(
    rel: pg_sys::Relation,
    snapshot: pg_sys::Snapshot,
    nkeys: i32,
    key: *mut pg_sys::ScanKeyData,
    pscan: pg_sys::ParallelTableScanDesc,
    flags: u32,
) -> pg_sys::TableScanDesc {
    // SAFETY: Postgres passes an open relation and a valid (or NULL for ANALYZE) snapshot.
    unsafe {
        if !pscan.is_null() {
            // Plans never ask for one (hooks/planner.rs drops heap's parallel paths).
            crate::error::unsupported(&crate::ffi::relname(rel), "parallel sequential scans", "Set max_parallel_workers_per_gather = 0.");
        }
        let d = pg_sys::palloc0(std::mem::size_of::<ScanDesc>()) as *mut ScanDesc;
        (*d).base.rs_rd = rel;
        (*d).base.rs_snapshot = snapshot;
        (*d).base.rs_nkeys = nkeys;
        (*d).base.rs_key = key;
        (*d).base.rs_flags = flags;
        let snap = if snapshot.is_null() { pg_sys::GetActiveSnapshot() } else { snapshot };
        let cursor = Cursor::new(rel, snap);
        (*d).cursor = pgrx::PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(cursor);
        if flags & pg_sys::ScanOptions::SO_TYPE_ANALYZE != 0 {
            (*d).sample_blocks = pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM).max(1) as u64;
        } else if flags & pg_sys::ScanOptions::SO_TYPE_SEQSCAN != 0 {
            crate::ffi::count_scan(rel);
            crate::ffi::predicate_lock_read(rel, snap);
        } else if flags & pg_sys::ScanOptions::SO_TYPE_SAMPLESCAN != 0 {
            crate::ffi::predicate_lock_read(rel, snap);
        }
        d as pg_sys::TableScanDesc
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_end(scan: pg_sys::TableScanDesc) {
    // SAFETY: `scan` came from scan_begin; the cursor is dropped with its memory context,
    // so here we only release what Postgres asked us to.
    unsafe {
        let d = desc(scan);
        if d.base.rs_flags & pg_sys::ScanOptions::SO_TEMP_SNAPSHOT != 0 {
            pg_sys::UnregisterSnapshot(d.base.rs_snapshot);
        }
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_rescan(
    scan: pg_sys::TableScanDesc,
    _key: *mut pg_sys::ScanKeyData,
    _set_params: bool,
    _allow_strat: bool,
    _allow_sync: bool,
    _allow_pagemode: bool,
) {
    // SAFETY: `scan` came from scan_begin; the old cursor stays owned by its context.
    unsafe {
        let d = desc(scan);
        let snap = if d.base.rs_snapshot.is_null() { pg_sys::GetActiveSnapshot() } else { d.base.rs_snapshot };
        *d.cursor = Cursor::new(d.base.rs_rd, snap);
        d.next_block = 0;
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_getnextslot(
    scan: pg_sys::TableScanDesc,
    _direction: pg_sys::ScanDirection::Type,
    slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    // SAFETY: `scan` came from scan_begin; `slot` matches the relation.
    unsafe {
        let found = (*desc(scan).cursor).next_into(slot);
        if found {
            crate::ffi::count_rows_read((*scan).rs_rd, 1);
        }
        found
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_analyze_next_block(
    scan: pg_sys::TableScanDesc,
    blockno: pg_sys::BlockNumber,
    _bstrategy: pg_sys::BufferAccessStrategy,
) -> bool {
    // ANALYZE samples block numbers; rows are not tied to blocks here, so block b
    // stands for the b-th equal slice of all visible rows.
    // SAFETY: `scan` came from scan_begin with SO_TYPE_ANALYZE.
    unsafe {
        let d = desc(scan);
        let total = (*d.cursor).total_rows();
        let b = blockno as u64;
        let n = d.sample_blocks;
        d.sample = (b * total / n, ((b + 1) * total / n).min(total));
        true
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_analyze_next_tuple(
    scan: pg_sys::TableScanDesc,
    _oldest_xmin: pg_sys::TransactionId,
    liverows: *mut f64,
    _deadrows: *mut f64,
    slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    // SAFETY: `scan` came from scan_begin with SO_TYPE_ANALYZE; `slot` matches the relation.
    unsafe {
        let d = desc(scan);
        let c = &mut *d.cursor;
        let (lo, hi) = d.sample;
        if c.pos < lo {
            c.skip_to(lo);
        }
        if c.pos >= hi {
            clear_slot(slot);
            return false;
        }
        let found = c.next_into(slot);
        if found {
            // ANALYZE keeps sample rows (it copies them, but a copy must not be needed
            // for the slot to stay valid).
            crate::ffi::materialize_slot(slot);
            *liverows += 1.0;
        }
        found
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_sample_next_block(scan: pg_sys::TableScanDesc, state: *mut pg_sys::SampleScanState) -> bool {
    // SAFETY: `scan` came from scan_begin (SO_TYPE_SAMPLESCAN); `state` is the executor's
    // sample scan state with its method's routine.
    unsafe {
        let d = desc(scan);
        let total = (*d.cursor).total_rows();
        let nblocks = total.div_ceil(SAMPLE_BLOCK_ROWS);
        let tsm = (*state).tsmroutine;
        let block = match (*tsm).NextSampleBlock {
            Some(next) => {
                let b = next(state, nblocks.min(0xFFFF_FFFE) as pg_sys::BlockNumber);
                if b == pg_sys::InvalidBlockNumber {
                    return false;
                }
                b as u64
            }
            None => {
                let b = d.next_block;
                d.next_block += 1;
                b
            }
        };
        if block >= nblocks {
            return false;
        }
        d.sample = (block * SAMPLE_BLOCK_ROWS, ((block + 1) * SAMPLE_BLOCK_ROWS).min(total));
        true
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn scan_sample_next_tuple(
    scan: pg_sys::TableScanDesc,
    state: *mut pg_sys::SampleScanState,
    slot: *mut pg_sys::TupleTableSlot,
) -> bool {
    // SAFETY: as in scan_sample_next_block; `slot` matches the relation.
    unsafe {
        let d = desc(scan);
        let (lo, hi) = d.sample;
        let tsm = (*state).tsmroutine;
        let Some(next) = (*tsm).NextSampleTuple else { return false };
        let block = (lo / SAMPLE_BLOCK_ROWS) as pg_sys::BlockNumber;
        let off = next(state, block, (hi - lo) as pg_sys::OffsetNumber);
        if off == pg_sys::InvalidOffsetNumber as pg_sys::OffsetNumber {
            clear_slot(slot);
            return false;
        }
        let target = lo + off as u64 - 1;
        let c = &mut *d.cursor;
        if c.pos > target {
            // Methods may visit blocks in any order; the cursor only moves forward.
            let snap = if d.base.rs_snapshot.is_null() { pg_sys::GetActiveSnapshot() } else { d.base.rs_snapshot };
            *c = Cursor::new(d.base.rs_rd, snap);
        }
        c.skip_to(target);
        let found = c.next_into(slot);
        if found {
            crate::ffi::count_rows_read(d.base.rs_rd, 1);
        }
        found
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn slot_callbacks(_rel: pg_sys::Relation) -> *const pg_sys::TupleTableSlotOps {
    &raw const pg_sys::TTSOpsVirtual
}
