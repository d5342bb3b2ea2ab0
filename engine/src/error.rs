//! Engine errors. User mistakes, unsupported requests and corruption are distinct
//! variants so the Postgres layer can map each to the right SQLSTATE.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Stored bytes do not decode: checksum mismatch, truncated block, bad header.
    #[error("corrupt data in {what}: {detail}")]
    Corrupt { what: String, detail: String },
    /// A request the engine cannot do (yet).
    #[error("{0} is not supported")]
    Unsupported(String),
    /// A caller passed something invalid (bad option value, wrong column count).
    #[error("{0}")]
    Invalid(String),
    /// A computed value outside its type's range (Postgres' "out of range" errors).
    #[error("{0}")]
    OutOfRange(String),
    /// Arithmetic outside its type's range (Postgres' "integer out of range", "value out
    /// of range: overflow").
    #[error("{0}")]
    NumericRange(String),
    #[error("division by zero")]
    DivisionByZero,
    /// A value the engine cannot compute exactly as Postgres does (a numeric too wide for
    /// scaled integers, NaN): the caller leaves the query to Postgres.
    #[error("{0} is not computed in the engine")]
    Inexact(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Corrupt { what: what.into(), detail: detail.into() }
    }
}
