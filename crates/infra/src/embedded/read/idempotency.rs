//! Reading an idempotency key's record back (the keys are written by the transaction that
//! answered the request: `write/repositories/idempotency.rs`).
//!
//! A key whose answer is not kept ([`KeptAnswer::RunAgain`]) reads back without a response:
//! its row has `answer_kept = 0` and only its scope, request hash and time.

use rusqlite::{Connection, OptionalExtension, params};
use shared_kernel::{Error, Sha256Digest, Timestamp};
use storage_app::idempotency::{
    IdempotencyKey, IdempotencyRecord, IdempotencyScope, KeptAnswer, StoredResponse,
};

use crate::embedded::error::{corrupt, storage_error};
use crate::embedded::rows::from_sql_integer;

/// The record of `scope`, expired or not.
pub(crate) fn select_record(
    connection: &Connection,
    scope: IdempotencyScope,
) -> Result<Option<IdempotencyRecord>, Error> {
    let row = connection
        .prepare_cached(
            "SELECT request_hash, status, headers, body, created_at, answer_kept \
             FROM idempotency_keys WHERE actor = ?1 AND method = ?2 AND path = ?3 AND key = ?4",
        )
        .and_then(|mut statement| {
            statement
                .query_row(
                    params![scope.actor, scope.method, scope.path, scope.key],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, i64>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, Vec<u8>>(3)?,
                            row.get::<_, i64>(4)?,
                            row.get::<_, bool>(5)?,
                        ))
                    },
                )
                .optional()
        })
        .map_err(|e| storage_error("reading an idempotency key", e))?;
    let Some((request_hash, status, headers, body, created_at, kept)) = row else {
        return Ok(None);
    };
    let answer = if kept {
        let status = u16::try_from(from_sql_integer(status, "stored status")?)
            .map_err(|e| corrupt("stored status", e))?;
        KeptAnswer::Replay(StoredResponse {
            status,
            headers: serde_json::from_str(&headers).map_err(|e| corrupt("stored headers", e))?,
            body,
        })
    } else {
        KeptAnswer::RunAgain
    };
    Ok(Some(IdempotencyRecord {
        key: IdempotencyKey {
            scope,
            request_hash: Sha256Digest::parse_hex(&request_hash)
                .map_err(|e| corrupt("request hash", e))?,
        },
        answer,
        created_at: Timestamp::from_millis(created_at),
    }))
}
