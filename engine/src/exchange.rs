//! An exchange between engine threads that each own a share of the work's state: a
//! thread decodes a batch once, folds it into its own share, and hands it to every other
//! share's owner, which folds it into its own (ClickHouse's and DataFusion's repartition,
//! between the threads of one node). Each share's state stays with one core, in its
//! cache, and no lock is taken per update.
//!
//! Every thread is a producer (of the batches it decodes) and the consumer of its own
//! inbox. A producer waits while a consumer's inbox is full, folding its own inbox
//! meanwhile, so two threads waiting on each other both make progress. A thread that
//! stops early (an error, a budget overrun, a panic) closes the exchange: items sent
//! later are dropped and nobody waits any longer.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

pub struct Exchange<T> {
    inboxes: Vec<Mutex<VecDeque<T>>>,
    /// Threads still producing.
    producing: AtomicUsize,
    closed: AtomicBool,
    /// Items an inbox holds at most before its senders wait.
    bound: usize,
}

/// A thread's part in the exchange: dropped without `done`, it closes the exchange.
pub struct Producer<'e, T> {
    exchange: &'e Exchange<T>,
    me: usize,
    finished: bool,
}

impl<T> Exchange<T> {
    /// An exchange between `threads` threads, each inbox holding up to `bound` items.
    pub fn new(threads: usize, bound: usize) -> Exchange<T> {
        Exchange {
            inboxes: (0..threads).map(|_| Mutex::new(VecDeque::new())).collect(),
            producing: AtomicUsize::new(threads),
            closed: AtomicBool::new(false),
            bound: bound.max(1),
        }
    }

    /// Thread `me`'s part; every thread of the exchange must take its own.
    pub fn producer(&self, me: usize) -> Producer<'_, T> {
        Producer { exchange: self, me, finished: false }
    }

    /// The threads it connects (numbered from 0).
    pub fn threads(&self) -> usize {
        self.inboxes.len()
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    fn take(&self, me: usize) -> Option<T> {
        self.inboxes[me].lock().unwrap_or_else(|e| e.into_inner()).pop_front()
    }
}

impl<T> Producer<'_, T> {
    /// Folds every item in this thread's inbox with `fold`.
    pub fn drain(&self, fold: &mut impl FnMut(T)) {
        while let Some(item) = self.exchange.take(self.me) {
            fold(item);
        }
    }

    /// Hands `item` to thread `to`, waiting (and folding this thread's own inbox) while
    /// its inbox is full.
    pub fn send(&self, to: usize, item: T, fold: &mut impl FnMut(T)) {
        let ex = self.exchange;
        loop {
            if ex.is_closed() {
                return;
            }
            {
                let mut inbox = ex.inboxes[to].lock().unwrap_or_else(|e| e.into_inner());
                if inbox.len() < ex.bound {
                    inbox.push_back(item);
                    return;
                }
            }
            self.drain(fold);
            std::thread::yield_now();
        }
    }

    /// Ends this thread's production, then folds its inbox until every thread has ended
    /// theirs and nothing is left (or the exchange closes).
    pub fn finish(mut self, fold: &mut impl FnMut(T)) {
        self.finished = true;
        let ex = self.exchange;
        ex.producing.fetch_sub(1, Ordering::AcqRel);
        loop {
            self.drain(fold);
            if ex.is_closed() {
                return;
            }
            if ex.producing.load(Ordering::Acquire) == 0 {
                // Every send happened before its producer ended: one more look suffices.
                self.drain(fold);
                return;
            }
            std::thread::yield_now();
        }
    }
}

impl<T> Drop for Producer<'_, T> {
    fn drop(&mut self) {
        if !self.finished {
            self.exchange.producing.fetch_sub(1, Ordering::AcqRel);
            self.exchange.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every item reaches every thread once, whatever the bound; a thread that stops
    /// early lets the others end.
    #[test]
    fn every_item_reaches_every_thread() {
        for threads in 1..5usize {
            for bound in [1usize, 3, 64] {
                let ex = Exchange::<(usize, u64)>::new(threads, bound);
                let sums: Vec<Mutex<u64>> = (0..threads).map(|_| Mutex::new(0)).collect();
                std::thread::scope(|s| {
                    for t in 0..threads {
                        let (ex, sums) = (&ex, &sums);
                        s.spawn(move || {
                            let p = ex.producer(t);
                            let mut own = 0u64;
                            let mut fold = |(_, v): (usize, u64)| own += v;
                            for i in 0..1000u64 {
                                let v = i * threads as u64 + t as u64;
                                for to in (0..threads).filter(|&to| to != t) {
                                    p.send(to, (t, v), &mut fold);
                                }
                                fold((t, v));
                            }
                            p.finish(&mut fold);
                            *sums[t].lock().unwrap() = own;
                        });
                    }
                });
                let n = 1000 * threads as u64;
                for s in &sums {
                    assert_eq!(*s.lock().unwrap(), n * (n - 1) / 2, "threads {threads} bound {bound}");
                }
            }
        }
    }

    #[test]
    fn a_thread_that_stops_early_closes_it() {
        let ex = Exchange::<u64>::new(2, 1);
        std::thread::scope(|s| {
            let e = &ex;
            s.spawn(move || {
                let _p = e.producer(0);
                // Stops without finishing (as on an error).
            });
            s.spawn(move || {
                let p = e.producer(1);
                let mut fold = |_| {};
                for i in 0..100 {
                    p.send(0, i, &mut fold);
                }
                p.finish(&mut fold);
            });
        });
        assert!(ex.is_closed());
    }
}
