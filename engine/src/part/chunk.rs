//! An insert's chunk of rows made into parts on the worker threads, while the backend
//! goes on reading rows: grouped by partition, each group sorted by the table's key and
//! encoded. The caller only writes the results' pages (the Postgres side).

use super::{ColumnSpec, PartMeta, PartWriter, WriterSettings};
use crate::column::{take_each, ColumnData};
use crate::error::Result;
use crate::sort::{sort_permutation_parallel, SortColumn};

/// One partition's rows of a chunk, sorted, and the part they encode to.
pub struct EncodedPart {
    /// The group (index into the caller's groups) the part holds.
    pub group: usize,
    /// The rows in part order (skip indexes summarise them).
    pub sorted: Vec<ColumnData>,
    pub bytes: Vec<u8>,
    pub meta: PartMeta,
}

/// What to make of a chunk: the table's columns, sort key and primary index.
pub struct ChunkLayout {
    pub specs: Vec<ColumnSpec>,
    /// The sort key; every column's order is known to the engine (no `Opaque`).
    pub key: Vec<SortColumn>,
    pub primary_key: Vec<usize>,
    pub settings: WriterSettings,
}

/// Parts for `columns`, one per group of row numbers (a partition's rows, in insertion
/// order; ties in the key keep that order).
pub fn encode_groups(columns: Vec<ColumnData>, groups: &[Vec<u32>], layout: &ChunkLayout) -> Result<Vec<EncodedPart>> {
    let rows = columns.first().map_or(0, |c| c.len());
    let mut columns = Some(columns);
    let mut out = Vec::with_capacity(groups.len());
    for (group, idx) in groups.iter().enumerate() {
        // A chunk of one partition hands its columns over instead of copying them.
        let mut cols = match columns.take_if(|_| groups.len() == 1 && idx.len() == rows) {
            Some(all) => all,
            None => columns.as_ref().map_or_else(Vec::new, |all| all.iter().map(|c| c.take(idx)).collect()),
        };
        let perm = sort_permutation_parallel(&cols, idx.len(), &layout.key);
        let sorted = take_each(&mut cols, &perm);
        let (bytes, meta) = PartWriter::new(layout.settings.clone()).write_rows(&layout.specs, &sorted, idx.len(), &layout.primary_key)?;
        out.push(EncodedPart { group, sorted, bytes, meta });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::{ColumnType, SortKind};
    use crate::part::PartReader;

    #[test]
    fn groups_become_sorted_parts() {
        let mut k = ColumnData::new(ColumnType::Fixed { width: 4 });
        let mut v = ColumnData::new(ColumnType::Var);
        for i in 0..1000i32 {
            k.push(&((i * 7919) % 1000).to_le_bytes());
            v.push(format!("v{i}").as_bytes());
        }
        let layout = ChunkLayout {
            specs: vec![ColumnSpec { id: 1, ty: k.column_type(), sort: SortKind::SignedInt }, ColumnSpec { id: 2, ty: ColumnType::Var, sort: SortKind::Bytes }],
            key: vec![SortColumn { column: 0, kind: SortKind::SignedInt }],
            primary_key: vec![0],
            settings: WriterSettings::default(),
        };
        let groups = vec![(0..1000).filter(|i| i % 3 == 0).collect::<Vec<u32>>(), (0..1000).filter(|i| i % 3 != 0).collect()];
        let parts = encode_groups(vec![k, v], &groups, &layout).unwrap();
        assert_eq!(parts.len(), 2);
        for p in &parts {
            assert_eq!(p.meta.rows as usize, groups[p.group].len());
            let keys: Vec<i32> = (0..p.sorted[0].len()).map(|r| i32::from_le_bytes(p.sorted[0].get(r).unwrap().try_into().unwrap())).collect();
            assert!(keys.windows(2).all(|w| w[0] <= w[1]));
            let reader = PartReader::open(crate::store::VecStore(p.bytes.clone())).unwrap();
            assert_eq!(reader.meta().rows, p.meta.rows);
        }
    }
}
