//! A part as a merge input: its granules in order, every column the merged part has
//! (a column the part predates reads as its missing value), without its deleted rows.

use super::RunSource;
use crate::column::ColumnData;
use crate::error::Result;
use crate::part::deleted::DeletedRows;
use crate::range_reader::{fetch, PartColumns, ReadColumn};
use crate::{BlockStore, PartReader};

pub struct PartRun<S: BlockStore> {
    reader: PartReader<S>,
    map: PartColumns,
    columns: Vec<ReadColumn>,
    /// The granules to read, in order (None: all).
    granules: Option<Vec<usize>>,
    next: usize,
}

impl<S: BlockStore> PartRun<S> {
    pub fn new(reader: PartReader<S>, columns: Vec<ReadColumn>) -> Self {
        let map = PartColumns::new(reader.meta(), &columns);
        PartRun { reader, map, columns, granules: None, next: 0 }
    }

    /// Only `granules` (ascending), one batch each.
    pub fn with_granules(reader: PartReader<S>, columns: Vec<ReadColumn>, granules: Vec<usize>) -> Self {
        PartRun { granules: Some(granules), ..Self::new(reader, columns) }
    }

    /// Leaves the rows `deleted` names out.
    pub fn without(mut self, deleted: Option<std::sync::Arc<DeletedRows>>) -> Self {
        self.map.set_deleted(self.reader.meta(), deleted);
        self
    }
}

impl<S: BlockStore> RunSource for PartRun<S> {
    fn next_batch(&mut self) -> Result<Option<Vec<ColumnData>>> {
        loop {
            let g = match &self.granules {
                Some(list) => match list.get(self.next) {
                    Some(&g) => g,
                    None => return Ok(None),
                },
                None => self.next,
            };
            if g >= self.reader.meta().granules() {
                return Ok(None);
            }
            self.next += 1;
            let rows = self.reader.meta().granule_rows[g] as usize;
            let kept = match &self.map.deleted {
                Some(d) if d.all_deleted(g, rows) => continue,
                Some(d) => d.kept(g, rows),
                None => None,
            };
            let batch: Vec<ColumnData> = (0..self.columns.len()).map(|ci| Ok(fetch(&self.reader, &self.map, &self.columns, ci, g, None)?.into_values())).collect::<Result<_>>()?;
            return Ok(Some(match kept {
                Some(rows) => batch.iter().map(|c| c.take(&rows)).collect(),
                None => batch,
            }));
        }
    }
}
