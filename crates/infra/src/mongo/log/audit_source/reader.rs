//! The source's reads, on its own thread (`audit_source.rs`): the log up to a fixed head,
//! entries, revisions and documents.
//!
//! **The fixed head.** A server may go on writing while the audit runs, and one snapshot
//! cannot last a whole audit, so the source reads, in one snapshot when it opens, the head
//! and how far the log's documents reach (the largest leaf index, stored-hash position and
//! checkpoint size). Every append moves those and the head in one transaction, so in that
//! snapshot nothing legitimately lies beyond the head: whatever does was put there behind the
//! log's back, and stays in the audit's view to be reported. What is appended later does not:
//! an entry sequenced after the source opened is listed as pending, later hashes and
//! checkpoints are left out. Pages that join two kinds of document (a document and its newest
//! revision, a collection and its entries) are each read from one snapshot
//! (`snapshot.rs`).

use std::collections::{BTreeMap, HashMap};

use audit_app::auditor::{
    CheckpointRow, DocumentKey, DocumentRow, EntryRow, LatestRevision, LinkedEntry, LogStateRow,
    RevisionKey, RevisionRow,
};
use audit_domain::merkle::stored_hash_count;
use mongodb::bson::{Bson, Document as Bson_, doc};
use mongodb::{Client, Database};
use shared_kernel::{Error, Position};

use super::super::super::layout::{
    AUDIT_ENTRIES, CHECKPOINTS, DOCUMENTS, LOG_HASHES, LOG_HEAD, LOG_LEAVES, REVISIONS,
    document_key as layout_document_key, revision_key as revision_id,
};
use super::super::super::rows::{i64_field, optional_i64, to_i64};
use super::super::super::{Isolation, MongoOptions, connect, isolation_of};
use super::super::store::head_from_bson;
use super::positions::{both, entries_after};
use super::rows::{
    bytes_of, data_text, entry_revision_key, entry_row, optional_text, revision_key, text, unsigned,
};
use super::snapshot::{Query, Snapshot, after_id, any_of};

/// How far the audit reads the log (see the module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Bounds {
    /// The head stored when the source opened; `None` when none is stored although the log
    /// holds leaves or hashes (a store never sequenced has the empty head).
    pub(super) head: Option<LogStateRow>,
    /// Entries with a leaf index below this are sequenced for this audit.
    pub(super) leaves: u64,
    /// Stored hashes at positions below this are listed.
    pub(super) hashes: u64,
    /// Checkpoints up to this size are listed.
    pub(super) checkpoints: u64,
}

impl Bounds {
    /// The head's size (0 without a head).
    pub(super) fn head_size(&self) -> u64 {
        self.head.as_ref().map_or(0, |head| head.tree_size)
    }
}

/// The source's client, database and bounds.
pub(super) struct Reader {
    pub(super) client: Client,
    pub(super) database: Database,
    pub(super) bounds: Bounds,
    /// Whether the server answers ranges over documents (`snapshot::after_id`): MongoDB
    /// does; a server that does not isolate transactions is the test stand-in, which does
    /// not.
    pub(super) documents_compare: bool,
}

/// The largest integer `field` of `collection` (by a descending sort), if any.
async fn largest(
    snapshot: &mut Snapshot,
    database: &Database,
    collection: &str,
    field: &str,
) -> Result<Option<u64>, Error> {
    let found = snapshot
        .find_one(
            database,
            collection,
            Query::new(doc! { field: { "$ne": Bson::Null } })
                .sort(doc! { field: -1 })
                .fields(doc! { field: 1 }),
        )
        .await?;
    found
        .map(|stored| optional_i64(&stored, field, field))
        .transpose()
        .map(Option::flatten)
        .map(|largest| largest.map(|value| u64::try_from(value).unwrap_or(0)))
}

impl Reader {
    /// Connects (a client of its own, on the caller's runtime) and fixes the bounds.
    pub(super) async fn open(options: &MongoOptions) -> Result<Self, Error> {
        let client = connect(options).await?;
        let database = client.database(&options.database);
        let documents_compare = isolation_of(&client).await? == Isolation::Server;
        let mut snapshot = Snapshot::begin(&client).await?;
        let head = snapshot
            .find_one(&database, LOG_HEAD, Query::new(doc! { "_id": "head" }))
            .await?;
        let last_leaf = largest(&mut snapshot, &database, AUDIT_ENTRIES, "leaf_index").await?;
        let last_record = largest(&mut snapshot, &database, LOG_LEAVES, "_id").await?;
        let last_hash = largest(&mut snapshot, &database, LOG_HASHES, "_id").await?;
        let last_checkpoint = largest(&mut snapshot, &database, CHECKPOINTS, "_id").await?;
        snapshot.end().await?;
        let head = match (&head, last_leaf, last_record, last_hash) {
            (Some(_), ..) | (None, None, None, None) => {
                let head = head_from_bson(head.as_ref())?;
                Some(LogStateRow {
                    tree_size: head.size,
                    root: head.root.as_bytes().to_vec(),
                })
            }
            (None, ..) => None,
        };
        let size = head.as_ref().map_or(0, |head| head.tree_size);
        let past = |last: Option<u64>| last.map_or(0, |last| last.saturating_add(1));
        let hashes = stored_hash_count(size)
            .ok_or_else(|| Error::invalid_input("the stored log head is too large"))?;
        let bounds = Bounds {
            head,
            leaves: size.max(past(last_leaf)),
            hashes: hashes.max(past(last_hash)),
            checkpoints: size.max(last_checkpoint.unwrap_or(0)),
        };
        Ok(Self {
            client,
            database,
            bounds,
            documents_compare,
        })
    }

