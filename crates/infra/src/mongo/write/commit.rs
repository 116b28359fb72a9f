//! Running a transaction's kept writes as ONE MongoDB transaction, and classifying how it
//! ended into a [`CommitError`].
//!
//! Inside it, first the guards (`guards.rs` of the application explains them): a collection
//! guard is a read of the collection's state and version, a document guard a read of the
//! document's version; then the writes in call order. Its lifetime is bounded
//! ([`MongoOptions::transaction_lifetime`]): a commit not sent within half of it is
//! abandoned as retryable, and the commit itself may take the other half
//! (`maxCommitTimeMS`), which is what lets a two-phase collection change know when every
//! write that read the old state is over (`phases.rs`).
//!
//! [`MongoOptions::transaction_lifetime`]: crate::mongo::MongoOptions

use std::time::{Duration, Instant};

use mongodb::ClientSession;
use mongodb::bson::doc;
use mongodb::options::{ReadConcern, WriteConcern};
use shared_kernel::Error;
use storage_app::{CommitError, Guard};

use super::super::Shared;
use super::super::error::{
    is_unavailable, is_unknown_commit_result, is_write_conflict, storage_error,
};
use super::super::layout::{COLLECTIONS, DOCUMENTS, document_key};
use super::super::options::CommitFault;
use super::super::rows::{CollectionState, collection_from_bson, optional_i64};
use super::marks::{mark_in_force, now_millis};
use super::ops::{Op, OpFailure, apply, order_for};

/// What a guard on a collection accepts as its state: `Live` for every write, or the mark
/// the second phase of a collection change set itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Live, as every write expects.
    Live,
    /// Marked by this change's first phase (deleting or pending).
    Marked,
}

/// Runs `ops` in one transaction after checking `guards`.
pub(crate) async fn run(
    shared: &Shared,
    guards: &[Guard],
    expect: Expect,
    ops: Vec<Op>,
) -> Result<(), CommitError> {
    let outcome = attempt(shared, guards, expect, ops).await;
    shared.record_commit(&outcome);
    outcome
}

/// One attempt at the transaction.
async fn attempt(
    shared: &Shared,
    guards: &[Guard],
    expect: Expect,
    ops: Vec<Op>,
) -> Result<(), CommitError> {
    if shared.options.faults.commits_fail() {
        return Err(CommitError::Failed(Error::unavailable(
            "MongoDB refuses writes (injected: the store's commit fault)",
            std::io::Error::other("injected commit failure"),
        )));
    }
    let _turn = shared.transaction_turn().await;
    let lifetime = shared.options.transaction_lifetime;
    let mut session = shared
        .client
        .start_session()
        .await
        .map_err(|e| CommitError::Retryable(storage_error("starting a session", e)))?;
    session
        .start_transaction()
        .read_concern(ReadConcern::snapshot())
        .write_concern(WriteConcern::majority())
        .max_commit_time(lifetime / 2)
        .await
        .map_err(|e| CommitError::Retryable(storage_error("starting a transaction", e)))?;
    let started = Instant::now();
    let outcome = statements(shared, &mut session, guards, expect, ops).await;
    let fault = match outcome {
        Ok(fault) => fault,
        Err(error) => {
            // Best effort: the server aborts it anyway once the session is dropped or times out.
            let _aborted = session.abort_transaction().await;
            return Err(error);
        }
    };
    if started.elapsed() > lifetime / 2 {
        let _aborted = session.abort_transaction().await;
        return Err(CommitError::Retryable(Error::unavailable(
            format!(
                "the transaction took longer than {} ms before its commit; nothing was stored",
                (lifetime / 2).as_millis()
            ),
            std::io::Error::other("transaction lifetime exceeded"),
        )));
    }
    if fault == Some(CommitFault::LostAnswerWithoutCommit) {
        let _aborted = session.abort_transaction().await;
        return Err(CommitError::OutcomeUnknown(injected(
            "the commit's answer was lost",
        )));
    }
    session.commit_transaction().await.map_err(|e| {
        if is_unknown_commit_result(&e) {
            CommitError::OutcomeUnknown(storage_error("committing", e))
        } else if is_write_conflict(&e) {
            CommitError::Stale
        } else if is_unavailable(&e) {
            CommitError::Retryable(storage_error("committing", e))
        } else {
            CommitError::Failed(storage_error("committing", e))
        }
    })?;
    if fault == Some(CommitFault::LostAnswerAfterCommit) {
        return Err(CommitError::OutcomeUnknown(injected(
            "the commit's answer was lost",
        )));
    }
    Ok(())
}

