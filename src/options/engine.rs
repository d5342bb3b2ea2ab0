//! The `engine` option: which of the MergeTree family's merging algorithms the table's
//! merges and FINAL reads apply (ClickHouse's `ENGINE = ReplacingMergeTree(ver)` and its
//! kin), keyed by the `order_by` columns. Parsed and checked here; the algorithms are the
//! engine crate's (`mergetree::merge::algorithm`).

use super::split_identifiers;
use crate::datum::TablePlan;
use crate::error::{raise, raise_with_hint};
use crate::ffi::quote_ident;
use mergetree::merge::algorithm::{Combine, SumKind, TableEngine};
use mergetree::SortKind;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// A table's engine, by column names.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Engine {
    #[default]
    Plain,
    Replacing { version: Option<String>, is_deleted: Option<String> },
    /// Summed columns as given (empty: every numeric column outside `order_by`).
    Summing { columns: Vec<String> },
    Collapsing { sign: String },
    VersionedCollapsing { sign: String, version: String },
    /// (column, how): sum, min, max, any, or a function `(state, state) -> state`.
    Aggregating { columns: Vec<(String, String)> },
}

const ENGINES: &str = "mergetree, replacing[(version[, is_deleted])], summing[(column, ...)], aggregating(column: function, ...), collapsing(sign), versioned_collapsing(sign, version)";

/// Aggregating's combinations the engine computes itself.
const BUILTIN: [&str; 4] = ["sum", "min", "max", "any"];

fn bad(table: &str, v: &str, why: &str) -> ! {
    raise_with_hint(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("invalid value for option \"engine\" of mergetree table \"{table}\": {why}"),
        format!("Engines are {ENGINES} (got \"{v}\")."),
    )
}

impl Engine {
    /// Parses `name[(args)]`; ClickHouse's names (`ReplacingMergeTree`) are accepted too.
    pub fn parse(table: &str, v: &str) -> Engine {
        let v_trim = v.trim();
        let (name, inner) = match v_trim.split_once('(') {
            Some((n, rest)) => {
                let Some(inner) = rest.trim_end().strip_suffix(')') else { bad(table, v, "unbalanced parentheses") };
                // summing((a, b)) as ClickHouse writes it.
                let inner = inner.trim();
                (n.trim(), inner.strip_prefix('(').and_then(|i| i.strip_suffix(')')).unwrap_or(inner))
            }
            None => (v_trim, ""),
        };
        let lower = name.to_ascii_lowercase();
        if lower == "aggregating" || lower == "aggregatingmergetree" {
            return Engine::Aggregating { columns: Self::combinations(table, v, inner) };
        }
        let args = split_identifiers(table, "engine", inner);
        let name = name.to_ascii_lowercase().replace('_', "");
        let name = name.strip_suffix("mergetree").filter(|n| !n.is_empty()).unwrap_or(&name);
        let shown = v_trim.split('(').next().unwrap_or_default().trim();
        let count = |min: usize, max: usize| {
            if args.len() < min || args.len() > max {
                bad(table, v, &format!("{shown} takes {}", if min == max { format!("{min} column(s)") } else { format!("{min} to {max} columns") }));
            }
        };
        match name {
            "mergetree" | "plain" => {
                count(0, 0);
                Engine::Plain
            }
            "replacing" => {
                count(0, 2);
                Engine::Replacing { version: args.first().cloned(), is_deleted: args.get(1).cloned() }
            }
            "summing" => Engine::Summing { columns: args },
            "collapsing" => {
                count(1, 1);
                Engine::Collapsing { sign: args[0].clone() }
            }
            "versionedcollapsing" => {
                count(2, 2);
                Engine::VersionedCollapsing { sign: args[0].clone(), version: args[1].clone() }
            }
            other => bad(table, v, &format!("unknown engine \"{other}\"")),
        }
    }

