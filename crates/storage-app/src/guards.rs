//! What a write transaction relies on ([`Guard`]), how its commit ends ([`CommitError`]), and
//! which attempt of a unit of work it serves ([`Attempt`]): the vocabulary the
//! [`Transaction`](crate::ports::Transaction) port and the
//! [`TransactionManager`](crate::transactions::TransactionManager) share.
//!
//! # Why named guards
//!
//! A write reads committed state (the collection, its schema, the document) and then changes
//! something on the strength of it. Two races follow when the read and the commit are not
//! one atomic step:
//!
//! - `DELETE` of a collection that counted zero live documents while a create into it
//!   commits (the collection is gone, the document lives on in it);
//! - a document validated against the old schema committing after a schema change.
//!
//! The command names what it relies on as a [`Guard`], and the store refuses the commit
//! ([`CommitError::Stale`]) if a guard no longer holds. How a store keeps a guard is its own
//! business, and no store has to serialise every write of a collection to do it:
//!
//! - **A single-writer store** (the embedded SQLite one) checks each guard on its writer, in
//!   the commit's transaction, before the commit's statements: nothing can come between.
//! - **A store without a single writer, even one that reports no write conflicts** (see
//!   `../shared/DEPENDENCIES.md` on the MongoDB stand-in), changes a collection in two
//!   phases. To delete it, it first marks it `deleting` (to change its schema, it stores the
//!   new schema as `pending`); writes refuse a collection that is not `live` and validate
//!   against the schema that is current when they start, so from then on no new write relies
//!   on the old state. It then waits out the store's bounded transaction lifetime, after
//!   which every write that read the old state has committed or aborted; only then does it
//!   count the live documents (or switch the schema) and write the audit entry. A
//!   [`Guard::CollectionLive`] check at commit is then a read of the collection's state and
//!   schema version inside the write's transaction; a [`Guard::DocumentAt`] rests on an
//!   insert whose key encodes the version (collection + document + version), so two writers
//!   of one version collide.

use shared_kernel::{CollectionId, Error};
use storage_domain::{DocumentId, Version};

/// Something a write relies on, enforced at its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// The collection is live (not deleted, not being deleted) and at `version`: the version
    /// moves with every change of its settings, its schema included, so a write validated
    /// against the schema of `version` cannot commit after the schema changed.
    CollectionLive {
        /// The collection.
        collection: CollectionId,
        /// Its version when the write read it.
        version: u64,
    },
    /// The document is at `version`, or (`None`) has never been stored.
    DocumentAt {
        /// The document's collection.
        collection: CollectionId,
        /// The document.
        id: DocumentId,
        /// Its stored version when the write read it, if any.
        version: Option<Version>,
    },
}

/// Which attempt of a unit of work a transaction serves (see
/// [`UnitOfWork::begin`](crate::ports::UnitOfWork::begin)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The first.
    First,
    /// A repeat after an attempt was refused (a guard went stale, a transient failure, or an
    /// outcome that turned out not to have been stored).
    Again,
}

/// How a commit failed; the variant says whether anything may have been stored and whether
/// the work may run again.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// A [`Guard`] no longer held: nothing was stored; the work may run again on fresh reads.
    #[error("what this write relied on changed before it could commit; nothing was stored")]
    Stale,
    /// A transient failure (a busy or failing-over backend): nothing was stored; the work
    /// may run again after a pause.
    #[error("{0}")]
    Retryable(Error),
    /// The commit was sent but its answer was lost (a connection dropped, a timeout): the
    /// change may or may not be stored. Only the store can tell, by the change's audit id.
    #[error("{0}")]
    OutcomeUnknown(Error),
    /// Nothing was stored, and running the work again would not help (a real conflict, a
    /// full disk): the error is the answer.
    #[error("{0}")]
    Failed(Error),
}

impl From<CommitError> for Error {
    /// The error to answer with once the commit is not retried.
    fn from(error: CommitError) -> Self {
        match error {
            CommitError::Stale => Error::conflict(CommitError::Stale.to_string()),
            CommitError::Retryable(error)
            | CommitError::OutcomeUnknown(error)
            | CommitError::Failed(error) => error,
        }
    }
}
