//! The application's handlers for idempotency keys: reading a live record, recording an
//! answer (inside a command's transaction or on its own), and purging expired keys.

use shared_kernel::constants::IDEMPOTENCY_RETENTION;
use shared_kernel::{Error, Timestamp};

use super::{
    IdempotencyKey, IdempotencyRecord, IdempotencyScope, KeptAnswer, Outcome, PageOutcome, Refusal,
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

    /// Records a refusal (an answer that changed nothing) in its own transaction.
    ///
    /// # Errors
    /// `CONFLICT` when a concurrent request recorded the scope first.
    pub async fn record_refusal(
        &self,
        key: &IdempotencyKey,
        refusal: Refusal,
    ) -> Result<(), Error> {
        self.record_alone(key, &KeptAnswer::Replay(Outcome::Refused(refusal)))
            .await
    }

    /// Records a read's answer in its own transaction: its page when the answer was small
    /// enough to keep ([`super::keeps_read_answer`]), only the request's hash when `page` is
    /// `None` because it was not.
    ///
    /// # Errors
    /// `CONFLICT` when a concurrent request recorded the scope first.
    pub async fn record_read_answer(
        &self,
        key: &IdempotencyKey,
        page: Option<PageOutcome>,
    ) -> Result<(), Error> {
        let answer = page.map_or(KeptAnswer::RunAgain, |page| {
            KeptAnswer::Replay(Outcome::Page(page))
        });
        self.record_alone(key, &answer).await
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

    /// Records `key` (if any) with the outcome `outcome` builds, inside `tx`: called by
    /// commands just before they commit. Without a key nothing is built.
    pub(crate) async fn record_outcome_in(
        &self,
        tx: &mut dyn Transaction,
        key: Option<&IdempotencyKey>,
        outcome: impl FnOnce() -> Outcome,
    ) -> Result<(), Error> {
        let Some(key) = key else {
            return Ok(());
        };
        let answer = KeptAnswer::Replay(outcome());
        tx.idempotency()
            .purge_scope_if_expired(&key.scope, self.idempotency_cutoff())
            .await?;
        tx.idempotency()
            .record(key, &answer, self.clock.now())
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

    fn page_of(documents: usize) -> PageOutcome {
        PageOutcome {
            items: Vec::new(),
            next_cursor: Some(format!("{documents}")),
        }
    }

    fn refusal() -> Refusal {
        let error = shared_kernel::Error::not_found("collection `c` not found");
        Refusal::of(&error, error.detail().to_owned(), "req-1".into())
    }

    #[test]
    fn a_read_answer_is_kept_up_to_64_kib_as_sent() {
        assert!(crate::idempotency::keeps_read_answer(64 * 1024));
        assert!(!crate::idempotency::keeps_read_answer(64 * 1024 + 1));
    }

    #[tokio::test]
    async fn a_read_answer_not_kept_records_the_key_alone() {
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
        let recorded = app(tx).record_read_answer(&key(), None).await;
        assert!(recorded.is_ok(), "{recorded:?}");
    }

    #[tokio::test]
    async fn a_kept_page_and_a_refusal_are_recorded_whole() {
        for kept in [Outcome::Page(page_of(3)), Outcome::Refused(refusal())] {
            let mut tx = MockTx::default();
            tx.idempotency
                .expect_purge_scope_if_expired()
                .returning(|_, _| Ok(()));
            let expected = KeptAnswer::Replay(kept.clone());
            tx.idempotency
                .expect_record()
                .withf(move |_, answer, _| *answer == expected)
                .times(1)
                .returning(|_, _, _| Ok(()));
            let app = app(tx);
            let recorded = match kept {
                Outcome::Page(page) => app.record_read_answer(&key(), Some(page)).await,
                Outcome::Refused(refusal) => app.record_refusal(&key(), refusal).await,
                Outcome::Collection(_) | Outcome::Document(_) => unreachable!("not in this test"),
            };
            assert!(recorded.is_ok(), "{recorded:?}");
        }
    }

    #[test]
    fn a_refusal_keeps_the_whole_problem_but_a_server_faults_details() {
        let error = shared_kernel::Error::invalid_input("bad")
            .with_field_error(shared_kernel::FieldError::new("/a", "no"))
            .with_detail("limit", 3)
            .with_extension("reason", "x");
        let refusal = Refusal::of(&error, "bad".into(), "r".into());
        assert_eq!(refusal.code, shared_kernel::ErrorCode::InvalidInput);
        assert_eq!(refusal.errors, error.field_errors());
        assert_eq!(refusal.details, *error.details());
        assert_eq!(refusal.extensions, *error.extensions());
        let fault = shared_kernel::Error::unavailable("down", std::io::Error::other("x"))
            .with_detail("secret", 1);
        assert!(
            Refusal::of(&fault, "down".into(), "r".into())
                .details
                .is_empty()
        );
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
                    && matches!(
                        answer,
                        KeptAnswer::Replay(Outcome::Collection(c)) if c.name == "orders" && c.version == 1
                    )
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        let command = CreateCollection {
            name: "orders".into(),
            schema: None,
            idempotency: Some(key()),
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
        let command = CreateCollection {
            name: "orders".into(),
            schema: None,
            idempotency: Some(key()),
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
