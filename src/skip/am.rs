//! The `mergetree_skip` index access method: wiring only. Its indexes have no scan
//! callbacks, so the planner never makes index paths from them; MergeTreeScan reads them.

use super::SkipDef;
use crate::datum;
use crate::error;
use mergetree::skip::SkipIndexType;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// A fresh palloc'd routine: unlike table AMs, Postgres copies an index AM's routine
/// into the relcache and pfrees the one the handler returned.
fn routine() -> *mut pg_sys::IndexAmRoutine {
    // SAFETY: palloc0 gives an all-false, all-None IndexAmRoutine, filled in below.
    let r = unsafe { &mut *(pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexAmRoutine>()) as *mut pg_sys::IndexAmRoutine) };
    r.type_ = pg_sys::NodeTag::T_IndexAmRoutine;
    r.amoptionalkey = true;
    r.amkeytype = pg_sys::InvalidOid;
    r.ambuild = Some(ambuild);
    r.ambuildempty = Some(ambuildempty);
    r.aminsert = Some(aminsert);
    r.ambulkdelete = Some(ambulkdelete);
    r.amvacuumcleanup = Some(amvacuumcleanup);
    r.amcostestimate = Some(amcostestimate);
    r.amoptions = Some(amoptions);
    r.amvalidate = Some(amvalidate);
    r.ambeginscan = Some(ambeginscan);
    r.amrescan = Some(amrescan);
    r.amendscan = Some(amendscan);
    r
}

#[unsafe(no_mangle)]
pub extern "C" fn pg_finfo_mergetree_skip_handler() -> &'static pg_sys::Pg_finfo_record {
    static V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// `mergetree.mergetree_skip_handler(internal) RETURNS index_am_handler`.
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn mergetree_skip_handler(_fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    pg_sys::Datum::from(routine())
}

/// The options as stored in `rd_options` by [`amoptions`]: "type;granularity".
///
/// # Safety
/// `v` is NULL or a varlena made by [`amoptions`].
pub unsafe fn options_text(v: *const pg_sys::varlena) -> Option<(SkipIndexType, usize)> {
    if v.is_null() {
        return None;
    }
    // SAFETY: per the caller: an uncompressed, 4-byte-header varlena.
    let text = unsafe { pgrx::varlena::text_to_rust_str_unchecked(v) };
    let (ty, g) = text.rsplit_once(';')?;
    Some((SkipIndexType::parse(ty).ok()?, g.parse().ok()?))
}

fn bad_option(msg: String) -> ! {
    error::raise_with_hint(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        msg,
        "Skip indexes take WITH (type = 'minmax' | 'set(N)' | 'bloom_filter[(false_positive_rate)]' | 'ngrambf(n, size_bytes, hashes)' | 'tokenbf(size_bytes, hashes)', granularity = N granules per index granule).".into(),
    )
}

