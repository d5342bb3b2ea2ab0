//! What MergeTreeAgg computes: the engine's spec of the node's plan (its aggregates,
//! the columns it reads, the expressions it derives, the join it folds into its groups),
//! and how a batch is folded into a state. The passes over the data are passes.rs'.

use super::{AggOp, KeyExpr, NodePlan, ValueExpr};
use mergetree::arith::Operand;
use mergetree::aggregate::join::JoinLookup;
use mergetree::aggregate::{AggFunc, AggSpec, AggValue, Aggregator, Group, KeySpec, Percentile};
use mergetree::predicate::Predicate;
use mergetree::range_reader::Fetched;
use mergetree::scalar::ScalarExpr;

/// Where a plan aggregate's value is among the engine's aggregates: one, or (a percentile
/// of an array of fractions) one per fraction, None for a NULL fraction.
enum Slot {
    One(usize),
    Array(Vec<Option<usize>>),
}

/// What the engine computes: the aggregation over the batch's columns, the table columns
/// it reads (`needed`), and the expressions computed into further columns of each batch
/// (`derived`, numbered after the table's columns).
pub struct EngineSpec {
    pub(super) spec: AggSpec,
    pub(super) needed: Vec<usize>,
    pub(super) derived: Vec<ScalarExpr>,
    /// Per plan aggregate, where its value is.
    layout: Vec<Slot>,
    /// A join folded into the grouping (the code column goes after the derived ones).
    pub(super) join: Option<JoinSpec>,
    /// Table columns read only by JSON field keys.
    json_only: Vec<usize>,
    /// Numeric table columns read only as integers scaled by 10^s (ScalarExpr::Numeric),
    /// with s: parts that store them so hand the integers over (mergetree's
    /// part/scaled.rs).
    pub(super) scaled: Vec<(usize, u16)>,
}

/// The join of an EngineSpec: the table's join key column, the lookup of the joined
/// relation's keys (of the partition being read, when it is read in `parts`).
pub struct JoinSpec {
    pub(super) key: usize,
    pub(super) lookup: JoinLookup,
    pub(super) parts: u32,
}

impl EngineSpec {
    /// The engine's values of a group as the plan's: a percentile array's values in one.
    pub fn fold(&self, mut g: Group) -> Group {
        if self.layout.iter().all(|l| matches!(l, Slot::One(_))) {
            return g;
        }
        let values = std::mem::take(&mut g.values);
        let of = |e: &Option<usize>| e.map_or(AggValue::Null, |e| values[e].clone());
        g.values = self
            .layout
            .iter()
            .map(|l| match l {
                Slot::One(e) => values[*e].clone(),
                // No value in the group (every fraction's percentile NULL): NULL, as
                // Postgres returns for an empty group.
                Slot::Array(es) if es.iter().flatten().any(|&e| values[e] == AggValue::Null) => AggValue::Null,
                Slot::Array(es) => AggValue::Array(es.iter().map(of).collect()),
            })
            .collect();
        g
    }

    /// Folds a batch whose derived columns are there into `agg`.
    pub(super) fn update(&self, agg: &mut Aggregator, columns: &mut Vec<Option<Fetched>>, rows: &[u32], n: usize, part: usize) {
        match &self.join {
            Some(j) => j.lookup.update(agg, columns, j.key, rows, n, part),
            None => agg.update(columns, rows, part),
        }
    }

    /// Adds the derived columns to a batch: those in `subcolumns` as read, the others
    /// computed.
    pub(super) fn derive<'a>(&self, columns: &mut Vec<Option<Fetched<'a>>>, selection: &[u32], rows: usize, mut subcolumns: Vec<Option<Fetched<'a>>>) -> mergetree::Result<()> {
        for (i, e) in self.derived.iter().enumerate() {
            match subcolumns.get_mut(i).and_then(Option::take) {
                Some(f) => columns.push(Some(f)),
                None => {
                    let c = e.eval(columns, selection, rows)?;
                    columns.push(Some(Fetched::Values(c)));
                }
            }
        }
        Ok(())
    }

    /// Per derived column, the column of part `meta` that holds it (a JSON subcolumn);
    /// and the table columns the part then need not read.
    pub(super) fn subcolumns(&self, meta: &mergetree::PartMeta, cols: &[mergetree::range_reader::ReadColumn], filtered: &[usize]) -> (Vec<Option<usize>>, Vec<usize>) {
        let subs: Vec<Option<usize>> = self
            .derived
            .iter()
            .map(|e| match e {
                ScalarExpr::JsonField { col, key } => meta.subcolumn(cols[*col].id, key),
                _ => None,
            })
            .collect();
        let served = |c: usize| self.derived.iter().zip(&subs).all(|(e, s)| s.is_some() || !matches!(e, ScalarExpr::JsonField { col, .. } if *col == c));
        let skip = self.json_only.iter().copied().filter(|&c| !filtered.contains(&c) && served(c)).collect();
        (subs, skip)
    }
}

