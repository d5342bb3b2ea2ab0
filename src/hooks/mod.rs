//! Hooks: DDL options (ProcessUtility), refusing unsupported DML early (post parse
//! analysis), and keeping parallel plans away from mergetree scans (planner).

mod analyze;
mod planner;
mod utility;

pub fn init() {
    // SAFETY: chaining hooks from _PG_init, once per backend.
    unsafe {
        utility::install();
        analyze::install();
        planner::install();
    }
}

use pgrx::pg_sys;

/// Iterates a List of pointers.
///
/// # Safety
/// `list` is NIL or a valid pointer List.
pub unsafe fn list_ptrs<T>(list: *mut pg_sys::List) -> Vec<*mut T> {
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: per the caller.
    unsafe { (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).ptr_value as *mut T).collect() }
}

/// Iterates a List of OIDs.
///
/// # Safety
/// `list` is NIL or a valid OID List.
pub unsafe fn list_oids(list: *mut pg_sys::List) -> Vec<pg_sys::Oid> {
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: per the caller.
    unsafe { (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).oid_value).collect() }
}

/// # Safety
/// `p` is NULL or a NUL-terminated string.
pub unsafe fn cstr(p: *const std::ffi::c_char) -> Option<String> {
    // SAFETY: per the caller.
    (!p.is_null()).then(|| unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned())
}
