//! `IdempotencyStore`, and its records read back through `StorageReader::idempotency_record`:
//! one record per scope, given back as kept, purged once expired.

use shared_kernel::{Error, ErrorCode, Sha256Digest, Timestamp};
use storage_app::idempotency::{
    CollectionOutcome, IdempotencyKey, IdempotencyRecord, IdempotencyScope, KeptAnswer, Outcome,
    Refusal,
};

use super::build::{begin, collection, commit, ok, refused_with};
use crate::Backend;

/// The scope of key `key` of the anonymous actor's `POST /v1/collections`.
fn scope(key: &str) -> IdempotencyScope {
    ok(
        "a valid key",
        IdempotencyScope::new(
            "anonymous".to_owned(),
            "POST".to_owned(),
            "/v1/collections".to_owned(),
            key,
        ),
    )
}

/// Key `key` bound to a request hashed from `request`.
fn key(text: &str, request: &str) -> IdempotencyKey {
    IdempotencyKey {
        scope: scope(text),
        request_hash: Sha256Digest::of(request.as_bytes()),
    }
}

/// Records `key` with `answer` at `ms` in a transaction of its own.
async fn record<B: Backend>(backend: &B, key: &IdempotencyKey, answer: &KeptAnswer, ms: i64) {
    let mut tx = begin(backend).await;
    ok(
        "recording",
        tx.idempotency()
            .record(key, answer, Timestamp::from_millis(ms))
            .await,
    );
    commit(tx).await;
}

/// The record of `key`'s scope, as the reader gives it.
async fn read<B: Backend>(backend: &B, key: &str) -> Option<IdempotencyRecord> {
    let reader = backend.ports().reader;
    ok(
        "reading the record",
        reader.idempotency_record(scope(key)).await,
    )
}

/// `record` keeps the key, its request hash, the time and the kept answer, and the reader
/// gives back the same `KeptAnswer` (an outcome, a refusal, or only the request).
pub async fn a_recorded_key_reads_back_with_the_same_kept_answer<B: Backend>(backend: &B) {
    let refusal = Error::invalid_field("/name", "not a valid name");
    let answers = [
        (
            "made",
            KeptAnswer::Replay(Outcome::Collection(CollectionOutcome::from(&collection(
                "orders",
            )))),
        ),
        (
            "refused",
            KeptAnswer::Replay(Outcome::Refused(Refusal::of(
                &refusal,
                refusal.detail().to_owned(),
                "req-1".to_owned(),
            ))),
        ),
        ("large-read", KeptAnswer::RunAgain),
    ];
    for (at, (text, answer)) in (10_i64..).zip(&answers) {
        let kept = key(text, &format!("{{\"request\":\"{text}\"}}"));
        record(backend, &kept, answer, at).await;
        let expected = IdempotencyRecord {
            key: kept,
            answer: answer.clone(),
            created_at: Timestamp::from_millis(at),
        };
        assert_eq!(read(backend, text).await, Some(expected), "{text}");
    }
    assert_eq!(read(backend, "never").await, None);
}

/// `record` MUST return `CONFLICT` when the scope is already recorded, whatever the request;
/// the first record stays.
pub async fn recording_a_scope_twice_is_a_conflict<B: Backend>(backend: &B) {
    let first = key("k", "first");
    record(backend, &first, &KeptAnswer::RunAgain, 10).await;
    let mut tx = begin(backend).await;
    let done = tx
        .idempotency()
        .record(
            &key("k", "second"),
            &KeptAnswer::RunAgain,
            Timestamp::from_millis(11),
        )
        .await;
    refused_with("a second record of `k`", done, tx, ErrorCode::Conflict).await;
    let kept = read(backend, "k").await.map(|r| r.key.request_hash);
    assert_eq!(kept, Some(first.request_hash));
}

/// A key is scoped: the same key text under another path is another record.
pub async fn the_same_key_under_another_scope_is_another_record<B: Backend>(backend: &B) {
    record(backend, &key("k", "first"), &KeptAnswer::RunAgain, 10).await;
    let other = IdempotencyKey {
        scope: IdempotencyScope {
            path: "/v1/collections/orders/documents".to_owned(),
            ..scope("k")
        },
        request_hash: Sha256Digest::of(b"other"),
    };
    record(backend, &other, &KeptAnswer::RunAgain, 11).await;
    let reader = backend.ports().reader;
    let found = ok(
        "reading",
        reader.idempotency_record(other.scope.clone()).await,
    );
    assert_eq!(found.map(|r| r.key), Some(other));
}

/// `purge_scope_if_expired` deletes the scope's record only if made before the cutoff, so
/// an expired key can be recorded again.
pub async fn an_expired_scope_is_purged_and_a_fresh_one_is_kept<B: Backend>(backend: &B) {
    record(backend, &key("k", "first"), &KeptAnswer::RunAgain, 100).await;
    let mut tx = begin(backend).await;
    ok(
        "purging with a cutoff at the record's time",
        tx.idempotency()
            .purge_scope_if_expired(&scope("k"), Timestamp::from_millis(100))
            .await,
    );
    commit(tx).await;
    assert!(
        read(backend, "k").await.is_some(),
        "a record made at the cutoff is kept"
    );
    let mut tx = begin(backend).await;
    ok(
        "purging after it",
        tx.idempotency()
            .purge_scope_if_expired(&scope("k"), Timestamp::from_millis(101))
            .await,
    );
    let again = key("k", "again");
    ok(
        "recording the key again",
        tx.idempotency()
            .record(&again, &KeptAnswer::RunAgain, Timestamp::from_millis(200))
            .await,
    );
    commit(tx).await;
    assert_eq!(read(backend, "k").await.map(|r| r.key), Some(again));
}

/// `purge_before` deletes every record made before the cutoff and says how many.
pub async fn purging_before_a_cutoff_deletes_exactly_the_older_records<B: Backend>(backend: &B) {
    for (text, at) in [("a", 10), ("b", 20), ("c", 30)] {
        record(backend, &key(text, text), &KeptAnswer::RunAgain, at).await;
    }
    let mut tx = begin(backend).await;
    let purged = ok(
        "purging",
        tx.idempotency()
            .purge_before(Timestamp::from_millis(30))
            .await,
    );
    commit(tx).await;
    assert_eq!(purged, 2);
    assert_eq!(read(backend, "a").await, None);
    assert_eq!(read(backend, "b").await, None);
    assert!(read(backend, "c").await.is_some());
}
