//! WAL checkpoints on their own thread, off the writer's path.
//!
//! In WAL mode every commit appends pages to the `-wal` file; a checkpoint copies them back
//! into the database file (and, under `full`, fsyncs it). SQLite runs one automatically at
//! the end of the commit that crosses 1,000 pages, on the committing connection: here, the
//! one writer thread, whose time is every write's time (about a twentieth of it under load).
//! The writer therefore runs with automatic checkpoints off, and this thread runs `PASSIVE`
//! checkpoints from its own connection: they copy what no reader still needs without taking
//! the write lock, so the writer never waits for them. Once a checkpoint has copied the whole
//! log, the writer's next transaction starts the log over from its beginning.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use shared_kernel::Error;

use super::error::storage_error;
use super::lock::DirLock;

/// How often the log is checkpointed: often enough that it stays a few thousand pages long
/// at the write rates the store reaches, rarely enough to cost nothing when idle.
const INTERVAL: Duration = Duration::from_millis(100);

/// The checkpointing thread; dropping it stops the thread and waits for it.
pub(super) struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing `path` (which the writer has already opened in WAL mode).
    ///
    /// # Errors
    /// `UNAVAILABLE` when the connection or the thread cannot be opened.
    pub(super) fn start(path: &Path, lock: Arc<DirLock>) -> Result<Self, Error> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::unavailable("could not open the checkpointer's connection", e))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("offchain-checkpointer".to_owned())
            .spawn(move || {
                // Keeps the folder locked while the connection is open.
                let _lock = lock;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    if let Err(e) = checkpoint(&connection) {
                        tracing::warn!(error = %e.chain(), "a WAL checkpoint failed; retrying later");
                    }
                }
            })
            .map_err(|e| Error::unavailable("could not start the checkpointer thread", e))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the checkpointer thread panicked");
        }
    }
}

/// One passive checkpoint: copies what it can, never waits for the writer or the readers.
fn checkpoint(connection: &Connection) -> Result<(), Error> {
    connection
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        .map_err(|e| storage_error("checkpointing the write-ahead log", e))
}
