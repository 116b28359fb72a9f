//! What the auditor reports: a [`Finding`] is one discrepancy, of one [`FindingKind`], at one
//! [`Location`], with a sentence saying what disagrees with what.

use std::fmt;

/// The kinds of discrepancy, each with a stable name (the first word of a report line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// A document's current state disagrees with its newest revision.
    EditedDocument,
    /// A revision's data, hash or metadata disagrees with itself, its neighbours or its
    /// audit entry.
    EditedRevision,
    /// An audit entry names a revision that is not stored.
    RemovedRevision,
    /// An audit entry's bytes, hash, columns or patch disagree with each other or with the
    /// leaf the log stored at its index.
    EditedEntry,
    /// The log has a leaf index for which no audit entry is stored, or a revision names an
    /// entry that is not stored.
    RemovedEntry,
    /// Audit entries are stored in another order than the log placed them.
    ReorderedEntry,
    /// The stored tree (subtree hashes or head) disagrees with itself.
    EditedLog,
    /// A stored checkpoint is not signed by the given key, or its columns disagree with its
    /// note.
    ForgedCheckpoint,
    /// A correctly signed stored checkpoint names a tree this store does not hold.
    InconsistentCheckpoint,
    /// An outside checkpoint names a larger tree than the store holds.
    Rollback,
    /// An outside checkpoint names another root than the store's tree at its size.
    Fork,
    /// A stored collection disagrees with the entries that explain it (a name, a version,
    /// a deletion that no entry records, or one that was undone).
    EditedCollection,
    /// Collection entries name a collection that is not stored.
    RemovedCollection,
    /// An outbox event disagrees with the audit entry it names, or names none.
    EditedEvent,
    /// An audit entry has no outbox event.
    RemovedEvent,
    /// An idempotency record is malformed, or its answer disagrees with the audit entry it
    /// names.
    EditedIdempotencyRecord,
}

impl FindingKind {
    /// Every kind, in report order.
    pub const ALL: [FindingKind; 16] = [
        FindingKind::EditedDocument,
        FindingKind::EditedRevision,
        FindingKind::RemovedRevision,
        FindingKind::EditedEntry,
        FindingKind::RemovedEntry,
        FindingKind::ReorderedEntry,
        FindingKind::EditedLog,
        FindingKind::ForgedCheckpoint,
        FindingKind::InconsistentCheckpoint,
        FindingKind::Rollback,
        FindingKind::Fork,
        FindingKind::EditedCollection,
        FindingKind::RemovedCollection,
        FindingKind::EditedEvent,
        FindingKind::RemovedEvent,
        FindingKind::EditedIdempotencyRecord,
    ];

    /// The stable name (`edited-entry`).
    pub const fn as_str(self) -> &'static str {
        match self {
            FindingKind::EditedDocument => "edited-document",
            FindingKind::EditedRevision => "edited-revision",
            FindingKind::RemovedRevision => "removed-revision",
            FindingKind::EditedEntry => "edited-entry",
            FindingKind::RemovedEntry => "removed-entry",
            FindingKind::ReorderedEntry => "reordered-entry",
            FindingKind::EditedLog => "edited-log",
            FindingKind::ForgedCheckpoint => "forged-checkpoint",
            FindingKind::InconsistentCheckpoint => "inconsistent-checkpoint",
            FindingKind::Rollback => "rollback",
            FindingKind::Fork => "fork",
            FindingKind::EditedCollection => "edited-collection",
            FindingKind::RemovedCollection => "removed-collection",
            FindingKind::EditedEvent => "edited-event",
            FindingKind::RemovedEvent => "removed-event",
            FindingKind::EditedIdempotencyRecord => "edited-idempotency-record",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a discrepancy is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A document's current state.
    Document {
        /// The collection's immutable id.
        collection_id: String,
        /// The document id.
        document_id: String,
    },
    /// One revision.
    Revision {
        /// The collection's immutable id.
        collection_id: String,
        /// The document id.
        document_id: String,
        /// The version.
        version: u64,
    },
    /// One stored audit entry (named by its id, which every backend keeps; a commit sequence,
    /// where a backend has one, is in the finding's detail).
    Entry {
        /// Its leaf index, if it has one.
        leaf_index: Option<u64>,
        /// Its `id` column.
        id: String,
    },
    /// Leaf indexes `start..end` of the log.
    Leaves {
        /// First index.
        start: u64,
        /// One past the last index.
        end: u64,
    },
    /// A position in the stored-hash sequence.
    StoredHash {
        /// The position.
        position: u64,
    },
    /// The stored tree head.
    LogState,
    /// The stored checkpoint of this size.
    Checkpoint {
        /// Its tree size column.
        tree_size: u64,
    },
    /// A stored collection.
    Collection {
        /// Its immutable id.
        id: String,
        /// Its stored name.
        name: String,
    },
    /// Commit sequences `start..end`.
    CommitSequence {
        /// First sequence.
        start: u64,
        /// One past the last.
        end: u64,
    },
    /// One outbox event.
    Event {
        /// Its id.
        id: String,
    },
    /// One idempotency record.
    IdempotencyRecord {
        /// The actor of its scope.
        actor: String,
        /// The method.
        method: String,
        /// The path.
        path: String,
        /// The client's key.
        key: String,
    },
    /// A checkpoint given from outside the store.
    Anchor {
        /// Where it came from (a file name).
        label: String,
        /// The tree size it signs.
        tree_size: u64,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Document {
                collection_id,
                document_id,
            } => write!(f, "document {collection_id}/{document_id}"),
            Location::Revision {
                collection_id,
                document_id,
                version,
            } => write!(f, "revision {collection_id}/{document_id}@{version}"),
            Location::Entry { leaf_index, id } => {
                f.write_str("audit entry")?;
                if let Some(index) = leaf_index {
                    write!(f, " leaf_index={index}")?;
                }
                write!(f, " id={id}")
            }
            Location::Leaves { start, end } => write!(f, "leaf indexes {start}..{end}"),
            Location::StoredHash { position } => write!(f, "stored tree hash #{position}"),
            Location::LogState => f.write_str("log head"),
            Location::Checkpoint { tree_size } => write!(f, "stored checkpoint size={tree_size}"),
            Location::Collection { id, name } => write!(f, "collection {id} `{name}`"),
            Location::CommitSequence { start, end } => {
                write!(f, "commit sequence {start}..{end}")
            }
            Location::Event { id } => write!(f, "outbox event id={id}"),
            Location::IdempotencyRecord {
                actor,
                method,
                path,
                key,
            } => write!(f, "idempotency record {actor} {method} {path} key={key:?}"),
            Location::Anchor { label, tree_size } => {
                write!(f, "outside checkpoint {label} size={tree_size}")
            }
        }
    }
}

/// One discrepancy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What kind.
    pub kind: FindingKind,
    /// Where.
    pub location: Location,
    /// What disagrees with what.
    pub detail: String,
}

impl Finding {
    /// A finding.
    pub fn new(kind: FindingKind, location: Location, detail: impl Into<String>) -> Self {
        Self {
            kind,
            location,
            detail: detail.into(),
        }
    }
}

/// One report line: `<kind> at <location>: <detail>`.
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}: {}", self.kind, self.location, self.detail)
    }
}
