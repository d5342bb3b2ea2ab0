//! A temporary file (Postgres' BufFile, under temp_tablespaces and temp_file_limit) that
//! holds a merged part's blocks while the streaming writer produces them: the part's size,
//! and so its extent, is known only at the end.

use mergetree::part::stream::PartSink;
use pgrx::pg_sys;

pub struct SpillFile {
    file: *mut pg_sys::BufFile,
    len: u64,
}

impl SpillFile {
    pub fn new() -> Self {
        // SAFETY: a temporary file of this transaction; closed on drop, and deleted by
        // Postgres' resource owner should an error end the transaction first.
        SpillFile { file: unsafe { pg_sys::BufFileCreateTemp(false) }, len: 0 }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Hands the file's bytes, from the start, to `f` in pieces.
    pub fn replay(&mut self, mut f: impl FnMut(&[u8])) {
        let mut chunk = vec![0u8; 1 << 20];
        // SAFETY: the file is open; BufFileSeek and BufFileRead raise Postgres errors on
        // I/O failure.
        unsafe {
            if pg_sys::BufFileSeek(self.file, 0, 0, SEEK_SET) != 0 {
                pgrx::error!("could not rewind the temporary file of a merge");
            }
            let mut left = self.len;
            while left > 0 {
                let want = chunk.len().min(left as usize);
                let got = pg_sys::BufFileRead(self.file, chunk.as_mut_ptr().cast(), want);
                if got != want {
                    pgrx::error!("could not read the temporary file of a merge: {got} of {want} bytes");
                }
                f(&chunk[..got]);
                left -= got as u64;
            }
        }
    }
}

/// `whence` of BufFileSeek: from the start.
const SEEK_SET: i32 = 0;

impl PartSink for SpillFile {
    fn write(&mut self, bytes: &[u8]) -> mergetree::Result<()> {
        // SAFETY: the file is open; BufFileWrite raises a Postgres error when it fails
        // (disk full, temp_file_limit).
        unsafe { pg_sys::BufFileWrite(self.file, bytes.as_ptr() as *mut _, bytes.len()) };
        self.len += bytes.len() as u64;
        Ok(())
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        // While an error unwinds, the file may be mid-write: the transaction's abort
        // closes and deletes it instead.
        if std::thread::panicking() {
            return;
        }
        // SAFETY: opened in `new`, closed once.
        unsafe { pg_sys::BufFileClose(self.file) };
    }
}
