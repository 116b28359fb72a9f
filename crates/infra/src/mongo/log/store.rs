//! The Merkle log on MongoDB: [`audit_app::LogStore`].
//!
//! Documents (`layout.rs`): `log_hashes` `{_id: position, hash}` is the append-only
//! stored-hash sequence of `audit_domain::merkle::tree`; `log_leaves` `{_id: leaf index,
//! audit_id, leaf, leaf_hash}` the log's own record of each leaf (what `leaves` serves, by
//! `_id`); `log_head` the one committed head `{_id: "head", size, root}` (absent on a store
//! never sequenced: the empty tree); `checkpoints` `{_id: tree size, root_hash, note,
//! signed_at}`. Each audit entry's `leaf_index` is set when it is sequenced; `pending` reads
//! the entries whose `leaf_index` is null by `(order, _id)` (the write path's order: a
//! document's entries in version order, `write/ops.rs`).
//!
//! **Two sequencers cannot both extend the tree, even on a server that reports no write
//! conflicts** (the test stand-in: ../shared/DEPENDENCIES.md). `append` is one transaction
//! that reads the head and requires it to be the batch's `from`, then INSERTS the batch's
//! leaves and stored hashes under `_id`s that are their index and position. Two batches
//! computed from one head insert the same leaf `_id`s (`from.size` at least), and an `_id`
//! collision is the one clash every server reports (a duplicate key when the other committed
//! first, a write conflict at commit otherwise): one of them fails with `CONFLICT`. A batch
//! from a later head can only pass the head check in a snapshot that holds the earlier
//! batch, where its entries already have their indexes, so giving one again (the update is
//! filtered on `leaf_index: null` and must match every entry) is a `CONFLICT` too. The head
//! check itself is only a read: it protects nothing on the stand-in, and needs not. The
//! server's sequencer lock (`lock.rs`) keeps a second server from trying at all. On the
//! stand-in the collision refuses the loser without undoing it (a commit refused for an `_id`
//! collision still applies its writes to other collections there, docs/mongodb-tests.md):
//! there the lock alone keeps two servers' sequencers apart, and one server's transactions
//! run one at a time (`Isolation`), an append's included.
//!
//! A batch is at most [`MAX_LOG_BATCH`] leaves, within MongoDB's transaction limits (one
//! insert of leaves, one of hashes and one `update` command of as many statements: three
//! round trips whatever the size). `pending` hands out no more, so the sequencer never builds
//! a larger batch; a larger one handed to `append` is refused, never split (a split batch
//! would not be atomic).
//!
//! The head and the latest checkpoint are kept in memory once committed, and stored hashes
//! once read or written (`crate::log_memory`): every proof needs them, and only the server
//! holding the sequencer lock appends.

use std::sync::Arc;

use async_trait::async_trait;
use audit_app::{AuditLeaf, LogAppend, LogLeaf, LogStore, PendingLeaf, StoredCheckpoint, TreeHead};
use audit_domain::merkle::{Hash, empty_root, leaf_hash, stored_hash_count};
use futures_util::TryStreamExt;
use mongodb::ClientSession;
use mongodb::bson::{Bson, Document as Bson_, doc};
use mongodb::options::{ReadConcern, WriteConcern};
use shared_kernel::{AuditId, Error, Timestamp};

use super::super::Shared;
use super::super::error::{
    corrupt, is_duplicate_key, is_unknown_commit_result, is_write_conflict, storage_error,
};
use super::super::layout::{AUDIT_ENTRIES, CHECKPOINTS, LOG_HASHES, LOG_HEAD, LOG_LEAVES};
use super::super::rows::{
    binary, binary_field, i64_field, optional_i64, str_field, to_i64, to_u64,
};
use crate::log_memory::{HashCache, Newest};

/// The most leaves one batch may hold on MongoDB: its leaves, hashes and index updates stay
/// far below a transaction's limits (a few MiB, well within the lifetime of a transaction).
/// Give the sequencer this batch size on this backend (`SequencerOptions::batch_size`): with
/// a larger one it takes each capped batch for the last of a backlog and waits a poll
/// interval before the next.
pub const MAX_LOG_BATCH: usize = 2_000;

