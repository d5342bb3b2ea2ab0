//! The k-way merge of sorted parts (ClickHouse's MergingSortedAlgorithm): each input
//! part is a run of granule batches in key order; the merge keeps one batch per run in
//! memory and hands out batches of rows in key order. Ties go to the earlier run, so
//! rows of older parts (given first) stay before newer ones, as one sort of all rows
//! would have left them.

pub mod algorithm;
pub mod part_run;
pub mod plan;
pub mod row_sources;
pub mod selector;

use crate::column::{compare_values, ColumnData, SortKind};
use crate::error::Result;
use std::cmp::Ordering;

/// One sorted input: its rows, a batch at a time, all columns of the merged table.
pub trait RunSource {
    fn next_batch(&mut self) -> Result<Option<Vec<ColumnData>>>;
}

/// Compares values the engine cannot order itself (`SortKind::Opaque` key columns): told
/// of each batch a run loads, asked to compare a key column of two runs' rows.
pub trait OpaqueOrder {
    fn loaded(&mut self, run: usize, batch: &[ColumnData]);
    fn compare(&mut self, column: usize, a: (usize, usize), b: (usize, usize)) -> Ordering;
}

impl<T: OpaqueOrder + ?Sized> OpaqueOrder for Box<T> {
    fn loaded(&mut self, run: usize, batch: &[ColumnData]) {
        (**self).loaded(run, batch)
    }
    fn compare(&mut self, column: usize, a: (usize, usize), b: (usize, usize)) -> Ordering {
        (**self).compare(column, a, b)
    }
}

/// For keys without opaque columns.
pub struct NoOpaque;

impl OpaqueOrder for NoOpaque {
    fn loaded(&mut self, _: usize, _: &[ColumnData]) {}
    fn compare(&mut self, _: usize, _: (usize, usize), _: (usize, usize)) -> Ordering {
        Ordering::Equal
    }
}

/// A key column of the merged rows: its position in a batch and how it orders.
#[derive(Clone, Copy, Debug)]
pub struct MergeKey {
    pub column: usize,
    pub kind: SortKind,
}

struct Run<S> {
    source: S,
    batch: Vec<ColumnData>,
    rows: usize,
    at: usize,
}

/// The merge of several sorted runs.
pub struct Merger<S: RunSource, O: OpaqueOrder> {
    runs: Vec<Run<S>>,
    keys: Vec<MergeKey>,
    opaque: O,
    /// A binary min-heap of indexes into `runs` that still have rows.
    heap: Vec<usize>,
    columns: usize,
    /// Where the rows handed out came from.
    sources: row_sources::RowSources,
}

impl<S: RunSource, O: OpaqueOrder> Merger<S, O> {
    /// `columns`: how many columns every batch has.
    pub fn new(sources: Vec<S>, keys: Vec<MergeKey>, columns: usize, opaque: O) -> Result<Self> {
        let mut m = Merger { runs: Vec::with_capacity(sources.len()), keys, opaque, heap: Vec::new(), columns, sources: row_sources::RowSources::new() };
        for source in sources {
            m.runs.push(Run { source, batch: Vec::new(), rows: 0, at: 0 });
        }
        for r in 0..m.runs.len() {
            if m.refill(r)? {
                m.heap.push(r);
                let at = m.heap.len() - 1;
                m.sift_up(at);
            }
        }
        Ok(m)
    }

    /// Where each row handed out so far came from (input, in the order given to `new`).
    pub fn row_sources(&self) -> &row_sources::RowSources {
        &self.sources
    }

    /// Value bytes of the batches the runs hold.
    pub fn buffered_bytes(&self) -> usize {
        self.runs.iter().map(|r| r.batch.iter().map(ColumnData::data_bytes).sum::<usize>()).sum()
    }

