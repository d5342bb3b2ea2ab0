//! Datums <-> engine column values.
//!
//! Every type maps onto one of two physical shapes: fixed-width values (by-value types
//! as little-endian bytes, fixed-length by-reference types as their bytes) or byte
//! strings (varlena payloads, detoasted; cstrings). That is the generic path every type
//! takes, domains and enums included; `SortKind` adds a fast comparison where the engine
//! can compare bytes itself.

use mergetree::{ColumnData, ColumnType, SortKind};
use pgrx::pg_sys;


/// Rows of a TID "block": TIDs must look like heap TIDs (offset 1..=MaxHeapTuplesPerPage).
pub const ROWS_PER_TID_BLOCK: u64 = 291;
/// Row ids of a transaction's still-buffered rows start here, far above any part's.
pub const BUFFER_ROW_BASE: u64 = 0xF000_0000 * ROWS_PER_TID_BLOCK;

pub fn row_id_to_tid(row: u64) -> pg_sys::ItemPointerData {
    let block = (row / ROWS_PER_TID_BLOCK) as u32;
    let off = (row % ROWS_PER_TID_BLOCK) as u16 + 1;
    pg_sys::ItemPointerData {
        ip_blkid: pg_sys::BlockIdData { bi_hi: (block >> 16) as u16, bi_lo: (block & 0xffff) as u16 },
        ip_posid: off,
    }
}

pub fn tid_to_row_id(tid: &pg_sys::ItemPointerData) -> Option<u64> {
    let block = ((tid.ip_blkid.bi_hi as u64) << 16) | tid.ip_blkid.bi_lo as u64;
    if tid.ip_posid == 0 || tid.ip_posid as u64 > ROWS_PER_TID_BLOCK {
        return None;
    }
    Some(block * ROWS_PER_TID_BLOCK + tid.ip_posid as u64 - 1)
}

/// What a table's column layout is, to tell whether something built from it (an insert
/// buffer, a cached plan) still fits: per attribute (dropped, type, length).
pub type Signature = Vec<(bool, pg_sys::Oid, i16)>;

/// # Safety
/// `rel` is open.
pub unsafe fn signature_matches(rel: pg_sys::Relation, sig: &Signature) -> bool {
    // SAFETY: rd_att is the relation's valid tuple descriptor.
    unsafe {
        let desc = (*rel).rd_att;
        let natts = (*desc).natts as usize;
        natts == sig.len() && (*desc).attrs.as_slice(natts).iter().zip(sig).all(|(a, s)| (a.attisdropped, a.atttypid, a.attlen) == *s)
    }
}

/// # Safety
/// `rel` is open.
pub unsafe fn signature(rel: pg_sys::Relation) -> Signature {
    // SAFETY: rd_att is the relation's valid tuple descriptor.
    unsafe {
        let desc = (*rel).rd_att;
        (*desc).attrs.as_slice((*desc).natts as usize).iter().map(|a| (a.attisdropped, a.atttypid, a.attlen)).collect()
    }
}

/// How one attribute is stored.
#[derive(Clone, Debug)]
pub struct ColumnPlan {
    pub attnum: i16,
    pub name: String,
    pub typid: pg_sys::Oid,
    pub typlen: i16,
    pub typbyval: bool,
    pub collation: pg_sys::Oid,
    pub ty: ColumnType,
    pub sort: SortKind,
    /// Value for rows of parts written before the column existed (ADD COLUMN ... DEFAULT),
    /// as the column stores it: copied out of the relcache, so a plan kept across
    /// statements never points into a rebuilt tuple descriptor.
    pub missing: Option<Vec<u8>>,
}

impl ColumnPlan {
    /// How a value of type `typid` (no column of a table) is stored.
    pub fn of_type(typid: pg_sys::Oid) -> ColumnPlan {
        let (mut len, mut byval) = (0i16, false);
        // SAFETY: a syscache lookup of a type the caller's expression has.
        unsafe { pg_sys::get_typlenbyval(typid, &mut len, &mut byval) };
        let (ty, sort) = physical(typid, len, pg_sys::InvalidOid);
        ColumnPlan { attnum: 0, name: String::new(), typid, typlen: len, typbyval: byval, collation: pg_sys::InvalidOid, ty, sort, missing: None }
    }
}

