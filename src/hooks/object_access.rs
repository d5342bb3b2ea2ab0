//! object_access_hook: a column of a mergetree table about to be dropped (ALTER TABLE
//! DROP COLUMN, directly or through a parent table, or DROP TYPE ... CASCADE) is checked
//! against the table's options before Postgres removes it.

use pgrx::pg_sys;
use pgrx::prelude::*;

static mut PREV: pg_sys::object_access_hook_type = None;

pub unsafe fn install() {
    // SAFETY: single-threaded backend start-up.
    unsafe {
        PREV = pg_sys::object_access_hook;
        pg_sys::object_access_hook = Some(object_access);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn object_access(
    access: pg_sys::ObjectAccessType::Type,
    class_id: pg_sys::Oid,
    object_id: pg_sys::Oid,
    sub_id: i32,
    arg: *mut std::ffi::c_void,
) {
    // SAFETY: forwards Postgres' arguments.
    unsafe {
        if let Some(prev) = PREV {
            prev(access, class_id, object_id, sub_id, arg);
        }
    }
    if access == pg_sys::ObjectAccessType::OAT_DROP
        && class_id == pg_sys::RelationRelationId
        && sub_id > 0
        && crate::ffi::am_oid() != pg_sys::InvalidOid
        && crate::ffi::is_mergetree(object_id)
    {
        crate::options::check_column_drop(object_id, sub_id as i16);
    }
}
