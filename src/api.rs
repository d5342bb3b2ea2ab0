//! SQL functions in schema `mergetree`.

use crate::catalog;
use crate::storage::blob::PageStore;
use mergetree::PartReader;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// Checks that the current user may read `tbl` the way `SELECT * FROM tbl` would: SELECT
/// on the table, and no row-level security policy applying to them (the functions below
/// look at every row of every part, which policies would filter).
fn check_readable(tbl: pg_sys::Oid, what: &str) {
    if !crate::ffi::is_mergetree(tbl) {
        crate::error::raise(PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE, format!("\"{}\" is not a mergetree table", crate::ffi::relid_name(tbl)));
    }
    // SAFETY: catalog lookups for an existing relation; aclcheck_error raises an ERROR.
    unsafe {
        if pg_sys::pg_class_aclcheck(tbl, pg_sys::GetUserId(), pg_sys::ACL_SELECT as pg_sys::AclMode) != pg_sys::AclResult::ACLCHECK_OK {
            let name = std::ffi::CString::new(crate::ffi::relid_name(tbl)).unwrap_or_default();
            pg_sys::aclcheck_error(pg_sys::AclResult::ACLCHECK_NO_PRIV, pg_sys::ObjectType::OBJECT_TABLE, name.as_ptr());
        }
        if pg_sys::check_enable_rls(tbl, pg_sys::InvalidOid, false) == pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32 {
            crate::error::raise_with_hint(
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                format!("{what} of mergetree table \"{}\" is not allowed under its row-level security policies", crate::ffi::relid_name(tbl)),
                "Only the table's owner (or a role with BYPASSRLS) can inspect all of its rows.".into(),
            );
        }
    }
}

/// Reads every part of `tbl`, checking checksums and structure; one row per problem.
#[pg_extern]
fn verify_oid(tbl: pg_sys::Oid) -> TableIterator<'static, (name!(part_name, String), name!(problem, String))> {
    check_readable(tbl, "mergetree.verify");
    let mut problems = Vec::new();
    // SAFETY: the table is opened and closed here, under the current snapshot.
    unsafe {
        let rel = pg_sys::relation_open(tbl, pg_sys::AccessShareLock as i32);
        for p in catalog::visible_parts(rel, pg_sys::GetActiveSnapshot()) {
            let store = PageStore { rel, start_block: p.start_block as u32, nblocks: p.nblocks as u32, len: p.part_bytes as u64 };
            match PartReader::open(store) {
                Err(e) => problems.push((p.part_name.clone(), e.to_string())),
                Ok(r) => {
                    if r.meta().rows != p.rows as u64 {
                        problems.push((p.part_name.clone(), format!("catalog says {} rows, part has {}", p.rows, r.meta().rows)));
                    }
                    problems.extend(r.verify().into_iter().map(|m| (p.part_name.clone(), m)));
                }
            }
        }
        pg_sys::relation_close(rel, pg_sys::AccessShareLock as i32);
    }
    TableIterator::new(problems)
}

/// One row per visible part and column of `tbl`: the codec chain used and the sizes.
#[pg_extern]
fn part_columns(
    tbl: pg_sys::Oid,
) -> TableIterator<
    'static,
    (
        name!(part_name, String),
        name!(column_name, String),
        name!(codec, String),
        name!(compressed_bytes, i64),
        name!(uncompressed_bytes, i64),
        name!(framed_granules, i64),
    ),
> {
    let mut rows = Vec::new();
    check_readable(tbl, "mergetree.part_columns");
    // SAFETY: the table is opened and closed here, under the current snapshot.
    unsafe {
        let rel = pg_sys::relation_open(tbl, pg_sys::AccessShareLock as i32);
        let plan = crate::datum::table_plan(rel);
        let table = crate::ffi::relname(rel);
        for p in catalog::visible_parts(rel, pg_sys::GetActiveSnapshot()) {
            let store = PageStore { rel, start_block: p.start_block as u32, nblocks: p.nblocks as u32, len: p.part_bytes as u64 };
            let reader = PartReader::open(store).unwrap_or_else(|e| crate::error::report(&table, e));
            let meta = reader.meta();
            for (i, c) in meta.columns.iter().enumerate() {
                // A JSON subcolumn is named by the field it holds.
                let (source, key) = match meta.subcolumns.iter().find(|s| s.column == i) {
                    Some(s) => (s.source, Some(String::from_utf8_lossy(&s.key).replace('\'', "''"))),
                    None => (c.spec.id, None),
                };
                let Some(col) = plan.columns.iter().find(|pc| pc.attnum as u32 == source) else { continue };
                let name = key.map_or_else(|| col.name.clone(), |k| format!("{} ->> '{k}'", col.name));
                let framed = reader.framed_granules(i).unwrap_or_else(|e| crate::error::report(&table, e));
                rows.push((p.part_name.clone(), name, c.codec_description(), c.compressed_bytes as i64, c.uncompressed_bytes as i64, framed as i64));
            }
        }
        pg_sys::relation_close(rel, pg_sys::AccessShareLock as i32);
    }
    TableIterator::new(rows)
}
