//! The ports bound to a write transaction: collections, documents, the audit log and the
//! outbox, each implemented by [`SqliteTransaction`] itself.
//!
//! Every method copies what it needs into owned values and runs its statements through
//! [`SqliteTransaction::run`], on a blocking thread. The `# Errors` contracts of the ports are
//! enforced here: optimistic concurrency on documents is a conditional `UPDATE ... WHERE
//! version = N-1` (never a reliance on locking), and uniqueness is left to the indexes, whose
//! violations become `CONFLICT`.

use async_trait::async_trait;
use audit_domain::{AuditLogger, AuditRecord, AuditSubject};
use rusqlite::params;
use shared_kernel::{CollectionId, Error, canonical_json};
use storage_app::{EventOutbox, OutboxEvent};
use storage_domain::repository::{CollectionRepository, DocumentRepository};
use storage_domain::{Collection, CollectionName, Document, DocumentId, Revision};

use super::transaction::SqliteTransaction;
use crate::embedded::error::{conflict_or_storage_error, storage_error};
use crate::embedded::read::document_cache::DocumentKey;
use crate::embedded::rows::{self, CollectionRow, DocumentRow, from_sql_integer, to_sql_integer};

#[async_trait]
impl CollectionRepository for SqliteTransaction {
    #[tracing::instrument(level = "debug", name = "embedded.collections.find_by_name", skip_all)]
    async fn find_by_name(&mut self, name: &CollectionName) -> Result<Option<Collection>, Error> {
        if self.is_optimistic() {
            return self.read_collection_optimistically(name).await;
        }
        // This transaction holds the writer: an entry that is current cannot change under it.
        let stamp = match self.cached_collections() {
            Some((cache, stamp)) => match cache.get(name.as_str(), stamp) {
                Some(collection) => return Ok(Some(collection)),
                None => Some(stamp),
            },
            None => None,
        };
        let key = name.as_str().to_owned();
        let found = self
            .run(move |connection| rows::select_live_collection(connection, &key))
            .await?;
        if let (Some(stamp), Some(collection), Some((cache, _))) =
            (stamp, &found, self.cached_collections())
        {
            cache.put(name.as_str(), stamp, collection);
        }
        Ok(found)
    }

    #[tracing::instrument(level = "debug", name = "embedded.collections.insert", skip_all)]
    async fn insert(&mut self, collection: &Collection) -> Result<(), Error> {
        let row = CollectionRow::from_domain(collection)?;
        self.changing_collections();
        self.run(move |connection| {
            connection
                .prepare_cached(
                    "INSERT INTO collections \
                     (id, name, schema, version, created_at, updated_at, deleted_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .and_then(|mut statement| {
                    statement.execute(params![
                        row.id,
                        row.name,
                        row.schema,
                        row.version,
                        row.created_at,
                        row.updated_at,
                        row.deleted_at
                    ])
                })
                .map(drop)
                .map_err(|e| {
                    conflict_or_storage_error("inserting a collection", e, || {
                        Error::conflict(format!("collection `{}` already exists", row.name))
                    })
                })
        })
        .await
    }

    #[tracing::instrument(level = "debug", name = "embedded.collections.update", skip_all)]
    async fn update(&mut self, collection: &Collection) -> Result<(), Error> {
        let row = CollectionRow::from_domain(collection)?;
        self.changing_collections();
        self.run(move |connection| {
            // The name is immutable; only the settings and the deletion move.
            let changed = connection
                .prepare_cached(
                    "UPDATE collections SET schema = ?2, version = ?3, updated_at = ?4, \
                     deleted_at = ?5 WHERE id = ?1",
                )
                .and_then(|mut statement| {
                    statement.execute(params![
                        row.id,
                        row.schema,
                        row.version,
                        row.updated_at,
                        row.deleted_at
                    ])
                })
                .map_err(|e| {
                    conflict_or_storage_error("updating a collection", e, || {
                        Error::conflict(format!("collection `{}` already exists", row.name))
                    })
                })?;
            if changed == 0 {
                return Err(Error::not_found(format!(
                    "collection `{}` not found",
                    row.name
                )));
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(
        level = "debug",
        name = "embedded.collections.count_live_documents",
        skip_all
    )]
    async fn count_live_documents(&mut self, id: CollectionId) -> Result<u64, Error> {
        let id = id.to_string();
        self.run(move |connection| {
            let count: i64 = connection
                .prepare_cached(
                    "SELECT COUNT(*) FROM documents WHERE collection_id = ?1 AND data IS NOT NULL",
                )
                .and_then(|mut statement| statement.query_row(params![id], |row| row.get(0)))
                .map_err(|e| storage_error("counting documents", e))?;
            from_sql_integer(count, "document count")
        })
        .await
    }
}

#[async_trait]
impl DocumentRepository for SqliteTransaction {
    #[tracing::instrument(level = "debug", name = "embedded.documents.find", skip_all)]
    async fn find(
        &mut self,
        collection: CollectionId,
        id: &DocumentId,
    ) -> Result<Option<Document>, Error> {
        if self.is_optimistic() {
            return self.read_document_optimistically(collection, id).await;
        }
        let (collection, id) = (collection.to_string(), id.as_str().to_owned());
        self.run(move |connection| rows::select_document(connection, &collection, &id))
            .await
    }

    #[tracing::instrument(level = "debug", name = "embedded.documents.save", skip_all)]
    async fn save(&mut self, document: &Document, revision: &Revision) -> Result<(), Error> {
        let row = DocumentRow::from_domain(document)?;
        let revision = RevisionRow::from_domain(revision, &row)?;
        let (cache, key) = (
            self.document_cache(),
            DocumentKey::new(document.collection_id(), document.id().clone()),
        );
        self.defer(move |connection| {
            cache.writing(&key);
            save_document(connection, &row)?;
            insert_revision(connection, &revision)
        });
        Ok(())
    }
}

/// Inserts version 1, or moves the stored version N-1 to N; anything else is a lost race.
fn save_document(connection: &rusqlite::Connection, row: &DocumentRow) -> Result<(), Error> {
    let conflict = || {
        Error::conflict(format!(
            "document `{}` was changed concurrently (expected to store version {})",
            row.id, row.version
        ))
    };
    if row.version == 1 {
        return connection
            .prepare_cached(
                "INSERT INTO documents (collection_id, id, version, data, content_hash, \
                 created_at, updated_at, audit_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    row.collection_id,
                    row.id,
                    row.version,
                    row.data,
                    row.content_hash,
                    row.created_at,
                    row.updated_at,
                    row.audit_id
                ])
            })
            .map(drop)
            .map_err(|e| conflict_or_storage_error("inserting a document", e, conflict));
    }
    keep_superseded_revision_data(connection, row)?;
    let changed = connection
        .prepare_cached(
            "UPDATE documents SET version = ?3, data = ?4, content_hash = ?5, created_at = ?6, \
             updated_at = ?7, audit_id = ?8 \
             WHERE collection_id = ?1 AND id = ?2 AND version = ?3 - 1",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                row.collection_id,
                row.id,
                row.version,
                row.data,
                row.content_hash,
                row.created_at,
                row.updated_at,
                row.audit_id
            ])
        })
        .map_err(|e| storage_error("updating a document", e))?;
    if changed == 0 {
        return Err(conflict());
    }
    Ok(())
}

