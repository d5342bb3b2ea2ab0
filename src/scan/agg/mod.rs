//! MergeTreeAgg: GROUP BY and aggregates computed inside the scan of one mergetree table,
//! handing up one row per group instead of every row.
//!
//! Planning (`path.rs`) happens in the upper-planner hook for grouping
//! (create_upper_paths_hook, UPPERREL_GROUP_AGG), not by rewriting finished plans as
//! Timescale's VectorAgg does: the path competes on cost with Postgres' own aggregation,
//! ORDER BY / LIMIT / HAVING stay Postgres' above and around it, and partition-wise
//! aggregation gives each partition its own node under an Append for free. The path
//! carries Postgres' best plan for the same grouping as a child: when a query turns out
//! to need more memory than `work_mem * hash_mem_multiplier` (or an exact value leaves
//! what the node can compute exactly), the node runs that plan instead, so the answer is
//! always Postgres' own.
//!
//! Execution (`exec.rs`): the scan's parts are pruned as MergeTreeScan prunes them
//! (scan/source.rs); the backend reads the byte ranges of the needed columns of a few
//! granules at a time, engine threads decode, filter and aggregate them, each into its
//! own partial state, merged at the end; only the final groups become Datums
//! (`output.rs`).

mod compute;
pub mod exec;
mod output;
pub mod path;

use mergetree::aggregate::ValueKind;
use mergetree::scalar::TruncUnit;
use serde::{Deserialize, Serialize};

/// A grouping key: a column, or a function of one the engine computes as Postgres does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyExpr {
    Column(i16),
    /// `ts::date` of a timestamp column.
    DateOf(i16),
    /// `date_trunc(unit, ts)` of a timestamp column.
    Trunc(TruncUnit, i16),
}

impl KeyExpr {
    /// The column it reads.
    pub fn attnum(&self) -> i16 {
        match *self {
            KeyExpr::Column(a) | KeyExpr::DateOf(a) | KeyExpr::Trunc(_, a) => a,
        }
    }
}

/// An aggregate the node computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggOp {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
    BoolAnd,
    BoolOr,
    CountDistinct,
}

/// What Postgres type and value an aggregate's result is (as Postgres' own aggregate
/// computes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResultKind {
    /// bigint (count).
    Int8,
    /// bigint from an integer sum, out of range an error (sum of int2, int4).
    Int8Sum,
    /// numeric from an integer sum (sum of int8).
    NumericSum,
    /// numeric: sum / count, divided as Postgres divides numerics (avg of integers).
    NumericAvg,
    Float4,
    Float8,
    /// The input column's own type (min, max).
    Input,
    Bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AggOut {
    pub op: AggOp,
    /// The input column (0 for count(*)).
    pub attnum: i16,
    pub kind: ValueKind,
    pub result: ResultKind,
    /// It has a FILTER (the predicate is in the plan's custom_private).
    pub filtered: bool,
}

/// The node's plan, kept in the CustomScan's custom_private (serialized).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodePlan {
    /// Grouping keys, in custom_scan_tlist order (first).
    pub keys: Vec<KeyExpr>,
    /// Aggregates, in custom_scan_tlist order (after the keys).
    pub aggs: Vec<AggOut>,
    /// The planner's estimate of the memory the groups and distinct values need: how
    /// many passes the node starts with when that is beyond the budget.
    pub est_bytes: u64,
    /// Of est_bytes, the distinct values'.
    pub est_distinct_bytes: u64,
}

impl NodePlan {
    pub fn to_text(&self) -> String {
        let bytes = bincode::serialize(self).unwrap_or_default();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
    pub fn from_text(s: &str) -> Option<NodePlan> {
        let bytes: Option<Vec<u8>> = (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
        bincode::deserialize(&bytes?).ok()
    }
}
