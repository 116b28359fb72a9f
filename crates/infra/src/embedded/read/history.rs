//! Reads of the past: a document at any version, its revisions, and its audit trail.
//!
//! Every row read back is checked against its own hash (revision data against its content
//! hash, audit leaves against their leaf hash and canonical form, `audit_row.rs`), so an edit made to the
//! file behind the store's back surfaces as an error instead of as history.

use audit_domain::LoggedAuditEntry;
use rusqlite::{Connection, OptionalExtension, params};
use shared_kernel::{Actor, AuditId, CollectionId, Error, Position, Timestamp};
use storage_domain::{DocumentData, DocumentId, DocumentOperation, Revision, Version};

use crate::embedded::error::{corrupt, storage_error};

/// A revision's data, as SQL over `revisions r`: its own, or the document row's while the
/// revision is the document's current version and keeps none of its own (see `RevisionRow`
/// in `write/repositories/documents.rs`). A macro so that statements can `concat!` it into one literal.
macro_rules! revision_data {
    () => {
        "COALESCE(r.data, (SELECT d.data FROM documents d WHERE d.collection_id = r.collection_id \
         AND d.id = r.document_id AND d.version = r.version))"
    };
}
use super::audit_row::{AuditRow, audit_row_columns};
use crate::embedded::rows::{DocumentRow, from_sql_integer, to_sql_integer};

/// The document `id` as it was at `version`, or `None` if it never reached that version.
pub(crate) fn select_document_at(
    connection: &Connection,
    collection_id: &str,
    id: &str,
    version: u64,
) -> Result<Option<storage_domain::Document>, Error> {
    let version = to_sql_integer(version, "document version")?;
    let row = connection
        .prepare_cached(concat!(
            "SELECT ",
            revision_data!(),
            ", r.content_hash, r.at, r.audit_id, \
               (SELECT c.at FROM revisions c WHERE c.collection_id = r.collection_id \
                  AND c.document_id = r.document_id AND c.version <= r.version \
                  AND c.operation = 'document.create' ORDER BY c.version DESC LIMIT 1) \
             FROM revisions r WHERE r.collection_id = ?1 AND r.document_id = ?2 AND r.version = ?3",
        ))
        .and_then(|mut statement| {
            statement
                .query_row(params![collection_id, id, version], |row| {
                    let at: i64 = row.get(2)?;
                    Ok(DocumentRow {
                        collection_id: collection_id.to_owned(),
                        id: id.to_owned(),
                        version,
                        data: row.get(0)?,
                        content_hash: row.get(1)?,
                        created_at: row.get::<_, Option<i64>>(4)?.unwrap_or(at),
                        updated_at: at,
                        audit_id: row.get(3)?,
                    })
                })
                .optional()
        })
        .map_err(|e| storage_error("reading a past version", e))?;
    row.map(DocumentRow::into_domain).transpose()
}

/// One stored revision row.
struct RevisionRow {
    version: i64,
    operation: String,
    data: Option<String>,
    content_hash: Option<String>,
    at: i64,
    actor: String,
    audit_id: String,
}

impl RevisionRow {
    fn into_domain(
        self,
        collection_id: CollectionId,
        document_id: &DocumentId,
    ) -> Result<Revision, Error> {
        let data = self.data.map(DocumentData::restore).transpose()?;
        if data.as_ref().map(|d| d.content_hash().to_hex()) != self.content_hash {
            return Err(corrupt(
                "revision data",
                format!(
                    "version {} of `{document_id}` does not match its content hash",
                    self.version
                ),
            ));
        }
        Ok(Revision {
            collection_id,
            document_id: document_id.clone(),
            version: Version::new(from_sql_integer(self.version, "revision version")?)
                .map_err(|e| corrupt("revision version", e))?,
            operation: DocumentOperation::parse(&self.operation)
                .map_err(|e| corrupt("revision operation", e))?,
            data,
            at: Timestamp::from_millis(self.at),
            actor: Actor::parse(&self.actor).map_err(|e| corrupt("revision actor", e))?,
            audit_id: AuditId::parse(&self.audit_id)
                .map_err(|e| corrupt("revision audit id", e))?,
        })
    }
}

/// Revisions of `id` after version `after`, oldest first.
pub(crate) fn select_revisions(
    connection: &Connection,
    collection_id: CollectionId,
    id: &DocumentId,
    after: u64,
    limit: u32,
) -> Result<Vec<Revision>, Error> {
    let after = to_sql_integer(after, "revision version")?;
    let rows = connection
        .prepare_cached(concat!(
            "SELECT r.version, r.operation, ",
            revision_data!(),
            ", r.content_hash, r.at, r.actor, \
             r.audit_id FROM revisions r \
             WHERE r.collection_id = ?1 AND r.document_id = ?2 AND r.version > ?3 \
             ORDER BY r.version LIMIT ?4",
        ))
        .and_then(|mut statement| {
            statement
                .query_map(
                    params![
                        collection_id.to_string(),
                        id.as_str(),
                        after,
                        i64::from(limit)
                    ],
                    |row| {
                        Ok(RevisionRow {
                            version: row.get(0)?,
                            operation: row.get(1)?,
                            data: row.get(2)?,
                            content_hash: row.get(3)?,
                            at: row.get(4)?,
                            actor: row.get(5)?,
                            audit_id: row.get(6)?,
                        })
                    },
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| storage_error("listing revisions", e))?;
    rows.into_iter()
        .map(|row| row.into_domain(collection_id, id))
        .collect()
}

/// Audit entries of document `id` after `after` (a position of [`trail_position`]), in commit
/// order: the order its changes were made, since each change is written over the committed
/// one before it.
pub(crate) fn select_audit_trail(
    connection: &Connection,
    collection_id: &str,
    id: &str,
    after: Option<&Position>,
    limit: u32,
) -> Result<Vec<LoggedAuditEntry>, Error> {
    let after = match after {
        None => 0,
        Some(position) => position.numbers(1)?.first().copied().unwrap_or(0),
    };
    let after = to_sql_integer(after, "audit sequence")?;
    let rows = connection
        .prepare_cached(concat!(
            "SELECT ",
            audit_row_columns!(),
            " FROM audit_entries \
             WHERE collection_id = ?1 AND document_id = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
        ))
        .and_then(|mut statement| {
            statement
                .query_map(
                    params![collection_id, id, after, i64::from(limit)],
                    AuditRow::read,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| storage_error("listing audit entries", e))?;
    rows.into_iter()
        .map(|row| {
            let row = row.checked()?;
            let position = trail_position(row.seq);
            row.into_domain(position)
        })
        .collect()
}

/// A trail's position: the entry's `seq`, this store's commit order.
fn trail_position(seq: u64) -> Position {
    Position::from_numbers(&[seq])
}