/// Before version N of a document is stored, gives revision N−1 its own copy of the data it
/// shared with the document row (see [`RevisionRow`]). Changes nothing unless the document
/// is still at N−1, so a lost race writes no row before the update that detects it.
fn keep_superseded_revision_data(
    connection: &rusqlite::Connection,
    row: &DocumentRow,
) -> Result<(), Error> {
    connection
        .prepare_cached(
            "UPDATE revisions SET data = \
               (SELECT d.data FROM documents d WHERE d.collection_id = ?1 AND d.id = ?2 \
                  AND d.version = ?3 - 1) \
             WHERE collection_id = ?1 AND document_id = ?2 AND version = ?3 - 1 \
               AND data IS NULL AND content_hash IS NOT NULL \
               AND EXISTS (SELECT 1 FROM documents d WHERE d.collection_id = ?1 AND d.id = ?2 \
                  AND d.version = ?3 - 1 AND d.data IS NOT NULL)",
        )
        .and_then(|mut statement| {
            statement.execute(params![row.collection_id, row.id, row.version])
        })
        .map(drop)
        .map_err(|e| storage_error("keeping a superseded revision's data", e))
}

/// A revision as plain values for the writer thread.
///
/// The current revision of a live document keeps no data of its own (`NULL`): its data is
/// the document row's, and storing it twice was a fifth of the bytes every create wrote.
/// When the next version is stored, [`keep_superseded_revision_data`] copies it into the
/// revision first. Readers take a revision's data as `COALESCE(revision's, the document's
/// when the document is at that version)` (see `read/history.rs`); a deletion's revision, which
/// has no content hash, has no data either way.
struct RevisionRow {
    collection_id: String,
    document_id: String,
    version: i64,
    operation: &'static str,
    /// The canonical data, unless it is the document row's (`same_data`) or a tombstone.
    data: Option<String>,
    /// The data is the document row's: stored as `NULL` (see above).
    same_data: bool,
    content_hash: Option<String>,
    at: i64,
    actor: String,
    audit_id: String,
}

