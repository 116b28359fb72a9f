//! Safe retries: an `Idempotency-Key` makes a repeated POST replay its first answer.
//!
//! A key is scoped to actor + method + path + key, and bound to the hash of the request (the
//! SHA-256 of its canonical JSON). For an answer that changed something (2xx), the key and
//! the answer are recorded *in the change's own transaction*, so a crash can never leave a
//! change without its key (a retry would repeat it) or a key without its change. Rejections
//! (4xx) change nothing and are recorded on their own; failures (5xx) are never recorded, so
//! a retry can succeed. The answer is stored as opaque bytes rendered by the HTTP layer.
//!
//! A read's answer (`POST .../documents/query`) is kept only up to
//! [`MAX_KEPT_READ_ANSWER_BYTES`]; above that only the request's hash is kept and a repeat
//! runs the read again ([`KeptAnswer::RunAgain`]). Running a read twice is harmless, while
//! keeping every large answer for a day let anonymous keyed queries fill the disk.

use async_trait::async_trait;
use shared_kernel::constants::{
    IDEMPOTENCY_RETENTION, MAX_IDEMPOTENCY_KEY_LEN, MAX_KEPT_READ_ANSWER_BYTES,
};
use shared_kernel::{Error, Sha256Digest, Timestamp};

use crate::app::StorageApp;
use crate::ports::ReadMode;

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

/// An answer as it was sent: status, the headers worth replaying, and the body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status code.
    pub status: u16,
    /// Headers to replay (content type, ETag, Location).
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// What is kept of the first answer to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeptAnswer {
    /// The answer itself: a repeat replays it.
    Replay(StoredResponse),
    /// Only the request's hash: the answer was a read's and too large to keep, so a repeat of
    /// the same request runs the read again (another request with the key is still refused).
    RunAgain,
}

impl KeptAnswer {
    /// What to keep of a read's answer: the answer up to [`MAX_KEPT_READ_ANSWER_BYTES`] of
    /// body, nothing above (API.md "Idempotency").
    pub fn of_read(response: StoredResponse) -> Self {
        if response.body.len() > MAX_KEPT_READ_ANSWER_BYTES {
            Self::RunAgain
        } else {
            Self::Replay(response)
        }
    }
}

/// A recorded key with what was kept of its first answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The key and request hash.
    pub key: IdempotencyKey,
    /// The first answer, or only the fact that the request was made.
    pub answer: KeptAnswer,
    /// When it was recorded.
    pub created_at: Timestamp,
}

/// Renders a command's result into the answer to record.
pub type RenderResponse<T> = Box<dyn Fn(&T) -> Result<StoredResponse, Error> + Send + Sync>;

/// An idempotency key to record in a command's transaction, with the renderer of its answer.
pub struct Idempotency<T> {
    /// The key.
    pub key: IdempotencyKey,
    /// Renders the answer from the command's result, inside the transaction.
    pub render: RenderResponse<T>,
}

impl<T> std::fmt::Debug for Idempotency<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
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

