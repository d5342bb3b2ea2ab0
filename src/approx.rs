//! ClickHouse's approximate aggregates as SQL aggregates in schema `mergetree`, usable on
//! any table: `mergetree.uniq(x)` (exact, then HyperLogLog) and `mergetree.quantile(level, x)`
//! (DDSketch). Their states are the engine's (mergetree::aggregate::sketch), hashed the
//! same canonical way, so MergeTreeAgg, which computes them inside the scan, answers
//! exactly as these functions do; combine, serialize and deserialize functions let
//! Postgres' parallel plans use them.

use crate::datum::ColumnPlan;
use mergetree::aggregate::sketch::{self, Quantile, Uniq};
use mergetree::SortKind;
use pgrx::prelude::*;
use pgrx::{AnyElement, Internal, PgMemoryContexts};

/// How values of the argument's type are hashed: as the node hashes stored values where
/// it can compute the aggregate, else by the type's own extended hash function.
#[derive(Clone, Copy)]
enum Hashing {
    /// By-value integers (dates, times, timestamps) of `width` bytes.
    Int(usize),
    Float(usize),
    /// The `len` bytes of a fixed-length value (bool by value, uuid by reference).
    Fixed { len: usize, byval: bool },
    /// A varlena's payload (bytea, text, varchar).
    Varlena,
    /// bpchar: the payload without trailing blanks, which do not count for equality.
    Blank,
    /// The type's extended hash support function (typcache keeps it for the backend).
    Extended(*mut pg_sys::FmgrInfo),
}

#[derive(Clone)]
struct UniqState {
    sketch: Uniq,
    hashing: Option<Hashing>,
}

#[derive(Clone)]
struct QuantileState {
    sketch: Quantile,
    level: Option<f64>,
}

/// The aggregate's memory context: states live there, freed with it.
///
/// # Safety
/// `fcinfo` is the current call's.
unsafe fn agg_context(fcinfo: pg_sys::FunctionCallInfo, name: &str) -> PgMemoryContexts {
    let mut ctx = std::ptr::null_mut();
    // SAFETY: per the caller.
    if unsafe { pg_sys::AggCheckCallContext(fcinfo, &mut ctx) } == 0 || ctx.is_null() {
        crate::error::raise(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, format!("{name} called in non-aggregate context"));
    }
    PgMemoryContexts::For(ctx)
}

/// A new state in the aggregate's context, dropped when that context is reset.
fn new_state<T>(mut ctx: PgMemoryContexts, value: T) -> Internal {
    Internal::from(Some(pg_sys::Datum::from(ctx.leak_and_drop_on_delete(value))))
}

/// # Safety
/// `typid` is the argument's type.
unsafe fn hashing_of(typid: pg_sys::Oid) -> Hashing {
    let col = ColumnPlan::of_type(typid);
    // SAFETY: syscache and typcache lookups of the argument's type.
    unsafe {
        let base = pg_sys::getBaseType(typid);
        match col.sort {
            SortKind::SignedInt if col.typbyval => return Hashing::Int(col.typlen as usize),
            SortKind::Float if col.typbyval => return Hashing::Float(col.typlen as usize),
            SortKind::Bytes if col.typlen > 0 => return Hashing::Fixed { len: col.typlen as usize, byval: col.typbyval },
            SortKind::Bytes if col.typlen == -1 => return Hashing::Varlena,
            _ if matches!(base, pg_sys::TEXTOID | pg_sys::VARCHAROID) => return Hashing::Varlena,
            _ if base == pg_sys::BPCHAROID => return Hashing::Blank,
            _ => {}
        }
        let tc = pg_sys::lookup_type_cache(typid, pg_sys::TYPECACHE_HASH_EXTENDED_PROC_FINFO as i32);
        if (*tc).hash_extended_proc_finfo.fn_oid == pg_sys::InvalidOid {
            let name = crate::ffi::cstr(pg_sys::format_type_be(typid)).unwrap_or_default();
            crate::error::raise_with_hint(
                PgSqlErrorCode::ERRCODE_UNDEFINED_FUNCTION,
                format!("mergetree.uniq cannot hash values of type {name}"),
                "Cast the argument to a type with a hash operator class, such as text.".into(),
            );
        }
        Hashing::Extended(&raw mut (*tc).hash_extended_proc_finfo)
    }
}

