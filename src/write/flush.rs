//! Turning buffered rows into parts: group by partition, sort by order_by, encode with
//! the engine (columns compress in parallel), then allocate blocks, register the part in
//! the catalog and write its pages.

use super::buffer::RelBuffer;
use crate::catalog::{self, PartRow};
use crate::datum::{self, TablePlan};
use crate::options::TableOptions;
use crate::storage::buffer::PageLock;
use crate::storage::{blob, metapage};
use mergetree::sort::{sort_permutation, sort_permutation_parallel, SortColumn};
use mergetree::part::ColumnCodec;
use mergetree::{ColumnData, PartMeta, PartWriter, SortKind, WriterSettings};
use pgrx::pg_sys;


/// Writes every buffered row as parts and empties the buffer. At commit all rows go
/// into as few parts as possible; mid-transaction (buffer full) rows of different
/// commands go to different parts, so each part's catalog row can carry its rows'
/// command id and stay invisible to the statement that inserted them. Callers go through
/// `encode_ahead::flush`, which first writes the chunk in flight.
///
/// # Safety
/// `rel` is the open relation the buffer belongs to.
pub unsafe fn flush(rel: pg_sys::Relation, buf: &mut RelBuffer, at_commit: bool) {
    if buf.rows() == 0 {
        return;
    }
    // Mid-transaction, a part's catalog row belongs to the current subtransaction, so only
    // that subtransaction's rows may go into it: rows of an enclosing one would vanish with
    // a ROLLBACK TO SAVEPOINT that should have kept them.
    // SAFETY: reads transaction state.
    let current = unsafe { pg_sys::GetCurrentSubTransactionId() };
    // At commit, rows the transaction deleted are left out; mid-transaction they are
    // written and their deletes move onto the part (a savepoint may still undo them).
    let groups = buf.groups(|i| match at_commit {
        true => (!buf.deleted.contains_key(&buf.seqs[i])).then_some(0),
        false => (buf.subxids[i] == current).then_some(buf.cids[i]),
    });
    let whole = groups.len() == 1 && groups.values().next().is_some_and(|r| r.len() == buf.rows());
    // SAFETY: `rel` is open.
    let node = unsafe { (*rel).rd_node.relNode };
    let mut moved = Vec::new();
    for ((cid, part), rows) in groups {
        // The common case (one partition, everything flushed) hands the buffer's columns
        // over instead of copying them: peak memory stays near the buffer's size.
        let cols: Vec<ColumnData> = if whole {
            let fresh = buf.plan.new_columns();
            std::mem::replace(&mut buf.columns, fresh)
        } else {
            buf.columns.iter().map(|c| c.take(&rows)).collect()
        };
        // SAFETY: GetCurrentCommandId only reads transaction state.
        let cid = if at_commit { unsafe { pg_sys::GetCurrentCommandId(true) } } else { cid };
        let value = buf.partition_values[part as usize].clone();
        let display = buf.partitioner.as_ref().map_or_else(|| "all".to_string(), |p| p.display(&value));
        // SAFETY: per the caller.
        let (part, perm) = unsafe { write_part(rel, buf, cols, rows.len(), cid, display, value) };
        if buf.track_moves && !at_commit {
            // Part row k holds buffered row rows[perm[k]] (the part is sorted).
            for (k, &p) in perm.iter().enumerate() {
                let seq = buf.seqs[rows[p as usize] as usize];
                moved.push((seq, part.first_row as u64 + k as u64));
                if let Some((by, subxid)) = buf.deleted.remove(&seq) {
                    catalog::deleted::add(node, part.part_id, k as u32, by, subxid, false);
                }
            }
        }
    }
    if !moved.is_empty() {
        buf.moved.extend(moved);
        buf.moved.sort_unstable();
    }
    if whole {
        buf.forget_rows();
    } else if at_commit {
        buf.clear();
    } else {
        let subxids = buf.subxids.clone();
        buf.retain(|i| subxids[i] != current);
    }
}

