//! The embedded store: Offchain DB on one SQLite file, with no server to run.
//!
//! [`EmbeddedStore::open`] takes an exclusive lock on its data folder (so two processes never
//! write one file), opens `offchain.db` in WAL mode, applies the embedded migrations and hands
//! out the application's ports:
//!
//! - [`EmbeddedStore::unit_of_work`]: write transactions on the one writer connection, owned by
//!   a dedicated thread (`write/writer.rs`). SQLite allows one writer at a time anyway; one thread
//!   serving writes in turn makes the commit sequence (`seq`) exact and turns "database is
//!   locked" into an orderly queue. Writes that queue up together share one group transaction
//!   and one `COMMIT` (group commit), each still atomic on its own and acknowledged only once
//!   its group is durable; [`EmbeddedStore::write_stats`] tells how large the groups were.
//! - [`EmbeddedStore::reader`]: committed state through a few reader threads, each with a
//!   read-only connection, which WAL lets run beside the writer (`read/`).
//! - [`EmbeddedStore::log`]: the Merkle log (stored subtree hashes, head, checkpoints); its
//!   batches take the writer like any transaction, so commit order is sequencing order.
//! - [`AuditReader`]: the auditor's read-only snapshot of a store's file, opened without the
//!   folder lock.
//!
//! The code follows those seams: `write/` (the writer thread, transactions and the ports bound
//! to them), `read/` (reader threads, queries, history, the caches of committed state),
//! `log/` (the Merkle log's storage, its key and the signer's memory) and `audit/` (the
//! auditor's snapshot). Dependencies point one way: `log/` uses `write/` and `read/`, `write/`
//! uses `read/` (optimistic reads, the caches it keeps exact), and all of them use the shared
//! ground beside them: `connection.rs`, `error.rs`, `folder.rs`, `lock.rs`, `migrations.rs`,
//! `rows.rs` and the settings in `options.rs`.
//!
//! SQLite is blocking, so every statement runs on the writer thread or a reader thread,
//! never on the async worker threads. Driver types stay inside this module: every failure leaves it as a
//! [`shared_kernel::Error`] (busy, locked, disk full, I/O → `UNAVAILABLE`; constraint
//! violations the ports name → `CONFLICT`; anything else → `INTERNAL_ERROR`), with the driver
//! error kept as its source.

mod audit;
mod connection;
mod error;
mod folder;
mod lock;
mod log;
mod migrations;
mod options;
mod read;
mod rows;
mod write;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use shared_kernel::Error;
use storage_app::{StorageReader, UnitOfWork};

use self::lock::DirLock;
use self::log::store::SqliteLogStore;
use self::read::collection_cache::CollectionCache;
use self::read::document_cache::DocumentCache;
use self::read::reader::SqliteReader;
use self::read::reader_pool::ReaderPool;
use self::write::transaction::SqliteUnitOfWork;
use self::write::writer::Writer;

pub use self::audit::AuditReader;
pub use self::connection::Durability;
pub use self::folder::{DATABASE_FILE_NAME, LOCK_FILE_NAME};
pub use self::log::key::{
    SIGNING_KEY_FILE_NAME, SUCCESSOR_KEY_SUFFIX, create_signing_seed, load_or_create_signing_seed,
    successor_key_path,
};
pub use self::log::signer_state::{
    FileSignerMemory, SIGNER_STATE_SUFFIX, default_signer_state_path, sync_parent,
};
pub use self::log::succession::EndedCheckpoint;
pub use self::options::{EmbeddedOptions, default_readers};
pub use self::read::document_cache::DEFAULT_DOCUMENT_CACHE_BYTES;
pub use self::write::commit_health::{CommitFailure, CommitFaults, CommitHealth, PROBE_INTERVAL};
pub use self::write::write_stats::WriteStats;
pub use self::write::writer::GroupCommitOptions;

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
    /// readiness reports; see `write/commit_health.rs`).
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