/// The canonical hash of a non-NULL value.
///
/// # Safety
/// `datum` is a valid value of the type `how` was made for.
unsafe fn hash_datum(how: Hashing, datum: pg_sys::Datum, collation: pg_sys::Oid) -> u64 {
    use mergetree::aggregate::ValueKind;
    let word = (datum.value() as u64).to_le_bytes();
    // SAFETY: per the caller: by-reference values point at `len` bytes; varlenas are
    // detoasted (a copy in the per-call memory context) before their bytes are read.
    unsafe {
        match how {
            Hashing::Int(width) => sketch::hash_value(ValueKind::Int, &word[..width]),
            Hashing::Float(width) => sketch::hash_value(ValueKind::Float, &word[..width]),
            Hashing::Fixed { len, byval: true } => sketch::hash_bytes(&word[..len]),
            Hashing::Fixed { len, byval: false } => sketch::hash_bytes(std::slice::from_raw_parts(datum.cast_mut_ptr::<u8>(), len)),
            Hashing::Varlena | Hashing::Blank => {
                let b = pgrx::varlena::varlena_to_byte_slice(pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr()));
                let b = match how {
                    Hashing::Blank => &b[..b.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1)],
                    _ => b,
                };
                sketch::hash_bytes(b)
            }
            Hashing::Extended(finfo) => pg_sys::FunctionCall2Coll(finfo, collation, datum, pg_sys::Datum::from(0i64)).value() as u64,
        }
    }
}

/// # Safety
/// `state` is NULL or a state of type `T` made by this module.
unsafe fn state_mut<T>(state: &mut Internal) -> Option<&mut T> {
    // SAFETY: per the caller.
    unsafe { state.get_mut::<T>() }
}

/// A combine function's work (not strict: Postgres requires that of an internal state's
/// combine function): a NULL `b` keeps `a`; a NULL `a` becomes a copy of `b` made in the
/// aggregate's context (`b`, deserialized, may live in a shorter one); else `merge`.
///
/// # Safety
/// `a` and `b` are NULL or states of type `T` made by this module.
unsafe fn combine<T: Clone>(a: Option<Internal>, b: Option<Internal>, fcinfo: pg_sys::FunctionCallInfo, name: &str, merge: impl FnOnce(&mut T, &T)) -> Internal {
    let (mut a, mut b) = (a.unwrap_or_default(), b.unwrap_or_default());
    // SAFETY: per the caller.
    unsafe {
        let Some(other) = state_mut::<T>(&mut b) else { return a };
        match state_mut::<T>(&mut a) {
            Some(mine) => {
                merge(mine, other);
                a
            }
            None => new_state(agg_context(fcinfo, name), other.clone()),
        }
    }
}

#[pg_extern(immutable, parallel_safe)]
fn uniq_trans(mut state: Internal, value: Option<AnyElement>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    // SAFETY: the state is NULL or a UniqState this function made in the aggregate's
    // context; the value is of the argument's type (checked by Postgres' resolution).
    unsafe {
        if state_mut::<UniqState>(&mut state).is_none() {
            state = new_state(agg_context(fcinfo, "mergetree.uniq"), UniqState { sketch: Uniq::new(), hashing: None });
        }
        let s = state_mut::<UniqState>(&mut state).expect("just made");
        if let Some(v) = value {
            let how = *s.hashing.get_or_insert_with(|| hashing_of(v.oid()));
            s.sketch.add_hash(hash_datum(how, v.datum(), (*fcinfo).fncollation));
        }
        state
    }
}

#[pg_extern(immutable, parallel_safe)]
fn uniq_combine(a: Option<Internal>, b: Option<Internal>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    // SAFETY: both are NULL or UniqStates of this module (the aggregate's declaration).
    unsafe {
        combine(a, b, fcinfo, "mergetree.uniq", |mine: &mut UniqState, other: &UniqState| {
            mine.sketch.merge(&other.sketch);
            mine.hashing = mine.hashing.or(other.hashing);
        })
    }
}

#[pg_extern(immutable, parallel_safe, strict)]
fn uniq_serialize(mut state: Internal) -> Vec<u8> {
    // SAFETY: a UniqState of this module.
    unsafe { state_mut::<UniqState>(&mut state).map(|s| s.sketch.to_bytes()).unwrap_or_default() }
}

