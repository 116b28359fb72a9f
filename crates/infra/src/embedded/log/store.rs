//! The Merkle log on the embedded store: [`audit_app::LogStore`] over SQLite.
//!
//! Tables (migration 4): `log_hashes(idx, hash)` holds the append-only stored-hash sequence of
//! `audit_domain::merkle::tree` (one row per complete subtree, so a proof reads O(log n) rows
//! by primary key); `log_state` the one committed head (size, root, last sequenced `seq`);
//! `checkpoints` every signed checkpoint. Leaf indexes live in `audit_entries.leaf_index`.
//!
//! The unsequenced entries are those whose `leaf_index` is `NULL`; `pending` reads them in
//! `seq` (commit) order from the `UNIQUE` index on `leaf_index`, which holds the `NULL`s too,
//! first and in rowid order: it is the index of unsequenced entries, kept on every insert
//! anyway, so no other index (and no extra write per create) is needed. A document's entries
//! commit in version order on the one writer (version N+1 is written only over a committed
//! version N), so commit order gives them leaf indexes in version order. `log_state.last_seq`
//! stays the store's own record of the last sequenced `seq` (the auditor's check that the
//! log is a prefix of commit order reads it); no port exposes it.
//!
//! A batch is written on the store's one writer, as a write like any other (a savepoint in a
//! group transaction, see `write/writer.rs`), so it serialises with document writes: `seq` order is
//! commit order, and indexes, hashes and head move together atomically. `append` and
//! `save_checkpoint` return only once the group holding them has committed with an fsync
//! (`synchronous=FULL` for that group even under `durability = normal`), so the sequencer
//! never signs a checkpoint of a tree state that a power loss could still take back. Everything else reads from the read-only pool,
//! except the head and the latest checkpoint, which are kept in memory once committed
//! (`crate::log_memory`): every proof and verified read needs them.

use std::sync::Arc;

use async_trait::async_trait;
use audit_app::{AuditLeaf, LogAppend, LogLeaf, LogStore, PendingLeaf, StoredCheckpoint, TreeHead};
use audit_domain::merkle::{Hash, stored_hash_count};
use rusqlite::{Connection, OptionalExtension, params};
use shared_kernel::{AuditId, Error, Timestamp};

use crate::embedded::error::{corrupt, is_unique_violation, storage_error};
use crate::embedded::read::reader_pool::ReaderPool;
use crate::embedded::rows::{from_sql_integer, to_sql_integer};
use crate::embedded::write::writer::Writer;
use crate::log_memory::{HashCache, Newest};

/// The embedded [`LogStore`].
pub(crate) struct SqliteLogStore {
    writer: Writer,
    readers: Arc<ReaderPool>,
    /// The committed head: every proof checks its sizes against it.
    head: Newest<TreeHead>,
    /// The latest checkpoint: every verified read proves against it.
    checkpoint: Newest<StoredCheckpoint>,
    /// Committed stored hashes: proofs share their upper levels.
    hashes: HashCache,
}

impl SqliteLogStore {
    /// A log store sharing the store's writer and readers.
    pub(crate) fn new(writer: Writer, readers: Arc<ReaderPool>) -> Self {
        Self {
            writer,
            readers,
            head: Newest::new(|head| head.size),
            checkpoint: Newest::new(|checkpoint| checkpoint.tree_size),
            hashes: HashCache::default(),
        }
    }

    /// Runs `work` as one whole write on the writer (in a group transaction, on the writer
    /// thread, in the same hand-off as its commit); returns once that write has committed
    /// and been fsynced, whatever the durability of document writes: a checkpoint is signed
    /// only for a tree state a power loss cannot take back. When `work` fails nothing of it is
    /// stored (see `write/writer.rs`).
    async fn write<F>(&self, work: F) -> Result<(), Error>
    where
        F: Fn(&Connection) -> Result<(), Error> + Send + 'static,
    {
        self.writer.write_whole_synced(Box::new(work)).await
    }
}

fn hash_from(bytes: &[u8], what: &str) -> Result<Hash, Error> {
    Hash::try_from(bytes).map_err(|e| corrupt(what, e))
}