impl StorageApp {
    /// The live (unexpired) record of `scope`, if any.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    pub async fn idempotency_record(
        &self,
        scope: &IdempotencyScope,
    ) -> Result<Option<IdempotencyRecord>, Error> {
        let cutoff = self.idempotency_cutoff();
        Ok(self
            .reader
            .idempotency_record(scope.clone())
            .await?
            .filter(|r| r.created_at >= cutoff))
    }

    /// Records a rejection (an answer that changed nothing) in its own transaction.
    ///
    /// # Errors
    /// `CONFLICT` when a concurrent request recorded the scope first.
    pub async fn record_idempotent_response(
        &self,
        key: &IdempotencyKey,
        response: StoredResponse,
    ) -> Result<(), Error> {
        self.record_alone(key, &KeptAnswer::Replay(response)).await
    }

    /// Records a read's answer in its own transaction: the answer itself up to
    /// [`MAX_KEPT_READ_ANSWER_BYTES`] of body, only the request's hash above
    /// ([`KeptAnswer::of_read`]).
    ///
    /// # Errors
    /// `CONFLICT` when a concurrent request recorded the scope first.
    pub async fn record_read_answer(
        &self,
        key: &IdempotencyKey,
        response: StoredResponse,
    ) -> Result<(), Error> {
        self.record_alone(key, &KeptAnswer::of_read(response)).await
    }

    async fn record_alone(&self, key: &IdempotencyKey, answer: &KeptAnswer) -> Result<(), Error> {
        let mut tx = self.unit_of_work.begin(ReadMode::Exclusive).await?;
        tx.idempotency()
            .purge_scope_if_expired(&key.scope, self.idempotency_cutoff())
            .await?;
        tx.idempotency()
            .record(key, answer, self.clock.now())
            .await?;
        tx.commit().await
    }

    /// Deletes expired keys; returns how many.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    pub async fn purge_expired_idempotency_keys(&self) -> Result<u64, Error> {
        let mut tx = self.unit_of_work.begin(ReadMode::Exclusive).await?;
        let purged = tx
            .idempotency()
            .purge_before(self.idempotency_cutoff())
            .await?;
        tx.commit().await?;
        Ok(purged)
    }

    /// Records `idempotency` (if any) for `result` inside `tx`: called by commands just
    /// before they commit.
    pub(crate) async fn record_idempotency_in<T>(
        &self,
        tx: &mut dyn crate::ports::Transaction,
        idempotency: Option<&Idempotency<T>>,
        result: &T,
    ) -> Result<(), Error> {
        let Some(idempotency) = idempotency else {
            return Ok(());
        };
        let answer = KeptAnswer::Replay((idempotency.render)(result)?);
        tx.idempotency()
            .purge_scope_if_expired(&idempotency.key.scope, self.idempotency_cutoff())
            .await?;
        tx.idempotency()
            .record(&idempotency.key, &answer, self.clock.now())
            .await
    }

    fn idempotency_cutoff(&self) -> Timestamp {
        let retention = i64::try_from(IDEMPOTENCY_RETENTION.as_millis()).unwrap_or(i64::MAX);
        Timestamp::from_millis(self.clock.now().as_millis().saturating_sub(retention))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shared_kernel::time::ManualClock;
    use shared_kernel::{Actor, RequestContext, RequestId};
    use storage_domain::DocumentLimits;

    use super::*;
    use crate::commands::CreateCollection;
    use crate::commands::test_support::{MockTx, valid_schemas};
    use crate::ports::{MockStorageReader, MockUnitOfWork};

    const NOW: i64 = 100_000_000_000;

    fn key() -> IdempotencyKey {
        let scope = IdempotencyScope::new(
            "anonymous".into(),
            "POST".into(),
            "/v1/collections".into(),
            "k",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        IdempotencyKey {
            scope,
            request_hash: Sha256Digest::of(b"{}"),
        }
    }

    fn app(tx: MockTx) -> StorageApp {
        let mut unit_of_work = MockUnitOfWork::new();
        unit_of_work
            .expect_begin()
            .times(1)
            .return_once(move |_| Ok(Box::new(tx)));
        StorageApp::new(
            Arc::new(unit_of_work),
            Arc::new(MockStorageReader::new()),
            Arc::new(valid_schemas()),
            Arc::new(ManualClock::new(Timestamp::from_millis(NOW))),
            DocumentLimits::default(),
        )
    }

    #[test]
    fn keys_must_be_printable_ascii_of_at_most_255_characters() {
        let scope = |key: &str| IdempotencyScope::new("a".into(), "POST".into(), "/".into(), key);
        assert!(scope("abc-123 xyz").is_ok());
        assert!(scope(&"k".repeat(255)).is_ok());
        for bad in ["", "tab\there", "caf\u{e9}", &"k".repeat(256)] {
            assert!(scope(bad).is_err(), "{bad:?}");
        }
    }

    fn answer_of(bytes: usize) -> StoredResponse {
        StoredResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: vec![b' '; bytes],
        }
    }

    #[test]
    fn a_read_answer_is_kept_up_to_64_kib_and_only_its_request_above() {
        let largest = answer_of(64 * 1024);
        assert_eq!(
            KeptAnswer::of_read(largest.clone()),
            KeptAnswer::Replay(largest)
        );
        assert_eq!(
            KeptAnswer::of_read(answer_of(64 * 1024 + 1)),
            KeptAnswer::RunAgain
        );
    }

    #[tokio::test]
    async fn a_large_read_answer_records_the_key_without_the_answer() {
        let mut tx = MockTx::default();
        tx.idempotency
            .expect_purge_scope_if_expired()
            .times(1)
            .returning(|_, _| Ok(()));
        tx.idempotency
            .expect_record()
            .withf(|key, answer, _| key.scope.key == "k" && *answer == KeptAnswer::RunAgain)
            .times(1)
            .returning(|_, _, _| Ok(()));
        let recorded = app(tx)
            .record_read_answer(&key(), answer_of(70 * 1024))
            .await;
        assert!(recorded.is_ok(), "{recorded:?}");
    }

    #[tokio::test]
    async fn a_small_read_answer_and_a_rejection_are_kept_whole() {
        for large_rejection in [false, true] {
            let mut tx = MockTx::default();
            tx.idempotency
                .expect_purge_scope_if_expired()
                .returning(|_, _| Ok(()));
            let size = if large_rejection { 70 * 1024 } else { 100 };
            tx.idempotency
                .expect_record()
                .withf(move |_, answer, _| {
                    matches!(answer, KeptAnswer::Replay(r) if r.body.len() == size)
                })
                .times(1)
                .returning(|_, _, _| Ok(()));
            let app = app(tx);
            let recorded = if large_rejection {
                app.record_idempotent_response(&key(), answer_of(size))
                    .await
            } else {
                app.record_read_answer(&key(), answer_of(size)).await
            };
            assert!(recorded.is_ok(), "{recorded:?}");
        }
    }

    #[tokio::test]
    async fn purging_deletes_what_is_older_than_the_retention() {
        let mut tx = MockTx::default();
        let cutoff = Timestamp::from_millis(NOW - 24 * 60 * 60 * 1000);
        tx.idempotency
            .expect_purge_before()
            .withf(move |c| *c == cutoff)
            .times(1)
            .returning(|_| Ok(3));
        assert_eq!(app(tx).purge_expired_idempotency_keys().await.ok(), Some(3));
    }

    #[tokio::test]
    async fn a_command_records_its_key_inside_its_own_transaction() {
        let mut tx = MockTx::default();
        tx.collections.expect_find_by_name().returning(|_| Ok(None));
        tx.collections.expect_insert().returning(|_| Ok(()));
        tx.expect_one_audit_entry("collection.create");
        tx.idempotency
            .expect_purge_scope_if_expired()
            .times(1)
            .returning(|_, _| Ok(()));
        tx.idempotency
            .expect_record()
            .withf(|key, answer, _| {
                key.scope.key == "k"
                    && matches!(answer, KeptAnswer::Replay(response) if response.status == 201)
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        let render: RenderResponse<storage_domain::Collection> = Box::new(|_| {
            Ok(StoredResponse {
                status: 201,
                headers: Vec::new(),
                body: b"{}".to_vec(),
            })
        });
        let command = CreateCollection {
            name: "orders".into(),
            schema: None,
            idempotency: Some(Idempotency { key: key(), render }),
        };
        let context = RequestContext {
            actor: Actor::Anonymous,
            request_id: RequestId::generate(),
            trace_id: None,
        };
        assert!(app(tx).create_collection(&context, command).await.is_ok());
    }

    #[tokio::test]
    async fn a_rejected_command_records_no_key_in_its_transaction() {
        let mut tx = MockTx::default();
        tx.collections.expect_find_by_name().returning(|name| {
            Ok(Some(crate::commands::test_support::existing_collection(
                name,
            )))
        });
        tx.idempotency.expect_record().never();
        let render: RenderResponse<storage_domain::Collection> =
            Box::new(|_| panic!("nothing to render"));
        let command = CreateCollection {
            name: "orders".into(),
            schema: None,
            idempotency: Some(Idempotency { key: key(), render }),
        };
        let context = RequestContext {
            actor: Actor::Anonymous,
            request_id: RequestId::generate(),
            trace_id: None,
        };
        let error = app(tx)
            .create_collection(&context, command)
            .await
            .err()
            .map(|e| e.code());
        assert_eq!(error, Some(shared_kernel::ErrorCode::Conflict));
    }
}
