//! Where each merged row came from (ClickHouse's row sources, `RowSourcePart`): runs of
//! (input, rows) in output order. Rows deleted from a merge's inputs while it ran (a
//! DELETE that committed meanwhile) are carried to the merged part through it, instead of
//! the merge being thrown away.

use crate::part::deleted::DeletedRows;

/// Segments a merge records at most (8 bytes each): past this a merge keeps none, and
/// deletes meanwhile make it start again, as before row sources.
pub const MAX_SEGMENTS: usize = 4 << 20;

#[derive(Clone, Debug, Default)]
pub struct RowSources {
    /// (input, rows taken from it in a row), in output order; None once too long.
    segments: Option<Vec<(u32, u32)>>,
}

impl RowSources {
    pub fn new() -> Self {
        RowSources { segments: Some(Vec::new()) }
    }

    /// `rows` more output rows from input `input`.
    pub fn push(&mut self, input: usize, rows: usize) {
        let Some(segs) = self.segments.as_mut() else { return };
        if let Some((i, n)) = segs.last_mut() {
            if *i as usize == input && (*n as usize) + rows <= u32::MAX as usize {
                *n += rows as u32;
                return;
            }
        }
        if segs.len() >= MAX_SEGMENTS {
            self.segments = None;
        } else {
            segs.push((input as u32, rows as u32));
        }
    }

    pub fn is_complete(&self) -> bool {
        self.segments.is_some()
    }

    /// The output rows of input rows: `deleted[i]` are rows of input `i` (its own row
    /// numbers) and `dropped[i]` the rows the merge left out of it (deleted before it read
    /// them). None when sources were not kept, or a row is not among the input's merged
    /// rows (dropped, or past its end).
    pub fn output_rows(&self, deleted: &[DeletedRows], dropped: &[Option<&DeletedRows>]) -> Option<DeletedRows> {
        let segs = self.segments.as_ref()?;
        // Each input's wanted rows as ranks among its merged rows, ascending.
        let mut wanted: Vec<Vec<u32>> = Vec::with_capacity(deleted.len());
        for (i, rows) in deleted.iter().enumerate() {
            let gone = dropped.get(i).copied().flatten();
            let mut ranks = Vec::with_capacity(rows.len() as usize);
            for r in rows.iter() {
                if gone.is_some_and(|g| g.contains(r)) {
                    return None;
                }
                ranks.push(r - gone.map_or(0, |g| g.count_in(0, r as usize) as u32));
            }
            wanted.push(ranks);
        }
        let mut out = DeletedRows::new();
        let mut taken = vec![0u32; wanted.len()];
        let mut next = vec![0usize; wanted.len()];
        let mut at = 0u64;
        for &(input, n) in segs {
            let i = input as usize;
            if i < wanted.len() {
                let w = &wanted[i];
                while next[i] < w.len() && w[next[i]] < taken[i] + n {
                    out.insert(u32::try_from(at + u64::from(w[next[i]] - taken[i])).ok()?);
                    next[i] += 1;
                }
                taken[i] += n;
            }
            at += u64::from(n);
        }
        // Every wanted row must have been met.
        next.iter().zip(&wanted).all(|(&k, w)| k == w.len()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rows(v: &[u32]) -> DeletedRows {
        let mut d = DeletedRows::new();
        for &r in v {
            d.insert(r);
        }
        d
    }

    #[test]
    fn maps_rows_through_interleaved_inputs() {
        // Output: a0 a1 b0 a2 b1 b2 (input a rows 0..3, b rows 0..3).
        let mut s = RowSources::new();
        for (i, n) in [(0, 2), (1, 1), (0, 1), (1, 2)] {
            s.push(i, n);
        }
        let got = s.output_rows(&[rows(&[2]), rows(&[0, 2])], &[None, None]).unwrap();
        assert_eq!(got.iter().collect::<Vec<_>>(), vec![2, 3, 5]);
    }

    #[test]
    fn skips_rows_dropped_before_the_merge() {
        // Input 0 had rows 0..5 with 1 and 3 deleted before the merge: merged rows 0, 2, 4.
        let mut s = RowSources::new();
        s.push(0, 3);
        let dropped = rows(&[1, 3]);
        let got = s.output_rows(&[rows(&[4])], &[Some(&dropped)]).unwrap();
        assert_eq!(got.iter().collect::<Vec<_>>(), vec![2]);
        // A row the merge never read cannot be mapped.
        assert!(s.output_rows(&[rows(&[3])], &[Some(&dropped)]).is_none());
        assert!(s.output_rows(&[rows(&[5])], &[Some(&dropped)]).is_none());
    }

    #[test]
    fn too_many_segments_keep_none() {
        let mut s = RowSources::new();
        for k in 0..=MAX_SEGMENTS {
            s.push(k % 2, 1);
        }
        assert!(!s.is_complete());
        assert!(s.output_rows(&[DeletedRows::new()], &[None]).is_none());
    }

    proptest! {
        // A random interleaving of inputs, some rows dropped before: every row maps to
        // the output position where that row was emitted.
        #[test]
        fn output_rows_match_a_replay(order in proptest::collection::vec(0usize..4, 1..300), del_seed in any::<u64>(), drop_seed in any::<u64>()) {
            let inputs = 4;
            // Input i's row count, and which rows were dropped (every k-th by seed).
            let mut counts = vec![0u32; inputs];
            for &i in &order { counts[i] += 1; }
            let drop_every = 2 + (drop_seed % 5) as u32;
            let mut dropped: Vec<DeletedRows> = Vec::new();
            let mut survivors: Vec<Vec<u32>> = Vec::new();
            for i in 0..inputs {
                // Rows of input i: its merged rows are the ones not dropped; make the input
                // longer by the dropped rows so that counts[i] rows survive.
                let (mut d, mut s, mut r) = (DeletedRows::new(), Vec::new(), 0u32);
                while (s.len() as u32) < counts[i] {
                    if r % drop_every == 1 { d.insert(r); } else { s.push(r); }
                    r += 1;
                }
                dropped.push(d);
                survivors.push(s);
            }
            // Replay: output position of each input row.
            let mut s = RowSources::new();
            let mut pos: Vec<Vec<u32>> = vec![Vec::new(); inputs];
            let mut taken = vec![0usize; inputs];
            for (at, &i) in order.iter().enumerate() {
                s.push(i, 1);
                pos[i].push(at as u32);
                taken[i] += 1;
            }
            let del_every = 1 + (del_seed % 3) as usize;
            let mut wanted = Vec::new();
            let mut expect = DeletedRows::new();
            for i in 0..inputs {
                let mut w = DeletedRows::new();
                for (k, &r) in survivors[i].iter().enumerate() {
                    if k % del_every == 0 { w.insert(r); expect.insert(pos[i][k]); }
                }
                wanted.push(w);
            }
            let dropped_refs: Vec<Option<&DeletedRows>> = dropped.iter().map(Some).collect();
            let got = s.output_rows(&wanted, &dropped_refs).unwrap();
            prop_assert_eq!(got, expect);
        }
    }
}
