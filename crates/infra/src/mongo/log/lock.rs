//! One sequencer per database, until issue 24 brings a lease: the `server_locks` document
//! `{_id: "sequencer", owner, token, heartbeat}` names the server that runs the sequencer, and
//! a second server refuses to start while it is fresh.
//!
//! **Taking it.** An insert of the document, outside any transaction: an `_id` insert, the
//! one clash every server reports. When it is there already, its `heartbeat` (the holder's
//! clock, ms) tells: newer than [`LockTiming::stale_after`] by our clock, it is held and we
//! refuse (`UNAVAILABLE`, naming the holder and when it was last seen); older, the holder is
//! gone and we take it over.
//!
//! **The take-over rule.** Two servers may find one stale lock at once, and a conditional
//! update would not tell them apart on the test stand-in: two concurrent `findAndModify`s
//! filtered on the same old token both matched there (docs/mongodb-tests.md), and
//! conditional updates inside transactions protect nothing on it either. So the take-over
//! also rests on an `_id` insert: a claim `{_id: "sequencer-takeover:<stale token>", owner}`.
//! Of the servers that judged the same lock stale, exactly one inserts the claim; only it
//! then rewrites the lock (filtered on the stale token, so a lock that changed meanwhile is
//! left alone and judged again). The others read the claim and refuse, naming its owner. A
//! claimant that died before rewriting the lock leaves a claim that goes stale like a lock,
//! and is claimed over by a claim of the claim (`…:<token>+`). Claims stay: one small
//! document per take-over, and a claim of a token that no longer holds the lock claims
//! nothing.
//!
//! **Holding it.** A tokio task beats every [`LockTiming::heartbeat`] (on the store's own
//! runtime when it has one, `MongoStore::open_blocking`, else on the caller's, which must
//! then live as long as the lock), each beat an update
//! filtered on our `token`: one that matches nothing means another server took the lock over
//! (we were silent longer than `stale_after`: a paused process, a partition), which is logged
//! and visible through [`SequencerLock::is_held`]. On real MongoDB the log cannot fork even
//! then: `append` rests on `_id` inserts (`store.rs`), so the two sequencers' batches
//! collide.
//!
//! **Releasing it.** [`SequencerLock::release`] deletes the document (only if it is still
//! ours); dropping the lock does the same on the runtime it beat on, best effort. A
//! server that crashed leaves it behind: the next one starts once it is stale. The holder's
//! clock writes the heartbeat and the taker's judges it, so the servers' clocks must agree
//! to well within `stale_after`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mongodb::bson::{Document as Bson_, doc};
use shared_kernel::{Error, Timestamp};
use tokio::task::JoinHandle;

use super::super::Shared;
use super::super::error::{is_duplicate_key, storage_error};
use super::super::layout::SERVER_LOCKS;
use super::super::rows::{i64_field, str_field};

/// The `_id` of the sequencer's lock.
const LOCK_ID: &str = "sequencer";

/// How many times a start looks again at a lock that changed under it.
const ATTEMPTS: usize = 3;

/// How often the holder beats and how old a beat must be for the lock to be taken over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockTiming {
    /// Time between two heartbeats.
    pub heartbeat: Duration,
    /// A lock whose last heartbeat is older than this is stale: its holder is gone.
    pub stale_after: Duration,
}

impl LockTiming {
    /// Beats every `heartbeat`; stale after three beats missed.
    pub fn every(heartbeat: Duration) -> Self {
        Self {
            heartbeat,
            stale_after: heartbeat.saturating_mul(3),
        }
    }
}

impl Default for LockTiming {
    fn default() -> Self {
        Self::every(Duration::from_secs(2))
    }
}

/// The sequencer's lock on one database, held while this value lives.
pub struct SequencerLock {
    shared: Arc<Shared>,
    token: String,
    owner: String,
    held: Arc<AtomicBool>,
    beating: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SequencerLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SequencerLock")
            .field("owner", &self.owner)
            .field("held", &self.is_held())
            .finish_non_exhaustive()
    }
}

/// Milliseconds since the epoch by this server's clock.
fn now_millis() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// The lock as stored by its holder.
struct Holder {
    owner: String,
    token: String,
    heartbeat: i64,
}