#[pg_extern(immutable, parallel_safe, strict)]
fn uniq_deserialize(bytes: &[u8], _unused: Internal) -> Internal {
    let sketch = Uniq::from_bytes(bytes).unwrap_or_else(|| corrupt_state("mergetree.uniq"));
    // The hashing is the type's, learned again by the leader's first own value (if any):
    // the sketch alone carries every worker's hashes.
    Internal::new(UniqState { sketch, hashing: None })
}

#[pg_extern(immutable, parallel_safe)]
fn uniq_final(state: Option<Internal>) -> i64 {
    let mut state = state.unwrap_or_default();
    // SAFETY: NULL (no row) or a UniqState of this module.
    unsafe { state_mut::<UniqState>(&mut state).map_or(0, |s| s.sketch.estimate()) }
}

fn corrupt_state(name: &str) -> ! {
    crate::error::raise(PgSqlErrorCode::ERRCODE_DATA_CORRUPTED, format!("{name}: a serialized state is damaged"))
}

fn level_changed(from: f64, to: f64) -> ! {
    crate::error::raise(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("mergetree.quantile level changed from {from} to {to} within a group: it must be the same for every row"),
    )
}

fn check_level(level: f64) {
    if !(0.0..=1.0).contains(&level) {
        crate::error::raise(PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, format!("mergetree.quantile level {level} is not between 0 and 1"));
    }
}

#[pg_extern(immutable, parallel_safe)]
fn quantile_trans(mut state: Internal, level: Option<f64>, value: Option<f64>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    // SAFETY: the state is NULL or a QuantileState this function made in the aggregate's
    // context.
    unsafe {
        if state_mut::<QuantileState>(&mut state).is_none() {
            state = new_state(agg_context(fcinfo, "mergetree.quantile"), QuantileState { sketch: Quantile::new(), level: None });
        }
        let s = state_mut::<QuantileState>(&mut state).expect("just made");
        if let Some(level) = level {
            check_level(level);
            match s.level {
                Some(l) if l != level => level_changed(l, level),
                _ => s.level = Some(level),
            }
        }
        if let Some(v) = value {
            s.sketch.add(v);
        }
        state
    }
}

#[pg_extern(immutable, parallel_safe)]
fn quantile_combine(a: Option<Internal>, b: Option<Internal>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    // SAFETY: both are NULL or QuantileStates of this module (the aggregate's declaration).
    unsafe {
        combine(a, b, fcinfo, "mergetree.quantile", |mine: &mut QuantileState, other: &QuantileState| {
            // A level that differs between workers is the error a serial plan raises.
            if let (Some(l), Some(level)) = (mine.level, other.level) {
                if l != level {
                    level_changed(l, level);
                }
            }
            mine.sketch.merge(&other.sketch);
            mine.level = mine.level.or(other.level);
        })
    }
}

#[pg_extern(immutable, parallel_safe, strict)]
fn quantile_serialize(mut state: Internal) -> Vec<u8> {
    // SAFETY: a QuantileState of this module.
    unsafe {
        state_mut::<QuantileState>(&mut state)
            .map(|s| {
                let mut out = s.level.unwrap_or(f64::NAN).to_le_bytes().to_vec();
                out.extend(s.sketch.to_bytes());
                out
            })
            .unwrap_or_default()
    }
}

#[pg_extern(immutable, parallel_safe, strict)]
fn quantile_deserialize(bytes: &[u8], _unused: Internal) -> Internal {
    let (level, rest) = bytes.split_at_checked(8).unwrap_or_else(|| corrupt_state("mergetree.quantile"));
    let level = f64::from_le_bytes(level.try_into().unwrap_or([0; 8]));
    let sketch = Quantile::from_bytes(rest).unwrap_or_else(|| corrupt_state("mergetree.quantile"));
    Internal::new(QuantileState { sketch, level: (!level.is_nan()).then_some(level) })
}

#[pg_extern(immutable, parallel_safe)]
fn quantile_final(state: Option<Internal>) -> Option<f64> {
    let mut state = state.unwrap_or_default();
    // SAFETY: NULL (no row) or a QuantileState of this module.
    unsafe {
        let s = state_mut::<QuantileState>(&mut state)?;
        s.sketch.value(s.level?)
    }
}

