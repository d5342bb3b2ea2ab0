//! The engine's worker threads (rayon). They never call Postgres; they also must not
//! receive the backend's signals, whose handlers expect the main thread.
//!
//! The pool is built on first use in a backend, never in the postmaster: threads do
//! not survive fork(), so a pool built at preload time would hang every backend.

/// Makes sure this backend's pool exists; call before running engine work.
pub fn ensure() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(build);
}

fn build() {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("mergetree-worker-{i}"))
        .start_handler(|_| block_signals())
        .build_global();
}

/// A pool of `threads` engine threads (made once per size per backend), for work whose
/// parallelism a setting bounds (mergetree.max_threads).
pub fn pool(threads: usize) -> &'static rayon::ThreadPool {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static POOLS: Mutex<Option<HashMap<usize, &'static rayon::ThreadPool>>> = Mutex::new(None);
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    let pools = pools.get_or_insert_with(HashMap::new);
    pools.entry(threads.max(1)).or_insert_with(|| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("mergetree-agg-{i}"))
            .start_handler(|_| block_signals())
            .build()
            .expect("engine thread pool");
        Box::leak(Box::new(pool))
    })
}

fn block_signals() {
    // SAFETY: manipulates only this new thread's signal mask, with a fully initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