    /// Aggregating's `column: how, ...` entries.
    fn combinations(table: &str, v: &str, inner: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for entry in inner.split(',').filter(|e| !e.trim().is_empty()) {
            let Some((col, how)) = entry.split_once(':') else { bad(table, v, &format!("\"{}\" is not \"column: function\"", entry.trim())) };
            let cols = split_identifiers(table, "engine", col);
            if cols.len() != 1 || how.trim().is_empty() {
                bad(table, v, &format!("\"{}\" is not \"column: function\"", entry.trim()));
            }
            if out.iter().any(|(c, _)| *c == cols[0]) {
                raise(PgSqlErrorCode::ERRCODE_DUPLICATE_COLUMN, format!("column \"{}\" appears more than once in option \"engine\" of mergetree table \"{table}\"", cols[0]));
            }
            let how = how.trim();
            let lower = how.to_ascii_lowercase();
            out.push((cols[0].clone(), if BUILTIN.contains(&lower.as_str()) { lower } else { how.to_string() }));
        }
        if out.is_empty() {
            bad(table, v, "aggregating names no column to combine");
        }
        out
    }

    /// The option's text (column names quoted as needed), as `\d+` shows it.
    pub fn to_text(&self) -> String {
        let list = |cols: &[&String]| cols.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
        match self {
            Engine::Plain => "mergetree".into(),
            Engine::Replacing { version: None, .. } => "replacing".into(),
            Engine::Replacing { version: Some(v), is_deleted } => format!("replacing({})", list(&[Some(v), is_deleted.as_ref()].into_iter().flatten().collect::<Vec<_>>())),
            Engine::Summing { columns } if columns.is_empty() => "summing".into(),
            Engine::Summing { columns } => format!("summing({})", list(&columns.iter().collect::<Vec<_>>())),
            Engine::Collapsing { sign } => format!("collapsing({})", list(&[sign])),
            Engine::VersionedCollapsing { sign, version } => format!("versioned_collapsing({})", list(&[sign, version])),
            Engine::Aggregating { columns } => format!("aggregating({})", columns.iter().map(|(c, how)| format!("{}: {how}", quote_ident(c))).collect::<Vec<_>>().join(", ")),
        }
    }

    /// The columns the option names.
    pub fn columns(&self) -> Vec<&String> {
        match self {
            Engine::Plain => Vec::new(),
            Engine::Replacing { version, is_deleted } => version.iter().chain(is_deleted.iter()).collect(),
            Engine::Summing { columns } => columns.iter().collect(),
            Engine::Collapsing { sign } => vec![sign],
            Engine::VersionedCollapsing { sign, version } => vec![sign, version],
            Engine::Aggregating { columns } => columns.iter().map(|(c, _)| c).collect(),
        }
    }

    /// The option with columns renamed by `map`.
    pub fn renamed(&self, map: impl Fn(&String) -> String) -> Engine {
        match self {
            Engine::Plain => Engine::Plain,
            Engine::Replacing { version, is_deleted } => Engine::Replacing { version: version.as_ref().map(&map), is_deleted: is_deleted.as_ref().map(&map) },
            Engine::Summing { columns } => Engine::Summing { columns: columns.iter().map(&map).collect() },
            Engine::Collapsing { sign } => Engine::Collapsing { sign: map(sign) },
            Engine::VersionedCollapsing { sign, version } => Engine::VersionedCollapsing { sign: map(sign), version: map(version) },
            Engine::Aggregating { columns } => Engine::Aggregating { columns: columns.iter().map(|(c, how)| (map(c), how.clone())).collect() },
        }
    }

    /// Aggregating's columns combined by functions, with the function's text.
    pub fn functions(&self) -> Vec<(&String, &String)> {
        match self {
            Engine::Aggregating { columns } => columns.iter().filter(|(_, how)| !BUILTIN.contains(&how.as_str())).map(|(c, how)| (c, how)).collect(),
            _ => Vec::new(),
        }
    }

    /// The version column versioned collapsing adds to the end of the sort key.
    pub fn sort_suffix(&self) -> Option<&String> {
        match self {
            Engine::VersionedCollapsing { version, .. } => Some(version),
            _ => None,
        }
    }

