//! Table options (`WITH (order_by = ..., ...)`): parsing and validation against the table
//! here; `reloptions` reads and writes them in `pg_class.reloptions`, where they live so
//! that `\d+` shows them and pg_dump keeps them; `follow` keeps them in step with column
//! renames and drops, and records what the partition expression depends on.

mod engine;
mod follow;
mod reloptions;

pub use engine::{canonical as canonical_engine, combine_function, function_oids, Engine};
pub use follow::{check_column_drop, deparse_partition, record_dependencies, RenameTracker};
pub use reloptions::{for_relation, rewrite, store, stored_defs, unquote, PENDING};

use crate::datum::TablePlan;
use mergetree::codec::dict::DictMode;
use mergetree::{CodecChain, Compression, SortKind};
use crate::error::{raise, raise_with_hint};
use crate::write::partition::Names;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::{CStr, CString};


pub const OPTION_NAMES: [&str; 15] = [
    "order_by",
    "primary_key",
    "partition_by",
    "engine",
    "final",
    "ttl",
    "index_granularity",
    "index_granularity_bytes",
    "compression",
    "codecs",
    "dictionary",
    "background_merges",
    "max_bytes_to_merge",
    "parts_to_delay_insert",
    "parts_to_throw_insert",
];
/// Options that only affect parts written from now on (or merges and inserts to come), so
/// ALTER TABLE SET may change them: all but the first four, which organise the parts
/// (and say what merges make of them).
pub const ALTERABLE: &[&str] = OPTION_NAMES.as_slice().split_at(4).1;

#[derive(Clone, Debug, Default)]
pub struct TableOptions {
    pub order_by: Vec<String>,
    pub primary_key: Vec<String>,
    pub partition_by: Option<String>,
    /// The merging algorithm of merges and FINAL reads.
    pub engine: Engine,
    /// Scans of this table read FINAL (as `mergetree.final = on` makes every scan).
    pub final_reads: bool,
    /// Rows past this expression (a date or timestamp) are removed by merges.
    pub ttl: Option<String>,
    pub index_granularity: usize,
    pub index_granularity_bytes: usize,
    /// Block codec of columns without their own chain.
    pub compression: Compression,
    /// `compression` was not given: the writer may pick ZSTD(1) per column.
    pub compression_set: bool,
    /// Per-column codec chains (`codecs = 'ts: DoubleDelta, ZSTD(1); v: Gorilla'`).
    pub codecs: Vec<(String, CodecChain)>,
    /// Dictionary mode for all variable-length columns, and per-column overrides.
    pub dictionary: DictMode,
    pub dictionary_columns: Vec<(String, DictMode)>,
    /// Whether the merge workers merge this table's parts (off: only mergetree.optimize).
    pub background_merges: bool,
    /// Merged parts stay below this many bytes (ClickHouse's
    /// max_bytes_to_merge_at_max_space_in_pool).
    pub max_bytes_to_merge: u64,
    /// A partition with more active parts delays inserts into it...
    pub parts_to_delay_insert: usize,
    /// ...and with more than this many refuses them.
    pub parts_to_throw_insert: usize,
}

impl TableOptions {
    pub fn codec_for(&self, column: &str) -> Option<&CodecChain> {
        self.codecs.iter().find(|(c, _)| c == column).map(|(_, ch)| ch)
    }
    /// Whether a scan now reads FINAL: the table has an engine and the table or the
    /// session asks for it.
    pub fn reads_final(&self) -> bool {
        self.engine != Engine::Plain && (self.final_reads || crate::gucs::FINAL.get())
    }
    pub fn dictionary_for(&self, column: &str) -> DictMode {
        self.dictionary_columns.iter().find(|(c, _)| c == column).map_or(self.dictionary, |(_, m)| *m)
    }
}

