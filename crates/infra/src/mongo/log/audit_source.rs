//! The auditor's source on MongoDB: [`AuditSource`], [`TableSource`] and [`BackendChecks`]
//! for `offchain-db audit`.
//!
//! The ports are synchronous (the auditor is pure, `audit-app`) and the driver is not. The
//! source cannot `block_on` a runtime of its own on the caller's thread: a caller already
//! inside a runtime (an async command, a `#[tokio::test]`) would panic. Nor can it use the
//! store's client from a blocked thread: the driver's connection tasks run on the runtime
//! that made the client, which the blocked caller may be. So the source runs on a thread of
//! its own with a current-thread runtime and a client of its own (`reader.rs`), and each call
//! hands that thread a job and waits for the answer. The source is `Send`; dropping it ends
//! the thread.
//!
//! What it reads, and why up to a head fixed when it opens: `reader.rs`. Its positions:
//! `positions.rs`. Its own checks: `checks.rs`.

mod checks;
mod positions;
mod reader;
mod rows;
mod snapshot;
mod tables;

use std::future::Future;
use std::rc::Rc;

use audit_app::auditor::{
    AuditSource, BackendChecks, CheckpointRow, CollectionEntryRow, CollectionRow, DocumentKey,
    DocumentRow, EntryRow, Finding, IdempotencyRecordKey, IdempotencyRow, LogStateRow, OutboxRow,
    RevisionKey, RevisionRow, TableSource,
};
use futures_util::future::LocalBoxFuture;
use shared_kernel::{Error, Position};
use tokio::sync::{mpsc, oneshot};

use super::super::MongoOptions;
use reader::{Bounds, Reader};

/// One call, run on the source's thread.
type Job = Box<dyn FnOnce(Rc<Reader>) -> LocalBoxFuture<'static, ()> + Send>;

/// A MongoDB store as the auditor reads it (see the module).
pub struct MongoAuditSource {
    jobs: mpsc::UnboundedSender<Job>,
    bounds: Bounds,
}

impl std::fmt::Debug for MongoAuditSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoAuditSource")
            .field("head", &self.bounds.head)
            .finish_non_exhaustive()
    }
}

/// Starts the source's thread: a current-thread runtime, a [`Reader`] (its own client), and
/// then the jobs in turn until the source is dropped. `opened` hears how the opening went.
fn start(
    options: MongoOptions,
    opened: impl FnOnce(Result<Bounds, Error>) + Send + 'static,
) -> Result<mpsc::UnboundedSender<Job>, Error> {
    let (jobs, mut pending) = mpsc::unbounded_channel::<Job>();
    std::thread::Builder::new()
        .name("mongo-audit".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    opened(Err(Error::internal(
                        "could not start the MongoDB audit source's runtime",
                        e,
                    )));
                    return;
                }
            };
            runtime.block_on(async move {
                let reader = match Reader::open(&options).await {
                    Ok(reader) => Rc::new(reader),
                    Err(error) => {
                        opened(Err(error));
                        return;
                    }
                };
                opened(Ok(reader.bounds.clone()));
                while let Some(job) = pending.recv().await {
                    job(Rc::clone(&reader)).await;
                }
            });
        })
        .map_err(|e| Error::internal("could not start the MongoDB audit source", e))?;
    Ok(jobs)
}

/// The source's thread is gone (it could not start a runtime, or panicked).
fn gone() -> Error {
    Error::internal(
        "the MongoDB audit source's thread has stopped",
        std::io::Error::other("audit source thread gone"),
    )
}

impl MongoAuditSource {
    /// Opens the source on the database `options` name: starts its thread, connects and
    /// fixes the audited head. It only reads (no store needs opening, which would create
    /// indexes).
    ///
    /// # Errors
    /// `INVALID_INPUT` for a URI that does not parse; `UNAVAILABLE` when MongoDB cannot be
    /// reached; `INTERNAL_ERROR` for a malformed head or when the thread cannot start.
    pub async fn open(options: MongoOptions) -> Result<Self, Error> {
        let (opened, on_open) = oneshot::channel();
        let jobs = start(options, move |bounds| {
            // The caller went away: the thread ends with the channel.
            let _unheard = opened.send(bounds);
        })?;
        let bounds = on_open.await.map_err(|_| gone())??;
        Ok(Self { jobs, bounds })
    }