/// The stored columns of a relation: its live (not dropped) attributes in order.
#[derive(Clone, Debug)]
pub struct TablePlan {
    pub columns: Vec<ColumnPlan>,
    /// Attributes in the tuple descriptor, dropped ones included.
    pub natts: usize,
}

impl TablePlan {
    pub fn index_of_attnum(&self, attnum: i16) -> Option<usize> {
        self.columns.iter().position(|c| c.attnum == attnum)
    }
    pub fn index_of_name(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
    pub fn specs(&self) -> Vec<mergetree::part::ColumnSpec> {
        self.columns.iter().map(|c| mergetree::part::ColumnSpec { id: c.attnum as u32, ty: c.ty, sort: c.sort }).collect()
    }
    pub fn new_columns(&self) -> Vec<ColumnData> {
        self.columns.iter().map(|c| ColumnData::new(c.ty)).collect()
    }
}

fn db_collation_is_c() -> bool {
    thread_local!(static IS_C: bool = {
        // SAFETY: reads a GUC's current value as a C string.
        let v = unsafe { pg_sys::GetConfigOption(c"lc_collate".as_ptr(), true, false) };
        if v.is_null() { false } else {
            // SAFETY: GUC strings are NUL-terminated.
            let s = unsafe { std::ffi::CStr::from_ptr(v) }.to_string_lossy().into_owned();
            s == "C" || s == "POSIX"
        }
    });
    IS_C.with(|v| *v)
}

/// Storage shape and comparison kind for a type.
pub fn physical(typid: pg_sys::Oid, typlen: i16, collation: pg_sys::Oid) -> (ColumnType, SortKind) {
    let ty = if typlen > 0 { ColumnType::Fixed { width: typlen as u16 } } else { ColumnType::Var };
    // SAFETY: syscache lookup.
    let base = unsafe { pg_sys::getBaseType(typid) };
    let c_collation = collation == pg_sys::Oid::from(pg_sys::C_COLLATION_OID)
        || collation == pg_sys::Oid::from(pg_sys::POSIX_COLLATION_OID)
        || (collation == pg_sys::Oid::from(pg_sys::DEFAULT_COLLATION_OID) && db_collation_is_c());
    let sort = match base {
        pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID | pg_sys::DATEOID | pg_sys::TIMEOID
        | pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID | pg_sys::MONEYOID => SortKind::SignedInt,
        pg_sys::FLOAT4OID | pg_sys::FLOAT8OID => SortKind::Float,
        pg_sys::BOOLOID | pg_sys::UUIDOID | pg_sys::BYTEAOID => SortKind::Bytes,
        pg_sys::TEXTOID | pg_sys::VARCHAROID if c_collation => SortKind::Bytes,
        _ => SortKind::Opaque,
    };
    (ty, sort)
}

/// The stored columns of an open relation.
///
/// # Safety
/// `rel` is an open relation.
pub unsafe fn table_plan(rel: pg_sys::Relation) -> TablePlan {
    // SAFETY: rd_att is the relation's valid tuple descriptor.
    unsafe { plan_of_desc((*rel).rd_att) }
}

/// The stored columns of rows described by `desc`.
///
/// # Safety
/// `desc` is a valid tuple descriptor.
pub unsafe fn plan_of_desc(desc: pg_sys::TupleDesc) -> TablePlan {
    // SAFETY: per the caller.
    unsafe {
        let natts = (*desc).natts as usize;
        let attrs = (*desc).attrs.as_slice(natts);
        let constr = (*desc).constr;
        let missing = if constr.is_null() { std::ptr::null_mut() } else { (*constr).missing };
        let mut columns = Vec::new();
        for a in attrs.iter() {
            if a.attisdropped {
                continue;
            }
            let (ty, sort) = physical(a.atttypid, a.attlen, a.attcollation);
            let mut col = ColumnPlan {
                attnum: a.attnum,
                name: std::ffi::CStr::from_ptr(a.attname.data.as_ptr()).to_string_lossy().into_owned(),
                typid: a.atttypid,
                typlen: a.attlen,
                typbyval: a.attbyval,
                collation: a.attcollation,
                ty,
                sort,
                missing: None,
            };
            if a.atthasmissing && !missing.is_null() {
                let mut isnull = true;
                let d = pg_sys::getmissingattr(desc, a.attnum as i32, &mut isnull);
                if !isnull {
                    let mut v = ColumnData::new(ty);
                    push_datum(&col, d, &mut v);
                    col.missing = Some(v.value(0).to_vec());
                }
            }
            columns.push(col);
        }
        TablePlan { columns, natts }
    }
}

/// Appends one value; returns the bytes it added (for buffer accounting).
///
/// # Safety
/// `datum` is a valid, non-NULL value of `col`'s type.
pub unsafe fn push_datum(col: &ColumnPlan, datum: pg_sys::Datum, out: &mut ColumnData) -> usize {
    // SAFETY: per the caller; varlena pointers are read within their stated size.
    unsafe {
        if col.typbyval {
            let bytes = (datum.value() as u64).to_le_bytes();
            out.push(&bytes[..col.typlen as usize]);
            return col.typlen as usize;
        }
        let p = datum.cast_mut_ptr::<u8>();
        match col.typlen {
            n if n > 0 => {
                out.push(std::slice::from_raw_parts(p, n as usize));
                n as usize
            }
            -2 => {
                let s = std::ffi::CStr::from_ptr(p as *const std::ffi::c_char).to_bytes();
                out.push(s);
                s.len()
            }
            _ => push_varlena(p, out),
        }
    }
}

/// # Safety
/// `p` points at a valid varlena (any header form, possibly toasted).
unsafe fn push_varlena(p: *mut u8, out: &mut ColumnData) -> usize {
    // SAFETY: header bits tell the layout (little-endian varlena headers).
    unsafe {
        let b0 = *p;
        if b0 & 0x01 == 0x01 && b0 != 0x01 {
            // Short 1-byte header, inline and uncompressed.
            let total = (b0 >> 1) as usize;
            out.push(std::slice::from_raw_parts(p.add(1), total - 1));
            return total - 1;
        }
        let h = u32::from_le_bytes([*p, *p.add(1), *p.add(2), *p.add(3)]);
        if b0 & 0x03 == 0x00 {
            let total = (h >> 2) as usize;
            out.push(std::slice::from_raw_parts(p.add(4), total - 4));
            return total - 4;
        }
        // External or compressed: detoast into a fresh 4-byte-header copy.
        let d = pg_sys::pg_detoast_datum_packed(p as *mut pg_sys::varlena) as *mut u8;
        let n = push_varlena(d, out);
        if d != p {
            pg_sys::pfree(d.cast());
        }
        n
    }
}

/// One decoded column of a granule as Datums, with the memory they point into.
pub struct DatumColumn {
    pub datums: Vec<pg_sys::Datum>,
    pub nulls: Vec<bool>,
    _storage: Vec<u64>,
    _fixed: Option<ColumnData>,
    /// The part's dictionary, whose values the datums point into.
    _dict: Option<std::rc::Rc<DatumColumn>>,
}

impl DatumColumn {
    /// Datums that point into no memory of the column (by-value, or palloc'd elsewhere).
    pub fn plain(datums: Vec<pg_sys::Datum>, nulls: Vec<bool>) -> DatumColumn {
        DatumColumn { datums, nulls, _storage: Vec::new(), _fixed: None, _dict: None }
    }
}

/// Datums for rows `rows` of a dictionary-encoded granule: each points at the value the
/// dictionary (converted once per part) holds for its code.
pub fn from_dictionary(dict: &std::rc::Rc<DatumColumn>, codes: &[u32], validity: Option<&mergetree::Bitmap>, rows: &[u32]) -> DatumColumn {
    let mut datums = Vec::with_capacity(rows.len());
    let mut nulls = Vec::with_capacity(rows.len());
    for &i in rows {
        let null = validity.is_some_and(|v| !v.get(i as usize));
        nulls.push(null);
        datums.push(if null { pg_sys::Datum::from(0) } else { dict.datums[codes[i as usize] as usize] });
    }
    DatumColumn { datums, nulls, _storage: Vec::new(), _fixed: None, _dict: Some(dict.clone()) }
}

/// Turns decoded values into Datums that stay valid while the `DatumColumn` lives.
pub fn to_datums(col: &ColumnPlan, data: ColumnData) -> DatumColumn {
    let all: Vec<u32> = (0..data.len() as u32).collect();
    to_datums_of(col, data, &all)
}

/// Datums for rows `rows` of `data` only (the rows a filter kept), in that order: the
/// other rows' values are never copied.
pub fn to_datums_of(col: &ColumnPlan, data: ColumnData, rows: &[u32]) -> DatumColumn {
    let nulls: Vec<bool> = rows.iter().map(|&i| data.is_null(i as usize)).collect();
    let mut datums = Vec::with_capacity(rows.len());
    if col.typbyval {
        let w = col.typlen as usize;
        for &i in rows {
            let v = data.value(i as usize);
            let mut b = [0u8; 8];
            b[..w].copy_from_slice(v);
            // Sign-extend like Int16GetDatum/Int32GetDatum/CharGetDatum do.
            let x = match w {
                1 => b[0] as i8 as i64,
                2 => i16::from_le_bytes([b[0], b[1]]) as i64,
                4 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
                _ => i64::from_le_bytes(b),
            };
            datums.push(pg_sys::Datum::from(x));
        }
        return DatumColumn { datums, nulls, _storage: Vec::new(), _fixed: None, _dict: None };
    }
    if col.typlen > 0 {
        // Fixed-length by reference: point into the decoded bytes, kept alive below.
        for &i in rows {
            datums.push(pg_sys::Datum::from(data.value(i as usize).as_ptr()));
        }
        return DatumColumn { datums, nulls, _storage: Vec::new(), _fixed: Some(data), _dict: None };
    }
    // Varlena (4-byte header, 8-byte aligned) or cstring (NUL-terminated).
    let extra = if col.typlen == -2 { 1 } else { 4 };
    let words: usize = rows.iter().map(|&i| (data.value(i as usize).len() + extra).div_ceil(8)).sum();
    let mut storage = vec![0u64; words.max(1)];
    let base = storage.as_mut_ptr() as *mut u8;
    let mut off = 0usize;
    for &i in rows {
        let v = data.value(i as usize);
        // SAFETY: `storage` has room for every value plus its header, computed above.
        unsafe {
            let dst = base.add(off);
            if col.typlen == -2 {
                std::ptr::copy_nonoverlapping(v.as_ptr(), dst, v.len());
                *dst.add(v.len()) = 0;
            } else {
                let h = (((v.len() + 4) as u32) << 2).to_le_bytes();
                std::ptr::copy_nonoverlapping(h.as_ptr(), dst, 4);
                std::ptr::copy_nonoverlapping(v.as_ptr(), dst.add(4), v.len());
            }
            datums.push(pg_sys::Datum::from(dst));
        }
        off += (v.len() + extra).div_ceil(8) * 8;
    }
    DatumColumn { datums, nulls, _storage: storage, _fixed: None, _dict: None }
}

/// The plan's columns as the engine's readers want them (by attribute number).
pub fn read_columns(plan: &TablePlan) -> Vec<mergetree::range_reader::ReadColumn> {
    plan.columns.iter().map(|c| mergetree::range_reader::ReadColumn { id: c.attnum as u32, ty: c.ty, missing: c.missing.clone(), scaled: None }).collect()
}

/// A column absent from a part (or a buffered row) as engine values: its ADD COLUMN
/// default, or NULL, `rows` times.
pub fn missing_values(col: &ColumnPlan, rows: usize) -> ColumnData {
    ColumnData::filled(col.ty, col.missing.as_deref(), rows)
}

/// A column absent from a part, as Datums.
pub fn missing_column(col: &ColumnPlan, rows: usize) -> DatumColumn {
    to_datums(col, missing_values(col, rows))
}
