//! The tables beside the log, as the auditor reads them from the embedded store
//! ([`audit_app::auditor::TableSource`] for [`AuditReader`]): collections with their
//! collection entries, the outbox joined to the entries it names, and idempotency records.

use audit_app::auditor::{
    CollectionEntryRow, CollectionRow, IdempotencyRecordKey, IdempotencyRow, OutboxRow, TableSource,
};
use rusqlite::{OptionalExtension, Row, params};
use shared_kernel::{Error, Position};

use super::reader::{AuditReader, bytes, column, limit, seq_after, unsigned};
use crate::embedded::error::storage_error;
use crate::embedded::rows::to_sql_integer;

const COLLECTION_ENTRY_COLUMNS: &str =
    "seq, id, collection_id, operation, collection, at FROM audit_entries";

fn collection_entry(row: &Row<'_>) -> Result<CollectionEntryRow, Error> {
    Ok(CollectionEntryRow {
        // Positions are seqs, as for every listing of this store's entries.
        position: Position::from_numbers(&[unsigned(row, 0, "audit entry seq")?]),
        id: column(row, 1)?,
        collection_id: column(row, 2)?,
        operation: column(row, 3)?,
        collection: column(row, 4)?,
        at_millis: column(row, 5)?,
    })
}

impl TableSource for AuditReader {
    fn collections(&self, after: Option<&str>, page: usize) -> Result<Vec<CollectionRow>, Error> {
        let mut rows = self.query(
            "reading collections",
            "SELECT id, name, version, created_at, deleted_at FROM collections \
             WHERE id > ?1 ORDER BY id LIMIT ?2",
            params![after.unwrap_or(""), limit(page)],
            |row| {
                Ok(CollectionRow {
                    id: column(row, 0)?,
                    name: column(row, 1)?,
                    version: unsigned(row, 2, "collection version")?,
                    created_at: column(row, 3)?,
                    deleted_at: column(row, 4)?,
                    entries: Vec::new(),
                })
            },
        )?;
        for collection in &mut rows {
            collection.entries = self.query(
                "reading a collection's entries",
                &format!(
                    "SELECT {COLLECTION_ENTRY_COLUMNS} WHERE collection_id = ?1 \
                     AND operation LIKE 'collection.%' ORDER BY seq"
                ),
                [&collection.id],
                collection_entry,
            )?;
        }
        Ok(rows)
    }

    fn orphan_collection_entries(
        &self,
        after: Option<&Position>,
        page: usize,
    ) -> Result<Vec<CollectionEntryRow>, Error> {
        let after_seq = seq_after(after)?;
        self.query(
            "reading collection entries",
            &format!(
                "SELECT {COLLECTION_ENTRY_COLUMNS} WHERE seq > ?1 AND operation LIKE 'collection.%' \
                 AND collection_id NOT IN (SELECT id FROM collections) ORDER BY seq LIMIT ?2"
            ),
            params![to_sql_integer(after_seq, "seq")?, limit(page)],
            collection_entry,
        )
    }

    fn outbox(&self, after: Option<&Position>, page: usize) -> Result<Vec<OutboxRow>, Error> {
        // The outbox's positions are its own seqs.
        let after_seq = seq_after(after)?;
        self.query(
            "reading the outbox",
            "SELECT o.seq, o.id, o.event_type, o.audit_id, o.occurred_at, o.payload, e.leaf \
             FROM outbox o LEFT JOIN audit_entries e ON e.id = o.audit_id \
             WHERE o.seq > ?1 ORDER BY o.seq LIMIT ?2",
            params![to_sql_integer(after_seq, "seq")?, limit(page)],
            |row| {
                Ok(OutboxRow {
                    position: Position::from_numbers(&[unsigned(row, 0, "outbox seq")?]),
                    id: column(row, 1)?,
                    event_type: column(row, 2)?,
                    audit_id: column(row, 3)?,
                    occurred_at: column(row, 4)?,
                    payload: column(row, 5)?,
                    entry_leaf: column::<Option<Vec<u8>>>(row, 6)?,
                })
            },
        )
    }

    fn entries_without_event(
        &self,
        after: Option<&Position>,
        page: usize,
    ) -> Result<Vec<(Position, String)>, Error> {
        let after_seq = seq_after(after)?;
        self.query(
            "reading audit entries without an event",
            "SELECT e.seq, e.id FROM audit_entries e WHERE e.seq > ?1 \
             AND e.operation != 'log.succession' \
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.audit_id = e.id) \
             ORDER BY e.seq LIMIT ?2",
            params![to_sql_integer(after_seq, "seq")?, limit(page)],
            |row| {
                let seq = unsigned(row, 0, "audit entry seq")?;
                Ok((Position::from_numbers(&[seq]), column(row, 1)?))
            },
        )
    }

    fn idempotency_records(
        &self,
        after: Option<&IdempotencyRecordKey>,
        page: usize,
    ) -> Result<Vec<IdempotencyRow>, Error> {
        let start = IdempotencyRecordKey {
            actor: String::new(),
            method: String::new(),
            path: String::new(),
            key: String::new(),
        };
        let after = after.unwrap_or(&start);
        self.query(
            "reading idempotency records",
            "SELECT actor, method, path, key, request_hash, status, body FROM idempotency_keys \
             WHERE (actor, method, path, key) > (?1, ?2, ?3, ?4) \
             ORDER BY actor, method, path, key LIMIT ?5",
            params![
                after.actor,
                after.method,
                after.path,
                after.key,
                limit(page)
            ],
            |row| {
                Ok(IdempotencyRow {
                    key: IdempotencyRecordKey {
                        actor: column(row, 0)?,
                        method: column(row, 1)?,
                        path: column(row, 2)?,
                        key: column(row, 3)?,
                    },
                    request_hash: column(row, 4)?,
                    status: column(row, 5)?,
                    body: bytes(row, 6)?,
                })
            },
        )
    }

    fn entry_leaf(&self, id: &str) -> Result<Option<Vec<u8>>, Error> {
        self.connection()
            .query_row(
                "SELECT leaf FROM audit_entries WHERE id = ?1",
                [id],
                |row| row.get::<_, Vec<u8>>(0),
            )
            .optional()
            .map_err(|e| storage_error("reading an audit entry", e))
    }
}
