//! The `TransactionManager` (seed, section 4.1): runs a unit of work in a transaction,
//! commits it, and runs it again when the store refused it for a reason that a repeat can
//! cure, without ever storing a change twice or acknowledging one that was not stored.
//!
//! A unit of work is a closure that gets a fresh transaction, reads, decides and writes
//! through it, and hands it back in a [`Prepared`] with its answer; the manager commits.
//! The commit's [`CommitError`] decides what follows:
//!
//! - `Stale` (a guard no longer held) and `Retryable` (a transient failure): nothing was
//!   stored, so the work runs again on fresh reads, under `Retries`: at most
//!   [`RetryPolicy::max_attempts`], jittered exponential pauses within
//!   [`RetryPolicy::budget`], never past the request's deadline;
//! - `OutcomeUnknown`: the change may be stored. Every attempt of one command stores its
//!   change under the same audit id (the command picks it once), so the manager asks the
//!   store whether that audit entry exists ([`StorageReader::audit_entry_stored`]): if so,
//!   the change landed and the attempt's answer is the answer (it is what was stored); if
//!   not, it runs the work again. If the store cannot tell, the client is told so
//!   (`UNAVAILABLE`), never that it worked;
//! - `Failed`: the error is the answer.
//!
//! An error from the work itself (`NOT_FOUND`, a schema violation, a precondition) is the
//! answer: it was decided on committed state and nothing was stored.

mod retry;

use std::sync::Arc;

use shared_kernel::{AuditId, Deadline, Error};

#[cfg(any(test, feature = "mocks"))]
pub use retry::MockPause;
pub use retry::{Pause, RetryPolicy};
use retry::{Refusal, Retries};

use crate::guards::{Attempt, CommitError};
use crate::ports::{StorageReader, Transaction, UnitOfWork};

/// What a unit of work hands back: its transaction, for the manager to commit, and the
/// answer to give once the commit stored it.
pub struct Prepared<T> {
    tx: Box<dyn Transaction>,
    value: T,
}

impl<T> Prepared<T> {
    /// `value`, to be answered once `tx` has committed.
    pub fn new(tx: Box<dyn Transaction>, value: T) -> Self {
        Self { tx, value }
    }
}

/// Runs units of work in transactions, with retries (see the module documentation).
#[derive(Clone)]
pub struct TransactionManager {
    unit_of_work: Arc<dyn UnitOfWork>,
    outcomes: Arc<dyn StorageReader>,
    pause: Arc<dyn Pause>,
    policy: RetryPolicy,
}

impl TransactionManager {
    /// A manager that opens transactions on `unit_of_work`, settles unknown outcomes through
    /// `outcomes`, and waits between attempts with `pause`.
    pub fn new(
        unit_of_work: Arc<dyn UnitOfWork>,
        outcomes: Arc<dyn StorageReader>,
        pause: Arc<dyn Pause>,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            unit_of_work,
            outcomes,
            pause,
            policy,
        }
    }

    /// Runs `work` and commits what it prepared, retrying per the module documentation.
    /// `change` is the audit id every attempt stores its change under (the one a command
    /// picked); `deadline` is the request's.
    ///
    /// # Errors
    /// What `work` returns; the last refusal once the attempts, the budget or the deadline
    /// are spent (a `Stale` one as `CONFLICT`); `UNAVAILABLE` when a commit's outcome is
    /// unknown and the store cannot say whether it was stored; a failed commit's error.
    pub async fn run<T, F, Fut>(
        &self,
        change: AuditId,
        deadline: Option<Deadline>,
        mut work: F,
    ) -> Result<T, Error>
    where
        F: FnMut(Box<dyn Transaction>) -> Fut,
        Fut: Future<Output = Result<Prepared<T>, Error>>,
    {
        let mut retries = Retries::new(self.policy, deadline);
        let mut attempt = Attempt::First;
        loop {
            let tx = self.unit_of_work.begin(attempt).await?;
            let Prepared { tx, value } = work(tx).await?;
            let (refusal, error) = match tx.commit().await {
                Ok(()) => return Ok(value),
                Err(CommitError::Failed(error)) => return Err(error),
                Err(CommitError::Stale) => (Refusal::Stale, Error::from(CommitError::Stale)),
                Err(CommitError::Retryable(error)) => (Refusal::Transient, error),
                Err(CommitError::OutcomeUnknown(error)) => {
                    match self.outcomes.audit_entry_stored(change).await {
                        Ok(true) => {
                            tracing::info!(%change, "a commit whose answer was lost had stored its change");
                            return Ok(value);
                        }
                        Ok(false) => (Refusal::Transient, error),
                        Err(lookup) => return Err(outcome_unknown(&error, lookup)),
                    }
                }
            };
            let Some(delay) = retries.next(refusal) else {
                return Err(error);
            };
            tracing::debug!(?refusal, ?delay, %error, "running a refused unit of work again");
            if !delay.is_zero() {
                self.pause.pause(delay).await;
            }
            attempt = Attempt::Again;
        }
    }
}

/// The answer when nobody can tell whether a commit stored its change.
fn outcome_unknown(commit: &Error, lookup: Error) -> Error {
    Error::unavailable(
        format!(
            "the store did not answer the commit ({}) and could not say whether it was stored; \
             the change may or may not have been stored",
            commit.detail()
        ),
        lookup,
    )
}

#[cfg(test)]
mod tests;
