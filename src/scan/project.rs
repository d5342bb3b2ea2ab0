//! Projection pushdown: where the scan's output computes `text_column::jsonb ->> 'key'`,
//! the scan extracts the field itself (`mergetree::json`, one pass for all keys of a
//! column) instead of PostgreSQL parsing every document into a jsonb first. The node's
//! projection then reads the field from an extra column of the scan tuple. Documents the
//! engine is not sure about go through the original expression, so results and errors are
//! PostgreSQL's own.

use crate::datum::TablePlan;
use crate::ffi::list_ptrs;
use pgrx::pg_sys;

/// The fields extracted from one text column.
struct Source {
    /// Attribute number of the text column.
    attno: i16,
    keys: Vec<Vec<u8>>,
    /// Per key: its attribute (0-based) in the scan tuple, and the original expression,
    /// evaluated by PostgreSQL for documents the engine leaves to it.
    outs: Vec<(usize, *mut pg_sys::ExprState)>,
}

pub struct JsonFields {
    sources: Vec<Source>,
}

/// `Var::jsonb ->> 'const'` or `Var::json ->> 'const'` on a text column of the scanned
/// relation: (attno, key, collation). Both spellings give the same text for what the
/// engine extracts (json.rs: unescaped strings, plain numbers as written, booleans, the
/// last of duplicate keys); the rest it leaves to Postgres either way.
pub(crate) unsafe fn match_field(node: *mut pg_sys::Node, scanrelid: u32) -> Option<(i16, Vec<u8>, pg_sys::Oid)> {
    // SAFETY: `node` is a valid expression node of the plan.
    unsafe {
        if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_OpExpr {
            return None;
        }
        let op = node as *mut pg_sys::OpExpr;
        let doc_type = match (*op).opfuncid.to_u32() {
            pg_sys::F_JSONB_OBJECT_FIELD_TEXT => pg_sys::JSONBOID,
            pg_sys::F_JSON_OBJECT_FIELD_TEXT => pg_sys::JSONOID,
            _ => return None,
        };
        let args = list_ptrs::<pg_sys::Node>((*op).args);
        let [coerce, key] = args[..] else { return None };
        if (*coerce).type_ != pg_sys::NodeTag::T_CoerceViaIO || (*key).type_ != pg_sys::NodeTag::T_Const {
            return None;
        }
        let coerce = coerce as *mut pg_sys::CoerceViaIO;
        let var = (*coerce).arg as *mut pg_sys::Node;
        if (*coerce).resulttype != doc_type || (*var).type_ != pg_sys::NodeTag::T_Var {
            return None;
        }
        let var = var as *mut pg_sys::Var;
        let key = key as *mut pg_sys::Const;
        if (*var).varno as u32 != scanrelid || (*var).varlevelsup != 0 || (*var).varattno <= 0 || (*var).vartype != pg_sys::TEXTOID {
            return None;
        }
        if (*key).consttype != pg_sys::TEXTOID || (*key).constisnull {
            return None;
        }
        let key = pg_sys::pg_detoast_datum_packed((*key).constvalue.cast_mut_ptr::<pg_sys::varlena>());
        let bytes = pgrx::varlena::varlena_to_byte_slice(key).to_vec();
        Some(((*var).varattno, bytes, (*op).opcollid))
    }
}