    /// The algorithm over plan columns (a merge's batches hold the plan's columns, in
    /// order); None for a plain table.
    pub fn algorithm(&self, plan: &TablePlan, order_by: &[String]) -> Option<TableEngine> {
        let at = |c: &String| plan.index_of_name(c).expect("engine columns were validated");
        Some(match self {
            Engine::Plain => return None,
            Engine::Replacing { version, is_deleted } => TableEngine::Replacing {
                version: version.as_ref().map(|v| (at(v), plan.columns[at(v)].sort)),
                is_deleted: is_deleted.as_ref().map(at),
            },
            Engine::Summing { columns } => TableEngine::Summing {
                columns: summed(plan, order_by, columns).into_iter().map(|i| (i, sum_kind(plan.columns[i].typid).expect("validated"))).collect(),
            },
            Engine::Collapsing { sign } => TableEngine::Collapsing { sign: at(sign) },
            Engine::VersionedCollapsing { sign, .. } => TableEngine::VersionedCollapsing { sign: at(sign) },
            Engine::Aggregating { columns } => TableEngine::Aggregating {
                columns: columns
                    .iter()
                    .map(|(c, how)| {
                        let i = at(c);
                        let combine = match how.as_str() {
                            "sum" => Combine::Sum(sum_kind(plan.columns[i].typid).expect("validated")),
                            "min" => Combine::Min(min_max_kind(&plan.columns[i]).expect("validated")),
                            "max" => Combine::Max(min_max_kind(&plan.columns[i]).expect("validated")),
                            "any" => Combine::Any,
                            _ => Combine::External,
                        };
                        (i, combine)
                    })
                    .collect(),
            },
        })
    }

    /// A replacing table's is_deleted column.
    pub fn is_deleted(&self) -> Option<&String> {
        match self {
            Engine::Replacing { is_deleted, .. } => is_deleted.as_ref(),
            _ => None,
        }
    }

    /// The sign column, for engines that have one (inserts check its values).
    pub fn sign(&self) -> Option<&String> {
        match self {
            Engine::Collapsing { sign } | Engine::VersionedCollapsing { sign, .. } => Some(sign),
            _ => None,
        }
    }
}

fn sum_kind(typid: pg_sys::Oid) -> Option<SumKind> {
    match typid {
        pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID => Some(SumKind::Int),
        pg_sys::FLOAT4OID | pg_sys::FLOAT8OID => Some(SumKind::Float),
        pg_sys::NUMERICOID => Some(SumKind::Numeric),
        _ => None,
    }
}

/// How min and max compare a column's values in the engine (numeric by value, text only
/// under the C collation); None where only Postgres can.
fn min_max_kind(c: &crate::datum::ColumnPlan) -> Option<SortKind> {
    match c.sort {
        SortKind::SignedInt | SortKind::Float | SortKind::Bytes => Some(c.sort),
        _ if c.typid == pg_sys::NUMERICOID => Some(SortKind::Numeric),
        _ => None,
    }
}

