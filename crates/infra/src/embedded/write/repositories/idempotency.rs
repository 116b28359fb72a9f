//! Idempotency keys in the embedded store: recorded inside the change's own transaction,
//! purged by age (the reader reads them back: `read/idempotency.rs`).
//!
//! A kept outcome is its kind in `outcome` and its JSON in `body`
//! (`read/idempotency/format.rs`); `status` and `headers`, which held the rendered answer
//! before migration 8, are 0 and `[]`. A key whose answer is not kept
//! ([`KeptAnswer::RunAgain`]) is a row with `answer_kept = 0`, no kind and an empty body:
//! only its scope, request hash and time take room.

use async_trait::async_trait;
use rusqlite::params;
use shared_kernel::{Error, Timestamp};
use storage_app::idempotency::{IdempotencyKey, IdempotencyScope, IdempotencyStore, KeptAnswer};

use crate::embedded::error::{conflict_or_storage_error, storage_error};
use crate::embedded::write::transaction::SqliteTransaction;
use crate::idempotency_format as format;

#[async_trait]
impl IdempotencyStore for SqliteTransaction {
    #[tracing::instrument(level = "debug", name = "embedded.idempotency.record", skip_all)]
    async fn record(
        &mut self,
        key: &IdempotencyKey,
        answer: &KeptAnswer,
        at: Timestamp,
    ) -> Result<(), Error> {
        let key = key.clone();
        let (kept, kind, body) = match answer {
            KeptAnswer::Replay(outcome) => {
                let (kind, body) = format::encode(outcome)?;
                (true, Some(kind), body)
            }
            KeptAnswer::RunAgain => (false, None, Vec::new()),
        };
        // Deferred to the next hand-off (see `write/transaction.rs`).
        self.defer(move |connection| {
            connection
                .prepare_cached(
                    "INSERT INTO idempotency_keys (actor, method, path, key, request_hash, \
                     status, headers, body, created_at, answer_kept, outcome) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 0, '[]', ?6, ?7, ?8, ?9)",
                )
                .and_then(|mut statement| {
                    let scope = &key.scope;
                    statement.execute(params![
                        scope.actor,
                        scope.method,
                        scope.path,
                        scope.key,
                        key.request_hash.to_hex(),
                        body,
                        at.as_millis(),
                        kept,
                        kind
                    ])
                })
                .map(drop)
                .map_err(|e| {
                    conflict_or_storage_error("recording an idempotency key", e, || {
                        Error::conflict("a request with this Idempotency-Key was already recorded")
                    })
                })
        });
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "embedded.idempotency.purge_scope", skip_all)]
    async fn purge_scope_if_expired(
        &mut self,
        scope: &IdempotencyScope,
        cutoff: Timestamp,
    ) -> Result<(), Error> {
        let scope = scope.clone();
        self.defer(move |connection| {
            connection
                .prepare_cached(
                    "DELETE FROM idempotency_keys WHERE actor = ?1 AND method = ?2 AND path = ?3 \
                     AND key = ?4 AND created_at < ?5",
                )
                .and_then(|mut statement| {
                    statement.execute(params![
                        scope.actor,
                        scope.method,
                        scope.path,
                        scope.key,
                        cutoff.as_millis()
                    ])
                })
                .map(drop)
                .map_err(|e| storage_error("purging an expired idempotency key", e))
        });
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "embedded.idempotency.purge", skip_all)]
    async fn purge_before(&mut self, cutoff: Timestamp) -> Result<u64, Error> {
        self.run(move |connection| {
            connection
                .prepare_cached("DELETE FROM idempotency_keys WHERE created_at < ?1")
                .and_then(|mut statement| statement.execute(params![cutoff.as_millis()]))
                .map(|deleted| deleted as u64)
                .map_err(|e| storage_error("purging idempotency keys", e))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use shared_kernel::Sha256Digest;
    use storage_app::Attempt;
    use storage_app::idempotency::{Outcome, PageOutcome};

    use super::*;
    use crate::embedded::tests::{ok, open, tempdir};

    fn key(name: &str) -> IdempotencyKey {
        IdempotencyKey {
            scope: ok(IdempotencyScope::new(
                "anonymous".into(),
                "POST".into(),
                "/v1/collections/c/documents/query".into(),
                name,
            )),
            request_hash: Sha256Digest::of(name.as_bytes()),
        }
    }

    #[tokio::test]
    async fn a_kept_answer_and_a_request_alone_read_back_as_recorded() {
        let dir = tempdir();
        let store = open(dir.path());
        let replay = KeptAnswer::Replay(Outcome::Page(PageOutcome {
            items: Vec::new(),
            next_cursor: Some("next".into()),
        }));
        for (name, answer) in [("small", &replay), ("large", &KeptAnswer::RunAgain)] {
            let mut tx = ok(store.unit_of_work().begin(Attempt::Again).await);
            ok(tx
                .idempotency()
                .record(&key(name), answer, Timestamp::from_millis(5))
                .await);
            ok(tx.commit().await.map_err(shared_kernel::Error::from));
        }
        for (name, answer) in [("small", replay), ("large", KeptAnswer::RunAgain)] {
            let record = ok(store.reader().idempotency_record(key(name).scope).await)
                .unwrap_or_else(|| panic!("{name} was not recorded"));
            assert_eq!(record.key, key(name));
            assert_eq!(record.answer, answer, "{name}");
            assert_eq!(record.created_at, Timestamp::from_millis(5));
        }
        let connection =
            rusqlite::Connection::open(store.database_path()).unwrap_or_else(|e| panic!("{e}"));
        let stored: i64 = connection
            .query_row(
                "SELECT length(body) + length(headers) FROM idempotency_keys WHERE key = 'large'",
                [],
                |row| row.get(0),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stored, 2, "only `[]` and an empty body beside the key");
    }

    #[tokio::test]
    async fn a_row_written_before_migration_8_reads_back_as_the_outcome_it_rendered() {
        let dir = tempdir();
        let store = open(dir.path());
        let connection =
            rusqlite::Connection::open(store.database_path()).unwrap_or_else(|e| panic!("{e}"));
        // As the af45eca release wrote a refusal: the rendered problem, no outcome kind.
        let problem = r#"{"code":"NOT_FOUND","detail":"collection `c` not found","request_id":"r-1","status":404,"title":"Not found","type":"urn:offchain-db:error:not_found"}"#;
        connection
            .execute(
                "INSERT INTO idempotency_keys (actor, method, path, key, request_hash, status, \
                 headers, body, created_at) VALUES ('anonymous', 'POST', \
                 '/v1/collections/c/documents/query', 'old', ?1, 404, \
                 '[[\"content-type\",\"application/problem+json\"]]', ?2, 5)",
                rusqlite::params![key("old").request_hash.to_hex(), problem.as_bytes()],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let record = ok(store.reader().idempotency_record(key("old").scope).await)
            .unwrap_or_else(|| panic!("the old row was not read"));
        let KeptAnswer::Replay(Outcome::Refused(refusal)) = record.answer else {
            panic!("not a refusal: {:?}", record.answer);
        };
        assert_eq!(refusal.code, shared_kernel::ErrorCode::NotFound);
        assert_eq!(refusal.detail, "collection `c` not found");
        assert_eq!(refusal.request_id, "r-1");
        assert!(refusal.extensions.is_empty(), "{refusal:?}");
    }
}