/// Replaces every extractable field in `*node` (and in the arguments of operators,
/// functions and casts under it, which PostgreSQL always evaluates) by a Var of a new scan
/// column.
/// `found` collects (attno, key, collation, original expression) per new column.
unsafe fn rewrite(slot: *mut *mut pg_sys::Node, scanrelid: u32, first: usize, found: &mut Vec<(i16, Vec<u8>, pg_sys::Oid, *mut pg_sys::Node)>) {
    // SAFETY: `slot` points at a node pointer inside a plan tree copy we own.
    unsafe {
        let node = *slot;
        if node.is_null() {
            return;
        }
        if let Some((attno, key, coll)) = match_field(node, scanrelid) {
            let at = match found.iter().position(|f| f.0 == attno && f.1 == key) {
                Some(i) => i,
                None => {
                    found.push((attno, key, coll, pg_sys::copyObjectImpl(node.cast()).cast()));
                    found.len() - 1
                }
            };
            let var = pg_sys::makeVar(scanrelid as _, (first + at + 1) as i16, pg_sys::TEXTOID, -1, coll, 0);
            *slot = var.cast();
            return;
        }
        let args = match (*node).type_ {
            pg_sys::NodeTag::T_OpExpr => (*(node as *mut pg_sys::OpExpr)).args,
            pg_sys::NodeTag::T_FuncExpr => (*(node as *mut pg_sys::FuncExpr)).args,
            pg_sys::NodeTag::T_TargetEntry => {
                rewrite(&raw mut (*(node as *mut pg_sys::TargetEntry)).expr as *mut *mut pg_sys::Node, scanrelid, first, found);
                return;
            }
            pg_sys::NodeTag::T_RelabelType => {
                rewrite(&raw mut (*(node as *mut pg_sys::RelabelType)).arg as *mut *mut pg_sys::Node, scanrelid, first, found);
                return;
            }
            // A cast of the field, e.g. (doc::jsonb ->> 'n')::int.
            pg_sys::NodeTag::T_CoerceViaIO => {
                rewrite(&raw mut (*(node as *mut pg_sys::CoerceViaIO)).arg as *mut *mut pg_sys::Node, scanrelid, first, found);
                return;
            }
            _ => return,
        };
        if args.is_null() {
            return;
        }
        for i in 0..(*args).length as usize {
            let cell = (*args).elements.add(i);
            rewrite(&raw mut (*cell).ptr_value as *mut *mut pg_sys::Node, scanrelid, first, found);
        }
    }
}

/// At executor start: when the plain SELECT's scan output extracts JSON fields and no
/// qual is left to PostgreSQL at this node (a row the scan emits is always projected, so
/// extracting early raises no error PostgreSQL would not), gives the scan tuple one extra
/// column per field and rebuilds the projection to read them.
///
/// # Safety
/// Called from BeginCustomScan with the node initialised by ExecInitCustomScan.
pub unsafe fn setup(node: *mut pg_sys::CustomScanState, estate: *mut pg_sys::EState, emitted: &[i16]) -> Option<JsonFields> {
    // SAFETY: per the caller; new nodes are made in the executor's memory context.
    unsafe {
        let p = (*node).ss.ps.plan;
        let stmt = (*estate).es_plannedstmt;
        if !(*p).qual.is_null() || (*p).targetlist.is_null() || (*node).ss.ps.ps_ProjInfo.is_null() || stmt.is_null() {
            return None;
        }
        if (*stmt).commandType != pg_sys::CmdType::CMD_SELECT || !(*stmt).rowMarks.is_null() {
            return None;
        }
        let scanrelid = (*(p as *mut pg_sys::CustomScan)).scan.scanrelid;
        let tlist = pg_sys::copyObjectImpl((*p).targetlist.cast()) as *mut pg_sys::List;
        let reldesc = (*(*node).ss.ss_currentRelation).rd_att;
        let natts = (*reldesc).natts as usize;
        let mut found = Vec::new();
        for i in 0..(*tlist).length as usize {
            let cell = (*tlist).elements.add(i);
            rewrite(&raw mut (*cell).ptr_value as *mut *mut pg_sys::Node, scanrelid, natts, &mut found);
        }
        // The source columns must be ones the scan emits (they are: the expressions read
        // them); the new columns are numbered by position in `found`, so all or nothing.
        if found.is_empty() || found.iter().any(|f| !emitted.contains(&f.0)) {
            return None;
        }
        let desc = pg_sys::CreateTemplateTupleDesc((natts + found.len()) as i32);
        for a in 1..=natts {
            pg_sys::TupleDescCopyEntry(desc, a as _, reldesc, a as _);
        }
        for (j, f) in found.iter().enumerate() {
            let a = (natts + j + 1) as pg_sys::AttrNumber;
            pg_sys::TupleDescInitEntry(desc, a, c"json_field".as_ptr(), pg_sys::TEXTOID, -1, 0);
            pg_sys::TupleDescInitEntryCollation(desc, a, f.2);
        }
        pg_sys::ExecInitScanTupleSlot(estate, &raw mut (*node).ss, desc, &raw const pg_sys::TTSOpsVirtual);
        let ps = &raw mut (*node).ss.ps;
        (*ps).ps_ProjInfo = pg_sys::ExecBuildProjectionInfo(tlist, (*ps).ps_ExprContext, (*ps).ps_ResultTupleSlot, ps, desc);
        let mut sources: Vec<Source> = Vec::new();
        for (j, (attno, key, _, expr)) in found.into_iter().enumerate() {
            let state = pg_sys::ExecInitExpr(expr.cast(), ps);
            let out = (natts + j, state);
            match sources.iter_mut().find(|s| s.attno == attno) {
                Some(s) => {
                    s.keys.push(key);
                    s.outs.push(out);
                }
                None => sources.push(Source { attno, keys: vec![key], outs: vec![out] }),
            }
        }
        Some(JsonFields { sources })
    }
}