/// The engine's spec of the plan, over the table plan's columns.
/// `cond` builds the predicate of a CASE condition (ValueExpr::Case).
/// `join`: the plan's join's lookup and the partitions it is read in (its lookup then the
/// first partition's, or empty).
pub fn engine_spec(plan: &NodePlan, tp: &crate::datum::TablePlan, filters: Vec<Option<Predicate>>, cond: &dyn Fn(&str) -> Predicate, join: Option<(JoinLookup, u32)>) -> EngineSpec {
    let idx = |attnum: i16| tp.index_of_attnum(attnum).expect("planned column");
    let mut derived = Vec::new();
    let mut needed: Vec<usize> = Vec::new();
    // The joined relation's keys all group by the match's code, in the column the join
    // appends after the derived ones (numbered once those are known).
    const CODE_COLUMN: usize = usize::MAX;
    // Text columns JSON field keys read (which parts may have as subcolumns).
    let mut json_sources = Vec::new();
    let mut keys: Vec<KeySpec> = plan
        .keys
        .iter()
        .map(|k| {
            let Some(attnum) = k.attnum() else {
                return KeySpec { col: CODE_COLUMN, ty: mergetree::ColumnType::Fixed { width: 4 }, float: false };
            };
            let ci = idx(attnum);
            match k {
                KeyExpr::JsonField(..) => json_sources.push(ci),
                _ => needed.push(ci),
            }
            let c = &tp.columns[ci];
            let expr = match k {
                KeyExpr::Column(_) => return KeySpec { col: ci, ty: c.ty, float: c.sort == mergetree::SortKind::Float },
                KeyExpr::DateOf(_) => ScalarExpr::DateOfTimestamp { col: ci },
                KeyExpr::Trunc(unit, _) => ScalarExpr::TruncTimestamp { unit: *unit, col: ci },
                KeyExpr::Extract(field, _) => ScalarExpr::Extract { field: *field, col: ci },
                KeyExpr::JsonField(_, key) => ScalarExpr::JsonField { col: ci, key: key.clone() },
                KeyExpr::Joined(_) => unreachable!("a joined key reads no column of the table"),
            };
            let ty = expr.result_type();
            derived.push(expr);
            KeySpec { col: tp.columns.len() + derived.len() - 1, ty, float: false }
        })
        .collect();
    let mut layout = Vec::new();
    let mut aggs: Vec<AggFunc> = Vec::new();
    let mut engine_filters: Vec<Option<Predicate>> = Vec::new();
    for o in &plan.aggs {
        let f = {
            let col = match &o.arg {
                _ if o.op == AggOp::CountStar => 0,
                None => idx(o.attnum),
                Some((e, _)) => match lower(e, &idx, cond, tp.columns.len(), &mut derived, &mut needed) {
                    Operand::Col(c) => c,
                    // Planning keeps only arguments that read a column.
                    _ => unreachable!("a constant aggregate argument"),
                },
            };
            match o.op {
                AggOp::CountStar => AggFunc::CountStar,
                AggOp::Count => AggFunc::Count { col },
                AggOp::Sum => AggFunc::Sum { col, kind: o.kind },
                AggOp::Avg => AggFunc::Avg { col, kind: o.kind },
                AggOp::Min => AggFunc::Min { col, kind: o.kind },
                AggOp::Max => AggFunc::Max { col, kind: o.kind },
                AggOp::BoolAnd => AggFunc::BoolAnd { col },
                AggOp::BoolOr => AggFunc::BoolOr { col },
                AggOp::CountDistinct => AggFunc::CountDistinct { col, kind: o.kind },
                AggOp::PercentileCont | AggOp::PercentileDisc => {
                    AggFunc::Percentile { col, kind: o.kind, p: Percentile { cont: o.op == AggOp::PercentileCont, fraction: o.fraction } }
                }
                AggOp::Uniq => AggFunc::Uniq { col, kind: o.kind },
                AggOp::Quantile => AggFunc::Quantile { col, kind: o.kind, level: o.fraction },
            }
        };
        let filter = filters.get(layout.len()).cloned().flatten();
        let mut push = |f: AggFunc| {
            aggs.push(f);
            engine_filters.push(filter.clone());
            aggs.len() - 1
        };
        layout.push(match f {
            AggFunc::Percentile { col, kind, p } if !o.fractions.is_empty() => {
                // A percentile per non-NULL fraction; they share one set of value counts.
                Slot::Array(o.fractions.iter().map(|fr| fr.map(|fraction| push(AggFunc::Percentile { col, kind, p: Percentile { fraction, ..p } }))).collect())
            }
            f => Slot::One(push(f)),
        });
    }
    let filters = if filters.is_empty() { filters } else { engine_filters };
    // Derived columns' inputs are already in `needed`.
    needed.extend(aggs.iter().filter_map(AggFunc::input).filter(|&c| c < tp.columns.len()));
    needed.sort_unstable();
    needed.dedup();
    for f in filters.iter().flatten() {
        f.columns(&mut needed);
    }
    let join = plan.join.as_ref().map(|j| {
        let (lookup, parts) = join.expect("a join's lookup");
        JoinSpec { key: idx(j.key), lookup, parts }
    });
    if let Some(j) = &join {
        needed.push(j.key);
    }
    let scaled = scaled_columns(&derived, &aggs, &keys, &filters, &json_sources, join.as_ref().map(|j| j.key));
    // Columns only JSON fields read: a part with the fields as subcolumns skips them.
    let json_only: Vec<usize> = json_sources.iter().copied().filter(|c| !needed.contains(c)).collect();
    needed.extend(json_sources);
    needed.sort_unstable();
    needed.dedup();
    for k in keys.iter_mut().filter(|k| k.col == CODE_COLUMN) {
        k.col = tp.columns.len() + derived.len();
    }
    EngineSpec { spec: AggSpec { keys, aggs, filters }, needed, derived, layout, join, json_only, scaled }
}

