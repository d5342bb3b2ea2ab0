//! The aggregation's passes over the data: pages are read on the backend's thread a
//! wave of units at a time; engine threads decode, filter and aggregate units, each into
//! its own state. When the groups outgrow the memory budget, the data is read again in
//! passes that each hold a share of the groups or of the distinct values (Share), as many
//! as the planner's estimate asks for, doubled while a pass still outgrows it; beyond
//! MAX_PASSES, Postgres' own plan runs instead. Shares without a join go round an
//! exchange between the threads (mergetree's exchange.rs).

use super::compute::EngineSpec;
use crate::scan::source::{Source, Stats};
use mergetree::aggregate::join::JoinLookup;
use mergetree::aggregate::{AggFunc, Aggregator, Group, Share};
use mergetree::exchange::Exchange;
use mergetree::range_reader::{self, Fetched, GranuleBatch};
use mergetree::store::PrefetchStore;
use pgrx::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Granules a worker thread takes at a time.
const GRANULES_PER_UNIT: usize = 4;
/// Units read ahead at a time (their compressed bytes are held in memory).
const UNITS_PER_WAVE: usize = 64;

/// Passes over the data the node makes at most before leaving a query to Postgres' plan.
const MAX_PASSES: u32 = 16;

/// What a run did, for EXPLAIN ANALYZE.
#[derive(Default)]
pub struct Progress {
    pub scan: Stats,
    pub rows_in: u64,
    pub threads: usize,
    /// Passes over the data (more than one when the groups did not fit at once).
    pub passes: u32,
    /// Partitions of the joined relation's keys each pass reads the data for.
    pub join_parts: u32,
    /// Parts whose JSON field keys were read from JSON subcolumns.
    pub json_subcolumn_parts: u64,
    /// Why Postgres' plan ran instead.
    pub fallback: Option<String>,
}

/// How one pass went.
enum Pass {
    /// The states: one, or one per share when the threads took a share each.
    Done(Vec<Aggregator>),
    /// Stopped over the budget, holding `memory` bytes (`distinct` of them distinct
    /// values).
    Over { memory: usize, distinct: usize },
    /// A value the engine cannot compute exactly (Error::Inexact): Postgres' plan runs.
    Inexact(String),
}

/// Loads the joined relation's lookup of a partition of its keys (`part` of `parts`):
/// None when it outgrows the memory budget.
pub type Reload<'a> = dyn FnMut(u32, u32) -> Option<JoinLookup> + 'a;

