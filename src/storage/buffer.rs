//! RAII pins and locks on shared buffers: released on drop, also when an error unwinds.

use pgrx::pg_sys;

pub struct PinnedBuffer {
    buf: pg_sys::Buffer,
    locked: bool,
}

impl PinnedBuffer {
    /// Reads `block` of the main fork with `mode` and takes `lock` (a BUFFER_LOCK_*).
    ///
    /// # Safety
    /// `rel` must be an open relation.
    pub unsafe fn read(rel: pg_sys::Relation, block: pg_sys::BlockNumber, mode: pg_sys::ReadBufferMode::Type, lock: Option<i32>) -> Self {
        // SAFETY: the caller holds `rel` open; Postgres errors surface as Rust panics via pgrx.
        let buf = unsafe { pg_sys::ReadBufferExtended(rel, pg_sys::ForkNumber::MAIN_FORKNUM, block, mode, std::ptr::null_mut()) };
        let locked = mode == pg_sys::ReadBufferMode::RBM_ZERO_AND_LOCK;
        let mut this = PinnedBuffer { buf, locked };
        if let Some(l) = lock {
            if !locked {
                // SAFETY: we hold a pin on `buf`.
                unsafe { pg_sys::LockBuffer(buf, l) };
                this.locked = true;
            }
        }
        this
    }

    pub fn raw(&self) -> pg_sys::Buffer {
        self.buf
    }

    pub fn page(&self) -> pg_sys::Page {
        // SAFETY: the buffer is pinned for our lifetime.
        unsafe { pg_sys::BufferGetPage(self.buf) }
    }
}

impl Drop for PinnedBuffer {
    fn drop(&mut self) {
        // SAFETY: we own exactly one pin (and maybe the content lock) on `buf`.
        unsafe {
            if self.locked {
                pg_sys::UnlockReleaseBuffer(self.buf);
            } else {
                pg_sys::ReleaseBuffer(self.buf);
            }
        }
    }
}

/// Holds a heavyweight page lock (used on the metapage to serialise block allocation
/// against VACUUM's free-space rebuild) until dropped.
pub struct PageLock {
    rel: pg_sys::Relation,
    block: pg_sys::BlockNumber,
}

impl PageLock {
    /// # Safety
    /// `rel` must stay open while the lock is held.
    pub unsafe fn exclusive(rel: pg_sys::Relation, block: pg_sys::BlockNumber) -> Self {
        // SAFETY: per the caller.
        unsafe { pg_sys::LockPage(rel, block, pg_sys::ExclusiveLock as i32) };
        PageLock { rel, block }
    }
}

impl Drop for PageLock {
    fn drop(&mut self) {
        // SAFETY: taken in `exclusive` on the same relation and block.
        unsafe { pg_sys::UnlockPage(self.rel, self.block, pg_sys::ExclusiveLock as i32) };
    }
}