/// Reads the committed head.
pub(crate) fn select_head(connection: &Connection) -> Result<TreeHead, Error> {
    let (size, root): (i64, Vec<u8>) = connection
        .prepare_cached("SELECT tree_size, root FROM log_state WHERE id = 1")
        .and_then(|mut s| s.query_row([], |row| Ok((row.get(0)?, row.get(1)?))))
        .map_err(|e| storage_error("reading the log head", e))?;
    Ok(TreeHead {
        size: from_sql_integer(size, "log tree size")?,
        root: hash_from(&root, "log root")?,
    })
}

/// Up to `limit` unsequenced entries, in commit order (see the module's notes on the index).
pub(crate) fn select_pending(
    connection: &Connection,
    limit: i64,
) -> Result<Vec<PendingLeaf>, Error> {
    let rows = connection
        .prepare_cached(PENDING_SQL)
        .and_then(|mut s| {
            s.query_map([limit], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| storage_error("reading pending audit entries", e))?;
    rows.into_iter()
        .map(|(id, leaf)| {
            Ok(PendingLeaf {
                id: AuditId::parse(&id).map_err(|e| corrupt("audit entry id", e))?,
                leaf,
            })
        })
        .collect()
}

/// The unsequenced entries in commit order.
pub(crate) const PENDING_SQL: &str =
    "SELECT id, leaf FROM audit_entries WHERE leaf_index IS NULL ORDER BY seq LIMIT ?1";

/// Writes a batch inside `transaction` (see [`LogStore::append`]).
pub(crate) fn append_batch(transaction: &Connection, batch: &LogAppend) -> Result<(), Error> {
    let head = select_head(transaction)?;
    if head != batch.from {
        return Err(Error::conflict(
            "the log head moved: another sequencer is running on this store",
        ));
    }
    let first = stored_hash_count(batch.from.size)
        .ok_or_else(|| Error::invalid_input("the log is too large"))?;
    let next: i64 = transaction
        .prepare_cached("SELECT COALESCE(MAX(idx) + 1, 0) FROM log_hashes")
        .and_then(|mut s| s.query_row([], |row| row.get(0)))
        .map_err(|e| storage_error("reading the log's stored hashes", e))?;
    if from_sql_integer(next, "log hash position")? != first {
        return Err(corrupt(
            "log hashes",
            format!(
                "{next} hashes stored for a tree of size {}",
                batch.from.size
            ),
        ));
    }
    let mut assign = transaction
        .prepare_cached(
            "UPDATE audit_entries SET leaf_index = ?1 WHERE id = ?2 AND leaf_index IS NULL \
             RETURNING seq",
        )
        .map_err(|e| storage_error("sequencing audit entries", e))?;
    let mut last_seq: i64 = transaction
        .prepare_cached("SELECT last_seq FROM log_state WHERE id = 1")
        .and_then(|mut s| s.query_row([], |row| row.get(0)))
        .map_err(|e| storage_error("reading the log head", e))?;
    for (index, leaf) in (batch.from.size..).zip(&batch.leaves) {
        let seq: Option<i64> = assign
            .query_row(
                params![to_sql_integer(index, "leaf index")?, leaf.id.to_string()],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| storage_error("sequencing audit entries", e))?;
        let Some(seq) = seq else {
            return Err(Error::conflict(format!(
                "audit entry {} is missing or already sequenced",
                leaf.id
            )));
        };
        last_seq = last_seq.max(seq);
    }
    let mut insert = transaction
        .prepare_cached("INSERT INTO log_hashes (idx, hash) VALUES (?1, ?2)")
        .map_err(|e| storage_error("appending log hashes", e))?;
    for (position, hash) in (first..).zip(&batch.hashes) {
        insert
            .execute(params![
                to_sql_integer(position, "log hash position")?,
                hash.as_bytes().as_slice()
            ])
            .map_err(|e| storage_error("appending log hashes", e))?;
    }
    let size = to_sql_integer(batch.to.size, "tree size")?;
    transaction
        .prepare_cached(
            "UPDATE log_state SET tree_size = ?1, root = ?2, last_seq = ?3 WHERE id = 1",
        )
        .and_then(|mut s| s.execute(params![size, batch.to.root.as_bytes().as_slice(), last_seq]))
        .map_err(|e| storage_error("recording the log head", e))?;
    Ok(())
}

/// Reads stored hashes by position.
pub(crate) fn select_hashes(connection: &Connection, indexes: &[u64]) -> Result<Vec<Hash>, Error> {
    let mut statement = connection
        .prepare_cached("SELECT hash FROM log_hashes WHERE idx = ?1")
        .map_err(|e| storage_error("reading log hashes", e))?;
    indexes
        .iter()
        .map(|&index| {
            let bytes: Option<Vec<u8>> = statement
                .query_row([to_sql_integer(index, "log hash position")?], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(|e| storage_error("reading log hashes", e))?;
            let bytes = bytes.ok_or_else(|| {
                corrupt("log hashes", format!("no stored hash at position {index}"))
            })?;
            hash_from(&bytes, "log hash")
        })
        .collect()
}

fn checkpoint_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Vec<u8>, String, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn into_checkpoint(row: (i64, Vec<u8>, String, i64)) -> Result<StoredCheckpoint, Error> {
    Ok(StoredCheckpoint {
        tree_size: from_sql_integer(row.0, "checkpoint size")?,
        root_hash: hash_from(&row.1, "checkpoint root")?,
        note: row.2,
        signed_at: Timestamp::from_millis(row.3),
    })
}

#[async_trait]
impl LogStore for SqliteLogStore {
    #[tracing::instrument(level = "debug", name = "embedded.log.head", skip_all)]
    async fn head(&self) -> Result<TreeHead, Error> {
        if let Some(head) = self.head.get() {
            return Ok(head);
        }
        self.head_from_storage().await
    }

    #[tracing::instrument(level = "debug", name = "embedded.log.head_from_storage", skip_all)]
    async fn head_from_storage(&self) -> Result<TreeHead, Error> {
        let head = self.readers.read(select_head).await?;
        self.head.offer(&head);
        Ok(head)
    }

    #[tracing::instrument(level = "debug", name = "embedded.log.pending", skip_all)]
    async fn pending(&self, limit: usize) -> Result<Vec<PendingLeaf>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.readers
            .read(move |connection| select_pending(connection, limit))
            .await
    }

    #[tracing::instrument(level = "debug", name = "embedded.log.append", skip_all, fields(leaves = batch.leaves.len()))]
    async fn append(&self, batch: LogAppend) -> Result<(), Error> {
        let to = batch.to;
        let first = stored_hash_count(batch.from.size);
        let appended = batch.hashes.clone();
        self.write(move |connection| append_batch(connection, &batch))
            .await?;
        self.head.offer(&to);
        // `append_batch` refused a batch whose first position does not exist.
        if let Some(first) = first {
            self.hashes.offer((first..).zip(appended));
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "embedded.log.read_hashes", skip_all)]
    async fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Error> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let mut hashes = self.hashes.lookup(indexes);
        let missing: Vec<u64> = indexes
            .iter()
            .zip(&hashes)
            .filter(|(_, hash)| hash.is_none())
            .map(|(index, _)| *index)
            .collect();
        if !missing.is_empty() {
            let wanted = missing.clone();
            let read = self
                .readers
                .read(move |connection| select_hashes(connection, &wanted))
                .await?;
            self.hashes
                .offer(missing.into_iter().zip(read.iter().copied()));
            let mut read = read.into_iter();
            for slot in hashes.iter_mut().filter(|hash| hash.is_none()) {
                *slot = read.next();
            }
        }
        hashes
            .into_iter()
            .map(|hash| hash.ok_or_else(|| corrupt("log hashes", "a stored hash was not read")))
            .collect()
    }

    #[tracing::instrument(level = "debug", name = "embedded.log.save_checkpoint", skip_all)]
    async fn save_checkpoint(&self, checkpoint: StoredCheckpoint) -> Result<(), Error> {
        let kept = checkpoint.clone();
        self.write(move |transaction| {
            let size = to_sql_integer(checkpoint.tree_size, "checkpoint size")?;
            let inserted = transaction
                .prepare_cached(
                    "INSERT INTO checkpoints (tree_size, root, note, signed_at) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        size,
                        checkpoint.root_hash.as_bytes().as_slice(),
                        checkpoint.note,
                        checkpoint.signed_at.as_millis()
                    ])
                });
            match inserted {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => {
                    let root: Vec<u8> = transaction
                        .query_row("SELECT root FROM checkpoints WHERE tree_size = ?1", [size], |row| {
                            row.get(0)
                        })
                        .map_err(|e| storage_error("reading a checkpoint", e))?;
                    if root == checkpoint.root_hash.as_bytes() {
                        Ok(())
                    } else {
                        Err(Error::conflict(format!(
                            "a different checkpoint of size {} is already published",
                            checkpoint.tree_size
                        )))
                    }
                }
                Err(e) => Err(storage_error("keeping a checkpoint", e)),
            }
        })
        .await?;
        self.checkpoint.offer(&kept);
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "embedded.log.latest_checkpoint", skip_all)]
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, Error> {
        if let Some(checkpoint) = self.checkpoint.get() {
            return Ok(Some(checkpoint));
        }
        let latest = self
            .readers
            .read(|connection| {
                connection
                    .prepare_cached(
                        "SELECT tree_size, root, note, signed_at FROM checkpoints \
                         ORDER BY tree_size DESC LIMIT 1",
                    )
                    .and_then(|mut s| s.query_row([], checkpoint_from_row).optional())
                    .map_err(|e| storage_error("reading the latest checkpoint", e))?
                    .map(into_checkpoint)
                    .transpose()
            })
            .await?;
        if let Some(checkpoint) = &latest {
            self.checkpoint.offer(checkpoint);
        }
        Ok(latest)
    }

    #[tracing::instrument(level = "debug", name = "embedded.log.leaves", skip_all)]
    async fn leaves(&self, start: u64, end: u64) -> Result<Vec<LogLeaf>, Error> {
        let start = to_sql_integer(start, "leaf index")?;
        let end = to_sql_integer(end, "leaf index")?;
        self.readers
            .read(move |connection| {
                let rows = connection
                    .prepare_cached(
                        "SELECT leaf_index, leaf, leaf_hash FROM audit_entries \
                         WHERE leaf_index >= ?1 AND leaf_index < ?2 ORDER BY leaf_index",
                    )
                    .and_then(|mut s| {
                        s.query_map(params![start, end], |row| {
                            Ok((
                                row.get::<_, i64>(0)?,
                                row.get::<_, Vec<u8>>(1)?,
                                row.get::<_, Vec<u8>>(2)?,
                            ))
                        })?
                        .collect::<rusqlite::Result<Vec<_>>>()
                    })
                    .map_err(|e| storage_error("reading log leaves", e))?;
                rows.into_iter()
                    .map(|(index, leaf, hash)| {
                        Ok(LogLeaf {
                            index: from_sql_integer(index, "leaf index")?,
                            leaf,
                            leaf_hash: hash_from(&hash, "audit leaf hash")?,
                        })
                    })
                    .collect()
            })
            .await
    }

    #[tracing::instrument(level = "debug", name = "embedded.log.leaf_by_audit_id", skip_all)]
    async fn leaf_by_audit_id(&self, id: AuditId) -> Result<Option<AuditLeaf>, Error> {
        let id = id.to_string();
        self.readers
            .read(move |connection| {
                let row = connection
                    .prepare_cached(
                        "SELECT leaf_index, leaf, leaf_hash FROM audit_entries WHERE id = ?1",
                    )
                    .and_then(|mut s| {
                        s.query_row([&id], |row| {
                            Ok((
                                row.get::<_, Option<i64>>(0)?,
                                row.get::<_, Vec<u8>>(1)?,
                                row.get::<_, Vec<u8>>(2)?,
                            ))
                        })
                        .optional()
                    })
                    .map_err(|e| storage_error("reading an audit entry", e))?;
                row.map(|(index, leaf, hash)| {
                    Ok(AuditLeaf {
                        index: index
                            .map(|i| from_sql_integer(i, "leaf index"))
                            .transpose()?,
                        leaf,
                        leaf_hash: hash_from(&hash, "audit leaf hash")?,
                    })
                })
                .transpose()
            })
            .await
    }

    #[tracing::instrument(level = "debug", name = "embedded.log.is_empty", skip_all)]
    async fn is_empty(&self) -> Result<bool, Error> {
        self.readers
            .read(|connection| {
                connection
                    .query_row(
                        "SELECT NOT EXISTS (SELECT 1 FROM checkpoints) \
                            AND NOT EXISTS (SELECT 1 FROM audit_entries) \
                            AND (SELECT tree_size FROM log_state WHERE id = 1) = 0",
                        [],
                        |row| row.get::<_, bool>(0),
                    )
                    .map_err(|e| storage_error("reading whether the log is empty", e))
            })
            .await
    }
}

#[cfg(test)]
mod tests;
