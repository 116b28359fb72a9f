//! Safe retries: an `Idempotency-Key` makes a repeated POST replay its first answer.
//!
//! A key is scoped to actor + method + path + key, and bound to the hash of the request (the
//! SHA-256 of its canonical JSON). For an answer that changed something (2xx), the key and
//! the answer are recorded *in the change's own transaction*, so a crash can never leave a
//! change without its key (a retry would repeat it) or a key without its change. Rejections
//! (4xx) change nothing and are recorded on their own; failures (5xx) are never recorded, so
//! a retry can succeed. What is kept is the neutral [`Outcome`] (what changed, or the whole
//! problem, or a read's page), never a rendered answer: the server renders the replay from it
//! with the code that rendered the first answer.
//!
//! A read's answer (`POST .../documents/query`) is kept only up to
//! [`MAX_KEPT_READ_ANSWER_BYTES`] as sent; above that only the request's hash is kept and a
//! repeat runs the read again ([`KeptAnswer::RunAgain`]). Running a read twice is harmless,
//! while keeping every large answer for a day let anonymous keyed queries fill the disk.
//!
//! This file declares the values and the [`IdempotencyStore`] port; `outcome.rs` the kept
//! outcomes; `recording.rs` the application's handlers that read, record and purge keys.

use async_trait::async_trait;
use shared_kernel::constants::{MAX_IDEMPOTENCY_KEY_LEN, MAX_KEPT_READ_ANSWER_BYTES};
use shared_kernel::{Error, Sha256Digest, Timestamp};

mod outcome;
mod recording;

pub use outcome::{CollectionOutcome, DocumentOutcome, Outcome, PageOutcome, Refusal};

/// What a key is scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyScope {
    /// The actor's text form.
    pub actor: String,
    /// The HTTP method.
    pub method: String,
    /// The request path.
    pub path: String,
    /// The client's key: 1–255 printable ASCII characters.
    pub key: String,
}

impl IdempotencyScope {
    /// Checks the key's grammar.
    ///
    /// # Errors
    /// `INVALID_INPUT` when the key is empty, too long, or not printable ASCII.
    pub fn new(actor: String, method: String, path: String, key: &str) -> Result<Self, Error> {
        let printable = key.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN || !printable {
            return Err(Error::invalid_input(format!(
                "Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY_LEN} printable ASCII characters"
            ))
            .at("/Idempotency-Key"));
        }
        Ok(Self {
            actor,
            method,
            path,
            key: key.to_owned(),
        })
    }
}

/// A key and the request it was first used with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// Where the key applies.
    pub scope: IdempotencyScope,
    /// SHA-256 of the canonical JSON of the request body.
    pub request_hash: Sha256Digest,
}

/// What is kept of the first answer to a key.
#[derive(Debug, Clone, PartialEq)]
pub enum KeptAnswer {
    /// The outcome: a repeat answers it again.
    Replay(Outcome),
    /// Only the request's hash: the answer was a read's and too large to keep, so a repeat of
    /// the same request runs the read again (another request with the key is still refused).
    RunAgain,
}

/// Whether a read's answer of `answer_bytes` (as sent) is kept for its key: up to
/// [`MAX_KEPT_READ_ANSWER_BYTES`], nothing above (API.md "Idempotency"). Asked before the
/// page's outcome is built, so a large page is never copied for nothing.
pub fn keeps_read_answer(answer_bytes: usize) -> bool {
    answer_bytes <= MAX_KEPT_READ_ANSWER_BYTES
}

/// A recorded key with what was kept of its first answer.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    /// The key and request hash.
    pub key: IdempotencyKey,
    /// The first answer, or only the fact that the request was made.
    pub answer: KeptAnswer,
    /// When it was recorded.
    pub created_at: Timestamp,
}

/// Records idempotency keys inside the current transaction.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IdempotencyStore: Send {
    /// Records `key` with what is kept of its answer; a later read of the scope MUST give
    /// back the same [`KeptAnswer`].
    ///
    /// # Errors
    /// MUST return `CONFLICT` when the scope is already recorded (a concurrent request with
    /// the same key won); the caller's transaction then rolls back.
    async fn record(
        &mut self,
        key: &IdempotencyKey,
        answer: &KeptAnswer,
        at: Timestamp,
    ) -> Result<(), Error>;

    /// Deletes the record of `scope` if it was made before `cutoff`, so that an expired key
    /// can be used again.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn purge_scope_if_expired(
        &mut self,
        scope: &IdempotencyScope,
        cutoff: Timestamp,
    ) -> Result<(), Error>;

    /// Deletes every key recorded before `cutoff`; returns how many.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    async fn purge_before(&mut self, cutoff: Timestamp) -> Result<u64, Error>;
}