/// Parses WITH (type = ..., granularity = ...) into the "type;granularity" varlena that
/// relcache keeps as `rd_options`.
#[pg_guard]
unsafe extern "C-unwind" fn amoptions(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea {
    let (mut ty, mut granularity) = (None, 1usize);
    // SAFETY: `reloptions` is a text[] of "name=value" items; untransformRelOptions makes
    // DefElems of them.
    unsafe {
        for def in crate::ffi::list_ptrs::<pg_sys::DefElem>(pg_sys::untransformRelOptions(reloptions)) {
            let name = crate::ffi::cstr((*def).defname).unwrap_or_default();
            let value = crate::ffi::cstr(pg_sys::defGetString(def)).unwrap_or_default();
            match name.as_str() {
                "type" => match SkipIndexType::parse(&value) {
                    Ok(t) => ty = Some(t),
                    Err(e) if validate => bad_option(e),
                    Err(_) => {}
                },
                "granularity" => match value.trim().parse::<usize>() {
                    Ok(g) if (1..=1_000_000).contains(&g) => granularity = g,
                    _ if validate => bad_option(format!("granularity must be a whole number of granules from 1 to 1000000, not \"{value}\"")),
                    _ => {}
                },
                _ if validate => bad_option(format!("unknown skip index option \"{name}\"")),
                _ => {}
            }
        }
    }
    let Some(ty) = ty else {
        if validate {
            bad_option("a skip index needs a type".into());
        }
        return std::ptr::null_mut();
    };
    let text = format!("{};{granularity}", ty.describe());
    // SAFETY: copies the string into a palloc'd text varlena.
    unsafe { pg_sys::cstring_to_text_with_len(text.as_ptr() as *const std::ffi::c_char, text.len() as i32) as *mut pg_sys::bytea }
}

/// CREATE INDEX, REINDEX and TRUNCATE: summarize every visible part.
#[pg_guard]
pub unsafe extern "C-unwind" fn ambuild(heap: pg_sys::Relation, index: pg_sys::Relation, info: *mut pg_sys::IndexInfo) -> *mut pg_sys::IndexBuildResult {
    // SAFETY: Postgres passes the open table and index and the index's definition.
    unsafe {
        let table = crate::ffi::relname(heap);
        let def: SkipDef = super::def_of(index, &table).expect("a mergetree_skip index");
        if (*(*heap).rd_rel).relam != crate::ffi::am_oid() {
            error::raise_with_hint(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("skip index \"{}\" is on table \"{table}\", which is not a mergetree table", def.name),
                "mergetree_skip indexes only work on tables created USING mergetree.".into(),
            );
        }
        if (*info).ii_NumIndexAttrs != 1 || def.attnum == 0 || !(*info).ii_Predicate.is_null() {
            error::raise_with_hint(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("skip index \"{}\" on table \"{table}\" must cover exactly one plain column", def.name),
                "Expressions, several columns and WHERE clauses are not supported: create one skip index per column.".into(),
            );
        }
        let plan = datum::table_plan(heap);
        let ci = plan.index_of_attnum(def.attnum).expect("indexed column is a table column");
        let col = &plan.columns[ci];
        if let Err(e) = def.ty.check_column(col.ty, col.sort) {
            error::raise_with_hint(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("skip index \"{}\" on table \"{table}\": {e}", def.name),
                "minmax needs an ordered type (integers, floats, dates and times, C-collation text); ngrambf and tokenbf need text; set and bloom_filter take any type.".into(),
            );
        }
        let (rows, parts) = super::build_all(heap, &plan, &def);
        let r = pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexBuildResult>()) as *mut pg_sys::IndexBuildResult;
        (*r).heap_tuples = rows;
        (*r).index_tuples = parts;
        r
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn ambuildempty(_index: pg_sys::Relation) {}

/// Rows are summarized when their part is written, not one by one.
#[pg_guard]
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn aminsert(
    _index: pg_sys::Relation,
    _values: *mut pg_sys::Datum,
    _isnull: *mut bool,
    _tid: pg_sys::ItemPointer,
    _heap: pg_sys::Relation,
    _unique: pg_sys::IndexUniqueCheck::Type,
    _unchanged: bool,
    _info: *mut pg_sys::IndexInfo,
) -> bool {
    false
}

/// Nothing to delete: summaries live and die with their parts.
#[pg_guard]
unsafe extern "C-unwind" fn ambulkdelete(
    _info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    _callback: pg_sys::IndexBulkDeleteCallback,
    _state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    stats
}

#[pg_guard]
unsafe extern "C-unwind" fn amvacuumcleanup(_info: *mut pg_sys::IndexVacuumInfo, stats: *mut pg_sys::IndexBulkDeleteResult) -> *mut pg_sys::IndexBulkDeleteResult {
    stats
}

/// Never reached (no index paths exist without scan callbacks); priced out regardless.
#[pg_guard]
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn amcostestimate(
    _root: *mut pg_sys::PlannerInfo,
    _path: *mut pg_sys::IndexPath,
    _loop_count: f64,
    startup: *mut pg_sys::Cost,
    total: *mut pg_sys::Cost,
    selectivity: *mut pg_sys::Selectivity,
    correlation: *mut f64,
    pages: *mut f64,
) {
    // SAFETY: output pointers from the planner.
    unsafe {
        *startup = 1.0e10;
        *total = 1.0e10;
        *selectivity = 1.0;
        *correlation = 0.0;
        *pages = 0.0;
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn amvalidate(_opclass: pg_sys::Oid) -> bool {
    true
}

#[pg_guard]
unsafe extern "C-unwind" fn ambeginscan(index: pg_sys::Relation, _nkeys: i32, _norderbys: i32) -> pg_sys::IndexScanDesc {
    // SAFETY: the index is open.
    let name = unsafe { crate::ffi::relname(index) };
    error::raise_with_hint(
        PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
        format!("skip index \"{name}\" cannot be scanned directly"),
        "MergeTreeScan reads skip indexes to skip granules; query the table instead.".into(),
    )
}

#[pg_guard]
unsafe extern "C-unwind" fn amrescan(_scan: pg_sys::IndexScanDesc, _keys: pg_sys::ScanKey, _nkeys: i32, _orderbys: pg_sys::ScanKey, _norderbys: i32) {}

#[pg_guard]
unsafe extern "C-unwind" fn amendscan(_scan: pg_sys::IndexScanDesc) {}