/// The guards, then the writes. Returns the fault injected after the document write, for
/// the commit to act on.
async fn statements(
    shared: &Shared,
    session: &mut ClientSession,
    guards: &[Guard],
    expect: Expect,
    ops: Vec<Op>,
) -> Result<Option<CommitFault>, CommitError> {
    for guard in guards {
        if !holds(shared, session, guard, expect).await? {
            return Err(CommitError::Stale);
        }
    }
    let guarded_documents = guards.iter().any(|g| matches!(g, Guard::DocumentAt { .. }));
    let classify = |failure| classify(failure, guarded_documents);
    let order = order_for(shared, session, &ops, now_micros())
        .await
        .map_err(classify)?;
    let mut fault = None;
    for op in ops {
        let writes_document = matches!(op, Op::SaveDocument { .. });
        apply(shared, session, op, order).await.map_err(classify)?;
        if writes_document && fault.is_none() {
            fault = shared.options.faults.take_document_fault();
            match fault {
                Some(CommitFault::Fail) => {
                    return Err(CommitError::Failed(injected(
                        "the write failed after the document",
                    )));
                }
                Some(CommitFault::Transient) => {
                    return Err(CommitError::Retryable(injected(
                        "a transient failure after the document write",
                    )));
                }
                Some(CommitFault::LostAnswerAfterCommit | CommitFault::LostAnswerWithoutCommit)
                | None => {}
            }
        }
    }
    Ok(fault)
}

/// How a write's failure ends the commit.
fn classify(failure: OpFailure, guarded_documents: bool) -> CommitError {
    match failure {
        // With a document guard, a version taken by another writer (or a document found past
        // the version read) is the guard breaking: the read is stale. Run again on fresh
        // reads, where the application answers as it should (412 for a failed `If-Match`, 409
        // for an id now taken, or the next version). Without a guard it is the port's
        // `CONFLICT`.
        OpFailure::VersionTaken(error) if guarded_documents => {
            tracing::debug!(error = %error.chain(), "a write's read went stale");
            CommitError::Stale
        }
        OpFailure::VersionTaken(error) | OpFailure::Failed(error) => CommitError::Failed(error),
        OpFailure::Driver(action, error) => {
            if is_write_conflict(&error) {
                CommitError::Stale
            } else if is_unavailable(&error) {
                CommitError::Retryable(storage_error(action, error))
            } else {
                CommitError::Failed(storage_error(action, error))
            }
        }
    }
}

/// Whether `guard` holds, read inside the transaction.
async fn holds(
    shared: &Shared,
    session: &mut ClientSession,
    guard: &Guard,
    expect: Expect,
) -> Result<bool, CommitError> {
    let read_failed = |e| CommitError::Retryable(storage_error("checking what a write read", e));
    match guard {
        Guard::CollectionLive {
            collection,
            version,
        } => {
            let Some(stored) = shared
                .collection(COLLECTIONS)
                .find_one(doc! { "_id": collection.to_string() })
                .session(&mut *session)
                .await
                .map_err(read_failed)?
            else {
                return Ok(false);
            };
            let stored = collection_from_bson(&stored).map_err(CommitError::Failed)?;
            let state_ok = match (&stored.state, expect) {
                (CollectionState::Live, Expect::Live) => true,
                // A mark whose changer died between its phases no longer holds writes back.
                (
                    CollectionState::Deleting { since } | CollectionState::Pending { since },
                    Expect::Live,
                ) => !mark_in_force(shared, *since, now_millis()),
                (
                    CollectionState::Deleting { .. } | CollectionState::Pending { .. },
                    Expect::Marked,
                ) => true,
                (CollectionState::Live, Expect::Marked)
                | (CollectionState::Deleted, Expect::Live | Expect::Marked) => false,
            };
            Ok(state_ok && stored.collection.version() == *version)
        }
        Guard::DocumentAt {
            collection,
            id,
            version,
        } => {
            let stored = shared
                .collection(DOCUMENTS)
                .find_one(doc! { "_id": document_key(&collection.to_string(), id.as_str()) })
                .projection(doc! { "version": 1 })
                .session(&mut *session)
                .await
                .map_err(read_failed)?;
            let stored_version = stored
                .map(|d| optional_i64(&d, "version", "document version"))
                .transpose()
                .map_err(CommitError::Failed)?
                .flatten();
            let expected = version.map(|v| i64::try_from(v.get()).unwrap_or(i64::MAX));
            Ok(stored_version == expected)
        }
    }
}

/// An injected failure (tests only: `MongoFaults`).
fn injected(what: &str) -> Error {
    Error::unavailable(
        format!("{what} (injected)"),
        std::io::Error::other("injected fault"),
    )
}

/// Microseconds since the epoch, the clock behind the order of pending entries.
fn now_micros() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}
