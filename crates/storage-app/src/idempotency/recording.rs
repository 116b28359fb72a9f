//! The application's handlers for idempotency keys: reading a live record, recording an
//! answer (inside a command's transaction or on its own), and purging expired keys.

use shared_kernel::constants::IDEMPOTENCY_RETENTION;
use shared_kernel::{Error, Timestamp};

use super::{
    Idempotency, IdempotencyKey, IdempotencyRecord, IdempotencyScope, KeptAnswer, StoredResponse,
};
use crate::app::StorageApp;
use crate::guards::Attempt;
use crate::ports::Transaction;

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
    /// [`MAX_KEPT_READ_ANSWER_BYTES`](shared_kernel::constants::MAX_KEPT_READ_ANSWER_BYTES) of body, only the request's hash above
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
        let mut tx = self.unit_of_work.begin(Attempt::First).await?;
        tx.idempotency()
            .purge_scope_if_expired(&key.scope, self.idempotency_cutoff())
            .await?;
        tx.idempotency()
            .record(key, answer, self.clock.now())
            .await?;
        Ok(tx.commit().await?)
    }

    /// Deletes expired keys; returns how many.
    ///
    /// # Errors
    /// `UNAVAILABLE` or `INTERNAL_ERROR` when storage fails.
    pub async fn purge_expired_idempotency_keys(&self) -> Result<u64, Error> {
        let mut tx = self.unit_of_work.begin(Attempt::First).await?;
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
        tx: &mut dyn Transaction,
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
    use shared_kernel::{Actor, RequestContext, RequestId, Sha256Digest};
    use storage_domain::DocumentLimits;

    use super::*;
    use crate::commands::CreateCollection;
    use crate::commands::test_support::{MockTx, no_pause, valid_schemas};
    use crate::idempotency::RenderResponse;
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
            Arc::new(no_pause()),
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
            deadline: None,
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
            deadline: None,
        };
        let error = app(tx)
            .create_collection(&context, command)
            .await
            .err()
            .map(|e| e.code());
        assert_eq!(error, Some(shared_kernel::ErrorCode::Conflict));
    }
}
