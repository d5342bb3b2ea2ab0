//! Settings (`mergetree.*`).

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Rows a transaction buffers per table before writing a part, bounded in bytes (kB).
pub static INSERT_BUFFER_KB: GucSetting<i32> = GucSetting::<i32>::new(128 * 1024);

pub fn init() {
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
}

pub fn insert_buffer_bytes() -> usize {
    INSERT_BUFFER_KB.get() as usize * 1024
}