/// The function `name(typ, typ)` returning `typ` that combines an aggregating column's
/// states; raises when there is none, it is not immutable, or the table's owner may not
/// trust or run it.
pub fn combine_function(table: &str, column: &str, name: &str, typ: pg_sys::Oid, owner: pg_sys::Oid) -> pg_sys::Oid {
    let cname = std::ffi::CString::new(name).unwrap_or_default();
    // SAFETY: parses a name and looks up functions in the catalogs; the syscache tuple
    // is released before return.
    unsafe {
        let names = pg_sys::stringToQualifiedNameList(cname.as_ptr());
        let args = [typ, typ];
        let f = pg_sys::LookupFuncName(names, 2, args.as_ptr(), true);
        let tyname = std::ffi::CStr::from_ptr(pg_sys::format_type_be(typ)).to_string_lossy().into_owned();
        if f == pg_sys::InvalidOid {
            raise_with_hint(
                PgSqlErrorCode::ERRCODE_UNDEFINED_FUNCTION,
                format!("function {name}({tyname}, {tyname}) combining column \"{column}\" of mergetree table \"{table}\" does not exist"),
                format!("Name a function that merges two states, e.g. hll_union for hll, or sum, min, max, any. Column \"{column}\" has type {tyname}."),
            );
        }
        if pg_sys::get_func_rettype(f) != typ {
            raise(PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH, format!("function {name} combining column \"{column}\" of mergetree table \"{table}\" must return {tyname}"));
        }
        if pg_sys::func_volatile(f) != pg_sys::PROVOLATILE_IMMUTABLE as std::ffi::c_char {
            raise(
                PgSqlErrorCode::ERRCODE_INVALID_FUNCTION_DEFINITION,
                format!("function {name} combining column \"{column}\" of mergetree table \"{table}\" must be IMMUTABLE: merges apply it at any time"),
            );
        }
        let tup = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::PROCOID as i32, f.into_datum().unwrap());
        let fowner = if tup.is_null() { pg_sys::InvalidOid } else { (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_proc>(tup)).proowner };
        if !tup.is_null() {
            pg_sys::ReleaseSysCache(tup);
        }
        // Merges run it as the table's owner: it must be the owner's or a superuser's.
        if !(pg_sys::superuser_arg(fowner) || pg_sys::pg_proc_ownercheck(f, owner)) {
            raise_with_hint(
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                format!("function {name} combining column \"{column}\" of mergetree table \"{table}\" is owned by a role the table's owner does not trust"),
                "Use a function owned by the table's owner or by a superuser (as an extension's are).".into(),
            );
        }
        if pg_sys::pg_proc_aclcheck(f, owner, pg_sys::ACL_EXECUTE as pg_sys::AclMode) != pg_sys::AclResult::ACLCHECK_OK {
            raise(PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE, format!("the owner of mergetree table \"{table}\" may not execute function {name}"));
        }
        f
    }
}

/// The option's text with combining functions schema-qualified (as stored: merges in
/// background workers and restores by pg_dump resolve them without the creator's
/// search_path).
pub fn canonical(table: &str, engine: &Engine, plan: &TablePlan, owner: pg_sys::Oid) -> String {
    match engine {
        Engine::Aggregating { columns } => Engine::Aggregating {
            columns: columns
                .iter()
                .map(|(c, how)| match (BUILTIN.contains(&how.as_str()), plan.index_of_name(c)) {
                    (false, Some(i)) => (c.clone(), qualified_name(combine_function(table, c, how, plan.columns[i].typid, owner))),
                    _ => (c.clone(), how.clone()),
                })
                .collect(),
        }
        .to_text(),
        e => e.to_text(),
    }
}

fn qualified_name(f: pg_sys::Oid) -> String {
    // SAFETY: catalog lookups of an existing function; the strings are palloc'd copies.
    unsafe {
        let ns = pg_sys::get_namespace_name(pg_sys::get_func_namespace(f));
        let name = pg_sys::get_func_name(f);
        std::ffi::CStr::from_ptr(pg_sys::quote_qualified_identifier(ns, name)).to_string_lossy().into_owned()
    }
}

/// The combining functions the engine names (for dependencies).
pub fn function_oids(table: &str, engine: &Engine, plan: &TablePlan, owner: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    engine.functions().into_iter().filter_map(|(c, how)| plan.index_of_name(c).map(|i| combine_function(table, c, how, plan.columns[i].typid, owner))).collect()
}

/// Plan columns summing adds: those named, else every numeric one outside `order_by`.
fn summed(plan: &TablePlan, order_by: &[String], named: &[String]) -> Vec<usize> {
    if named.is_empty() {
        (0..plan.columns.len()).filter(|&i| !order_by.contains(&plan.columns[i].name) && sum_kind(plan.columns[i].typid).is_some()).collect()
    } else {
        named.iter().filter_map(|c| plan.index_of_name(c)).collect()
    }
}

