//! MergeTreeScan: a custom scan node replacing sequential scans of mergetree tables. It
//! reads only the columns the query uses, prunes parts (min/max) and granules (sparse
//! primary index) with the pushed filters before reading, evaluates those filters on
//! decoded column batches, and decodes the remaining columns only for surviving rows.
//!
//! `path.rs` builds the path and plan, `quals.rs` turns clauses into engine predicates,
//! `source.rs` finds the parts and granules to read, `exec.rs` runs the scan,
//! `project.rs` computes JSON field extractions of its output.

pub mod agg;
pub mod exec;
pub mod final_read;
pub mod path;
pub mod project;
pub mod quals;
pub mod source;
