//! Parallelism where it pays. Work on few rows (a one-row insert's part) runs on the
//! calling thread: handing it to the engine threads costs more than the work (a wake-up
//! per step), and idle workers spin for a while on cores the backends need.

use rayon::prelude::*;

/// Below this many rows, work stays on the calling thread.
pub const MIN_PARALLEL_ROWS: usize = 16384;

/// `f` applied to each item (with its index), in order: on the engine threads when the
/// work covers `rows` rows or more.
pub fn map<T: Sync, R: Send>(items: &[T], rows: usize, f: impl Fn(usize, &T) -> R + Sync + Send) -> Vec<R> {
    if rows < MIN_PARALLEL_ROWS {
        items.iter().enumerate().map(|(i, t)| f(i, t)).collect()
    } else {
        items.par_iter().enumerate().map(|(i, t)| f(i, t)).collect()
    }
}

/// Like [`map`] for items taken by `&mut`.
pub fn map_mut<T: Send, R: Send>(items: &mut [T], rows: usize, f: impl Fn(&mut T) -> R + Sync + Send) -> Vec<R> {
    if rows < MIN_PARALLEL_ROWS {
        items.iter_mut().map(f).collect()
    } else {
        items.par_iter_mut().map(f).collect()
    }
}
