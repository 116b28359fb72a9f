//! Starting a successor log in the embedded store (`offchain-db log succeed`).
//!
//! API.md makes `log.succession` *the first entry of a successor log*: leaf 0 of a new tree,
//! signed by a new key under a new origin. The entries the database already holds were leaves
//! of the predecessor's tree; they are re-sequenced into the successor after leaf 0, in their
//! commit order, so every document stays provable in the log that is served now (an old
//! receipt still verifies offline under the old key and its own checkpoint, and the
//! succession entry's `target` names where that log ended). So, in ONE write (one SQLite
//! transaction, fsynced), [`EmbeddedStore::start_successor_log`]:
//!
//! 1. moves the predecessor's checkpoints to `predecessor_checkpoints` (migration 7), with the
//!    note its signer remembers (the one `target` names, which a restored database may lack),
//!    so `checkpoints` holds only what the successor's key signs;
//! 2. clears the predecessor's tree: its stored hashes (`log_hashes`), every `leaf_index`, and
//!    the head (`log_state` back to size 0, the empty root, `last_seq` 0), so the sequencer
//!    builds the successor's tree from scratch and hashes every leaf again itself;
//! 3. moves every entry one commit sequence up (`seq` + 1, and the table's AUTOINCREMENT
//!    counter with it, so the sequence stays gap-free for the auditor) and commits the
//!    `log.succession` entry at `seq` 1: the sequencer walks `seq` order, so it becomes leaf 0
//!    and the old entries follow in the order they were committed.
//!
//! A crash before the commit leaves the predecessor's state untouched; after it, the successor
//! is complete in the database and only needs signing (see `server::log_cmd` for the key and
//! state files around it, and [`EmbeddedStore::unsigned_successor`] for how a rerun finds it).

use audit_domain::merkle::Hash;
use audit_domain::succession::{SUCCESSION_OPERATION, SuccessionEntry};
use rusqlite::{Connection, OptionalExtension, params};
use shared_kernel::Error;

use crate::embedded::EmbeddedStore;
use crate::embedded::connection::open_reader;
use crate::embedded::error::{corrupt, storage_error};
use crate::embedded::rows::to_sql_integer;

/// The last checkpoint the predecessor's signer signed, as its memory keeps it: the one the
/// succession entry's `target` names, which a database restored from an older copy lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedCheckpoint {
    /// Its tree size.
    pub tree_size: u64,
    /// Its root.
    pub root: Hash,
    /// The signed note.
    pub note: String,
}

/// The root of the empty tree, SHA-256 of nothing (as migration 4 sets it).
const EMPTY_ROOT: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