/// One pass over everything the scan sees (parts, then the transaction's buffered rows).
/// With one share, the threads divide the units among them and their states merge at
/// the end. With a share per thread, the states are disjoint, nothing is held twice and
/// nothing is merged: the threads divide the units and each batch goes into every
/// share's state (of the distinct values or of the groups): round the exchange, or, with
/// a join, under each state's lock. A join taken in partitions reads
/// everything once per partition of the joined relation's keys, into the same states.
fn scan_pass(src: &mut Source, es: &mut EngineSpec, limit: usize, progress: &mut Progress, shares: &[Share], reload: &mut Reload) -> Pass {
    let threads = progress.threads;
    let partitioned = shares.len() > 1;
    let states: Vec<Mutex<Aggregator>> = (0..threads).map(|t| Mutex::new(Aggregator::with_share(es.spec.clone(), shares[t.min(shares.len() - 1)]))).collect();
    let predicate = src.predicate.clone();
    let join_parts = es.join.as_ref().map_or(1, |j| j.parts);
    for join_part in 0..join_parts {
        if join_parts > 1 {
            let Some(lookup) = reload(join_part, join_parts) else {
                return Pass::Inexact(format!("a partition of the joined relation needs more than {} kB of memory", limit / 1024));
            };
            if let Some(j) = es.join.as_mut() {
                j.lookup = lookup;
            }
            if join_part > 0 {
                src.restart(predicate.clone());
            }
        }
        if let Some(over) = scan_data(src, es, limit, progress, shares, &states) {
            return over;
        }
        // The transaction's buffered rows (or a FINAL read's merged rows, a batch at a
        // time): into the one state that is kept, or into each share's.
        while let Some((cols, ids)) = src.next_rows() {
            let rows = ids.len();
            let mut pre: Vec<Option<Fetched>> = cols.into_iter().map(|c| Some(Fetched::Values(c))).collect();
            let selection = src.filter_buffered(&mut pre, rows);
            match es.derive(&mut pre, &selection, rows, Vec::new()) {
                Ok(()) => {}
                Err(mergetree::Error::Inexact(what)) => return Pass::Inexact(what),
                Err(e) => src.report(e),
            }
            progress.rows_in += selection.len() as u64;
            for state in &states[..if partitioned { shares.len() } else { 1 }] {
                es.update(&mut state.lock().unwrap_or_else(|e| e.into_inner()), &mut pre, &selection, rows, usize::MAX);
            }
        }
    }
    let mut done: Vec<Aggregator> = states.into_iter().map(|s| s.into_inner().unwrap_or_else(|e| e.into_inner())).collect();
    if partitioned {
        done.truncate(shares.len());
    } else {
        // The threads' states, merged.
        let mut total = Aggregator::with_share(es.spec.clone(), shares[0]);
        for agg in done {
            total.merge(agg);
        }
        done = vec![total];
    }
    let memory: usize = done.iter().map(Aggregator::memory).sum();
    if memory > limit {
        return Pass::Over { memory, distinct: done.iter().map(Aggregator::distinct_memory).sum() };
    }
    Pass::Done(done)
}

