//! The MongoDB store's settings, and the seams its tests inject failures through.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How to reach the database and how long a transaction may live.
#[derive(Debug, Clone)]
pub struct MongoOptions {
    /// The connection string (`mongodb://...`).
    pub uri: String,
    /// The database holding the store.
    pub database: String,
    /// The longest a write transaction may live, from its first statement to the end of its
    /// commit: a commit not sent within half of it is abandoned (and retried), and the commit
    /// itself may take the other half (`maxCommitTimeMS`). A two-phase collection change
    /// waits this long after marking the collection, so that every write that read the old
    /// state has committed or aborted before it counts or switches (see `write/phases.rs`).
    pub transaction_lifetime: Duration,
    /// How long a request waits for a server it can use before `UNAVAILABLE`.
    pub server_selection_timeout: Duration,
    /// Failures the tests inject (none in production).
    pub faults: MongoFaults,
}

impl MongoOptions {
    /// The defaults for `uri` and `database`.
    pub fn new(uri: impl Into<String>, database: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            database: database.into(),
            transaction_lifetime: Duration::from_secs(4),
            server_selection_timeout: Duration::from_secs(5),
            faults: MongoFaults::default(),
        }
    }
}

/// A failure to inject into the next commit that writes a document, right after the
/// document's write (the stand-in has no `configureFailPoint`, so the seam is ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitFault {
    /// The transaction fails: nothing may be stored.
    Fail,
    /// The transaction fails with a transient error: nothing is stored, the work may run
    /// again.
    Transient,
    /// The commit is sent and succeeds, but its answer is lost: the change IS stored and the
    /// caller is told the outcome is unknown.
    LostAnswerAfterCommit,
    /// The transaction is aborted and the caller is told the outcome is unknown: the change
    /// is NOT stored.
    LostAnswerWithoutCommit,
}

/// The injected failures, shared by the test and the store.
#[derive(Debug, Clone, Default)]
pub struct MongoFaults {
    state: Arc<Mutex<FaultState>>,
}

#[derive(Debug, Default)]
struct FaultState {
    fail_commits: bool,
    next_document_commit: Option<CommitFault>,
}

impl MongoFaults {
    /// Makes every commit fail (`on`) as on a lost server, or heal.
    pub fn fail_commits(&self, on: bool) {
        self.lock().fail_commits = on;
    }

    /// Injects `fault` into the next commit that writes a document.
    pub fn inject_into_next_document_commit(&self, fault: CommitFault) {
        self.lock().next_document_commit = Some(fault);
    }

    /// Whether commits fail.
    pub(crate) fn commits_fail(&self) -> bool {
        self.lock().fail_commits
    }

    /// Takes the fault for a commit that writes a document, if one was injected.
    pub(crate) fn take_document_fault(&self) -> Option<CommitFault> {
        self.lock().next_document_commit.take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