fn bad_value(table: &str, name: &str, v: &str, why: &str) -> ! {
    raise_with_hint(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("invalid value for option \"{name}\" of mergetree table \"{table}\": {why}"),
        match name {
            "codecs" => format!("Write \"column: codec, ...; column: ...\", e.g. codecs = 'ts: DoubleDelta, ZSTD(1); value: Gorilla, LZ4' (got \"{v}\")."),
            "dictionary" => format!("Write auto, on or off, for all columns or per column, e.g. dictionary = 'auto; event: on; body: off' (got \"{v}\")."),
            _ => format!("Valid codecs: LZ4, ZSTD, ZSTD(1..22), NONE (got \"{v}\")."),
        },
    )
}

/// Splits `a: x; b: y` into (column, spec) pairs; an entry without a column has "".
fn per_column<'a>(table: &str, name: &str, v: &'a str) -> Vec<(String, &'a str)> {
    v.split(';')
        .filter(|e| !e.trim().is_empty())
        .map(|e| match e.split_once(':') {
            Some((col, spec)) => {
                let cols = split_identifiers(table, name, col);
                if cols.len() != 1 {
                    bad_value(table, name, v, &format!("\"{}\" is not one column name", col.trim()));
                }
                (cols[0].clone(), spec.trim())
            }
            None => (String::new(), e.trim()),
        })
        .collect()
}

fn parse_dict_mode(table: &str, name: &str, v: &str, m: &str) -> DictMode {
    match m.to_ascii_lowercase().as_str() {
        "auto" => DictMode::Auto,
        "on" | "always" | "true" => DictMode::Always,
        "off" | "never" | "false" => DictMode::Never,
        other => bad_value(table, name, v, &format!("unknown dictionary mode \"{other}\"")),
    }
}

pub fn is_option(name: &str) -> bool {
    OPTION_NAMES.contains(&name)
}

fn parse_number(table: &str, name: &str, v: &str, min: i64, max: i64) -> usize {
    match v.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => n as usize,
        _ => raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("invalid value for option \"{name}\" of mergetree table \"{table}\": \"{v}\" (expected an integer from {min} to {max})"),
        ),
    }
}

/// Postgres' boolean spellings (parse_bool): true/false, yes/no and their prefixes, on/off,
/// 1/0.
fn parse_bool(table: &str, name: &str, v: &str) -> bool {
    let s = v.trim().to_ascii_lowercase();
    let prefix_of = |word: &str| !s.is_empty() && word.starts_with(s.as_str());
    match s.as_str() {
        "on" | "1" => true,
        "off" | "of" | "0" => false,
        _ if prefix_of("true") || prefix_of("yes") => true,
        _ if prefix_of("false") || prefix_of("no") => false,
        _ => raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("invalid value for option \"{name}\" of mergetree table \"{table}\": \"{v}\" (expected on or off)")),
    }
}

/// Splits an identifier list like `a, "B c", d` the way Postgres does (quotes, case folding).
pub fn split_identifiers(table: &str, name: &str, v: &str) -> Vec<String> {
    if v.trim().is_empty() {
        return Vec::new();
    }
    let c = CString::new(v).unwrap_or_default();
    // SAFETY: SplitIdentifierString edits a palloc'd copy and returns pointers into it.
    unsafe {
        let raw = pg_sys::pstrdup(c.as_ptr());
        let mut list: *mut pg_sys::List = std::ptr::null_mut();
        if !pg_sys::SplitIdentifierString(raw, b',' as std::ffi::c_char, &mut list) {
            raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("invalid column list in option \"{name}\" of mergetree table \"{table}\": \"{v}\""),
            );
        }
        crate::ffi::list_ptrs::<std::ffi::c_char>(list).into_iter().map(|p| CStr::from_ptr(p).to_string_lossy().into_owned()).collect()
    }
}

/// A list of column names (`order_by`, `primary_key`): at least one, each once.
fn column_list(table: &str, name: &str, v: &str) -> Vec<String> {
    let cols = split_identifiers(table, name, v);
    if cols.is_empty() {
        raise_with_hint(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("option \"{name}\" of mergetree table \"{table}\" names no column"),
            format!("Give one or more columns, e.g. {name} = 'org_id, ts', or leave the option out."),
        );
    }
    for (i, c) in cols.iter().enumerate() {
        if cols[..i].contains(c) {
            raise(
                PgSqlErrorCode::ERRCODE_DUPLICATE_COLUMN,
                format!("column \"{c}\" appears more than once in option \"{name}\" of mergetree table \"{table}\""),
            );
        }
    }
    cols
}

