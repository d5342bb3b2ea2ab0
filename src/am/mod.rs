//! The table access method: `handler.rs` wires the callbacks, one module per concern.

pub mod ddl;
pub mod fetch;
pub mod handler;
pub mod insert;
pub mod modify;
pub mod scan;
pub mod vacuum;

use pgrx::pg_sys;

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
