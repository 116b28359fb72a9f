//! The `DocumentRepository` port on a write transaction: a document's new version and its
//! revision, stored by a conditional `UPDATE ... WHERE version = N-1` so that a lost race is
//! a `CONFLICT`, and the revision's data kept once (see [`RevisionRow`]).

use async_trait::async_trait;
use rusqlite::params;
use shared_kernel::{CollectionId, Error};
use storage_domain::repository::DocumentRepository;
use storage_domain::{Document, DocumentId, Revision};

use crate::embedded::error::{conflict_or_storage_error, storage_error};
use crate::embedded::read::document_cache::DocumentKey;
use crate::embedded::rows::{self, DocumentRow, to_sql_integer};
use crate::embedded::write::transaction::SqliteTransaction;

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
