//! The ports this layer needs from the outside world, named by role.

use async_trait::async_trait;
use audit_domain::succession::SUCCESSION_OPERATION;
use audit_domain::{AuditLogger, AuditOperation, LoggedAuditEntry};
use shared_kernel::{Actor, AuditId, CollectionId, Deadline, Error, Position, Timestamp};
use storage_domain::query::DocumentQuery;
use storage_domain::repository::{CollectionRepository, DocumentRepository};
use storage_domain::{
    Collection, CollectionName, CollectionSchema, Document, DocumentData, DocumentId, Revision,
    Version,
};

use crate::events::OutboxEvent;
use crate::idempotency::{IdempotencyRecord, IdempotencyScope, IdempotencyStore};

pub use crate::guards::{Attempt, CommitError, Guard};

/// Opens transactions.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UnitOfWork: Send + Sync {
    /// Begins a write transaction. Everything done through the returned handle commits or
    /// rolls back together; dropping it without [`Transaction::commit`] rolls back.
    ///
    /// Reads inside the transaction may see committed state that changes before the commit:
    /// what a write relies on it states as a [`Guard`] ([`Transaction::require`]), which the
    /// commit enforces. `attempt` says whether an earlier attempt of the same work was
    /// refused; a store may use it to make the repeat more likely to succeed (the embedded
    /// store takes its one writer at `begin` then, so the repeat cannot go stale). It
    /// promises the caller nothing.
    ///
    /// # Errors
    /// `UNAVAILABLE` when storage cannot start a transaction.
    async fn begin(&self, attempt: Attempt) -> Result<Box<dyn Transaction>, Error>;
}

/// One open write transaction and the ports bound to it.
#[async_trait]
pub trait Transaction: Send {
    /// Collections, inside this transaction.
    fn collections(&mut self) -> &mut dyn CollectionRepository;
    /// Documents and revisions, inside this transaction.
    fn documents(&mut self) -> &mut dyn DocumentRepository;
    /// The audit log, inside this transaction.
    fn audit(&mut self) -> &mut dyn AuditLogger;
    /// The event outbox, inside this transaction.
    fn outbox(&mut self) -> &mut dyn EventOutbox;
    /// Idempotency keys, inside this transaction.
    fn idempotency(&mut self) -> &mut dyn IdempotencyStore;

    /// Requires `guard` to hold when this transaction commits: if it does not, the commit
    /// stores nothing and answers [`CommitError::Stale`]. Ask for a guard right after the
    /// read it protects and before the changes that rely on it (see [`Guard`] for what each
    /// one means and how a backend without a single writer keeps it).
    fn require(&mut self, guard: Guard);

    /// Makes every change durable (per the store's durability setting) or none of them.
    ///
    /// # Errors
    /// A [`CommitError`] saying whether anything may have been stored and whether the work
    /// may run again.
    async fn commit(self: Box<Self>) -> Result<(), CommitError>;
}

/// Appends events to the transactional outbox, published after commit by a relay.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventOutbox: Send {
    /// Appends events inside the current transaction.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails; the transaction must roll back.
    async fn append(&mut self, events: Vec<OutboxEvent>) -> Result<(), Error>;
}

/// Checks JSON Schemas and validates data against them.
///
/// Async because validating can be costly (a large schema or document, or a stored pattern
/// that needs a backtracking engine): an adapter may run the work on threads of its own so
/// that the caller's thread keeps serving other requests meanwhile.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SchemaValidator: Send + Sync {
    /// Checks that `schema` may be set on a collection: a valid JSON Schema of a supported
    /// draft, within the adapter's limits (size, compiled cost, what its patterns may use).
    ///
    /// # Errors
    /// MUST return `INVALID_INPUT` (with `/schema...` field paths) when it is not.
    async fn check_schema(&self, schema: &CollectionSchema) -> Result<(), Error>;

    /// Validates `data` against `collection`'s current schema (a no-op without one).
    ///
    /// # Errors
    /// MUST return `SCHEMA_VIOLATION` listing every failing instance path (JSON pointers
    /// into the data) when the data does not conform, or when the schema cannot decide
    /// within the adapter's bounds (the path where it gave up).
    async fn validate(&self, collection: &Collection, data: &DocumentData) -> Result<(), Error>;

    /// Forgets whatever the adapter keeps for `collection` (compiled schemas): called once
    /// its schema was replaced or it was deleted, so memory held for old versions is freed.
    fn forget(&self, collection: CollectionId);
}

