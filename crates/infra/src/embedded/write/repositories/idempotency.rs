//! Idempotency keys in the embedded store: recorded inside the change's own transaction,
//! purged by age (the reader reads them back: `read/idempotency.rs`).
//!
//! A key whose answer is not kept ([`KeptAnswer::RunAgain`]) is a row with `answer_kept = 0`
//! and an empty status, headers and body: only its scope, request hash and time take room.

use async_trait::async_trait;
use rusqlite::params;
use shared_kernel::{Error, Timestamp};
use storage_app::idempotency::{IdempotencyKey, IdempotencyScope, IdempotencyStore, KeptAnswer};

use crate::embedded::error::{conflict_or_storage_error, storage_error};
use crate::embedded::write::transaction::SqliteTransaction;

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
        let (kept, status, headers, body) = match answer {
            KeptAnswer::Replay(response) => (
                true,
                i64::from(response.status),
                serde_json::to_string(&response.headers)
                    .map_err(|e| Error::internal("could not encode stored headers", e))?,
                response.body.clone(),
            ),
            KeptAnswer::RunAgain => (false, 0, "[]".to_owned(), Vec::new()),
        };
        // Deferred to the next hand-off (see `write/transaction.rs`).
        self.defer(move |connection| {
            connection
                .prepare_cached(
                    "INSERT INTO idempotency_keys (actor, method, path, key, request_hash, \
                     status, headers, body, created_at, answer_kept) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .and_then(|mut statement| {
                    let scope = &key.scope;
                    statement.execute(params![
                        scope.actor,
                        scope.method,
                        scope.path,
                        scope.key,
                        key.request_hash.to_hex(),
                        status,
                        headers,
                        body,
                        at.as_millis(),
                        kept
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
    use storage_app::idempotency::StoredResponse;

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
        let replay = KeptAnswer::Replay(StoredResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{\"items\":[]}".to_vec(),
        });
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
}