impl Holder {
    fn from_bson(stored: &Bson_) -> Result<Self, Error> {
        Ok(Self {
            owner: str_field(stored, "owner", "sequencer lock owner")?.to_owned(),
            token: str_field(stored, "token", "sequencer lock token")?.to_owned(),
            heartbeat: i64_field(stored, "heartbeat", "sequencer lock heartbeat")?,
        })
    }

    /// Whether it beat within `stale_after` of `now`.
    fn is_fresh(&self, now: i64, timing: LockTiming) -> bool {
        let stale_after = i64::try_from(timing.stale_after.as_millis()).unwrap_or(i64::MAX);
        now.saturating_sub(self.heartbeat) < stale_after
    }

    /// The refusal to start beside it.
    fn refusal(&self, now: i64, timing: LockTiming) -> Error {
        Error::unavailable(
            format!(
                "another server runs the log's sequencer on this database: `{}`, last seen \
                 {} ms ago (at {}). Only one server may run on a database; if that one is \
                 gone, start again once its lock is {} ms old",
                self.owner,
                now.saturating_sub(self.heartbeat),
                Timestamp::from_millis(self.heartbeat).to_rfc3339(),
                timing.stale_after.as_millis()
            ),
            std::io::Error::other("the sequencer lock is held"),
        )
    }
}

/// Takes the lock for `owner` (or refuses); see the module.
pub(crate) async fn lock_sequencer(
    shared: Arc<Shared>,
    owner: &str,
    timing: LockTiming,
) -> Result<SequencerLock, Error> {
    let token = uuid::Uuid::now_v7().to_string();
    let locks = shared.collection(SERVER_LOCKS);
    let mut last_refusal = None;
    for _ in 0..ATTEMPTS {
        let now = now_millis();
        let inserted = locks
            .insert_one(doc! { "_id": LOCK_ID, "owner": owner, "token": &token, "heartbeat": now })
            .await;
        match inserted {
            Ok(_) => return Ok(SequencerLock::hold(shared, token, owner, timing)),
            Err(e) if is_duplicate_key(&e) => {}
            Err(e) => return Err(storage_error("taking the sequencer lock", e)),
        }
        let Some(stored) = locks
            .find_one(doc! { "_id": LOCK_ID })
            .await
            .map_err(|e| storage_error("reading the sequencer lock", e))?
        else {
            // Released between the insert and the read: insert again.
            continue;
        };
        let holder = Holder::from_bson(&stored)?;
        if holder.is_fresh(now, timing) {
            return Err(holder.refusal(now, timing));
        }
        // Stale: claim it (one `_id` per stale token), then take it over if it is still the
        // very lock we judged.
        if let Some(refusal) = claim(&locks, &holder.token, owner, timing).await? {
            last_refusal = Some(refusal);
            // Give the claimant a moment to rewrite the lock, then judge it again.
            tokio::time::sleep(timing.heartbeat / 4).await;
            continue;
        }
        let taken = locks
            .update_one(
                doc! { "_id": LOCK_ID, "token": &holder.token },
                doc! { "$set": { "owner": owner, "token": &token, "heartbeat": now_millis() } },
            )
            .await
            .map_err(|e| storage_error("taking over the sequencer lock", e))?;
        if taken.matched_count == 1 {
            tracing::warn!(
                previous_owner = %holder.owner,
                last_seen_ms_ago = now.saturating_sub(holder.heartbeat),
                "took over a stale sequencer lock"
            );
            return Ok(SequencerLock::hold(shared, token, owner, timing));
        }
        // The lock changed after we judged it (released, or taken anew): judge it again.
        last_refusal = Some(holder.refusal(now, timing));
    }
    Err(last_refusal.unwrap_or_else(|| {
        Error::unavailable(
            "the sequencer lock kept changing while this server tried to take it",
            std::io::Error::other("sequencer lock contended"),
        )
    }))
}

impl SequencerLock {
    /// Starts beating for a lock just taken.
    fn hold(shared: Arc<Shared>, token: String, owner: &str, timing: LockTiming) -> Self {
        let held = Arc::new(AtomicBool::new(true));
        let beating = shared.spawn(beat(
            Arc::clone(&shared),
            token.clone(),
            Arc::clone(&held),
            timing,
        ));
        tracing::info!(owner, "took the sequencer lock");
        Self {
            shared,
            token,
            owner: owner.to_owned(),
            held,
            beating: Some(beating),
        }
    }

