//! Write transactions on the one writer connection.
//!
//! The writer sits behind an async mutex. [`SqliteUnitOfWork::begin`] waits for it, runs
//! `BEGIN IMMEDIATE` and hands the owned guard to a [`SqliteTransaction`], so the transaction
//! *is* the right to write. Each statement moves the guard onto tokio's blocking pool and gets
//! it back, so SQLite never runs on an async worker thread.
//!
//! Two paths end a transaction without a commit, and both roll back while still holding the
//! guard, so the next transaction cannot start on a half-finished one:
//! - the handle is dropped: `Drop` sends the guard to a blocking thread that runs `ROLLBACK`;
//! - a statement's future is dropped mid-way: the guard dies inside its blocking task with the
//!   SQLite transaction still open, and the next `begin` rolls it back first.

use std::sync::Arc;

use async_trait::async_trait;
use audit_domain::AuditLogger;
use rusqlite::Connection;
use shared_kernel::{Error, ErrorCode};
use storage_app::idempotency::IdempotencyStore;
use storage_app::{EventOutbox, Transaction, UnitOfWork};
use storage_domain::repository::{CollectionRepository, DocumentRepository};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::error::task_failed;
use super::lock::DirLock;

/// The writer connection, shared by every transaction in turn.
pub(super) type SharedWriter = Arc<Mutex<Connection>>;

/// Opens write transactions on the writer connection.
pub(super) struct SqliteUnitOfWork {
    writer: SharedWriter,
    /// Keeps the folder locked for as long as the writer can be used.
    _lock: Arc<DirLock>,
}

impl SqliteUnitOfWork {
    /// A unit of work over `writer`, holding `lock`.
    pub(super) fn new(writer: SharedWriter, lock: Arc<DirLock>) -> Self {
        Self {
            writer,
            _lock: lock,
        }
    }

    /// The writer connection, for tests.
    #[cfg(test)]
    pub(super) fn writer(&self) -> SharedWriter {
        Arc::clone(&self.writer)
    }
}

#[async_trait]
impl UnitOfWork for SqliteUnitOfWork {
    #[tracing::instrument(name = "embedded.begin", skip_all)]
    async fn begin(&self) -> Result<Box<dyn Transaction>, Error> {
        let guard = Arc::clone(&self.writer).lock_owned().await;
        let (guard, result) = tokio::task::spawn_blocking(move || {
            let result = start(&guard);
            (guard, result)
        })
        .await
        .map_err(|e| Error::unavailable("could not start a transaction", e))?;
        result.map_err(|e| Error::unavailable("could not start a transaction", e))?;
        Ok(Box::new(SqliteTransaction { guard: Some(guard) }))
    }
}

/// Starts a write transaction, first rolling back one a dropped future left open.
fn start(connection: &Connection) -> rusqlite::Result<()> {
    if !connection.is_autocommit() {
        tracing::warn!("rolling back a transaction left open by a cancelled request");
        connection.prepare_cached("ROLLBACK")?.execute([])?;
    }
    connection.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    Ok(())
}

/// Rolls back the open transaction, if any; a failure is logged, since SQLite rolls back on
/// its own when the connection closes, and the next `begin` retries.
fn roll_back(connection: &Connection) {
    if connection.is_autocommit() {
        return;
    }
    let result = connection
        .prepare_cached("ROLLBACK")
        .and_then(|mut statement| statement.execute([]));
    if let Err(e) = result {
        tracing::error!(error = %e, "could not roll back a transaction");
    }
}

/// One open write transaction; it owns the writer until it commits or is dropped.
pub(super) struct SqliteTransaction {
    /// `None` once committed, or when a statement's blocking task failed and took the
    /// guard with it.
    guard: Option<OwnedMutexGuard<Connection>>,
}

impl SqliteTransaction {
    /// Runs `work` on the writer on a blocking thread and takes the writer back.
    pub(super) async fn run<T, F>(&mut self, work: F) -> Result<T, Error>
    where
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let Some(guard) = self.guard.take() else {
            return Err(Error::new(
                ErrorCode::Internal,
                "the transaction can no longer be used after a failed storage task",
            ));
        };
        let (guard, result) = tokio::task::spawn_blocking(move || {
            let result = work(&guard);
            (guard, result)
        })
        .await
        .map_err(task_failed)?;
        self.guard = Some(guard);
        result
    }
}

#[async_trait]
impl Transaction for SqliteTransaction {
    fn collections(&mut self) -> &mut dyn CollectionRepository {
        self
    }

    fn documents(&mut self) -> &mut dyn DocumentRepository {
        self
    }

    fn audit(&mut self) -> &mut dyn AuditLogger {
        self
    }

    fn outbox(&mut self) -> &mut dyn EventOutbox {
        self
    }

    fn idempotency(&mut self) -> &mut dyn IdempotencyStore {
        self
    }

    #[tracing::instrument(name = "embedded.commit", skip_all)]
    async fn commit(mut self: Box<Self>) -> Result<(), Error> {
        let Some(guard) = self.guard.take() else {
            return Err(Error::new(
                ErrorCode::Unavailable,
                "the transaction was lost before its commit; nothing was stored",
            ));
        };
        tokio::task::spawn_blocking(move || {
            let result = guard
                .prepare_cached("COMMIT")
                .and_then(|mut statement| statement.execute([]));
            result.map(drop).map_err(|e| {
                roll_back(&guard);
                Error::unavailable("the commit failed; nothing was stored", e)
            })
        })
        .await
        .map_err(|e| Error::unavailable("the commit did not complete", e))?
    }
}

impl Drop for SqliteTransaction {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        // The guard travels with the rollback, so no other transaction can begin before it
        // is done. Without a runtime (a drop during shutdown) there is no blocking pool to
        // use, and blocking here is the lesser evil.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                drop(runtime.spawn_blocking(move || roll_back(&guard)));
            }
            Err(_) => roll_back(&guard),
        }
    }
}