impl RevisionRow {
    fn from_domain(revision: &Revision, document: &DocumentRow) -> Result<Self, Error> {
        let content_hash = revision.data.as_ref().map(|d| d.content_hash().to_hex());
        let same_data = revision.data.is_some() && content_hash == document.content_hash;
        Ok(Self {
            collection_id: revision.collection_id.to_string(),
            document_id: revision.document_id.as_str().to_owned(),
            version: to_sql_integer(revision.version.get(), "revision version")?,
            operation: revision.operation.as_str(),
            data: if same_data {
                None
            } else {
                revision.data.as_ref().map(|d| d.canonical().to_owned())
            },
            same_data,
            content_hash,
            at: revision.at.as_millis(),
            actor: revision.actor.to_string(),
            audit_id: revision.audit_id.to_string(),
        })
    }
}

/// Stores one revision; a second revision with the same version is a lost race.
fn insert_revision(connection: &rusqlite::Connection, revision: &RevisionRow) -> Result<(), Error> {
    let data = if revision.same_data {
        None
    } else {
        revision.data.as_deref()
    };
    connection
        .prepare_cached(
            "INSERT INTO revisions (collection_id, document_id, version, operation, data, \
             content_hash, at, actor, audit_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                revision.collection_id,
                revision.document_id,
                revision.version,
                revision.operation,
                data,
                revision.content_hash,
                revision.at,
                revision.actor,
                revision.audit_id
            ])
        })
        .map(drop)
        .map_err(|e| {
            conflict_or_storage_error("inserting a revision", e, || {
                Error::conflict(format!(
                    "revision {} of document `{}` already exists",
                    revision.version, revision.document_id
                ))
            })
        })
}

#[async_trait]
impl AuditLogger for SqliteTransaction {
    #[tracing::instrument(level = "debug", name = "embedded.audit.append", skip_all)]
    async fn append(&mut self, record: AuditRecord) -> Result<(), Error> {
        // The canonical forms and the hash are computed here, by the request, so that the
        // writer thread (which every write waits for) only binds them; the insert itself is
        // deferred to the next hand-off (see `transaction.rs`).
        let leaf = record.entry.leaf_bytes();
        let leaf_hash = audit_domain::merkle::leaf_hash(&leaf).into_bytes();
        let patch = record.patch.as_ref().map(canonical_json);
        self.defer(move |connection| {
            let entry = &record.entry;
            let (document_id, version) = match &entry.subject {
                AuditSubject::Collection => (None, None),
                AuditSubject::Document {
                    document_id,
                    version,
                    ..
                } => (
                    Some(document_id.as_str()),
                    Some(to_sql_integer(*version, "audit entry version")?),
                ),
            };
            connection
                .prepare_cached(
                    "INSERT INTO audit_entries (id, at, actor, operation, collection, \
                     collection_id, document_id, version, leaf, leaf_hash, patch) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .and_then(|mut statement| {
                    statement.execute(params![
                        entry.id.to_string(),
                        entry.at.as_millis(),
                        entry.actor.to_string(),
                        entry.operation.as_str(),
                        entry.collection,
                        entry.collection_id.to_string(),
                        document_id,
                        version,
                        leaf,
                        leaf_hash.as_slice(),
                        patch
                    ])
                })
                .map(drop)
                .map_err(|e| {
                    conflict_or_storage_error("appending an audit entry", e, || {
                        Error::conflict(format!("audit entry `{}` already exists", entry.id))
                    })
                })
        });
        Ok(())
    }
}

/// An outbox event as plain values for the writer thread.
struct OutboxRow {
    id: String,
    event_type: &'static str,
    audit_id: String,
    occurred_at: i64,
    /// The payload's JSON text.
    payload: String,
}

#[async_trait]
impl EventOutbox for SqliteTransaction {
    #[tracing::instrument(level = "debug", name = "embedded.outbox.append", skip_all)]
    async fn append(&mut self, events: Vec<OutboxEvent>) -> Result<(), Error> {
        if events.is_empty() {
            return Ok(());
        }
        // Turned into text here, by the request, so that the writer thread only binds it.
        let rows: Vec<OutboxRow> = events
            .into_iter()
            .map(|event| OutboxRow {
                id: event.id.to_string(),
                event_type: event.event_type,
                audit_id: event.audit_id.to_string(),
                occurred_at: event.occurred_at.as_millis(),
                payload: event.payload,
            })
            .collect();
        self.defer(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "INSERT INTO outbox (id, event_type, audit_id, occurred_at, payload) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| storage_error("appending to the outbox", e))?;
            for row in &rows {
                statement
                    .execute(params![
                        row.id,
                        row.event_type,
                        row.audit_id,
                        row.occurred_at,
                        row.payload
                    ])
                    .map_err(|e| {
                        conflict_or_storage_error("appending to the outbox", e, || {
                            Error::conflict(format!("outbox event `{}` already exists", row.id))
                        })
                    })?;
            }
            Ok(())
        });
        Ok(())
    }
}
