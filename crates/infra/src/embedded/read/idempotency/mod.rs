//! Reading an idempotency key's record back (the keys are written by the transaction that
//! answered the request: `write/repositories/idempotency.rs`).
//!
//! A key whose answer is not kept ([`KeptAnswer::RunAgain`]) reads back without an outcome:
//! its row has `answer_kept = 0` and only its scope, request hash and time. A kept outcome is
//! in `body`, its kind in `outcome` (`format.rs`); a row written before migration 8 holds the
//! rendered answer instead, with no kind, and is read as the outcome it showed (`legacy.rs`).

mod legacy;

use rusqlite::{Connection, OptionalExtension, params};
use shared_kernel::{Error, Sha256Digest, Timestamp};
use storage_app::idempotency::{IdempotencyKey, IdempotencyRecord, IdempotencyScope, KeptAnswer};

use crate::embedded::error::{corrupt, storage_error};

/// The record of `scope`, expired or not.
pub(crate) fn select_record(
    connection: &Connection,
    scope: IdempotencyScope,
) -> Result<Option<IdempotencyRecord>, Error> {
    let row = connection
        .prepare_cached(
            "SELECT request_hash, status, outcome, body, created_at, answer_kept \
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
                            row.get::<_, Option<String>>(2)?,
                            row.get::<_, Vec<u8>>(3)?,
                            row.get::<_, i64>(4)?,
                            row.get::<_, bool>(5)?,
                        ))
                    },
                )
                .optional()
        })
        .map_err(|e| storage_error("reading an idempotency key", e))?;
    let Some((request_hash, status, kind, body, created_at, kept)) = row else {
        return Ok(None);
    };
    let answer = match (kept, kind) {
        (false, _) => KeptAnswer::RunAgain,
        (true, Some(kind)) => KeptAnswer::Replay(crate::idempotency_format::decode(&kind, &body)?),
        (true, None) => KeptAnswer::Replay(legacy::decode(status, &body)?),
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