/// Writes `rows` rows (the columns `cols`, in the buffer's plan) as a part; returns the
/// part and the order the rows were written in (the sort permutation).
///
/// # Safety
/// `rel` is open.
unsafe fn write_part(
    rel: pg_sys::Relation,
    buf: &RelBuffer,
    cols: Vec<ColumnData>,
    rows: usize,
    cid: pg_sys::CommandId,
    partition: String,
    partition_value: Option<Vec<u8>>,
) -> (PartRow, Vec<u32>) {
    let plan = &buf.plan;
    let key = sort_key(plan, &buf.options);
    let (sorted, perm) = if key.is_empty() {
        (cols, (0..rows as u32).collect())
    } else {
        crate::storage::threads::ensure();
        let perm = sort_rows(plan, &cols, &key);
        let mut cols = cols;
        // Column by column on the worker threads, so only one unsorted column per thread
        // is alive next to the sorted ones.
        let sorted = mergetree::column::take_each(&mut cols, &perm);
        (sorted, perm)
    };
    let target = Target { plan, options: &buf.options, partition, partition_value };
    // SAFETY: per the caller.
    let row = unsafe {
        super::backpressure::before_new_part(rel, &buf.options, &target.partition_value, &target.partition);
        store_part(rel, &target, &sorted, rows, cid, Origin::Insert)
    };
    (row, perm)
}

/// Plan columns of the table's sort key (order_by), in order; versioned collapsing sorts
/// by its version column last, as ClickHouse adds it to the sorting key.
pub fn sort_key(plan: &TablePlan, options: &TableOptions) -> Vec<usize> {
    let mut key: Vec<usize> = options.order_by.iter().filter_map(|n| plan.index_of_name(n)).collect();
    if let Some(v) = options.engine.sort_suffix().and_then(|n| plan.index_of_name(n)) {
        if !key.contains(&v) {
            key.push(v);
        }
    }
    key
}

/// What a new part is written for: the table's columns and options, and its partition.
pub struct Target<'a> {
    pub plan: &'a TablePlan,
    pub options: &'a TableOptions,
    pub partition: String,
    pub partition_value: Option<Vec<u8>>,
}

/// Where a part's rows come from.
pub enum Origin {
    /// An insert: the part gets the next block number, level 0.
    Insert,
    /// A merge of parts: the union of their block ranges, one level above theirs.
    Merge { min_block: i64, max_block: i64, level: i32 },
}

/// Writes already-sorted rows as a part of `rel`: encodes it, registers it as command
/// `cid`, writes its pages and skip index summaries.
///
/// # Safety
/// `rel` is open.
pub unsafe fn store_part(rel: pg_sys::Relation, target: &Target, sorted: &[ColumnData], rows: usize, cid: pg_sys::CommandId, origin: Origin) -> PartRow {
    // SAFETY: rel is open.
    let table = unsafe { crate::ffi::relname(rel) };
    let (plan, o) = (target.plan, target.options);
    crate::storage::threads::ensure();
    let (bytes, meta) = PartWriter::new(writer_settings(plan, o, true))
        .write_rows(&plan.specs(), sorted, rows, &primary_key(plan, o))
        .unwrap_or_else(|e| crate::error::report(&table, e));
    // SAFETY: per the caller.
    unsafe { install_part(rel, target, sorted, &bytes, &meta, cid, origin) }
}

/// Registers an encoded part (`bytes`, its rows `sorted`) as command `cid`, writes its
/// pages and its skip index summaries.
///
/// # Safety
/// `rel` is open.
pub unsafe fn install_part(rel: pg_sys::Relation, target: &Target, sorted: &[ColumnData], bytes: &[u8], meta: &PartMeta, cid: pg_sys::CommandId, origin: Origin) -> PartRow {
    // SAFETY: per the caller.
    unsafe {
        let row = register_part(rel, target, meta, bytes.len(), cid, origin);
        blob::write_part(rel, row.start_block as u32, bytes);
        crate::skip::on_new_part(rel, target.plan, sorted, meta, row.part_id, cid);
        row
    }
}

/// Plan columns of the table's primary index: a prefix of its sort key.
pub fn primary_key(plan: &TablePlan, options: &TableOptions) -> Vec<usize> {
    let key = sort_key(plan, options);
    key[..options.primary_key.len().min(key.len())].to_vec()
}

/// How the table's options and column types say its parts are written; `fast` for an
/// insert's parts (cheap encoding, merges do the heavy one).
pub fn writer_settings(plan: &TablePlan, o: &TableOptions, fast: bool) -> WriterSettings {
    WriterSettings {
        fast,
        index_granularity: o.index_granularity,
        index_granularity_bytes: o.index_granularity_bytes,
        compression: o.compression,
        auto_compression: !o.compression_set,
        columns: plan
            .columns
            .iter()
            .map(|c| {
                // SAFETY: a syscache lookup of the column's own type, in the writer's transaction.
                let base = unsafe { pg_sys::getBaseType(c.typid) };
                ColumnCodec {
                    chain: o.codec_for(&c.name).cloned(),
                    dict: o.dictionary_for(&c.name),
                    // Text and varchar: what `column::jsonb ->> 'key'` reads.
                    json: c.ty == mergetree::ColumnType::Var && matches!(base, pg_sys::TEXTOID | pg_sys::VARCHAROID),
                    numeric: base == pg_sys::NUMERICOID,
                }
            })
            .collect(),
    }
}

