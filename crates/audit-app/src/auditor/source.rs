//! What the auditor reads: the stored facts of a store, as the storage wrote them, and the
//! port ([`AuditSource`]) that pages through them in a fixed order.
//!
//! Rows are kept close to their storage form (raw bytes, hex text, JSON text) on purpose: the
//! auditor must see what is on disk, including values a tamperer made malformed, and decide
//! itself what they mean. Pages are keyset pages, so a store of millions of rows is walked
//! in bounded memory; an adapter should serve every page from one read snapshot.

use shared_kernel::{Error, Position};

/// The committed tree head as stored (on a store that keeps being written while it is
/// audited, the head the source fixed when it opened: see [`AuditSource`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStateRow {
    /// Number of leaves the store says its log has.
    pub tree_size: u64,
    /// The root it stored for that size.
    pub root: Vec<u8>,
}

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    /// The size column.
    pub tree_size: u64,
    /// The root column.
    pub root: Vec<u8>,
    /// The signed note.
    pub note: String,
}

/// A stored audit entry, with the audit id of the revision its columns point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    /// Where the row sits in the listing of pending entries: an opaque key the backend makes
    /// (see [`Position`]), handed back to [`AuditSource::pending_entries`] to go on after it.
    /// Not a number to count with: a backend whose transactions commit concurrently has no
    /// gap-free sequence to page by (a backend that has one checks it in its own
    /// [`super::BackendChecks`]).
    pub position: Position,
    /// The `id` column.
    pub id: String,
    /// The `at` column, milliseconds since the epoch.
    pub at_millis: i64,
    /// The `actor` column.
    pub actor: String,
    /// The `operation` column.
    pub operation: String,
    /// The `collection` column (the name at the time).
    pub collection: String,
    /// The `collection_id` column.
    pub collection_id: String,
    /// The `document_id` column.
    pub document_id: Option<String>,
    /// The `version` column.
    pub version: Option<u64>,
    /// The exact leaf bytes.
    pub leaf: Vec<u8>,
    /// The stored leaf hash.
    pub leaf_hash: Vec<u8>,
    /// The stored RFC 6902 patch (JSON text).
    pub patch: Option<String>,
    /// The leaf index, once sequenced.
    pub leaf_index: Option<u64>,
    /// For a document entry: the `audit_id` of the revision with the entry's collection id,
    /// document id and version, or `None` when there is no such revision.
    pub revision_audit_id: Option<String>,
}

/// Which revision: collection id, document id, version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RevisionKey {
    /// The collection's immutable id.
    pub collection_id: String,
    /// The document id.
    pub document_id: String,
    /// The version.
    pub version: u64,
}

/// The audit entry a revision names, as far as the revision checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedEntry {
    /// Its exact leaf bytes.
    pub leaf: Vec<u8>,
    /// Its stored patch.
    pub patch: Option<String>,
}

/// A stored revision and the audit entry whose id it names (if that entry exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionRow {
    /// Where it is.
    pub key: RevisionKey,
    /// The `operation` column (`document.create`, ...).
    pub operation: String,
    /// The stored data (canonical JSON text), `None` for a deletion, or when it is the
    /// document's (`data_in_document`).
    pub data: Option<String>,
    /// The revision is its document's current version and keeps no data of its own: its data
    /// is the document row's, which the document pass checks (the embedded store writes a
    /// create's data once; stores written before it did kept a copy in every revision).
    pub data_in_document: bool,
    /// The stored content hash (hex), `None` for a deletion.
    pub content_hash: Option<String>,
    /// The `at` column, milliseconds since the epoch.
    pub at_millis: i64,
    /// The `actor` column.
    pub actor: String,
    /// The `audit_id` column.
    pub audit_id: String,
    /// The audit entry with that id, if any.
    pub entry: Option<LinkedEntry>,
}

/// Which document: collection id and document id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DocumentKey {
    /// The collection's immutable id.
    pub collection_id: String,
    /// The document id.
    pub document_id: String,
}

