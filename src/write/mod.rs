//! The write path: rows a transaction inserts are buffered per table (columnar, in
//! memory), then sorted, split by partition and written as immutable parts at commit
//! or whenever the buffer fills; merges rewrite a partition's parts as one.

pub mod backpressure;
pub mod buffer;
pub mod combine;
pub mod dml;
pub mod drop_partition;
pub mod encode_ahead;
pub mod flush;
pub mod merge;
pub mod optimize;
pub mod partition;
pub mod progress;
pub mod relocate;
pub mod successors;
pub mod ttl;
pub mod xact;