/// Reads every part the scan sees into the threads' `states`; Some when it stops: over
/// the budget, or at a value the engine cannot compute exactly.
fn scan_data(src: &mut Source, es: &EngineSpec, limit: usize, progress: &mut Progress, shares: &[Share], states: &[Mutex<Aggregator>]) -> Option<Pass> {
    let needed = &es.needed[..];
    let threads = progress.threads;
    let pool = crate::storage::threads::pool(threads);
    let partitioned = shares.len() > 1;
    // Each thread's memory, so a thread can tell when all of them together are over.
    let held: Vec<AtomicUsize> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
    // Columns any granule of a part needs: the filter's and the aggregation's.
    let mut read: Vec<usize> = needed.to_vec();
    for (_, cols) in &src.conjuncts {
        read.extend(cols);
    }
    read.sort_unstable();
    read.dedup();
    let over_budget = |states: &[Mutex<Aggregator>]| {
        let held: Vec<(usize, usize)> = states.iter().map(|s| s.lock().map_or((0, 0), |a| (a.memory(), a.distinct_memory()))).collect();
        Pass::Over { memory: held.iter().map(|h| h.0).sum(), distinct: held.iter().map(|h| h.1).sum() }
    };
    let filtered: Vec<usize> = src.conjuncts.iter().flat_map(|(_, c)| c.iter().copied()).collect();
    // The scan's filter reads its columns' values as they are: scaled integers only for
    // columns it does not read.
    let mut scaled_read_cols = src.read_cols.clone();
    for &(c, scale) in &es.scaled {
        if !filtered.contains(&c) {
            scaled_read_cols[c].scaled = Some(scale);
        }
    }
    while src.next_part() {
        let pi = src.current.expect("a current part");
        let granules = src.granules.clone();
        let op = src.part(pi);
        // JSON fields the part has as subcolumns are read, not extracted from documents.
        let (subs, skip) = es.subcolumns(op.reader.meta(), &src.read_cols, &filtered);
        if subs.iter().any(Option::is_some) {
            progress.json_subcolumn_parts += 1;
        }
        let part_needed: Vec<usize> = needed.iter().copied().filter(|c| !skip.contains(c)).collect();
        let part_needed = &part_needed[..];
        let mut part_cols: Vec<usize> = read.iter().filter(|c| !skip.contains(c)).filter_map(|&ci| op.columns.map[ci]).collect();
        part_cols.extend(subs.iter().flatten());
        // Dictionaries are read once per part, here: the worker threads share them.
        for &c in &part_cols {
            op.reader.dictionary(c).unwrap_or_else(|e| src.report(e));
            op.reader.frame_dictionary(c).unwrap_or_else(|e| src.report(e));
        }
        // Waves of units, so the bytes read ahead stay bounded for any part size.
        for wave in granules.chunks(GRANULES_PER_UNIT * UNITS_PER_WAVE) {
            let mut units = Vec::new();
            for chunk in wave.chunks(GRANULES_PER_UNIT) {
                let mut ranges = Vec::new();
                for &c in &part_cols {
                    ranges.extend(op.reader.byte_ranges(c, chunk, false).unwrap_or_else(|e| src.report(e)));
                }
                let store = PrefetchStore::fetch(op.reader.store(), ranges).unwrap_or_else(|e| src.report(e));
                units.push((op.reader.with_store(store), chunk.to_vec()));
            }
            check_for_interrupts!();
            let (cols, read_cols, conjuncts) = (&op.columns, &scaled_read_cols, &src.conjuncts);
            // Granule `g` of unit `u`, filtered, with its derived columns (JSON fields
            // from the part's subcolumns where it has them).
            let read = |u: usize, g: usize| -> mergetree::Result<Option<GranuleBatch>> {
                let reader = &units[u].0;
                let Some(mut b) = range_reader::read_granule(reader, cols, read_cols, conjuncts, part_needed, g)? else { return Ok(None) };
                let fetched = match subs.iter().any(Option::is_some) {
                    true => subs.iter().map(|s| s.map(|c| range_reader::fetch_part_column(reader, c, g, Some(&b.selection))).transpose()).collect::<mergetree::Result<Vec<_>>>()?,
                    false => Vec::new(),
                };
                es.derive(&mut b.columns, &b.selection, b.rows, fetched)?;
                Ok(Some(b))
            };
            // Each engine thread takes units from a shared counter into its own state.
            // Threads stop taking work once the groups outgrow the budget, so memory
            // stays near the limit however many groups the data has.
            let next = AtomicUsize::new(0);
            let over = AtomicBool::new(false);
            // Shares without a join: each thread owns one and the batches go round
            // (exchange.rs). A join's batches take its code column in turn, so they go
            // into each share's state under its lock.
            let exchange = (partitioned && es.join.is_none()).then(|| Exchange::new(shares.len().min(threads), 4));
            let results: Vec<mergetree::Result<u64>> = pool.broadcast(|ctx| {
                let t = ctx.index();
                if partitioned && t >= shares.len() {
                    return Ok(0);
                }
                if let Some(ex) = &exchange {
                    // (A thread that stops on an error closes the exchange as it leaves.)
                    return exchange_units(ex, t, &states[t], limit, &held, &over, &next, &units, &read, pi);
                }
                // Shares with a join: each batch, decoded once, goes into every share's
                // state under its lock, each taking its own values or groups.
                let mut own = (!partitioned).then(|| states[t].lock().unwrap_or_else(|e| e.into_inner()));
                let mut rows = 0u64;
                loop {
                    let i = next.fetch_add(1, Relaxed);
                    if i >= units.len() || over.load(Relaxed) {
                        return Ok(rows);
                    }
                    for &g in &units[i].1 {
                        let Some(mut b) = read(i, g)? else { continue };
                        match own.as_mut() {
                            Some(agg) => es.update(agg, &mut b.columns, &b.selection, b.rows, pi),
                            None => {
                                // Starting at its own share, so the threads rarely wait
                                // for the same one.
                                for k in 0..shares.len() {
                                    let s = (t + k) % shares.len();
                                    let mut agg = states[s].lock().unwrap_or_else(|e| e.into_inner());
                                    es.update(&mut agg, &mut b.columns, &b.selection, b.rows, pi);
                                    held[s].store(agg.memory(), Relaxed);
                                }
                            }
                        }
                        rows += b.selection.len() as u64;
                    }
                    if let Some(agg) = &own {
                        held[t].store(agg.memory(), Relaxed);
                    }
                    if held.iter().map(|h| h.load(Relaxed)).sum::<usize>() > limit {
                        over.store(true, Relaxed);
                    }
                }
            });
            for r in results {
                match r {
                    Ok(n) => progress.rows_in += n,
                    Err(mergetree::Error::Inexact(what)) => return Some(Pass::Inexact(what)),
                    Err(e) => src.report(e),
                }
            }
            if over.load(Relaxed) {
                return Some(over_budget(states));
            }
        }
    }
    None
}

