//! The embedded store: Offchain DB on one SQLite file, with no server to run.
//!
//! [`EmbeddedStore::open`] takes an exclusive lock on its data folder (so two processes never
//! write one file), opens `offchain.db` in WAL mode, applies the embedded migrations and hands
//! out the application's ports:
//!
//! - [`EmbeddedStore::unit_of_work`]: write transactions on the one writer connection, owned by
//!   a dedicated thread (`writer.rs`). SQLite allows one writer at a time anyway; one thread
//!   serving writes in turn makes the commit sequence (`seq`) exact and turns "database is
//!   locked" into an orderly queue. Writes that queue up together share one group transaction
//!   and one `COMMIT` (group commit), each still atomic on its own and acknowledged only once
//!   its group is durable; [`EmbeddedStore::write_stats`] tells how large the groups were.
//! - [`EmbeddedStore::reader`]: committed state through a few reader threads, each with a
//!   read-only connection, which WAL lets run beside the writer (`reader.rs`).
//! - [`EmbeddedStore::log`]: the Merkle log (stored subtree hashes, head, checkpoints); its
//!   batches take the writer like any transaction, so commit order is sequencing order.
//! - [`AuditReader`]: the auditor's read-only snapshot of a store's file, opened without the
//!   folder lock.
//!
//! SQLite is blocking, so every statement runs on the writer thread or a reader thread,
//! never on the async worker threads. Driver types stay inside this module: every failure leaves it as a
//! [`shared_kernel::Error`] (busy, locked, disk full, I/O → `UNAVAILABLE`; constraint
//! violations the ports name → `CONFLICT`; anything else → `INTERNAL_ERROR`), with the driver
//! error kept as its source.

mod audit_reader;
mod audit_tables;
mod collection_cache;
mod commit_health;
mod connection;
mod document_cache;
mod error;
mod folder;
mod hash_cache;
mod history;
mod idempotency;
mod lock;
mod log;
mod log_key;
mod migrations;
mod newest;
mod query;
mod reader;
mod reader_pool;
mod repositories;
mod rows;
mod signer_state;
mod succession;
mod transaction;
mod write_stats;
mod writer;

#[cfg(test)]
mod group_commit_tests;
#[cfg(test)]
mod log_tests;
#[cfg(test)]
mod revision_data_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use shared_kernel::Error;
use storage_app::{StorageReader, UnitOfWork};

use self::collection_cache::CollectionCache;
use self::document_cache::DocumentCache;
use self::lock::DirLock;
use self::log::SqliteLogStore;
use self::reader::SqliteReader;
use self::reader_pool::ReaderPool;
use self::transaction::SqliteUnitOfWork;
use self::writer::Writer;

pub use self::audit_reader::AuditReader;
pub use self::commit_health::{CommitFailure, CommitFaults, CommitHealth, PROBE_INTERVAL};
pub use self::document_cache::DEFAULT_DOCUMENT_CACHE_BYTES;
pub use self::log_key::{
    SIGNING_KEY_FILE_NAME, SUCCESSOR_KEY_SUFFIX, create_signing_seed, load_or_create_signing_seed,
    successor_key_path,
};
pub use self::signer_state::{
    FileSignerMemory, SIGNER_STATE_SUFFIX, default_signer_state_path, sync_parent,
};
pub use self::succession::EndedCheckpoint;
pub use self::write_stats::WriteStats;
pub use self::writer::GroupCommitOptions;

/// Brings a SQLite database up to this build's schema with the embedded store's own
/// migrations (a no-op when it is there already). For programs that write the store's tables
/// without the store, such as the benchmark's raw-SQLite peer, so that they never drift from
/// the schema the store really has.
///
/// # Errors
/// As at [`EmbeddedStore::open`]: a failed migration, or a file written by a newer build.
pub fn apply_migrations(connection: &mut rusqlite::Connection) -> Result<(), Error> {
    migrations::apply(connection)
}

/// The database file's name inside the data folder.
pub const DATABASE_FILE_NAME: &str = "offchain.db";

/// The lock file's name inside the data folder.
pub const LOCK_FILE_NAME: &str = "LOCK";

/// How many reads run at once by default, each on its own thread and connection: one per
/// core (at least two: one of them serves only point reads, see `reader_pool.rs`). More
/// threads park and wake more often, fewer leave a core idle: on 2 cores, 2 threads served
/// 31k reads/s, 1 thread 26k and 4 threads 25k.
pub fn default_readers() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get().max(2))
}

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

/// Settings of the embedded store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// How hard a commit works to survive a crash.
    pub durability: Durability,
    /// How many reads run at once (reader threads, each with its own connection; at least 2,
    /// of which query pages and other scans may use all but one).
    pub readers: usize,
    /// When a group of writes stops growing and commits.
    pub group_commit: GroupCommitOptions,
    /// How many bytes of committed documents are kept in memory for reads by id (0 keeps
    /// none); see `document_cache.rs`.
    pub document_cache_bytes: usize,
    /// The test seam that makes commits fail as on a full disk; off by default.
    pub commit_faults: CommitFaults,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            durability: Durability::default(),
            readers: default_readers(),
            group_commit: GroupCommitOptions::default(),
            document_cache_bytes: DEFAULT_DOCUMENT_CACHE_BYTES,
            commit_faults: CommitFaults::default(),
        }
    }
}