// ClickHouse's -State / -Merge pairs: `uniq_state(x)` and `quantile_state(x)` return a
// group's sketch as bytea (what an aggregating table stores), `uniq_merge(state)` and
// `quantile_merge(level, state)` aggregate stored sketches into the answer, and
// `uniq_union` / `quantile_union` merge two sketches (the aggregating engine's combine
// function). Sketches merge exactly (HyperLogLog registers by max, DDSketch buckets by
// sum), so an answer from states equals the one from the raw rows.

#[pg_extern(immutable, parallel_safe)]
fn uniq_state_final(state: Option<Internal>) -> Vec<u8> {
    let mut state = state.unwrap_or_default();
    // SAFETY: NULL (no row) or a UniqState of this module.
    unsafe { state_mut::<UniqState>(&mut state).map_or_else(|| Uniq::new().to_bytes(), |s| s.sketch.to_bytes()) }
}

#[pg_extern(immutable, parallel_safe)]
fn uniq_merge_trans(mut state: Internal, sketch: Option<&[u8]>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    // SAFETY: the state is NULL or a UniqState this function made in the aggregate's context.
    unsafe {
        if state_mut::<UniqState>(&mut state).is_none() {
            state = new_state(agg_context(fcinfo, "mergetree.uniq_merge"), UniqState { sketch: Uniq::new(), hashing: None });
        }
        if let Some(bytes) = sketch {
            let other = Uniq::from_bytes(bytes).unwrap_or_else(|| corrupt_state("mergetree.uniq_merge"));
            state_mut::<UniqState>(&mut state).expect("just made").sketch.merge(&other);
        }
        state
    }
}

#[pg_extern(immutable, parallel_safe, strict)]
fn uniq_union(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut x = Uniq::from_bytes(a).unwrap_or_else(|| corrupt_state("mergetree.uniq_union"));
    let y = Uniq::from_bytes(b).unwrap_or_else(|| corrupt_state("mergetree.uniq_union"));
    x.merge(&y);
    x.to_bytes()
}

#[pg_extern(immutable, parallel_safe)]
fn quantile_state_trans(mut state: Internal, value: Option<f64>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    // SAFETY: the state is NULL or a QuantileState this function made in the aggregate's
    // context.
    unsafe {
        if state_mut::<QuantileState>(&mut state).is_none() {
            state = new_state(agg_context(fcinfo, "mergetree.quantile_state"), QuantileState { sketch: Quantile::new(), level: None });
        }
        if let Some(v) = value {
            state_mut::<QuantileState>(&mut state).expect("just made").sketch.add(v);
        }
        state
    }
}

#[pg_extern(immutable, parallel_safe)]
fn quantile_state_final(state: Option<Internal>) -> Vec<u8> {
    let mut state = state.unwrap_or_default();
    // SAFETY: NULL (no row) or a QuantileState of this module.
    unsafe { state_mut::<QuantileState>(&mut state).map_or_else(|| Quantile::new().to_bytes(), |s| s.sketch.to_bytes()) }
}

#[pg_extern(immutable, parallel_safe)]
fn quantile_merge_trans(mut state: Internal, level: Option<f64>, sketch: Option<&[u8]>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    // SAFETY: the state is NULL or a QuantileState this function made in the aggregate's
    // context.
    unsafe {
        if state_mut::<QuantileState>(&mut state).is_none() {
            state = new_state(agg_context(fcinfo, "mergetree.quantile_merge"), QuantileState { sketch: Quantile::new(), level: None });
        }
        let s = state_mut::<QuantileState>(&mut state).expect("just made");
        if let Some(level) = level {
            check_level(level);
            match s.level {
                Some(l) if l != level => level_changed(l, level),
                _ => s.level = Some(level),
            }
        }
        if let Some(bytes) = sketch {
            let other = Quantile::from_bytes(bytes).unwrap_or_else(|| corrupt_state("mergetree.quantile_merge"));
            s.sketch.merge(&other);
        }
        state
    }
}

#[pg_extern(immutable, parallel_safe, strict)]
fn quantile_union(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut x = Quantile::from_bytes(a).unwrap_or_else(|| corrupt_state("mergetree.quantile_union"));
    let y = Quantile::from_bytes(b).unwrap_or_else(|| corrupt_state("mergetree.quantile_union"));
    x.merge(&y);
    x.to_bytes()
}