    /// Whether the lock is still ours: `false` once a heartbeat found another server had
    /// taken it over.
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }

    /// Who holds it.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Stops beating and deletes the lock, if it is still ours.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when MongoDB cannot be reached: the lock then goes
    /// stale by itself.
    pub async fn release(mut self) -> Result<(), Error> {
        if let Some(beating) = self.beating.take() {
            beating.abort();
        }
        self.held.store(false, Ordering::Relaxed);
        delete(&self.shared, &self.token).await
    }
}

impl Drop for SequencerLock {
    fn drop(&mut self) {
        let Some(beating) = self.beating.take() else {
            return;
        };
        beating.abort();
        // Best effort: on the runtime the heartbeat ran on, if it still runs (else the lock
        // goes stale by itself).
        let has_runtime =
            self.shared.own_runtime.is_some() || tokio::runtime::Handle::try_current().is_ok();
        if has_runtime {
            let shared = Arc::clone(&self.shared);
            let token = self.token.clone();
            drop(self.shared.spawn(async move {
                if let Err(error) = delete(&shared, &token).await {
                    tracing::warn!(error = %error.chain(), "could not release the sequencer lock");
                }
            }));
        }
    }
}

/// Claims the take-over of the stale lock of `token`: `None` when this server won the claim,
/// the refusal when another server did. A claim whose claimant died before rewriting the lock
/// (older than `stale_after`) is claimed over in turn, by a claim of the claim.
async fn claim(
    locks: &mongodb::Collection<Bson_>,
    token: &str,
    owner: &str,
    timing: LockTiming,
) -> Result<Option<Error>, Error> {
    let mut claim = format!("{LOCK_ID}-takeover:{token}");
    for _ in 0..ATTEMPTS {
        let now = now_millis();
        let inserted = locks
            .insert_one(doc! { "_id": &claim, "owner": owner, "heartbeat": now })
            .await;
        match inserted {
            Ok(_) => return Ok(None),
            Err(e) if is_duplicate_key(&e) => {}
            Err(e) => return Err(storage_error("claiming a stale sequencer lock", e)),
        }
        let Some(stored) = locks
            .find_one(doc! { "_id": &claim })
            .await
            .map_err(|e| storage_error("reading a sequencer lock claim", e))?
        else {
            continue;
        };
        let claimant = Holder {
            owner: str_field(&stored, "owner", "sequencer lock claim owner")?.to_owned(),
            token: claim.clone(),
            heartbeat: i64_field(&stored, "heartbeat", "sequencer lock claim time")?,
        };
        if claimant.is_fresh(now, timing) {
            return Ok(Some(claimant.refusal(now, timing)));
        }
        claim.push('+');
    }
    Ok(Some(Error::unavailable(
        "the stale sequencer lock kept being claimed while this server tried to take it over",
        std::io::Error::other("sequencer lock contended"),
    )))
}

/// Deletes the lock if `token` still holds it.
async fn delete(shared: &Shared, token: &str) -> Result<(), Error> {
    shared
        .collection(SERVER_LOCKS)
        .delete_one(doc! { "_id": LOCK_ID, "token": token })
        .await
        .map(drop)
        .map_err(|e| storage_error("releasing the sequencer lock", e))
}

/// Beats until aborted, or until the lock turns out to be another server's.
async fn beat(shared: Arc<Shared>, token: String, held: Arc<AtomicBool>, timing: LockTiming) {
    let locks = shared.collection(SERVER_LOCKS);
    loop {
        tokio::time::sleep(timing.heartbeat).await;
        let beat = locks
            .update_one(
                doc! { "_id": LOCK_ID, "token": &token },
                doc! { "$set": { "heartbeat": now_millis() } },
            )
            .await;
        match beat {
            Ok(result) if result.matched_count == 0 => {
                held.store(false, Ordering::Relaxed);
                tracing::error!(
                    "the sequencer lock was taken over by another server: this one must \
                     stop sequencing (its batches now conflict with the other's)"
                );
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let error = storage_error("beating the sequencer lock", e);
                tracing::warn!(error = %error.chain(), "a sequencer heartbeat failed");
            }
        }
    }
}