    /// Loads run `r`'s next non-empty batch; false when the run is exhausted.
    fn refill(&mut self, r: usize) -> Result<bool> {
        loop {
            match self.runs[r].source.next_batch()? {
                None => {
                    self.runs[r].batch = Vec::new();
                    return Ok(false);
                }
                Some(batch) => {
                    let rows = batch.first().map_or(0, |c| c.len());
                    if rows == 0 {
                        continue;
                    }
                    debug_assert_eq!(batch.len(), self.columns);
                    self.opaque.loaded(r, &batch);
                    let run = &mut self.runs[r];
                    (run.batch, run.rows, run.at) = (batch, rows, 0);
                    return Ok(true);
                }
            }
        }
    }

    /// Orders the current rows of runs `a` and `b`; ties by run index.
    fn cmp_runs(&mut self, a: usize, b: usize) -> Ordering {
        let (ra, rb) = (self.runs[a].at, self.runs[b].at);
        self.cmp_rows((a, ra), (b, rb)).then(a.cmp(&b))
    }

    fn cmp_rows(&mut self, (a, ra): (usize, usize), (b, rb): (usize, usize)) -> Ordering {
        for k in &self.keys {
            let (x, y) = (self.runs[a].batch[k.column].get(ra), self.runs[b].batch[k.column].get(rb));
            // NULLs last, as the part writer sorts them.
            let ord = match (x, y) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => match k.kind {
                    SortKind::Opaque => self.opaque.compare(k.column, (a, ra), (b, rb)),
                    kind => compare_values(kind, x, y),
                },
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.cmp_runs(self.heap[i], self.heap[parent]) != Ordering::Less {
                break;
            }
            self.heap.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut least = i;
            if l < n && self.cmp_runs(self.heap[l], self.heap[least]) == Ordering::Less {
                least = l;
            }
            if r < n && self.cmp_runs(self.heap[r], self.heap[least]) == Ordering::Less {
                least = r;
            }
            if least == i {
                return;
            }
            self.heap.swap(i, least);
            i = least;
        }
    }

    /// The smaller of the heap top's two children: the run that is next once the top's
    /// current row is out.
    fn runner_up(&mut self) -> Option<usize> {
        match self.heap.len() {
            0 | 1 => None,
            2 => Some(self.heap[1]),
            _ => Some(if self.cmp_runs(self.heap[1], self.heap[2]) == Ordering::Less { self.heap[1] } else { self.heap[2] }),
        }
    }

    /// The next at most `max_rows` rows in key order, or None when every run is done.
    /// Rows go out in stretches: the top run's rows are taken while they stay before the
    /// runner-up's current row, so sorted runs that do not interleave cost one compare
    /// a row.
    pub fn next_batch(&mut self, max_rows: usize) -> Result<Option<Vec<ColumnData>>> {
        if self.heap.is_empty() {
            return Ok(None);
        }
        let mut out: Vec<ColumnData> = Vec::new();
        let mut rows = 0usize;
        while rows < max_rows && !self.heap.is_empty() {
            let top = self.heap[0];
            if out.is_empty() {
                out = self.runs[top].batch.iter().map(|c| ColumnData::new(c.column_type())).collect();
            }
            let start = self.runs[top].at;
            let limit = (start + max_rows - rows).min(self.runs[top].rows);
            let mut end = start + 1;
            match self.runner_up() {
                None => end = limit,
                Some(next) => {
                    let next_at = self.runs[next].at;
                    while end < limit {
                        // Stays ahead while strictly before, or equal and from an earlier run.
                        let ord = self.cmp_rows((top, end), (next, next_at)).then(top.cmp(&next));
                        if ord != Ordering::Less {
                            break;
                        }
                        end += 1;
                    }
                }
            }
            for (o, c) in out.iter_mut().zip(&self.runs[top].batch) {
                o.extend_range(c, start, end);
            }
            rows += end - start;
            self.sources.push(top, end - start);
            self.runs[top].at = end;
            if end == self.runs[top].rows && !self.refill(top)? {
                let last = self.heap.pop().expect("heap has the top");
                if !self.heap.is_empty() {
                    self.heap[0] = last;
                }
            }
            if !self.heap.is_empty() {
                self.sift_down(0);
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests;