/// Checks the engine against the table's columns; raises a clear error on a problem.
pub fn validate(table: &str, engine: &Engine, order_by: &[String], plan: &TablePlan, owner: pg_sys::Oid) {
    if *engine == Engine::Plain {
        return;
    }
    if order_by.is_empty() {
        raise_with_hint(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("engine \"{}\" of mergetree table \"{table}\" needs option \"order_by\"", engine.to_text()),
            "The engine merges rows with equal order_by keys: give the key, e.g. order_by = 'user_id'.".into(),
        );
    }
    let type_name = |i: usize| {
        // SAFETY: formats a type name from the syscache.
        unsafe { std::ffi::CStr::from_ptr(pg_sys::format_type_be(plan.columns[i].typid)) }.to_string_lossy().into_owned()
    };
    let column = |c: &String, role: &str| -> usize {
        plan.index_of_name(c).unwrap_or_else(|| {
            raise_with_hint(
                PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
                format!("{role} column \"{c}\" named in option \"engine\" does not exist in mergetree table \"{table}\""),
                format!("Columns are: {}.", plan.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")),
            )
        })
    };
    let wrong_type = |c: &String, i: usize, role: &str, want: &str| -> ! {
        raise(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!("{role} column \"{c}\" of mergetree table \"{table}\" has type {}: {role} columns must be {want}", type_name(i)),
        )
    };
    let not_key = |c: &String, role: &str| {
        if order_by.contains(c) {
            raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("{role} column \"{c}\" of mergetree table \"{table}\" cannot be in order_by"));
        }
    };
    let small_int = |c: &String, role: &str| {
        let i = column(c, role);
        if !matches!(plan.columns[i].typid, pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID) {
            wrong_type(c, i, role, "smallint, integer or bigint (holding 1 or -1)");
        }
        not_key(c, role);
    };
    match engine {
        Engine::Plain => {}
        Engine::Replacing { version, is_deleted } => {
            if let Some(v) = version {
                let i = column(v, "version");
                if !matches!(plan.columns[i].sort, SortKind::SignedInt | SortKind::Float | SortKind::Bytes) {
                    wrong_type(v, i, "version", "of an integer, float, date, time or uuid type");
                }
                not_key(v, "version");
            }
            if let Some(d) = is_deleted {
                let i = column(d, "is_deleted");
                if !matches!(plan.columns[i].typid, pg_sys::BOOLOID | pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID) {
                    wrong_type(d, i, "is_deleted", "boolean or an integer type (non-zero: deleted)");
                }
                not_key(d, "is_deleted");
                if version.as_ref() == Some(d) {
                    raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("engine of mergetree table \"{table}\" names column \"{d}\" as both version and is_deleted"));
                }
            }
        }
        Engine::Summing { columns } => {
            for (n, c) in columns.iter().enumerate() {
                let i = column(c, "summed");
                if sum_kind(plan.columns[i].typid).is_none() {
                    wrong_type(c, i, "summed", "smallint, integer, bigint, real, double precision or numeric");
                }
                not_key(c, "summed");
                if columns[..n].contains(c) {
                    raise(PgSqlErrorCode::ERRCODE_DUPLICATE_COLUMN, format!("column \"{c}\" appears more than once in option \"engine\" of mergetree table \"{table}\""));
                }
            }
        }
        Engine::Collapsing { sign } => small_int(sign, "sign"),
        Engine::Aggregating { columns } => {
            for (c, how) in columns {
                let i = column(c, "combined");
                not_key(c, "combined");
                let col = &plan.columns[i];
                match how.as_str() {
                    "sum" if sum_kind(col.typid).is_none() => wrong_type(c, i, "sum", "smallint, integer, bigint, real, double precision or numeric"),
                    "min" | "max" if min_max_kind(col).is_none() => wrong_type(c, i, how, "of a type the engine orders (integers, floats, numeric, dates and times, uuid, text under the C collation)"),
                    "sum" | "min" | "max" | "any" => {}
                    f => {
                        combine_function(table, c, f, col.typid, owner);
                    }
                }
            }
        }
        Engine::VersionedCollapsing { sign, version } => {
            small_int(sign, "sign");
            let i = column(version, "version");
            if plan.columns[i].sort != SortKind::SignedInt {
                wrong_type(version, i, "version", "of an integer, date or time type");
            }
            if sign == version {
                raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("engine of mergetree table \"{table}\" names column \"{sign}\" as both sign and version"));
            }
        }
    }
}
