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

mod aggref;
mod compute;
pub mod exec;
mod expr;
mod join;
mod join_reader;
mod metadata;
mod output;
mod passes;
pub mod path;

use mergetree::aggregate::ValueKind;
use mergetree::arith::{ArithOp, ArithType};
use mergetree::datetime::{ExtractField, TruncUnit};
use serde::{Deserialize, Serialize};

/// The CustomScan's custom_private: [plan text, pushed quals, relation index of the
/// quals' Vars, each aggregate's FILTER (constant true when it has none)].
pub const PRIVATE_PLAN: usize = 0;
pub const PRIVATE_QUALS: usize = 1;
pub const PRIVATE_RELID: usize = 2;
pub const PRIVATE_FILTERS: usize = 3;

/// A grouping key: a column, or a function of one the engine computes as Postgres does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyExpr {
    Column(i16),
    /// `ts::date` of a timestamp column.
    DateOf(i16),
    /// `date_trunc(unit, ts)` of a timestamp column.
    Trunc(TruncUnit, i16),
    /// `extract(field FROM ts)` of a timestamp column.
    Extract(ExtractField, i16),
    /// `text_column::jsonb ->> 'key'` or `::json ->> 'key'` (the key's bytes).
    JsonField(i16, Vec<u8>),
    /// A column of the relation the table is joined to: the plan's `join.groups[i]`.
    Joined(usize),
}

impl KeyExpr {
    /// The table's column it reads (none for the joined relation's).
    pub fn attnum(&self) -> Option<i16> {
        match *self {
            KeyExpr::Column(a) | KeyExpr::DateOf(a) | KeyExpr::Trunc(_, a) | KeyExpr::Extract(_, a) | KeyExpr::JsonField(a, _) => Some(a),
            KeyExpr::Joined(_) => None,
        }
    }
}

/// An inner equi-join on an integer or text key to one other relation, read whole by the
/// node's second child and folded into the grouping (join.rs).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JoinPlan {
    /// The table's join key column.
    pub key: i16,
    /// The position of the other relation's join key in its rows.
    pub other_key: usize,
    /// The keys are text (compared as bytes), else integers.
    pub bytes: bool,
    /// The other relation's grouping keys (KeyExpr::Joined).
    pub groups: Vec<OtherKey>,
    /// For EXPLAIN: the join condition.
    pub condition: String,
}

/// A grouping key of the joined relation, grouped by its type's own hash and equality
/// functions (a hashable grouping clause's), under its collation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OtherKey {
    /// The position of the column in the other relation's rows.
    pub position: usize,
    pub eq_func: u32,
    pub hash_func: u32,
    pub collation: u32,
    /// For EXPLAIN.
    pub name: String,
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
    PercentileCont,
    PercentileDisc,
    /// mergetree.uniq(x).
    Uniq,
    /// mergetree.quantile(level, x); the level is `fraction`.
    Quantile,
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
    /// numeric of display scale `0` from a scaled integer (sum of numerics).
    Numeric(u16),
    /// numeric: the scaled sum (of display scale `0`) divided by the count as Postgres divides numerics.
    NumericScaledAvg(u16),
    /// A computed value's own type (min, max of an expression or a numeric column).
    Computed(ValueType),
}

/// What a computed value is in Postgres and in the engine: integers and numerics are
/// i64 (numerics scaled by 10^scale), floats f64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueType {
    /// int2, int4 or int8 (`width` bytes).
    Int { width: u8 },
    /// Only as the argument of a cast to float8.
    Float4,
    Float8,
    /// numeric with display scale `scale`.
    Numeric { scale: u16 },
}

impl ValueType {
    pub fn kind(self) -> ValueKind {
        match self {
            ValueType::Float4 | ValueType::Float8 => ValueKind::Float,
            _ => ValueKind::Int,
        }
    }
}

/// An aggregate's argument computed in the engine (mergetree::scalar evaluates it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ValueExpr {
    /// An integer or float column, as stored.
    Column(i16),
    /// A numeric(p, s) column, p <= 18, as integers scaled by 10^s.
    Numeric { attnum: i16, scale: u16 },
    /// An integer or a numeric constant (scaled).
    Int(i64),
    Float(f64),
    /// An integer (`int`) or float4 as float8.
    ToFloat8 { arg: Box<ValueExpr>, int: bool },
    Arith { op: ArithOp, ty: ArithType, a: Box<ValueExpr>, b: Box<ValueExpr> },
    /// `CASE WHEN cond THEN then ELSE otherwise END`, the condition a predicate the scan
    /// evaluates (its nodeToString text: it is built at execution, with parameters).
    /// No ELSE (or ELSE NULL): NULL.
    Case { cond: String, cond_attnums: Vec<i16>, then: Box<ValueExpr>, otherwise: Option<Box<ValueExpr>>, float: bool },
    /// `coalesce(args...)`.
    Coalesce { args: Vec<ValueExpr>, float: bool },
}