/// The `_id` of the one head document.
const HEAD_ID: &str = "head";

/// The MongoDB [`LogStore`].
pub(crate) struct MongoLogStore {
    shared: Arc<Shared>,
    /// The committed head: every proof checks its sizes against it.
    head: Newest<TreeHead>,
    /// The latest checkpoint: every verified read proves against it.
    checkpoint: Newest<StoredCheckpoint>,
    /// Committed stored hashes: proofs share their upper levels.
    hashes: HashCache,
}

impl MongoLogStore {
    /// The log store of `shared`'s database.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            head: Newest::new(|head| head.size),
            checkpoint: Newest::new(|checkpoint| checkpoint.tree_size),
            hashes: HashCache::default(),
        }
    }
}

/// A head document as stored (`None`: a store never sequenced, the empty tree).
pub(crate) fn head_from_bson(stored: Option<&Bson_>) -> Result<TreeHead, Error> {
    let Some(stored) = stored else {
        return Ok(TreeHead {
            size: 0,
            root: empty_root(),
        });
    };
    Ok(TreeHead {
        size: to_u64(i64_field(stored, "size", "log tree size")?, "log tree size")?,
        root: hash_field(stored, "root", "log root")?,
    })
}

/// A 32-byte hash field.
pub(crate) fn hash_field(stored: &Bson_, key: &str, what: &str) -> Result<Hash, Error> {
    Hash::try_from(binary_field(stored, key, what)?).map_err(|e| corrupt(what, e))
}

fn hash_bson(hash: &Hash) -> Bson {
    binary(hash.as_bytes().to_vec())
}

/// Reads the head inside `session`'s transaction.
async fn stored_head(shared: &Shared, session: &mut ClientSession) -> Result<TreeHead, Error> {
    let stored = shared
        .collection(LOG_HEAD)
        .find_one(doc! { "_id": HEAD_ID })
        .session(session)
        .await
        .map_err(|e| storage_error("reading the log head", e))?;
    head_from_bson(stored.as_ref())
}

/// A driver error inside the append: an `_id` that another transaction wrote (a duplicate
/// key, or a write conflict) means another sequencer ran.
fn append_error(action: &str, error: mongodb::error::Error) -> Error {
    if is_duplicate_key(&error) || is_write_conflict(&error) {
        Error::conflict(format!(
            "another sequencer extended the log while {action}: only one may run on a database"
        ))
        .with_source(error)
    } else {
        storage_error(action, error)
    }
}

