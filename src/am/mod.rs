//! The table access method: `handler.rs` wires the callbacks, one module per concern.

pub mod ddl;
pub mod fetch;
pub mod handler;
pub mod insert;
pub mod modify;
pub mod scan;
pub mod vacuum;