    /// [`Self::open`] for a caller outside any runtime (a command's `main`): blocks until
    /// the source is open.
    ///
    /// # Errors
    /// As [`Self::open`].
    pub fn open_blocking(options: MongoOptions) -> Result<Self, Error> {
        let (opened, on_open) = std::sync::mpsc::sync_channel(1);
        let jobs = start(options, move |bounds| {
            let _unheard = opened.send(bounds);
        })?;
        let bounds = on_open.recv().map_err(|_| gone())??;
        Ok(Self { jobs, bounds })
    }

    /// Runs `work` on the source's thread and waits for its answer.
    fn call<T, F, Fut>(&self, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Rc<Reader>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + 'static,
    {
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::new(move |reader| -> LocalBoxFuture<'static, ()> {
            Box::pin(async move {
                // The caller waits for it; if it gave up, nobody needs the answer.
                let _unheard = answer.send(work(reader).await);
            })
        });
        self.jobs.send(job).map_err(|_| gone())?;
        answered.recv().map_err(|_| gone())?
    }
}

impl AuditSource for MongoAuditSource {
    fn log_state(&self) -> Result<Option<LogStateRow>, Error> {
        Ok(self.bounds.head.clone())
    }

    fn checkpoints(
        &self,
        after_size: Option<u64>,
        limit: usize,
    ) -> Result<Vec<CheckpointRow>, Error> {
        self.call(move |r| async move { r.checkpoints(after_size, limit).await })
    }

    fn sequenced_entries(
        &self,
        after_index: Option<u64>,
        limit: usize,
    ) -> Result<Vec<EntryRow>, Error> {
        self.call(move |r| async move { r.sequenced_entries(after_index, limit).await })
    }

    fn pending_entries(
        &self,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Vec<EntryRow>, Error> {
        let after = after.cloned();
        self.call(move |r| async move { r.pending_entries(after.as_ref(), limit).await })
    }

    fn log_hashes(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, Error> {
        self.call(move |r| async move { r.log_hashes(from, limit).await })
    }

    fn revisions(
        &self,
        after: Option<&RevisionKey>,
        limit: usize,
    ) -> Result<Vec<RevisionRow>, Error> {
        let after = after.cloned();
        self.call(move |r| async move { r.revisions(after.as_ref(), limit).await })
    }

    fn documents(
        &self,
        after: Option<&DocumentKey>,
        limit: usize,
    ) -> Result<Vec<DocumentRow>, Error> {
        let after = after.cloned();
        self.call(move |r| async move { r.documents(after.as_ref(), limit).await })
    }
}

impl TableSource for MongoAuditSource {
    fn collections(&self, after: Option<&str>, limit: usize) -> Result<Vec<CollectionRow>, Error> {
        let after = after.map(str::to_owned);
        self.call(move |r| async move { r.collections(after, limit).await })
    }

    fn orphan_collection_entries(
        &self,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Vec<CollectionEntryRow>, Error> {
        let after = after.cloned();
        self.call(move |r| async move { r.orphan_collection_entries(after, limit).await })
    }

    fn outbox(&self, after: Option<&Position>, limit: usize) -> Result<Vec<OutboxRow>, Error> {
        let after = after.cloned();
        self.call(move |r| async move { r.outbox(after, limit).await })
    }

    fn entries_without_event(
        &self,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Vec<(Position, String)>, Error> {
        let after = after.cloned();
        self.call(move |r| async move { r.entries_without_event(after, limit).await })
    }

    fn idempotency_records(
        &self,
        after: Option<&IdempotencyRecordKey>,
        limit: usize,
    ) -> Result<Vec<IdempotencyRow>, Error> {
        let after = after.cloned();
        self.call(move |r| async move { r.idempotency_records(after, limit).await })
    }

    fn entry_leaf(&self, id: &str) -> Result<Option<Vec<u8>>, Error> {
        let id = id.to_owned();
        self.call(move |r| async move { r.entry_leaf(id).await })
    }
}

impl BackendChecks for MongoAuditSource {
    fn check_backend(&self, report: &mut dyn FnMut(Finding)) -> Result<Vec<String>, Error> {
        let findings = self.call(|r| async move { r.check_backend().await })?;
        findings.into_iter().for_each(report);
        Ok(checks::CHECKED.iter().map(|&c| c.to_owned()).collect())
    }
}