/// The numeric columns read only by ScalarExpr::Numeric (at one scale), with the scale:
/// nothing else (a key, an aggregate's input, a filter, another expression, the join)
/// needs their numerics' bytes.
fn scaled_columns(derived: &[ScalarExpr], aggs: &[AggFunc], keys: &[KeySpec], filters: &[Option<Predicate>], json: &[usize], join_key: Option<usize>) -> Vec<(usize, u16)> {
    let mut other: Vec<usize> = derived.iter().filter(|d| !matches!(d, ScalarExpr::Numeric { .. })).flat_map(ScalarExpr::inputs).collect();
    other.extend(aggs.iter().filter_map(AggFunc::input));
    other.extend(keys.iter().map(|k| k.col));
    for f in filters.iter().flatten() {
        f.columns(&mut other);
    }
    other.extend(json);
    other.extend(join_key);
    let numeric: Vec<(usize, u16)> = derived
        .iter()
        .filter_map(|d| match *d {
            ScalarExpr::Numeric { col, scale } => Some((col, scale)),
            _ => None,
        })
        .collect();
    let mut scaled: Vec<(usize, u16)> = numeric.iter().copied().filter(|&(c, s)| !other.contains(&c) && numeric.iter().all(|&(c2, s2)| c2 != c || s2 == s)).collect();
    scaled.dedup();
    scaled
}

/// The derived column (or constant) computing `e`: columns it reads go to `needed`,
/// expressions to `derived` (numbered from `base`), each computed once however many
/// aggregates use it; CASE conditions are built by `cond`.
fn lower(e: &ValueExpr, idx: &dyn Fn(i16) -> usize, cond: &dyn Fn(&str) -> Predicate, base: usize, derived: &mut Vec<ScalarExpr>, needed: &mut Vec<usize>) -> Operand {
    let push = |x: ScalarExpr, derived: &mut Vec<ScalarExpr>| {
        let i = derived.iter().position(|d| *d == x).unwrap_or_else(|| {
            derived.push(x);
            derived.len() - 1
        });
        Operand::Col(base + i)
    };
    let mut sub = |e: &ValueExpr, derived: &mut Vec<ScalarExpr>| lower(e, idx, cond, base, derived, needed);
    match e {
        ValueExpr::Column(a) => {
            needed.push(idx(*a));
            Operand::Col(idx(*a))
        }
        ValueExpr::Numeric { attnum, scale } => {
            needed.push(idx(*attnum));
            push(ScalarExpr::Numeric { col: idx(*attnum), scale: *scale }, derived)
        }
        ValueExpr::Int(v) => Operand::Int(*v),
        ValueExpr::Float(v) => Operand::Float(*v),
        ValueExpr::ToFloat8 { arg, int } => match sub(arg, derived) {
            Operand::Col(col) => push(ScalarExpr::ToFloat8 { col, int: *int }, derived),
            Operand::Int(v) => Operand::Float(v as f64),
            f => f,
        },
        ValueExpr::Arith { op, ty, a, b } => {
            let (a, b) = (sub(a, derived), sub(b, derived));
            push(ScalarExpr::Arith { op: *op, ty: *ty, a, b }, derived)
        }
        ValueExpr::Case { cond: c, then, otherwise, float, .. } => {
            let then = sub(then, derived);
            let otherwise = otherwise.as_ref().map(|o| sub(o, derived));
            let p = cond(c);
            p.columns(needed);
            push(ScalarExpr::Case { cond: p, then, otherwise, float: *float }, derived)
        }
        ValueExpr::Coalesce { args, float } => {
            let args = args.iter().map(|a| sub(a, derived)).collect();
            push(ScalarExpr::Coalesce { args, float: *float }, derived)
        }
    }
}