/// A thread's units under an exchange of shares: it reads (`read`) the units it takes,
/// folds each batch into its own share's state and sends it to the other shares' threads,
/// folding what they send it. Returns the rows it read.
#[allow(clippy::too_many_arguments)]
fn exchange_units<'a, S: mergetree::store::BlockStore>(
    ex: &Exchange<Arc<GranuleBatch<'a>>>,
    t: usize,
    state: &Mutex<Aggregator>,
    limit: usize,
    held: &[AtomicUsize],
    over: &AtomicBool,
    next: &AtomicUsize,
    units: &[(mergetree::PartReader<S>, Vec<usize>)],
    read: impl Fn(usize, usize) -> mergetree::Result<Option<GranuleBatch<'a>>>,
    part: usize,
) -> mergetree::Result<u64> {
    let producer = ex.producer(t);
    // Only this thread folds into its share: the lock is taken once, for the pass (an
    // exchange has no join, whose code column each batch would take in turn).
    let mut agg = state.lock().unwrap_or_else(|e| e.into_inner());
    let mut fold = |b: Arc<GranuleBatch<'a>>| {
        agg.update(&b.columns, &b.selection, part);
        held[t].store(agg.memory(), Relaxed);
    };
    let mut rows = 0u64;
    loop {
        let i = next.fetch_add(1, Relaxed);
        if i >= units.len() || over.load(Relaxed) {
            break;
        }
        for &g in &units[i].1 {
            producer.drain(&mut fold);
            let Some(b) = read(i, g)? else { continue };
            rows += b.selection.len() as u64;
            let b = Arc::new(b);
            for to in (0..ex.threads()).filter(|&to| to != t) {
                producer.send(to, b.clone(), &mut fold);
            }
            fold(b);
        }
        producer.drain(&mut fold);
        if held.iter().map(|h| h.load(Relaxed)).sum::<usize>() > limit {
            over.store(true, Relaxed);
            ex.close();
        }
    }
    producer.finish(&mut fold);
    Ok(rows)
}

/// Leaves the query to Postgres' plan: the data has a value the engine does not compute.
fn inexact(progress: &mut Progress, what: String) -> Option<Vec<Group>> {
    progress.passes = 0;
    progress.fallback = Some(what);
    None
}

