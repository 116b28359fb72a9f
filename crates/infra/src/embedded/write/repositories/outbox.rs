//! The `EventOutbox` port on a write transaction: the change's events, inserted on the writer
//! with the change, for a relay to publish.

use async_trait::async_trait;
use rusqlite::params;
use shared_kernel::Error;
use storage_app::{EventOutbox, OutboxEvent};

use crate::embedded::error::{conflict_or_storage_error, storage_error};
use crate::embedded::write::transaction::SqliteTransaction;

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
