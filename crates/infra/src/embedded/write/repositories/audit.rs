//! The `AuditLogger` port on a write transaction: the audit entry's leaf bytes, leaf hash and
//! patch computed by the request, inserted on the writer with the change they explain.

use async_trait::async_trait;
use audit_domain::{AuditLogger, AuditRecord, AuditSubject};
use rusqlite::params;
use shared_kernel::{Error, canonical_json};

use crate::embedded::error::conflict_or_storage_error;
use crate::embedded::rows::to_sql_integer;
use crate::embedded::write::transaction::SqliteTransaction;

#[async_trait]
impl AuditLogger for SqliteTransaction {
    #[tracing::instrument(level = "debug", name = "embedded.audit.append", skip_all)]
    async fn append(&mut self, record: AuditRecord) -> Result<(), Error> {
        // The canonical forms and the hash are computed here, by the request, so that the
        // writer thread (which every write waits for) only binds them; the insert itself is
        // deferred to the next hand-off (see `write/transaction.rs`).
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