impl JsonFields {
    /// For EXPLAIN: `column ->> 'key'` for each extracted field.
    pub fn describe(&self, plan: &TablePlan) -> String {
        let mut out = Vec::new();
        for s in &self.sources {
            let name = plan.index_of_attnum(s.attno).map_or("?", |ci| plan.columns[ci].name.as_str());
            for k in &s.keys {
                out.push(format!("{name} ->> '{}'", String::from_utf8_lossy(k).replace('\'', "''")));
            }
        }
        out.join(", ")
    }

    /// Fills the extra columns of `slot`, whose table columns are stored.
    ///
    /// # Safety
    /// `slot` is the node's scan slot and `econtext` its expression context, whose
    /// per-tuple memory holds the results until the next row.
    pub unsafe fn fill(&self, slot: *mut pg_sys::TupleTableSlot, econtext: *mut pg_sys::ExprContext) {
        // SAFETY: per the caller; the slot has room for the extra columns.
        unsafe {
            let old = pg_sys::MemoryContextSwitchTo((*econtext).ecxt_per_tuple_memory);
            let values = (*slot).tts_values;
            let nulls = (*slot).tts_isnull;
            for s in &self.sources {
                let a = s.attno as usize - 1;
                if *nulls.add(a) {
                    for &(out, _) in &s.outs {
                        *nulls.add(out) = true;
                    }
                    continue;
                }
                // A column default (ADD COLUMN) may come compressed; stored values never do.
                let doc = pg_sys::pg_detoast_datum_packed((*values.add(a)).cast_mut_ptr::<pg_sys::varlena>());
                let doc = pgrx::varlena::varlena_to_byte_slice(doc);
                match mergetree::json::object_fields(doc, &s.keys) {
                    Some(fields) => {
                        for (&(out, _), f) in s.outs.iter().zip(fields) {
                            match f {
                                mergetree::json::Field::Text(t) => {
                                    *values.add(out) = pg_sys::Datum::from(pg_sys::cstring_to_text_with_len(t.as_ptr().cast(), t.len() as i32));
                                    *nulls.add(out) = false;
                                }
                                mergetree::json::Field::Null => *nulls.add(out) = true,
                            }
                        }
                    }
                    None => {
                        // PostgreSQL's own evaluation of the original expression, on this row.
                        (*econtext).ecxt_scantuple = slot;
                        for &(out, state) in &s.outs {
                            let mut isnull = false;
                            *values.add(out) = pg_sys::ExecEvalExprSwitchContext(state, econtext, &mut isnull);
                            *nulls.add(out) = isnull;
                        }
                    }
                }
            }
            pg_sys::MemoryContextSwitchTo(old);
        }
    }
}
