//! Settings (`mergetree.*`).

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Rows a transaction buffers per table before writing a part, bounded in bytes (kB).
pub static INSERT_BUFFER_KB: GucSetting<i32> = GucSetting::<i32>::new(128 * 1024);

/// Buffered rows encoded ahead on the engine threads per chunk of this size (kB; 0: off).
pub static INSERT_CHUNK_KB: GucSetting<i32> = GucSetting::<i32>::new(32 * 1024);

/// Diagnosis switches: the MergeTreeScan node and each of its pruning kinds.
pub static CUSTOM_SCAN: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static VECTORIZED_FILTERS: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static PART_PRUNING: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static PRIMARY_KEY_PRUNING: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static SKIP_INDEXES: GucSetting<bool> = GucSetting::<bool>::new(true);
/// MergeTreeAgg: aggregation inside the scan.
pub static AGGREGATE_SCAN: GucSetting<bool> = GucSetting::<bool>::new(true);
/// FINAL reads: scans of tables with an engine return rows as if every partition had
/// been merged with optimize(final).
pub static FINAL: GucSetting<bool> = GucSetting::<bool>::new(false);
/// Memory a FINAL read may hold for its merged rows (kB): past it the read fails with a
/// hint, rather than the backend running out of memory.
pub static FINAL_MAX_MEMORY_KB: GucSetting<i32> = GucSetting::<i32>::new(2 * 1024 * 1024);
/// Engine threads a query may use (0: as many as the machine has cores).
pub static MAX_THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);

/// Background merges: whether the workers run, and how many merge at once.
pub static BACKGROUND_MERGES: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static MAX_MERGE_WORKERS: GucSetting<i32> = GucSetting::<i32>::new(2);

/// Background merges rewrite a part alone once this share of its rows is deleted (%).
pub static REWRITE_DELETED_PERCENT: GucSetting<i32> = GucSetting::<i32>::new(30);

pub fn init() {
    GucRegistry::define_int_guc(
        c"mergetree.rewrite_deleted_percent",
        c"Share of a mergetree part's rows deleted (percent) past which the merge workers rewrite the part without them.",
        c"Parts whose rows are all deleted are removed whatever the setting; merges drop deleted rows anyway.",
        &REWRITE_DELETED_PERCENT,
        1,
        100,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"mergetree.final",
        c"Read mergetree tables that have an engine as if fully merged (ClickHouse's FINAL).",
        c"Rows of a key are merged at read time by the table's engine (replacing, summing, collapsing...). Per table: the final option.",
        &FINAL,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"mergetree.background_merges",
        c"Merge the parts of mergetree tables in background workers.",
        c"Off: parts are merged only by mergetree.optimize. Per table: the background_merges option.",
        &BACKGROUND_MERGES,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"mergetree.max_merge_workers",
        c"Background workers merging parts at once, over all databases.",
        c"Each takes a background worker slot (max_worker_processes).",
        &MAX_MERGE_WORKERS,
        0,
        64,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"mergetree.enable_custom_scan",
        c"Scan mergetree tables with the MergeTreeScan node (column projection, pruning, vectorized filters).",
        c"Off: plain sequential scans of all columns, for diagnosis.",
        &CUSTOM_SCAN,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"mergetree.enable_vectorized_filters",
        c"Evaluate simple WHERE clauses inside MergeTreeScan on decoded column batches.",
        c"Off: every clause is evaluated by Postgres, and nothing is pruned.",
        &VECTORIZED_FILTERS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"mergetree.enable_part_pruning",
        c"Skip parts whose column min/max refute the filter (this includes partition pruning).",
        c"",
        &PART_PRUNING,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"mergetree.enable_primary_key_pruning",
        c"Skip granules the sparse primary index refutes.",
        c"",
        &PRIMARY_KEY_PRUNING,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"mergetree.enable_skip_indexes",
        c"Skip granules that a skip index (USING mergetree_skip) refutes.",
        c"",
        &SKIP_INDEXES,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"mergetree.enable_aggregate_scan",
        c"Compute GROUP BY and aggregates inside the scan of a mergetree table (MergeTreeAgg).",
        c"Off: Postgres aggregates the rows MergeTreeScan hands up.",
        &AGGREGATE_SCAN,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"mergetree.max_threads",
        c"Engine threads a query may use to decode and aggregate granules.",
        c"0: as many as the machine has cores.",
        &MAX_THREADS,
        0,
        256,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"mergetree.insert_buffer_size",
        c"Memory a transaction may use to buffer inserted rows per mergetree table before writing a part.",
        c"Rows are sorted and written as immutable parts at commit or when this fills; larger buffers give fewer, larger parts.",
        &INSERT_BUFFER_KB,
        1024,
        4 * 1024 * 1024,
        GucContext::Userset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_int_guc(
        c"mergetree.final_max_memory",
        c"Memory a FINAL read of a mergetree table may use for the rows it merges.",
        c"A FINAL read holds its merged rows for the statement; one that would need more (by the parts' uncompressed sizes) fails with a hint.",
        &FINAL_MAX_MEMORY_KB,
        1024,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_int_guc(
        c"mergetree.insert_chunk_size",
        c"Buffered rows sorted and encoded on engine threads per chunk, while a statement goes on inserting.",
        c"Each chunk becomes a part (merges combine them). Used when insert_buffer_size holds two chunks; 0 turns it off.",
        &INSERT_CHUNK_KB,
        0,
        1024 * 1024,
        GucContext::Userset,
        GucFlags::UNIT_KB,
    );
}

/// Threads for one query's engine work.
pub fn max_threads() -> usize {
    match MAX_THREADS.get() {
        n if n > 0 => n as usize,
        _ => std::thread::available_parallelism().map_or(2, |n| n.get()),
    }
}

pub fn insert_buffer_bytes() -> usize {
    INSERT_BUFFER_KB.get() as usize * 1024
}

pub fn insert_chunk_bytes() -> usize {
    INSERT_CHUNK_KB.get() as usize * 1024
}