extension_sql!(
    r#"
CREATE AGGREGATE mergetree.uniq_state(anyelement) (
    SFUNC = mergetree.uniq_trans, STYPE = internal, SSPACE = 16416, FINALFUNC = mergetree.uniq_state_final,
    COMBINEFUNC = mergetree.uniq_combine, SERIALFUNC = mergetree.uniq_serialize,
    DESERIALFUNC = mergetree.uniq_deserialize, PARALLEL = SAFE
);
COMMENT ON AGGREGATE mergetree.uniq_state(anyelement) IS
    'The mergetree.uniq sketch of a group, as bytea (store it; combine with mergetree.uniq_union, answer with mergetree.uniq_merge)';
CREATE AGGREGATE mergetree.uniq_merge(bytea) (
    SFUNC = mergetree.uniq_merge_trans, STYPE = internal, SSPACE = 16416, FINALFUNC = mergetree.uniq_final,
    COMBINEFUNC = mergetree.uniq_combine, SERIALFUNC = mergetree.uniq_serialize,
    DESERIALFUNC = mergetree.uniq_deserialize, PARALLEL = SAFE
);
COMMENT ON AGGREGATE mergetree.uniq_merge(bytea) IS
    'mergetree.uniq of the rows whose mergetree.uniq_state sketches are aggregated';
CREATE AGGREGATE mergetree.quantile_state(float8) (
    SFUNC = mergetree.quantile_state_trans, STYPE = internal, SSPACE = 4096, FINALFUNC = mergetree.quantile_state_final,
    COMBINEFUNC = mergetree.quantile_combine, SERIALFUNC = mergetree.quantile_serialize,
    DESERIALFUNC = mergetree.quantile_deserialize, PARALLEL = SAFE
);
COMMENT ON AGGREGATE mergetree.quantile_state(float8) IS
    'The mergetree.quantile sketch of a group, as bytea (combine with mergetree.quantile_union, answer with mergetree.quantile_merge)';
CREATE AGGREGATE mergetree.quantile_merge(float8, bytea) (
    SFUNC = mergetree.quantile_merge_trans, STYPE = internal, SSPACE = 4096, FINALFUNC = mergetree.quantile_final,
    COMBINEFUNC = mergetree.quantile_combine, SERIALFUNC = mergetree.quantile_serialize,
    DESERIALFUNC = mergetree.quantile_deserialize, PARALLEL = SAFE
);
COMMENT ON AGGREGATE mergetree.quantile_merge(float8, bytea) IS
    'mergetree.quantile at a level of the rows whose mergetree.quantile_state sketches are aggregated';
"#,
    name = "approximate_states",
    requires = ["approximate_aggregates", uniq_state_final, uniq_merge_trans, uniq_union, quantile_state_trans, quantile_state_final, quantile_merge_trans, quantile_union]
);

extension_sql!(
    r#"
-- SSPACE: a state's size (uniq: its dense registers at most; quantile: typical), so the
-- planner sizes hash aggregation of many groups by it.
CREATE AGGREGATE mergetree.uniq(anyelement) (
    SFUNC = mergetree.uniq_trans, STYPE = internal, SSPACE = 16416, FINALFUNC = mergetree.uniq_final,
    COMBINEFUNC = mergetree.uniq_combine, SERIALFUNC = mergetree.uniq_serialize,
    DESERIALFUNC = mergetree.uniq_deserialize, PARALLEL = SAFE
);
COMMENT ON AGGREGATE mergetree.uniq(anyelement) IS
    'Approximate count of distinct values (exact up to 2048, then HyperLogLog with 2^14 registers: standard error 0.81%)';
CREATE AGGREGATE mergetree.quantile(float8, float8) (
    SFUNC = mergetree.quantile_trans, STYPE = internal, SSPACE = 4096, FINALFUNC = mergetree.quantile_final,
    COMBINEFUNC = mergetree.quantile_combine, SERIALFUNC = mergetree.quantile_serialize,
    DESERIALFUNC = mergetree.quantile_deserialize, PARALLEL = SAFE
);
COMMENT ON AGGREGATE mergetree.quantile(float8, float8) IS
    'Approximate quantile (DDSketch): within 1% of the value at the level''s rank';
"#,
    name = "approximate_aggregates",
    requires = [uniq_trans, uniq_combine, uniq_serialize, uniq_deserialize, uniq_final, quantile_trans, quantile_combine, quantile_serialize, quantile_deserialize, quantile_final]
);
