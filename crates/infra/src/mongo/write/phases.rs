//! Collection deletes and schema changes in two phases, so that no write committed after
//! the change relies on the state before it, on a server that reports no write conflicts
//! between transactions (see `storage_app::guards`).
//!
//! 1. **Mark** the collection `deleting` (or `pending` for a new schema), in a transaction of
//!    its own that requires it still live at the version the command read. From then on a
//!    write's guard refuses it (the guard requires `live`), and a write that looks the
//!    collection up waits for the outcome ([`live_collection`]).
//! 2. **Wait out** the store's transaction lifetime: every write transaction that read the
//!    collection as live before the mark has then committed or aborted (`commit.rs` bounds
//!    each one's life).
//! 3. **Finish** in one transaction: for a delete, require no live document (else `CONFLICT`:
//!    a create won the race); store the collection's new state (which clears the mark), its
//!    audit entry, its events and its idempotency record.
//!
//! If the last step fails, the mark is taken back. A mark whose server died between the
//! steps goes stale after `marks::STALE_MARK_LIFETIMES` lifetimes: writes treat the collection as
//! live again, and the next change takes the mark over.

use std::time::Duration;

use mongodb::bson::doc;
use shared_kernel::Error;
use storage_app::{CommitError, Guard};
use storage_domain::{Collection, CollectionName};

use super::super::Shared;
use super::super::error::storage_error;
use super::super::layout::COLLECTIONS;
use super::super::read::MongoReader;
use super::super::rows::{
    CollectionState, collection_from_bson, collection_mark, collection_unmark,
};
use super::commit::{self, Expect};
use super::marks::{mark_in_force, now_millis};
use super::ops::PlannedChange;
use super::ops::{CollectionChange, Op};

/// How often a write waiting on a marked collection looks again.
const POLL: Duration = Duration::from_millis(25);

/// The live collection `name` for a write: while a change is in flight on it, waits for the
/// outcome (so the write neither reads a schema about to be replaced nor creates into a
/// collection about to go), at most until the mark would go stale.
pub(crate) async fn live_collection(
    shared: &Shared,
    reader: &MongoReader,
    name: &CollectionName,
) -> Result<Option<Collection>, Error> {
    loop {
        let Some(stored) = reader.stored_collection(name).await? else {
            return Ok(None);
        };
        let since = match stored.state {
            CollectionState::Live | CollectionState::Deleted => return Ok(Some(stored.collection)),
            CollectionState::Deleting { since } | CollectionState::Pending { since } => since,
        };
        if !mark_in_force(shared, since, now_millis()) {
            return Ok(Some(stored.collection));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Commits a delete or schema change (with the rest of `ops`) in the three steps above.
pub(crate) async fn change_collection(
    shared: &Shared,
    planned: PlannedChange,
    guards: &[Guard],
    mut ops: Vec<Op>,
) -> Result<(), CommitError> {
    let since = mark(shared, &planned).await?;
    tokio::time::sleep(shared.options.transaction_lifetime + POLL).await;
    if planned.change == CollectionChange::Delete {
        ops.insert(
            0,
            Op::RequireEmpty {
                collection: planned.id.clone(),
            },
        );
    }
    let mut guards = guards.to_vec();
    if let Ok(id) = shared_kernel::CollectionId::parse(&planned.id) {
        guards.push(Guard::CollectionLive {
            collection: id,
            version: planned.read_version,
        });
    }
    let finished = commit::run(shared, &guards, Expect::Marked, ops).await;
    if finished.is_err() {
        unmark(shared, &planned.id, since).await;
    }
    finished
}

/// Step 1: marks the collection, requiring it live (or stale-marked) at the version read.
/// Returns the mark's time.
async fn mark(shared: &Shared, planned: &PlannedChange) -> Result<i64, CommitError> {
    let collections = shared.collection(COLLECTIONS);
    let Some(stored) = collections
        .find_one(doc! { "_id": &planned.id })
        .await
        .map_err(|e| CommitError::Retryable(storage_error("reading a collection", e)))?
    else {
        return Err(CommitError::Stale);
    };
    let stored = collection_from_bson(&stored).map_err(CommitError::Failed)?;
    let now = now_millis();
    let previous_since = match stored.state {
        CollectionState::Live => None,
        CollectionState::Deleting { since } | CollectionState::Pending { since }
            if !mark_in_force(shared, since, now) =>
        {
            Some(since)
        }
        CollectionState::Deleting { .. }
        | CollectionState::Pending { .. }
        | CollectionState::Deleted => return Err(CommitError::Stale),
    };
    if stored.collection.version() != planned.read_version {
        return Err(CommitError::Stale);
    }
    let version = i64::try_from(planned.read_version).unwrap_or(i64::MAX);
    // Conditional on what was read: on real MongoDB two markers conflict on the document;
    // the stand-in lets both through, and the finishing step's version guard (the first to
    // finish moves the version) refuses the second.
    let filter = match previous_since {
        None => doc! { "_id": &planned.id, "version": version, "state": "live" },
        Some(since) => doc! { "_id": &planned.id, "version": version, "state_since": since },
    };
    let marked = collections
        .update_one(
            filter,
            doc! { "$set": collection_mark(planned.change == CollectionChange::Delete, now) },
        )
        .await
        .map_err(|e| CommitError::Retryable(storage_error("marking a collection", e)))?;
    if marked.modified_count == 0 {
        return Err(CommitError::Stale);
    }
    Ok(now)
}

/// Takes back the mark set at `since`, if it is still there (best effort: a mark left
/// behind goes stale).
async fn unmark(shared: &Shared, id: &str, since: i64) {
    let taken_back = shared
        .collection(COLLECTIONS)
        .update_one(
            doc! { "_id": id, "state_since": since },
            doc! { "$set": collection_unmark() },
        )
        .await;
    if let Err(error) = taken_back {
        tracing::warn!(collection = id, %error, "could not take back a collection's mark; it goes stale");
    }
}