/// Allocates the blocks of a part of `len` bytes and inserts its catalog row as command
/// `cid`; the caller then writes the part's pages.
///
/// # Safety
/// `rel` is open.
pub unsafe fn register_part(rel: pg_sys::Relation, target: &Target, meta: &PartMeta, len: usize, cid: pg_sys::CommandId, origin: Origin) -> PartRow {
    // SAFETY: rel is open.
    let table = unsafe { crate::ffi::relname(rel) };
    let nblocks = blob::blocks_for(len);
    let rows = meta.rows;
    // SAFETY: rel is open; the metapage lock serialises allocation with VACUUM, and the
    // part's row is in the catalog (so VACUUM keeps its extent) before the lock goes.
    unsafe {
        let _lock = PageLock::exclusive(rel, metapage::META_BLOCK);
        let mut m = metapage::read(rel, &table).unwrap_or_else(metapage::Meta::fresh);
        let (start, grow) = m.allocate(nblocks);
        let first_row = m.next_row_id;
        m.next_row_id += rows;
        let part_id = m.next_part_id as i64;
        m.next_part_id += 1;
        metapage::write(rel, &m);
        if grow {
            blob::extend_to(rel, start + nblocks);
        }
        let (min_block, max_block, level) = match origin {
            Origin::Insert => (part_id, part_id, 0),
            Origin::Merge { min_block, max_block, level } => (min_block, max_block, level),
        };
        let partition_id = PartRow::partition_id_of(&target.partition);
        let row = PartRow {
            relid: (*rel).rd_id,
            relfilenode: (*rel).rd_node.relNode,
            part_id,
            part_name: PartRow::name(&partition_id, min_block, max_block, level, 0),
            partition: target.partition.clone(),
            level,
            rows: rows as i64,
            first_row: first_row as i64,
            start_block: start as i64,
            nblocks: nblocks as i64,
            part_bytes: len as i64,
            uncompressed_bytes: meta.uncompressed_bytes() as i64,
            partition_value: target.partition_value.clone(),
            partition_id,
            min_block,
            max_block,
            mutation: 0,
            created: 0,
            tid: pg_sys::ItemPointerData::default(),
            mine: true,
            deleted: None,
        };
        catalog::insert(&row, cid);
        row
    }
}

/// The order of `cols` by the key columns; types the engine cannot compare itself are
/// compared with their btree comparison function (and collation).
pub fn sort_rows(plan: &TablePlan, cols: &[ColumnData], key: &[usize]) -> Vec<u32> {
    let sort_cols: Vec<SortColumn> = key.iter().map(|&k| SortColumn { column: k, kind: plan.columns[k].sort }).collect();
    let rows = cols.first().map_or(0, |c| c.len());
    if sort_cols.iter().all(|k| k.kind != SortKind::Opaque) {
        // No Postgres comparator needed: sort on the worker threads.
        return sort_permutation_parallel(cols, rows, &sort_cols);
    }
    // Datums and comparison functions for the opaque key columns, built once.
    let mut opaque: Vec<Option<(datum::DatumColumn, *mut pg_sys::FmgrInfo, pg_sys::Oid)>> = (0..cols.len()).map(|_| None).collect();
    for &k in key {
        let c = &plan.columns[k];
        if c.sort == SortKind::Opaque {
            // SAFETY: type cache entries live for the backend's lifetime.
            let finfo = unsafe { &raw mut (*pg_sys::lookup_type_cache(c.typid, pg_sys::TYPECACHE_CMP_PROC_FINFO as i32)).cmp_proc_finfo };
            opaque[k] = Some((datum::to_datums(c, cols[k].clone()), finfo, c.collation));
        }
    }
    sort_permutation(cols, rows, &sort_cols, &mut |col, a, b| {
        let (d, finfo, coll) = opaque[col].as_ref().expect("opaque key column prepared");
        // SAFETY: both datums are valid values of the column's type; the function is its btree comparator.
        let r = unsafe { pg_sys::FunctionCall2Coll(*finfo, *coll, d.datums[a], d.datums[b]) };
        (r.value() as i32).cmp(&0)
    })
}