/// Aggregates everything the scan sees within `limit` bytes of groups, in as many
/// shares as that takes: one first (a pass over budget stops as soon as it is, so trying
/// costs little, and the planner's estimates of expression keys can be far off; not when
/// the sketches alone are estimated well past the budget), then as many as the planner's
/// estimate (`est`: all bytes, distinct values' bytes, sketches' bytes) asks for,
/// doubled whenever a pass outgrows the budget; None (and
/// progress.fallback set) when that would be more than MAX_PASSES passes. Shares are
/// taken a thread's worth at a time (a pass gives each thread its own share).
pub fn aggregate(src: &mut Source, es: &mut EngineSpec, est: (u64, u64, u64), limit: usize, progress: &mut Progress, reload: &mut Reload) -> Option<Vec<Group>> {
    progress.threads = crate::gucs::max_threads();
    let threads = progress.threads as u32;
    let predicate = src.predicate.clone();
    let estimated = ((est.0 as f64 * 1.3) / limit as f64).ceil().max(2.0) as u32;
    let mut shares: u32 = 1;
    // Which the shares divide: distinct values when they dominate (or there is one
    // group), else the groups.
    // Percentiles need all of a group's values in one pass: only groups can be shared.
    let percentiles = es.spec.aggs.iter().any(|f| matches!(f, AggFunc::Percentile { .. }));
    let mut by_distinct = !percentiles && (es.spec.keys.is_empty() || est.1 * 2 > est.0);
    let mut first = true;
    // A first pass whose threads would each hold every group's sketches, estimated well
    // past the budget, is not tried: it would stop at its limit and be read again. Only
    // sketches count (a group's is tens of kB, so a few hundred groups are enough, and
    // their estimate is per group, not per distinct value); a group count estimated from
    // expression keys can be far off, and so can the distinct values' worst case. Only
    // while the estimate asks for few passes: a far larger one is more likely wrong.
    if threads > 1 && !(percentiles && es.spec.keys.is_empty()) && est.2 as f64 * threads as f64 > 1.5 * limit as f64 && estimated <= 2 * threads {
        shares = estimated.max(threads);
    }
    loop {
        if shares > 1 && percentiles && es.spec.keys.is_empty() {
            return inexact(progress, format!("the percentiles' values need more than {} kB of memory", limit / 1024));
        }
        if shares > 1 {
            shares = shares.div_ceil(threads) * threads;
        }
        let passes = shares.div_ceil(threads);
        if passes > MAX_PASSES {
            progress.passes = 0;
            progress.fallback = Some(format!("the groups need more than {} kB of memory", limit / 1024));
            return None;
        }
        if !first {
            src.restart(predicate.clone());
        }
        first = false;
        progress.passes = passes;
        if shares == 1 {
            match scan_pass(src, es, limit, progress, &[Share::All], reload) {
                Pass::Done(mut aggs) => return Some(aggs.remove(0).finish()),
                Pass::Over { memory, distinct } => by_distinct = !percentiles && (es.spec.keys.is_empty() || distinct * 2 > memory),
                Pass::Inexact(what) => return inexact(progress, what),
            }
        } else if by_distinct {
            // Each share counts its distinct values; the counts add up.
            let mut total = Aggregator::with_share(es.spec.clone(), Share::Distinct { passes: shares, pass: 0 });
            let mut done = true;
            for pass in 0..passes {
                if pass > 0 {
                    src.restart(predicate.clone());
                    total.next_distinct_pass(pass * threads);
                }
                let mine: Vec<Share> = (0..threads).map(|t| Share::Distinct { passes: shares, pass: pass * threads + t }).collect();
                match scan_pass(src, es, limit, progress, &mine, reload) {
                    Pass::Done(aggs) => aggs.into_iter().for_each(|a| total.merge(a)),
                    Pass::Over { .. } => done = false,
                    Pass::Inexact(what) => return inexact(progress, what),
                }
                if !done || total.memory() > limit {
                    done = false;
                    break;
                }
            }
            if done {
                return Some(total.finish());
            }
        } else {
            // Each share finishes its groups.
            let mut groups = Vec::new();
            let mut done = true;
            for pass in 0..passes {
                if pass > 0 {
                    src.restart(predicate.clone());
                }
                let mine: Vec<Share> = (0..threads).map(|t| Share::Keys { passes: shares, pass: pass * threads + t }).collect();
                match scan_pass(src, es, limit, progress, &mine, reload) {
                    Pass::Done(aggs) => aggs.into_iter().for_each(|a| groups.extend(a.finish())),
                    Pass::Inexact(what) => return inexact(progress, what),
                    Pass::Over { .. } => {
                        done = false;
                        break;
                    }
                }
            }
            if done {
                return Some(groups);
            }
        }
        shares = if shares == 1 { estimated } else { shares * 2 };
    }
}