impl ValueExpr {
    /// The columns it reads.
    pub fn attnums(&self, out: &mut Vec<i16>) {
        match self {
            ValueExpr::Column(a) | ValueExpr::Numeric { attnum: a, .. } => out.push(*a),
            ValueExpr::Int(_) | ValueExpr::Float(_) => {}
            ValueExpr::ToFloat8 { arg, .. } => arg.attnums(out),
            ValueExpr::Arith { a, b, .. } => {
                a.attnums(out);
                b.attnums(out);
            }
            ValueExpr::Case { cond_attnums, then, otherwise, .. } => {
                out.extend(cond_attnums);
                then.attnums(out);
                if let Some(o) = otherwise {
                    o.attnums(out);
                }
            }
            ValueExpr::Coalesce { args, .. } => args.iter().for_each(|a| a.attnums(out)),
        }
    }

    /// For EXPLAIN: the expression with columns named by `name`, CASE conditions shown
    /// by `cond`.
    pub fn show(&self, name: &dyn Fn(i16) -> String, cond: &dyn Fn(&str) -> String) -> String {
        match self {
            ValueExpr::Case { cond: c, then, otherwise, .. } => {
                let otherwise = otherwise.as_ref().map_or_else(|| "NULL".to_string(), |o| o.show(name, cond));
                format!("CASE WHEN {} THEN {} ELSE {otherwise} END", cond(c), then.show(name, cond))
            }
            ValueExpr::Coalesce { args, .. } => format!("COALESCE({})", args.iter().map(|a| a.show(name, cond)).collect::<Vec<_>>().join(", ")),
            ValueExpr::Column(a) | ValueExpr::Numeric { attnum: a, .. } => name(*a),
            ValueExpr::Int(v) => v.to_string(),
            ValueExpr::Float(v) => v.to_string(),
            ValueExpr::ToFloat8 { arg, .. } => format!("({})::double precision", arg.show(name, cond)),
            ValueExpr::Arith { op, ty, a, b } => {
                let sym = match op {
                    ArithOp::Add => "+",
                    ArithOp::Sub => "-",
                    ArithOp::Mul => "*",
                    ArithOp::Div => "/",
                };
                // A numeric constant is a scaled integer: show its decimal value.
                let side = |e: &ValueExpr, scale: u16| match (e, ty) {
                    (ValueExpr::Int(v), ArithType::Numeric { .. }) => mergetree::numeric::format_scaled(*v as i128, scale),
                    _ => e.show(name, cond),
                };
                let (sa, sb) = match ty {
                    ArithType::Numeric { a, b } => (*a, *b),
                    _ => (0, 0),
                };
                format!("({} {sym} {})", side(a, sa), side(b, sb))
            }
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AggOut {
    pub op: AggOp,
    /// The input column (0 for count(*) and computed arguments).
    pub attnum: i16,
    /// A computed argument and its type (instead of the column).
    pub arg: Option<(ValueExpr, ValueType)>,
    pub kind: ValueKind,
    pub result: ResultKind,
    /// It has a FILTER (the predicate is in the plan's custom_private).
    pub filtered: bool,
    /// A percentile's fraction, a quantile's level.
    pub fraction: f64,
    /// percentile_cont / percentile_disc of an array of fractions (NULL elements as
    /// None): the result is an array of one value per fraction. Empty for one fraction.
    pub fractions: Vec<Option<f64>>,
}

impl AggOut {
    /// An unfiltered aggregate of a column (`attnum`) or a computed argument (`arg`), with
    /// no fraction.
    pub fn new(op: AggOp, attnum: i16, arg: Option<(ValueExpr, ValueType)>, kind: ValueKind, result: ResultKind) -> AggOut {
        AggOut { op, attnum, arg, kind, result, filtered: false, fraction: 0.0, fractions: Vec::new() }
    }
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
    /// Of est_bytes, the sketch states' (mergetree.uniq, mergetree.quantile).
    pub est_sketch_bytes: u64,
    /// Aggregating below a join to another relation.
    pub join: Option<JoinPlan>,
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