/// An open embedded store. Cloning is cheap and shares the same connections and lock; the
/// folder is released when the last clone (and every port handed out) is dropped.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

/// What every clone shares.
struct Inner {
    database_path: PathBuf,
    writer: Writer,
    unit_of_work: Arc<SqliteUnitOfWork>,
    reader: Arc<SqliteReader>,
    log: Arc<SqliteLogStore>,
    commit_health: CommitHealth,
}

impl EmbeddedStore {
    /// Opens (creating when missing) the store in `data_dir`, locks the folder for as long
    /// as the store lives and brings the schema up to date.
    ///
    /// # Errors
    /// `UNAVAILABLE` when another process (or another open store in this process) is using
    /// the folder, or the folder or database cannot be created or opened; `INTERNAL_ERROR`
    /// when a migration fails or the database was written by a newer version.
    pub fn open(data_dir: &Path, options: EmbeddedOptions) -> Result<Self, Error> {
        folder::create_private_folder(data_dir)?;
        let lock = Arc::new(DirLock::acquire(data_dir)?);
        let database_path = data_dir.join(DATABASE_FILE_NAME);
        folder::create_private_file(&database_path)?;
        folder::warn_if_others_can_read(data_dir, &database_path);
        let mut writer = connection::open_writer(&database_path, options.durability)?;
        migrations::apply(&mut writer)?;
        let readers = ReaderPool::new(&database_path, options.readers, Arc::clone(&lock))?;
        let documents = Arc::new(DocumentCache::new(options.document_cache_bytes));
        let commit_health = CommitHealth::default();
        let writer = Writer::start(
            writer,
            lock,
            options.group_commit,
            Arc::clone(&documents),
            (commit_health.clone(), options.commit_faults),
            options.durability,
        )?;
        let readers = Arc::new(readers);
        let log = Arc::new(SqliteLogStore::new(writer.clone(), Arc::clone(&readers)));
        let committed_collections = Arc::new(CollectionCache::default());
        tracing::info!(path = %database_path.display(), "embedded store opened");
        let reader = Arc::new(SqliteReader::new(
            readers,
            Arc::clone(&committed_collections),
            Arc::clone(&documents),
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                database_path,
                unit_of_work: Arc::new(SqliteUnitOfWork::new(
                    writer.clone(),
                    Arc::clone(&reader),
                    committed_collections,
                    documents,
                )),
                writer,
                reader,
                log,
                commit_health,
            }),
        })
    }

    /// Whether commits succeed: the last failure, until a commit succeeds again (what
    /// readiness reports; see `commit_health.rs`).
    pub fn commit_health(&self) -> CommitHealth {
        self.inner.commit_health.clone()
    }

    /// Write transactions on this store.
    pub fn unit_of_work(&self) -> Arc<dyn UnitOfWork> {
        Arc::clone(&self.inner.unit_of_work) as Arc<dyn UnitOfWork>
    }

    /// Reads of committed state on this store.
    pub fn reader(&self) -> Arc<dyn StorageReader> {
        Arc::clone(&self.inner.reader) as Arc<dyn StorageReader>
    }

    /// The Merkle log's storage on this store (its writes share the one writer connection).
    pub fn log(&self) -> Arc<dyn audit_app::LogStore> {
        Arc::clone(&self.inner.log) as Arc<dyn audit_app::LogStore>
    }

    /// The SQLite file (`<data_dir>/offchain.db`).
    pub fn database_path(&self) -> PathBuf {
        self.inner.database_path.clone()
    }

    /// Whether the log is empty: no checkpoint, no leaf, no audit entry. Only an empty log
    /// may be given a new signing key. Blocking: one read on a connection of its own.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when the database cannot be read.
    pub fn log_is_empty(&self) -> Result<bool, Error> {
        let connection = connection::open_reader(&self.inner.database_path)?;
        connection
            .query_row(
                "SELECT NOT EXISTS (SELECT 1 FROM checkpoints) \
                    AND NOT EXISTS (SELECT 1 FROM audit_entries) \
                    AND (SELECT tree_size FROM log_state WHERE id = 1) = 0",
                [],
                |row| row.get::<_, bool>(0),
            )
            .map_err(|e| error::storage_error("reading whether the log is empty", e))
    }

    /// How many groups the writer committed and how many writes they carried, since the
    /// store opened (the benchmark suite and operators read it; the writer also logs it).
    pub fn write_stats(&self) -> WriteStats {
        self.inner.writer.stats()
    }

    /// The writer, for tests that run statements on it directly or watch its queue.
    #[cfg(test)]
    fn writer(&self) -> Writer {
        self.inner.writer.clone()
    }
}

impl fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("database_path", &self.inner.database_path)
            .finish_non_exhaustive()
    }
}