/// Reads committed state outside any write transaction.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait StorageReader: Send + Sync {
    /// The live collection with this name.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn collection(&self, name: &CollectionName) -> Result<Option<Collection>, Error>;

    /// Live collections ordered by name, starting after `after`, at most `limit` of them.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn collections(
        &self,
        after: Option<CollectionName>,
        limit: u32,
    ) -> Result<Vec<Collection>, Error>;

    /// The document (live or tombstone) with this id.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn document(
        &self,
        collection: CollectionId,
        id: DocumentId,
    ) -> Result<Option<Document>, Error>;

    /// The document as it was at `version` (a tombstone if that version was a delete), with
    /// `created_at` the start of the life that version belongs to.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn document_at(
        &self,
        collection: CollectionId,
        id: DocumentId,
        version: Version,
    ) -> Result<Option<Document>, Error>;

    /// The document's revisions after version `after`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn revisions(
        &self,
        collection: CollectionId,
        id: DocumentId,
        after: Option<Version>,
        limit: u32,
    ) -> Result<Vec<Revision>, Error>;

    /// The recorded idempotency key of `scope`, expired or not (the caller decides).
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn idempotency_record(
        &self,
        scope: IdempotencyScope,
    ) -> Result<Option<IdempotencyRecord>, Error>;

    /// The document's audit entries in the order its changes were made, after `after` (the
    /// [`LoggedAuditEntry::position`] of the previous page's last entry, opaque: the store made
    /// it), at most `limit`.
    ///
    /// # Errors
    /// `INVALID_INPUT` at `/cursor` when `after` is not a position this store made;
    /// `INTERNAL_ERROR` when a stored entry is not canonical (a damaged store); `UNAVAILABLE`
    /// when storage fails.
    async fn document_audit_trail(
        &self,
        collection: CollectionId,
        id: DocumentId,
        after: Option<Position>,
        limit: u32,
    ) -> Result<Vec<LoggedAuditEntry>, Error>;

    /// The live documents of `collection` that satisfy `query.filter`, in `query.sort` order,
    /// strictly after `query.after` when given, at most `query.limit` of them.
    ///
    /// A query's cost is the client's choice, so an adapter should not let queries take every
    /// resource point reads need, and should stop the work once `deadline` has passed (or the
    /// returned future is dropped) rather than finish a page nobody waits for.
    ///
    /// # Errors
    /// MUST return exactly the documents `Filter::is_satisfied_by` accepts (an adapter that
    /// cannot express a construct natively filters the rest in memory); `UNAVAILABLE` when
    /// the work was stopped at `deadline` or storage fails; `INTERNAL_ERROR` when it breaks.
    async fn query_documents(
        &self,
        collection: CollectionId,
        query: DocumentQuery,
        deadline: Option<Deadline>,
    ) -> Result<Vec<Document>, Error>;

    /// Audit entries across the store matching `filter`, in log order (API.md "Lists"):
    /// sequenced entries by leaf index, then entries not yet sequenced in an order the store
    /// defines; after `after` (the [`LoggedAuditEntry::position`] of the previous page's last
    /// entry, opaque: the store made it), at most `limit`.
    ///
    /// A walk page by page MUST never skip an entry that was committed before the walk
    /// began, even one the sequencer moves from the pending part into the log while the walk
    /// runs (a position therefore remembers both where the walk is in the log and where in
    /// the pending part); such an entry may be listed twice, once pending and once with its
    /// leaf index. A successor log's `log.succession` entry is one of them; it has no
    /// collection or document, so a filter on either leaves it out. A filter may scan the
    /// whole log, so `deadline` is honoured as for [`StorageReader::query_documents`].
    ///
    /// # Errors
    /// `INVALID_INPUT` at `/cursor` when `after` is not a position this store made;
    /// `INTERNAL_ERROR` when a stored entry is damaged; `UNAVAILABLE` when the work was
    /// stopped at `deadline` or storage fails.
    async fn audit_entries(
        &self,
        filter: AuditQuery,
        after: Option<Position>,
        limit: u32,
        deadline: Option<Deadline>,
    ) -> Result<Vec<LoggedAuditEntry>, Error>;
    /// Whether the audit entry `audit_id` is stored: how the [`TransactionManager`] learns
    /// the fate of a commit whose outcome was unknown (every change stores exactly one entry
    /// under the audit id its command chose, kept across attempts). A store answers only
    /// once that commit can no longer land (for instance after its bounded transaction
    /// lifetime), so a `false` is final.
    ///
    /// [`TransactionManager`]: crate::transactions::TransactionManager
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn audit_entry_stored(&self, audit_id: AuditId) -> Result<bool, Error>;
}

/// Which audit entries, parsed and checked (every field optional; all given ones must hold).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    /// The collection's name at the time of the change.
    pub collection: Option<CollectionName>,
    /// The document.
    pub document_id: Option<DocumentId>,
    /// Who made the change.
    pub actor: Option<Actor>,
    /// Which operation.
    pub operation: Option<ListedOperation>,
    /// At or after this time.
    pub since: Option<Timestamp>,
    /// Strictly before this time.
    pub until: Option<Timestamp>,
}

/// An operation a listing can be filtered by: a data operation, or `log.succession`, the
/// operator entry a successor log starts with (API.md "Audit entries").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListedOperation {
    /// A change to a collection or a document.
    Data(AuditOperation),
    /// `log.succession`.
    Succession,
}

impl ListedOperation {
    /// Its name, as stored and as in the entry.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Data(operation) => operation.as_str(),
            Self::Succession => SUCCESSION_OPERATION,
        }
    }

    /// Parses an operation name.
    ///
    /// # Errors
    /// `INVALID_INPUT` for a name that is no operation an entry can have.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text == SUCCESSION_OPERATION {
            return Ok(Self::Succession);
        }
        AuditOperation::parse(text).map(Self::Data)
    }
}