impl EmbeddedStore {
    /// In one write, fsynced: archives the predecessor's checkpoints (and `ended`, the last
    /// one its signer signed, when known), clears its tree, and commits `entry` as the
    /// first entry (`seq` 1) of the successor log, the entries already stored following it in
    /// their commit order (see the module docs). Run only with the server stopped (the folder
    /// lock held) and before anything has read this store's log: its in-memory head would
    /// still name the predecessor's tree.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails, `CONFLICT` when the entry's id is
    /// taken; nothing is written then.
    pub async fn start_successor_log(
        &self,
        entry: &SuccessionEntry,
        ended: Option<EndedCheckpoint>,
    ) -> Result<(), Error> {
        let leaf = entry.leaf_bytes();
        let leaf_hash = entry.leaf_hash();
        let id = entry.id.to_string();
        let at = entry.at.as_millis();
        let actor = entry.actor.to_string();
        self.inner
            .writer
            .write_whole_synced(Box::new(move |connection| {
                archive_checkpoints(connection, ended.as_ref())?;
                clear_tree(connection)?;
                make_room_for_the_first_entry(connection)?;
                connection
                    .execute(
                        "INSERT INTO audit_entries (seq, id, at, actor, operation, collection, \
                         collection_id, document_id, version, leaf, leaf_hash, patch) \
                         VALUES (1, ?1, ?2, ?3, ?4, '', '', NULL, NULL, ?5, ?6, NULL)",
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

    /// The successor log's first entry when a successor was started and nothing is signed
    /// yet (no checkpoint, and the first entry is `log.succession`): a `log succeed` that
    /// stopped after its database write, which a rerun finishes. Blocking.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when the database cannot be read or the entry's
    /// stored bytes are not a succession entry.
    pub fn unsigned_successor(&self) -> Result<Option<SuccessionEntry>, Error> {
        let first: Option<Vec<u8>> = open_reader(&self.inner.database_path)?
            .query_row(
                "SELECT leaf FROM audit_entries \
                 WHERE NOT EXISTS (SELECT 1 FROM checkpoints) AND operation = ?1 \
                 AND seq = (SELECT MIN(seq) FROM audit_entries)",
                [SUCCESSION_OPERATION],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| storage_error("reading the successor log's first entry", e))?;
        first
            .map(|leaf| {
                SuccessionEntry::from_leaf_bytes(&leaf)
                    .map_err(|e| corrupt("the log.succession entry", e))
            })
            .transpose()
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

/// The origin line of a checkpoint note, as SQL over its `note` column.
const ORIGIN_OF_NOTE: &str = "substr(note, 1, instr(note, char(10)) - 1)";

/// Moves every stored checkpoint, and the signer's last note, to `predecessor_checkpoints`.
fn archive_checkpoints(
    connection: &Connection,
    ended: Option<&EndedCheckpoint>,
) -> Result<(), Error> {
    connection
        .execute_batch(&format!(
            "INSERT OR IGNORE INTO predecessor_checkpoints (origin, tree_size, root, note, signed_at) \
             SELECT {ORIGIN_OF_NOTE}, tree_size, root, note, signed_at FROM checkpoints; \
             DELETE FROM checkpoints;"
        ))
        .map_err(|e| storage_error("archiving the predecessor's checkpoints", e))?;
    if let Some(ended) = ended {
        archive_note(connection, ended)?;
    }
    Ok(())
}

/// Keeps the note the predecessor's signer remembers.
fn archive_note(connection: &Connection, ended: &EndedCheckpoint) -> Result<(), Error> {
    connection
        .execute(
            &format!(
                "INSERT OR IGNORE INTO predecessor_checkpoints \
                 (origin, tree_size, root, note, signed_at) \
                 SELECT {ORIGIN_OF_NOTE}, ?1, ?2, note, 0 FROM (SELECT ?3 AS note)"
            ),
            params![
                to_sql_integer(ended.tree_size, "checkpoint size")?,
                ended.root.as_bytes().as_slice(),
                ended.note
            ],
        )
        .map_err(|e| storage_error("archiving the signer's last checkpoint", e))?;
    Ok(())
}

/// Forgets the predecessor's tree: stored hashes, leaf indexes and head.
fn clear_tree(connection: &Connection) -> Result<(), Error> {
    connection
        .execute_batch(
            "DELETE FROM log_hashes; \
             UPDATE audit_entries SET leaf_index = NULL WHERE leaf_index IS NOT NULL;",
        )
        .map_err(|e| storage_error("clearing the predecessor's tree", e))?;
    connection
        .execute(
            "UPDATE log_state SET tree_size = 0, root = ?1, last_seq = 0 WHERE id = 1",
            [EMPTY_ROOT.as_slice()],
        )
        .map_err(|e| storage_error("resetting the log head", e))?;
    Ok(())
}

/// Moves every entry's `seq` one up, keeping their order, and the AUTOINCREMENT counter with
/// them (two passes through the negatives: `seq` is the primary key, and SQLite checks it
/// row by row).
fn make_room_for_the_first_entry(connection: &Connection) -> Result<(), Error> {
    connection
        .execute_batch(
            "UPDATE audit_entries SET seq = -seq; \
             UPDATE audit_entries SET seq = 1 - seq; \
             UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'audit_entries';",
        )
        .map_err(|e| storage_error("renumbering the commit sequence", e))
}

#[cfg(test)]
mod tests;