/// Parses option values given as (name, value) pairs; unknown names, options given twice
/// and empty or repeating column lists are errors.
pub fn parse(table: &str, defs: &[(String, String)]) -> TableOptions {
    let mut o = TableOptions {
        index_granularity: 8192,
        index_granularity_bytes: 10 << 20,
        background_merges: true,
        max_bytes_to_merge: 150 << 30,
        parts_to_delay_insert: 150,
        parts_to_throw_insert: 300,
        ..Default::default()
    };
    let mut codecs_raw = None;
    for (i, (name, v)) in defs.iter().enumerate() {
        if defs[..i].iter().any(|(n, _)| n == name) {
            raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("option \"{name}\" of mergetree table \"{table}\" is given more than once"));
        }
        match name.as_str() {
            "order_by" => o.order_by = column_list(table, name, v),
            "primary_key" => o.primary_key = column_list(table, name, v),
            "partition_by" => {
                if v.trim().is_empty() {
                    raise_with_hint(
                        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                        format!("option \"partition_by\" of mergetree table \"{table}\" is empty"),
                        "Give an expression over the columns, e.g. partition_by = 'date_trunc(''month'', ts)', or leave the option out.".into(),
                    );
                }
                o.partition_by = Some(v.clone());
            }
            "index_granularity" => o.index_granularity = parse_number(table, name, v, 1, 1 << 20),
            "index_granularity_bytes" => o.index_granularity_bytes = parse_number(table, name, v, 1024, 1 << 30),
            "compression" => {
                o.compression = Compression::parse(v).unwrap_or_else(|e| bad_value(table, name, v, &e));
                o.compression_set = true;
            }
            "codecs" => codecs_raw = Some(v.clone()),
            "background_merges" => o.background_merges = parse_bool(table, name, v),
            "engine" => o.engine = Engine::parse(table, v),
            "final" => o.final_reads = parse_bool(table, name, v),
            "ttl" => {
                if v.trim().is_empty() {
                    raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("option \"ttl\" of mergetree table \"{table}\" is empty"));
                }
                o.ttl = Some(v.clone());
            }
            "max_bytes_to_merge" => o.max_bytes_to_merge = parse_number(table, name, v, 1 << 20, i64::MAX) as u64,
            "parts_to_delay_insert" => o.parts_to_delay_insert = parse_number(table, name, v, 1, 1 << 20),
            "parts_to_throw_insert" => o.parts_to_throw_insert = parse_number(table, name, v, 1, 1 << 20),
            "dictionary" => {
                for (col, m) in per_column(table, name, v) {
                    let mode = parse_dict_mode(table, name, v, m);
                    if col.is_empty() {
                        o.dictionary = mode;
                    } else if o.dictionary_columns.iter().any(|(c, _)| *c == col) {
                        bad_value(table, name, v, &format!("column \"{col}\" is given more than once"));
                    } else {
                        o.dictionary_columns.push((col, mode));
                    }
                }
            }
            other => raise_with_hint(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("unknown option \"{other}\" for mergetree table \"{table}\""),
                format!("Valid options are: {}.", OPTION_NAMES.join(", ")),
            ),
        }
    }
    // Chains without a block codec take the table's `compression`, whatever the order of options.
    if let Some(v) = codecs_raw {
        for (col, spec) in per_column(table, "codecs", &v) {
            if col.is_empty() {
                bad_value(table, "codecs", &v, &format!("\"{spec}\" names no column"));
            }
            if o.codecs.iter().any(|(c, _)| *c == col) {
                bad_value(table, "codecs", &v, &format!("column \"{col}\" is given more than once"));
            }
            let chain = CodecChain::parse(spec, o.compression).unwrap_or_else(|e| bad_value(table, "codecs", &v, &e));
            o.codecs.push((col, chain));
        }
    }
    if o.primary_key.is_empty() {
        o.primary_key = o.order_by.clone();
    }
    o
}

