//! The data folder's lock: one process (one open store) per folder.
//!
//! SQLite's own locking would let two processes share the file, but the store's guarantees
//! (one writer, an exact commit sequence, a sequencer that numbers leaves) hold only when a
//! single store owns the folder. The lock is an OS advisory lock on `<data_dir>/LOCK`, so it
//! is released even when the process dies.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;

use shared_kernel::Error;

use super::folder::LOCK_FILE_NAME;

/// An exclusive lock on a data folder, held until dropped.
#[derive(Debug)]
pub(super) struct DirLock {
    /// Closing the file releases the lock.
    _file: File,
}

impl DirLock {
    /// Locks `data_dir` (which must exist) without waiting.
    ///
    /// # Errors
    /// `UNAVAILABLE` when another process or store holds the lock, or the lock file cannot
    /// be opened or locked.
    pub(super) fn acquire(data_dir: &Path) -> Result<Self, Error> {
        let path = data_dir.join(LOCK_FILE_NAME);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(super::folder::FILE_MODE);
        }
        let mut file = options.open(&path).map_err(|e| {
            Error::unavailable(
                format!("could not open the lock file `{}`", path.display()),
                e,
            )
        })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::unavailable(
                    format!(
                        "the data folder `{}` is locked: another process (or another open \
                         store) is using it",
                        data_dir.display()
                    ),
                    TryLockError::WouldBlock,
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(Error::unavailable(
                    format!("could not lock the data folder `{}`", data_dir.display()),
                    e,
                ));
            }
        }
        // The pid is only a hint for whoever finds the folder locked; failing to write it
        // does not weaken the lock.
        let written = file
            .set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()));
        if let Err(e) = written {
            tracing::warn!(error = %e, path = %path.display(), "could not record the pid in the lock file");
        }
        Ok(Self { _file: file })
    }
}