/// The newest stored revision of a document, as far as the document check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestRevision {
    /// Its version.
    pub version: u64,
    /// Its stored content hash.
    pub content_hash: Option<String>,
    /// Its audit id.
    pub audit_id: String,
}

/// A stored document (current state) and its newest revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRow {
    /// Where it is.
    pub key: DocumentKey,
    /// The `version` column.
    pub version: u64,
    /// The stored data, `None` for a tombstone.
    pub data: Option<String>,
    /// The stored content hash, `None` for a tombstone.
    pub content_hash: Option<String>,
    /// The `audit_id` column.
    pub audit_id: String,
    /// The revision with the highest version of this document, if any.
    pub latest: Option<LatestRevision>,
}

/// Pages through a store's facts (the tables beside the log through [`super::TableSource`]),
/// and runs the checks only its backend can make ([`super::BackendChecks`]): the auditor's
/// port, which every backend implements. Every paging method returns at most `limit` rows,
/// strictly after the given key, in the order the method names; fewer than `limit` means the
/// end.
///
/// A source whose backend cannot hold one snapshot for a whole audit (a server that keeps
/// being written) fixes the head when it opens and audits the log up to it: the stored head,
/// the sequenced entries, the stored hashes and the checkpoints are those of that tree, and
/// an entry sequenced beyond it is listed as pending.
///
/// # Errors
/// Every method: `UNAVAILABLE` when the store cannot be read, `INTERNAL_ERROR` when a row
/// cannot even be decoded into these types (a column of the wrong type).
pub trait AuditSource:
    super::table_source::TableSource + super::backend_checks::BackendChecks
{
    /// The stored tree head, `None` when the store has none.
    fn log_state(&self) -> Result<Option<LogStateRow>, Error>;

    /// Stored checkpoints by increasing tree size.
    fn checkpoints(
        &self,
        after_size: Option<u64>,
        limit: usize,
    ) -> Result<Vec<CheckpointRow>, Error>;

    /// Sequenced audit entries by increasing leaf index.
    fn sequenced_entries(
        &self,
        after_index: Option<u64>,
        limit: usize,
    ) -> Result<Vec<EntryRow>, Error>;

    /// Audit entries without a leaf index, in an order the backend defines, strictly after
    /// the row at position `after` (from the start when `None`): keyed by each row's opaque
    /// [`EntryRow::position`], never by a commit sequence (the embedded store's positions
    /// happen to be its `seq`).
    ///
    /// # Errors
    /// Also `INVALID_INPUT` when `after` is not a position this backend made.
    fn pending_entries(
        &self,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Vec<EntryRow>, Error>;

    /// Stored tree hashes `(position, hash)` from position `from` on, by increasing position.
    fn log_hashes(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, Error>;

    /// Revisions by increasing (collection id, document id, version).
    fn revisions(
        &self,
        after: Option<&RevisionKey>,
        limit: usize,
    ) -> Result<Vec<RevisionRow>, Error>;

    /// Documents by increasing (collection id, document id).
    fn documents(
        &self,
        after: Option<&DocumentKey>,
        limit: usize,
    ) -> Result<Vec<DocumentRow>, Error>;
}

/// How many rows the auditor asks for at a time.
pub(crate) const PAGE: usize = 1000;

/// Calls `visit` on every row of a keyset-paged listing: `fetch(after)` returns the page after
/// `after`, `key` names a row's position.
pub(crate) fn for_each_row<T, K>(
    mut fetch: impl FnMut(Option<&K>) -> Result<Vec<T>, Error>,
    key: impl Fn(&T) -> K,
    mut visit: impl FnMut(T) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut after: Option<K> = None;
    loop {
        let page = fetch(after.as_ref())?;
        let full = page.len() >= PAGE;
        if let Some(last) = page.last() {
            after = Some(key(last));
        }
        for row in page {
            visit(row)?;
        }
        if !full {
            return Ok(());
        }
    }
}