/// Checks options against the table's columns; raises a clear error on any problem.
///
/// # Safety
/// `rel` is open.
pub unsafe fn validate(rel: pg_sys::Relation, table: &str, o: &TableOptions, plan: &TablePlan) {
    for (opt, cols) in [("order_by", &o.order_by), ("primary_key", &o.primary_key)] {
        for c in cols {
            let Some(i) = plan.index_of_name(c) else {
                raise_with_hint(
                    PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
                    format!("column \"{c}\" named in option \"{opt}\" does not exist in mergetree table \"{table}\""),
                    format!("Columns are: {}.", plan.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")),
                );
            };
            let col = &plan.columns[i];
            // SAFETY: type cache lookup.
            let cmp = unsafe { (*pg_sys::lookup_type_cache(col.typid, pg_sys::TYPECACHE_CMP_PROC as i32)).cmp_proc };
            if cmp == pg_sys::InvalidOid {
                raise(
                    PgSqlErrorCode::ERRCODE_UNDEFINED_FUNCTION,
                    format!("column \"{c}\" of mergetree table \"{table}\" cannot be in \"{opt}\": its type has no default btree ordering"),
                );
            }
        }
    }
    if o.primary_key.len() > o.order_by.len() || o.primary_key.iter().zip(&o.order_by).any(|(a, b)| a != b) {
        raise_with_hint(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("primary_key of mergetree table \"{table}\" must be a prefix of order_by"),
            format!("order_by is ({}), primary_key is ({}).", o.order_by.join(", "), o.primary_key.join(", ")),
        );
    }
    let named = o.codecs.iter().map(|(c, _)| ("codecs", c)).chain(o.dictionary_columns.iter().map(|(c, _)| ("dictionary", c)));
    for (opt, c) in named {
        let Some(i) = plan.index_of_name(c) else {
            raise(PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN, format!("column \"{c}\" named in option \"{opt}\" does not exist in mergetree table \"{table}\""));
        };
        let col = &plan.columns[i];
        // SAFETY: formats a type name from the syscache.
        let tyname = unsafe { std::ffi::CStr::from_ptr(pg_sys::format_type_be(col.typid)) }.to_string_lossy().into_owned();
        if opt == "codecs" {
            let chain = o.codec_for(c).expect("listed");
            let numeric = matches!(col.sort, SortKind::SignedInt | SortKind::Float);
            let fits = if chain.transforms.is_empty() {
                Ok(())
            } else if !numeric {
                Err(format!("{} needs a numeric, date or time column", chain.transforms[0]))
            } else {
                chain.check_fits((col.typlen > 0).then_some(col.typlen as usize), col.sort == SortKind::Float)
            };
            if let Err(why) = fits {
                raise_with_hint(
                    PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                    format!("codec \"{chain}\" does not fit column \"{c}\" of type {tyname} in mergetree table \"{table}\""),
                    why,
                );
            }
        } else if o.dictionary_for(c) == DictMode::Always && col.typlen > 0 {
            raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("dictionary encoding of column \"{c}\" ({tyname}) of mergetree table \"{table}\" is not possible: it is for variable-length columns such as text, bytea or json"),
            );
        }
    }
    // SAFETY: rel is open.
    engine::validate(table, &o.engine, &o.order_by, plan, unsafe { (*(*rel).rd_rel).relowner });
    if o.final_reads && o.engine == Engine::Plain {
        raise_with_hint(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("option \"final\" of mergetree table \"{table}\" needs an engine"),
            "FINAL reads apply the table's engine (replacing, summing, collapsing...); a plain table reads the same without it.".into(),
        );
    }
    if let Some(expr) = &o.ttl {
        // SAFETY: rel is open; checking raises on error.
        unsafe { crate::write::ttl::check(rel, table, expr, Names::Session) };
    }
    if let Some(expr) = &o.partition_by {
        // SAFETY: rel is open; compiling validates and raises on error.
        unsafe { crate::write::partition::compile(rel, table, expr, Names::Session) };
    }
}

