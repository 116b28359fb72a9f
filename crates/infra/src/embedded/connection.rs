//! Opening SQLite connections with the pragmas the store relies on.
//!
//! The writer sets the persistent ones (WAL) and the per-connection ones (durability,
//! foreign keys, busy timeout); readers open the same file read-only and only need the busy
//! timeout. WAL is what lets readers run beside the writer without blocking it.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use shared_kernel::Error;

use super::error::storage_error;

/// How hard a commit works to survive a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: every group commit is fsynced before its writes are acknowledged,
    /// so an acknowledged write survives a power loss. The default.
    #[default]
    Full,
    /// `synchronous=NORMAL` (opt-in): in WAL mode the database survives a process crash and
    /// stays consistent, but the last commits before a power loss or an OS crash may be lost
    /// although they were acknowledged. Faster: the WAL is only fsynced at checkpoints.
    Normal,
}

/// How long a statement waits for a lock held by another connection before failing busy.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// How much of the database file a reader maps into memory: pages in the map are read
/// without a `pread(2)` and a copy each (a fifth of a read by id's kernel time otherwise).
/// Address space, not memory: the pages are the OS page cache's.
const READER_MMAP_BYTES: i64 = 1 << 30;

/// How many prepared statements each connection keeps (the store uses fewer than this).
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// Opens (creating when missing) the writer connection.
///
/// # Errors
/// `UNAVAILABLE` when the file cannot be opened; `INTERNAL_ERROR` when a pragma fails or
/// WAL mode cannot be enabled.
pub(super) fn open_writer(path: &Path, durability: Durability) -> Result<Connection, Error> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| open_error(path, e))?;
    let configure = |connection: &Connection| -> rusqlite::Result<String> {
        connection.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String =
            connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        let synchronous = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        connection.pragma_update(None, "synchronous", synchronous)?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // Every write is a savepoint inside a group transaction (see `write/writer.rs`): SQLite
        // journals the pages a savepoint changes in a sub-journal, which would otherwise spill
        // to a temporary file on disk and cost a write(2) per page. In memory it is a copy.
        connection.pragma_update(None, "temp_store", "MEMORY")?;
        Ok(mode)
    };
    let mode = configure(&connection).map_err(|e| storage_error("configuring the writer", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::new(
            shared_kernel::ErrorCode::Internal,
            format!(
                "SQLite refused WAL mode for `{}` (journal mode is `{mode}`)",
                path.display()
            ),
        ));
    }
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(connection)
}

/// Opens a read-only connection to an existing database (the writer must have created it).
///
/// # Errors
/// `UNAVAILABLE` when the file cannot be opened; `INTERNAL_ERROR` when a pragma fails.
pub(super) fn open_reader(path: &Path) -> Result<Connection, Error> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| open_error(path, e))?;
    connection
        .busy_timeout(BUSY_TIMEOUT)
        .and_then(|()| connection.pragma_update(None, "mmap_size", READER_MMAP_BYTES))
        .map_err(|e| storage_error("configuring a reader", e))?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(connection)
}

/// Failing to open the file at all means the store is unavailable, whatever the reason.
fn open_error(path: &Path, error: rusqlite::Error) -> Error {
    Error::unavailable(
        format!("could not open the database `{}`", path.display()),
        error,
    )
}