/// The statements of [`LogStore::append`], inside `session`'s transaction.
async fn append_in(
    shared: &Shared,
    session: &mut ClientSession,
    batch: &LogAppend,
) -> Result<(), Error> {
    let head = stored_head(shared, session).await?;
    if head != batch.from {
        return Err(Error::conflict(format!(
            "the log head moved: it is at size {}, the batch was computed from size {} \
             (another sequencer is running on this database)",
            head.size, batch.from.size
        )));
    }
    let first_hash = stored_hash_count(batch.from.size)
        .ok_or_else(|| Error::invalid_input("the log is too large"))?;
    let mut leaves = Vec::with_capacity(batch.leaves.len());
    let mut updates = Vec::with_capacity(batch.leaves.len());
    for (index, leaf) in (batch.from.size..).zip(&batch.leaves) {
        let index = to_i64(index, "leaf index")?;
        let id = leaf.id.to_string();
        leaves.push(doc! {
            "_id": index,
            "audit_id": &id,
            "leaf": binary(leaf.leaf.clone()),
            "leaf_hash": hash_bson(&leaf_hash(&leaf.leaf)),
        });
        updates.push(doc! {
            "q": { "_id": id, "leaf_index": Bson::Null },
            "u": { "$set": { "leaf_index": index } },
        });
    }
    let hashes = (first_hash..)
        .zip(&batch.hashes)
        .map(|(position, hash)| {
            Ok(doc! { "_id": to_i64(position, "log hash position")?, "hash": hash_bson(hash) })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if !leaves.is_empty() {
        shared
            .collection(LOG_LEAVES)
            .insert_many(leaves)
            .session(&mut *session)
            .await
            .map_err(|e| append_error("recording the log's leaves", e))?;
    }
    if !hashes.is_empty() {
        shared
            .collection(LOG_HASHES)
            .insert_many(hashes)
            .session(&mut *session)
            .await
            .map_err(|e| append_error("appending the log's stored hashes", e))?;
    }
    if !updates.is_empty() {
        give_indexes(shared, session, updates).await?;
    }
    shared
        .collection(LOG_HEAD)
        .replace_one(
            doc! { "_id": HEAD_ID },
            doc! {
                "_id": HEAD_ID,
                "size": to_i64(batch.to.size, "tree size")?,
                "root": hash_bson(&batch.to.root),
            },
        )
        .upsert(true)
        .session(session)
        .await
        .map_err(|e| append_error("recording the log head", e))?;
    Ok(())
}

/// Sets each entry's leaf index, only where it has none, in one `update` command; every
/// statement must match (an entry missing or already sequenced is a `CONFLICT`).
async fn give_indexes(
    shared: &Shared,
    session: &mut ClientSession,
    updates: Vec<Bson_>,
) -> Result<(), Error> {
    let expected = updates.len();
    let answer = shared
        .database
        .run_command(doc! {
            "update": AUDIT_ENTRIES,
            "updates": updates,
            "ordered": true,
        })
        .session(session)
        .await
        .map_err(|e| append_error("sequencing audit entries", e))?;
    if let Ok(errors) = answer.get_array("writeErrors")
        && !errors.is_empty()
    {
        return Err(Error::internal(
            "MongoDB refused to sequence audit entries",
            std::io::Error::other(format!("{errors:?}")),
        ));
    }
    let matched = optional_i64(&answer, "n", "update answer")?.unwrap_or(0);
    if usize::try_from(matched).ok() != Some(expected) {
        return Err(Error::conflict(format!(
            "{} of the batch's {expected} audit entries are missing or already sequenced",
            usize::try_from(matched).map_or(expected, |matched| expected.saturating_sub(matched))
        )));
    }
    Ok(())
}

/// A stored checkpoint.
fn checkpoint_from_bson(stored: &Bson_) -> Result<StoredCheckpoint, Error> {
    Ok(StoredCheckpoint {
        tree_size: to_u64(
            i64_field(stored, "_id", "checkpoint size")?,
            "checkpoint size",
        )?,
        root_hash: hash_field(stored, "root_hash", "checkpoint root")?,
        note: str_field(stored, "note", "checkpoint note")?.to_owned(),
        signed_at: Timestamp::from_millis(i64_field(stored, "signed_at", "checkpoint time")?),
    })
}

/// Whether `collection` holds any document.
async fn any_in(shared: &Shared, collection: &str) -> Result<bool, Error> {
    let found = shared
        .collection(collection)
        .find_one(doc! {})
        .projection(doc! { "_id": 1 })
        .await
        .map_err(|e| storage_error("reading whether the log is empty", e))?;
    Ok(found.is_some())
}

#[async_trait]
impl LogStore for MongoLogStore {
    #[tracing::instrument(level = "debug", name = "mongo.log.head", skip_all)]
    async fn head(&self) -> Result<TreeHead, Error> {
        if let Some(head) = self.head.get() {
            return Ok(head);
        }
        self.head_from_storage().await
    }

    #[tracing::instrument(level = "debug", name = "mongo.log.head_from_storage", skip_all)]
    async fn head_from_storage(&self) -> Result<TreeHead, Error> {
        let stored = self
            .shared
            .collection(LOG_HEAD)
            .find_one(doc! { "_id": HEAD_ID })
            .await
            .map_err(|e| storage_error("reading the log head", e))?;
        let head = head_from_bson(stored.as_ref())?;
        self.head.offer(&head);
        Ok(head)
    }

    #[tracing::instrument(level = "debug", name = "mongo.log.pending", skip_all)]
    async fn pending(&self, limit: usize) -> Result<Vec<PendingLeaf>, Error> {
        let limit = limit.min(MAX_LOG_BATCH);
        // MongoDB reads a limit of 0 as "no limit".
        if limit == 0 {
            return Ok(Vec::new());
        }
        let stored: Vec<Bson_> = self
            .shared
            .collection(AUDIT_ENTRIES)
            .find(doc! { "leaf_index": Bson::Null })
            .sort(doc! { "order": 1, "_id": 1 })
            .projection(doc! { "leaf": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(|e| storage_error("reading pending audit entries", e))?
            .try_collect()
            .await
            .map_err(|e| storage_error("reading pending audit entries", e))?;
        stored
            .iter()
            .map(|entry| {
                Ok(PendingLeaf {
                    id: AuditId::parse(str_field(entry, "_id", "audit entry id")?)
                        .map_err(|e| corrupt("audit entry id", e))?,
                    leaf: binary_field(entry, "leaf", "audit entry leaf")?.to_vec(),
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", name = "mongo.log.append", skip_all, fields(leaves = batch.leaves.len()))]
    async fn append(&self, batch: LogAppend) -> Result<(), Error> {
        if batch.leaves.len() > MAX_LOG_BATCH {
            return Err(Error::invalid_input(format!(
                "a batch of {} leaves is more than the {MAX_LOG_BATCH} one MongoDB transaction \
                 takes here; sequence at most {MAX_LOG_BATCH} entries per batch",
                batch.leaves.len()
            )));
        }
        // On a server that does not isolate transactions, this process runs them one at a
        // time (`Isolation`): an append beside a document write would lose one of them.
        let _turn = self.shared.transaction_turn().await;
        let mut session = self
            .shared
            .client
            .start_session()
            .await
            .map_err(|e| storage_error("starting a session", e))?;
        session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .write_concern(WriteConcern::majority())
            .await
            .map_err(|e| storage_error("starting a transaction", e))?;
        if let Err(error) = append_in(&self.shared, &mut session, &batch).await {
            // Best effort: the server aborts it anyway when the session ends.
            let _aborted = session.abort_transaction().await;
            return Err(error);
        }
        session.commit_transaction().await.map_err(|e| {
            if is_unknown_commit_result(&e) {
                // The sequencer's next batch, from this `from`, meets the truth: a CONFLICT
                // if this one committed (and it reloads the head), success if not.
                Error::unavailable("the answer to the log's commit was lost", e)
            } else {
                append_error("committing a batch of the log", e)
            }
        })?;
        self.head.offer(&batch.to);
        if let Some(first) = stored_hash_count(batch.from.size) {
            self.hashes.offer((first..).zip(batch.hashes));
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "mongo.log.read_hashes", skip_all)]
    async fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Error> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let mut hashes = self.hashes.lookup(indexes);
        let missing: Vec<i64> = indexes
            .iter()
            .zip(&hashes)
            .filter(|(_, hash)| hash.is_none())
            .map(|(index, _)| to_i64(*index, "log hash position"))
            .collect::<Result<_, _>>()?;
        if !missing.is_empty() {
            let stored: Vec<Bson_> = self
                .shared
                .collection(LOG_HASHES)
                .find(doc! { "_id": { "$in": missing } })
                .await
                .map_err(|e| storage_error("reading log hashes", e))?
                .try_collect()
                .await
                .map_err(|e| storage_error("reading log hashes", e))?;
            let read = stored
                .iter()
                .map(|h| {
                    let position = to_u64(i64_field(h, "_id", "log hash position")?, "position")?;
                    Ok((position, hash_field(h, "hash", "log hash")?))
                })
                .collect::<Result<Vec<_>, Error>>()?;
            self.hashes.offer(read.iter().copied());
            for (slot, index) in hashes.iter_mut().zip(indexes) {
                if slot.is_none() {
                    *slot = read
                        .iter()
                        .find(|(position, _)| position == index)
                        .map(|(_, hash)| *hash);
                }
            }
        }
        indexes
            .iter()
            .zip(hashes)
            .map(|(index, hash)| {
                hash.ok_or_else(|| {
                    corrupt("log hashes", format!("no stored hash at position {index}"))
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", name = "mongo.log.save_checkpoint", skip_all)]
    async fn save_checkpoint(&self, checkpoint: StoredCheckpoint) -> Result<(), Error> {
        let size = to_i64(checkpoint.tree_size, "checkpoint size")?;
        let checkpoints = self.shared.collection(CHECKPOINTS);
        // One insert: its `_id` is the size, so a second checkpoint of one size collides.
        let inserted = checkpoints
            .insert_one(doc! {
                "_id": size,
                "root_hash": hash_bson(&checkpoint.root_hash),
                "note": &checkpoint.note,
                "signed_at": checkpoint.signed_at.as_millis(),
            })
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_duplicate_key(&e) => {
                let kept = checkpoints
                    .find_one(doc! { "_id": size })
                    .await
                    .map_err(|e| storage_error("reading a checkpoint", e))?
                    .ok_or_else(|| corrupt("checkpoint", "a duplicate that cannot be read"))?;
                if hash_field(&kept, "root_hash", "checkpoint root")? != checkpoint.root_hash {
                    return Err(Error::conflict(format!(
                        "a different checkpoint of size {} is already published",
                        checkpoint.tree_size
                    ))
                    .with_source(e));
                }
            }
            Err(e) => return Err(storage_error("keeping a checkpoint", e)),
        }
        self.checkpoint.offer(&checkpoint);
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "mongo.log.latest_checkpoint", skip_all)]
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, Error> {
        if let Some(checkpoint) = self.checkpoint.get() {
            return Ok(Some(checkpoint));
        }
        let latest = self
            .shared
            .collection(CHECKPOINTS)
            .find_one(doc! {})
            .sort(doc! { "_id": -1 })
            .await
            .map_err(|e| storage_error("reading the latest checkpoint", e))?
            .map(|stored| checkpoint_from_bson(&stored))
            .transpose()?;
        if let Some(checkpoint) = &latest {
            self.checkpoint.offer(checkpoint);
        }
        Ok(latest)
    }

    #[tracing::instrument(level = "debug", name = "mongo.log.leaves", skip_all)]
    async fn leaves(&self, start: u64, end: u64) -> Result<Vec<LogLeaf>, Error> {
        let start = to_i64(start, "leaf index")?;
        let end = to_i64(end, "leaf index")?;
        let stored: Vec<Bson_> = self
            .shared
            .collection(LOG_LEAVES)
            .find(doc! { "_id": { "$gte": start, "$lt": end } })
            .sort(doc! { "_id": 1 })
            .await
            .map_err(|e| storage_error("reading log leaves", e))?
            .try_collect()
            .await
            .map_err(|e| storage_error("reading log leaves", e))?;
        stored
            .iter()
            .map(|stored| {
                let index = to_u64(i64_field(stored, "_id", "leaf index")?, "leaf index")?;
                let leaf = binary_field(stored, "leaf", "log leaf")?.to_vec();
                let hash = hash_field(stored, "leaf_hash", "log leaf hash")?;
                // An edit behind the store's back is an error, not a leaf to serve.
                if leaf_hash(&leaf) != hash {
                    return Err(corrupt(
                        "log leaf",
                        format!("leaf {index} does not match its leaf hash"),
                    ));
                }
                Ok(LogLeaf {
                    index,
                    leaf,
                    leaf_hash: hash,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", name = "mongo.log.leaf_by_audit_id", skip_all)]
    async fn leaf_by_audit_id(&self, id: AuditId) -> Result<Option<AuditLeaf>, Error> {
        let stored = self
            .shared
            .collection(AUDIT_ENTRIES)
            .find_one(doc! { "_id": id.to_string() })
            .projection(doc! { "leaf": 1, "leaf_hash": 1, "leaf_index": 1 })
            .await
            .map_err(|e| storage_error("reading an audit entry", e))?;
        stored
            .map(|stored| {
                Ok(AuditLeaf {
                    index: optional_i64(&stored, "leaf_index", "leaf index")?
                        .map(|index| to_u64(index, "leaf index"))
                        .transpose()?,
                    leaf: binary_field(&stored, "leaf", "audit entry leaf")?.to_vec(),
                    leaf_hash: hash_field(&stored, "leaf_hash", "audit leaf hash")?,
                })
            })
            .transpose()
    }

    #[tracing::instrument(level = "debug", name = "mongo.log.is_empty", skip_all)]
    async fn is_empty(&self) -> Result<bool, Error> {
        for collection in [CHECKPOINTS, AUDIT_ENTRIES, LOG_LEAVES] {
            if any_in(&self.shared, collection).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