    /// A snapshot for one page.
    pub(super) async fn snapshot(&self) -> Result<Snapshot, Error> {
        Snapshot::begin(&self.client).await
    }

    /// Stored checkpoints by size, up to the bound.
    pub(super) async fn checkpoints(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<CheckpointRow>, Error> {
        let mut size = doc! { "$lte": to_i64(self.bounds.checkpoints, "checkpoint size")? };
        if let Some(after) = after {
            size.insert("$gt", to_i64(after, "checkpoint size")?);
        }
        let mut snapshot = self.snapshot().await?;
        let stored = snapshot
            .find(
                &self.database,
                CHECKPOINTS,
                Query::new(doc! { "_id": size })
                    .sort(doc! { "_id": 1 })
                    .limit(limit),
            )
            .await?;
        snapshot.end().await?;
        stored
            .iter()
            .map(|stored| {
                Ok(CheckpointRow {
                    tree_size: unsigned(stored, "_id", "checkpoint size")?,
                    root: bytes_of(stored, "root_hash"),
                    note: text(stored, "note", "checkpoint note")?,
                })
            })
            .collect()
    }

    /// Stored hashes from `from`, below the bound.
    pub(super) async fn log_hashes(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, Error> {
        let mut snapshot = self.snapshot().await?;
        let stored = snapshot
            .find(
                &self.database,
                LOG_HASHES,
                Query::new(doc! { "_id": {
                    "$gte": to_i64(from, "stored hash position")?,
                    "$lt": to_i64(self.bounds.hashes, "stored hash position")?,
                } })
                .sort(doc! { "_id": 1 })
                .limit(limit),
            )
            .await?;
        snapshot.end().await?;
        stored
            .iter()
            .map(|stored| {
                Ok((
                    unsigned(stored, "_id", "stored hash position")?,
                    bytes_of(stored, "hash"),
                ))
            })
            .collect()
    }

    /// Entries sequenced below the bound, by leaf index.
    pub(super) async fn sequenced_entries(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<EntryRow>, Error> {
        let from = after.map_or(0, |after| after.saturating_add(1));
        let filter = doc! { "leaf_index": {
            "$gte": to_i64(from, "leaf index")?,
            "$lt": to_i64(self.bounds.leaves, "leaf index")?,
        } };
        self.entries(filter, doc! { "leaf_index": 1 }, limit).await
    }

    /// Entries without a leaf index below the bound, by `(order, _id)`.
    pub(super) async fn pending_entries(
        &self,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Vec<EntryRow>, Error> {
        let pending = doc! { "$or": [
            { "leaf_index": Bson::Null },
            { "leaf_index": { "$gte": to_i64(self.bounds.leaves, "leaf index")? } },
        ] };
        let filter = both(pending, entries_after(after)?);
        self.entries(filter, doc! { "order": 1, "_id": 1 }, limit)
            .await
    }

    /// A page of entries with the audit ids of the revisions they name.
    async fn entries(
        &self,
        filter: Bson_,
        sort: Bson_,
        limit: usize,
    ) -> Result<Vec<EntryRow>, Error> {
        let mut snapshot = self.snapshot().await?;
        let stored = snapshot
            .find(
                &self.database,
                AUDIT_ENTRIES,
                Query::new(filter).sort(sort).limit(limit),
            )
            .await?;
        let mut keys = Vec::new();
        for entry in &stored {
            if let Some(key) = entry_revision_key(entry)? {
                keys.push(Bson::Document(revision_id(
                    &key.collection_id,
                    &key.document_id,
                    to_i64(key.version, "revision version")?,
                )));
            }
        }
        let revisions = snapshot
            .find(
                &self.database,
                REVISIONS,
                Query::new(any_of("_id", keys)).fields(doc! { "audit_id": 1 }),
            )
            .await?;
        snapshot.end().await?;
        let revisions = revisions
            .iter()
            .map(|stored| {
                Ok((
                    revision_key(stored)?,
                    text(stored, "audit_id", "revision audit id")?,
                ))
            })
            .collect::<Result<BTreeMap<_, _>, Error>>()?;
        stored
            .iter()
            .map(|stored| entry_row(stored, self.bounds.leaves, &revisions))
            .collect()
    }

    /// Revisions by key, each with the entry it names.
    pub(super) async fn revisions(
        &self,
        after: Option<&RevisionKey>,
        limit: usize,
    ) -> Result<Vec<RevisionRow>, Error> {
        let filter = match after {
            None => Bson_::new(),
            Some(key) => after_id(
                &revision_id(
                    &key.collection_id,
                    &key.document_id,
                    to_i64(key.version, "revision version")?,
                ),
                self.documents_compare,
            ),
        };
        let mut snapshot = self.snapshot().await?;
        let stored = snapshot
            .find(
                &self.database,
                REVISIONS,
                Query::new(filter).sort(doc! { "_id": 1 }).limit(limit),
            )
            .await?;
        let ids = stored
            .iter()
            .map(|r| text(r, "audit_id", "revision audit id").map(Bson::String))
            .collect::<Result<Vec<_>, Error>>()?;
        let entries = snapshot
            .find(
                &self.database,
                AUDIT_ENTRIES,
                Query::new(any_of("_id", ids)).fields(doc! { "leaf": 1, "patch": 1 }),
            )
            .await?;
        snapshot.end().await?;
        let entries = entries
            .iter()
            .map(|entry| {
                Ok((
                    text(entry, "_id", "audit entry id")?,
                    LinkedEntry {
                        leaf: bytes_of(entry, "leaf"),
                        patch: optional_text(entry, "patch", "audit patch")?,
                    },
                ))
            })
            .collect::<Result<HashMap<_, _>, Error>>()?;
        stored
            .iter()
            .map(|stored| {
                let audit_id = text(stored, "audit_id", "revision audit id")?;
                Ok(RevisionRow {
                    key: revision_key(stored)?,
                    operation: text(stored, "operation", "revision operation")?,
                    data: data_text(stored),
                    // Every MongoDB revision keeps its data whole (`rows.rs`).
                    data_in_document: false,
                    content_hash: optional_text(stored, "hash", "content hash")?,
                    at_millis: i64_field(stored, "at", "revision time")?,
                    actor: text(stored, "actor", "revision actor")?,
                    entry: entries.get(&audit_id).cloned(),
                    audit_id,
                })
            })
            .collect()
    }

    /// Documents by key, each with its newest revision, from one snapshot.
    pub(super) async fn documents(
        &self,
        after: Option<&DocumentKey>,
        limit: usize,
    ) -> Result<Vec<DocumentRow>, Error> {
        let filter = match after {
            None => Bson_::new(),
            Some(key) => after_id(
                &layout_document_key(&key.collection_id, &key.document_id),
                self.documents_compare,
            ),
        };
        let mut snapshot = self.snapshot().await?;
        let stored = snapshot
            .find(
                &self.database,
                DOCUMENTS,
                Query::new(filter).sort(doc! { "_id": 1 }).limit(limit),
            )
            .await?;
        let keys = stored
            .iter()
            .map(document_key)
            .collect::<Result<Vec<_>, Error>>()?;
        let collections: Vec<Bson> = keys
            .iter()
            .map(|k| Bson::String(k.collection_id.clone()))
            .collect();
        let ids: Vec<Bson> = keys
            .iter()
            .map(|k| Bson::String(k.document_id.clone()))
            .collect();
        // Every revision of these documents (and of namesakes in the page's other
        // collections, left out below), keyed only: the newest of each is then read whole.
        let versions = snapshot
            .find(
                &self.database,
                REVISIONS,
                Query::new(both(any_of("_id.c", collections), any_of("_id.d", ids)))
                    .fields(doc! { "_id": 1, "hash": 1, "audit_id": 1 }),
            )
            .await?;
        snapshot.end().await?;
        let mut latest: BTreeMap<DocumentKey, LatestRevision> = BTreeMap::new();
        for revision in &versions {
            let key = revision_key(revision)?;
            let document = DocumentKey {
                collection_id: key.collection_id,
                document_id: key.document_id,
            };
            if latest
                .get(&document)
                .is_some_and(|known| known.version >= key.version)
            {
                continue;
            }
            latest.insert(
                document,
                LatestRevision {
                    version: key.version,
                    content_hash: optional_text(revision, "hash", "content hash")?,
                    audit_id: text(revision, "audit_id", "revision audit id")?,
                },
            );
        }
        stored
            .iter()
            .zip(keys)
            .map(|(stored, key)| {
                Ok(DocumentRow {
                    version: unsigned(stored, "version", "document version")?,
                    data: data_text(stored),
                    content_hash: optional_text(stored, "hash", "content hash")?,
                    audit_id: text(stored, "audit_id", "document audit id")?,
                    latest: latest.remove(&key),
                    key,
                })
            })
            .collect()
    }
}

/// A document's key from its `_id`.
fn document_key(stored: &Bson_) -> Result<DocumentKey, Error> {
    let key = stored
        .get_document("_id")
        .map_err(|e| super::super::super::error::corrupt("document key", e))?;
    Ok(DocumentKey {
        collection_id: text(key, "c", "document collection id")?,
        document_id: text(key, "d", "document id")?,
    })
}
