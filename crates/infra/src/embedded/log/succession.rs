//! Starting a successor log in the embedded store (`offchain-db log succeed`): the
//! predecessor's checkpoints move to `predecessor_checkpoints` (migration 6), so `checkpoints`
//! holds only what the successor's key signs, and the `log.succession` entry is committed as
//! the next entry. The tree itself stays: the successor continues it under its own key and
//! origin, its first own entry naming where the predecessor ended.

use audit_domain::succession::{SUCCESSION_OPERATION, SuccessionEntry};
use rusqlite::{OptionalExtension, params};
use shared_kernel::Error;

use crate::embedded::EmbeddedStore;
use crate::embedded::connection::open_reader;
use crate::embedded::error::storage_error;

impl EmbeddedStore {
    /// In one write, fsynced: archives the current log's checkpoints and commits `entry`,
    /// which the sequencer then places as the successor's first own leaf.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails (nothing is written then).
    pub async fn start_successor_log(&self, entry: &SuccessionEntry) -> Result<(), Error> {
        let leaf = entry.leaf_bytes();
        let leaf_hash = entry.leaf_hash();
        let id = entry.id.to_string();
        let at = entry.at.as_millis();
        let actor = entry.actor.to_string();
        self.inner
            .writer
            .write_whole_synced(Box::new(move |connection| {
                connection
                    .execute_batch(
                        "INSERT INTO predecessor_checkpoints (origin, tree_size, root, note, signed_at) \
                         SELECT substr(note, 1, instr(note, char(10)) - 1), tree_size, root, note, signed_at \
                         FROM checkpoints; \
                         DELETE FROM checkpoints;",
                    )
                    .map_err(|e| storage_error("archiving the predecessor's checkpoints", e))?;
                connection
                    .execute(
                        "INSERT INTO audit_entries (id, at, actor, operation, collection, collection_id, \
                         document_id, version, leaf, leaf_hash, patch) \
                         VALUES (?1, ?2, ?3, ?4, '', '', NULL, NULL, ?5, ?6, NULL)",
                        params![
                            id,
                            at,
                            actor,
                            SUCCESSION_OPERATION,
                            leaf,
                            leaf_hash.as_bytes().as_slice()
                        ],
                    )
                    .map_err(|e| storage_error("recording the log.succession entry", e))?;
                Ok(())
            }))
            .await
    }

    /// The note of the newest stored checkpoint, read on a connection of its own (so no
    /// cache of the log store remembers it). Blocking.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when the database cannot be read.
    pub fn newest_checkpoint_note(&self) -> Result<Option<String>, Error> {
        open_reader(&self.inner.database_path)?
            .query_row(
                "SELECT note FROM checkpoints ORDER BY tree_size DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| storage_error("reading the newest checkpoint", e))
    }
}
