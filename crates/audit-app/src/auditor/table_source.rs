//! What the auditor reads of the tables beside the log: collections, the outbox and
//! idempotency records, each to be explained by the audit entries
//! ([`super::tables`] checks them). Rows stay close to their storage form, as in
//! [`super::source`]. Listings without a natural key page by opaque [`Position`]s each
//! backend makes, never by a commit sequence: a backend whose transactions commit
//! concurrently has none.

use shared_kernel::{Error, Position};

/// A collection-level audit entry (`collection.create`, `.schema_change`, `.delete`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionEntryRow {
    /// Where it sits in [`TableSource::orphan_collection_entries`]: opaque, made by the
    /// backend.
    pub position: Position,
    /// Its `id` column.
    pub id: String,
    /// Its `collection_id` column.
    pub collection_id: String,
    /// Its `operation` column.
    pub operation: String,
    /// Its `collection` column (the name at the time).
    pub collection: String,
    /// Its `at` column, milliseconds since the epoch.
    pub at_millis: i64,
}

/// A stored collection and the collection entries that name its id, in the order the backend
/// committed them (the first must be its `collection.create`, none may follow its
/// `collection.delete`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionRow {
    /// The immutable id.
    pub id: String,
    /// The name.
    pub name: String,
    /// The settings version (1 at creation, +1 per schema change).
    pub version: u64,
    /// The `created_at` column.
    pub created_at: i64,
    /// The `deleted_at` column.
    pub deleted_at: Option<i64>,
    /// Its collection entries.
    pub entries: Vec<CollectionEntryRow>,
}

/// A stored outbox event and the leaf of the audit entry it names, if that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Where it sits in [`TableSource::outbox`]: opaque, made by the backend.
    pub position: Position,
    /// Its `id` column.
    pub id: String,
    /// Its `event_type` column.
    pub event_type: String,
    /// Its `audit_id` column.
    pub audit_id: String,
    /// Its `occurred_at` column.
    pub occurred_at: i64,
    /// Its payload (JSON text).
    pub payload: String,
    /// The leaf bytes of the audit entry with id `audit_id`, if stored.
    pub entry_leaf: Option<Vec<u8>>,
}

/// Which idempotency record: its scope and key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IdempotencyRecordKey {
    /// The actor of the scope.
    pub actor: String,
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The client's key.
    pub key: String,
}

/// A stored idempotency record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRow {
    /// Which record.
    pub key: IdempotencyRecordKey,
    /// The `request_hash` column (hex SHA-256).
    pub request_hash: String,
    /// The recorded HTTP status of an answer kept as rendered (stores written before the
    /// neutral outcome), 0 for a record that keeps none (its outcome, or only its request).
    pub status: i64,
    /// The recorded body: the rendered answer, or the outcome's JSON (a document's with the
    /// answer's fields at the top level either way).
    pub body: Vec<u8>,
}

/// Pages through the tables beside the log; the same contract as
/// [`super::AuditSource`]: at most `limit` rows strictly after the key, in the order named.
/// A listing keyed by [`Position`] is in an order the backend defines, and goes on strictly
/// after the row whose position it is handed (from the start when `None`).
///
/// # Errors
/// Every method: `UNAVAILABLE` when the store cannot be read, `INTERNAL_ERROR` when a row
/// cannot be decoded into these types; a method keyed by [`Position`] also `INVALID_INPUT`
/// when handed a position this backend did not make.
pub trait TableSource {
    /// Collections by increasing id, each with its collection entries.
    fn collections(&self, after: Option<&str>, limit: usize) -> Result<Vec<CollectionRow>, Error>;

    /// Collection entries whose collection id has no stored collection.
    fn orphan_collection_entries(
        &self,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Vec<CollectionEntryRow>, Error>;

    /// Outbox events.
    fn outbox(&self, after: Option<&Position>, limit: usize) -> Result<Vec<OutboxRow>, Error>;

    /// `(position, id)` of audit entries no outbox event names (`log.succession` entries,
    /// which have none, left out).
    fn entries_without_event(
        &self,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Vec<(Position, String)>, Error>;

    /// Idempotency records by increasing key.
    fn idempotency_records(
        &self,
        after: Option<&IdempotencyRecordKey>,
        limit: usize,
    ) -> Result<Vec<IdempotencyRow>, Error>;

    /// The leaf bytes of the audit entry with this id, if stored.
    fn entry_leaf(&self, id: &str) -> Result<Option<Vec<u8>>, Error>;
}
