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

fn block_signals() {
    // SAFETY: manipulates only this new thread's signal mask, with a fully initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
