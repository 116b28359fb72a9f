//! `Idempotency-Key` on POST: replay the first answer, refuse a reused key, record answers.
//!
//! The middleware scopes the key to actor + method + path + key and hashes the request body
//! (SHA-256 of its canonical JSON; of its raw bytes when it is not JSON). A key still in
//! flight in this process answers 409; a recorded key with the same hash replays the first
//! answer (status, body, `ETag`, `Location`); with another hash it answers 422.
//!
//! What is kept is the request's neutral outcome (`storage_app::idempotency::Outcome`), never
//! the rendered answer; a replay is rendered from it by `answers.rs`, which renders the first
//! answers too, so it is the same answer. Handlers that change something pass the key to the
//! command, which records the outcome *inside the change's transaction*; they mark their
//! response with [`RecordedInTransaction`]. A refusal (4xx) carries its
//! [`Refusal`] (`problem.rs`) and is recorded here afterwards, in its own transaction (it
//! changed nothing). 5xx answers are never recorded.
//!
//! A read (`POST .../documents/query`) marks its answer with [`ReadAnswer`]: its page is kept
//! only when the answer is at most 64 KiB; above that only the request's hash is kept, and a
//! repeat of the same request runs the read again (answered as a fresh answer, without
//! `Idempotent-Replayed`), while another request with the key is still refused.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use shared_kernel::{Error, ErrorCode, RequestContext, Sha256Digest};
use storage_app::idempotency::{
    IdempotencyKey, IdempotencyScope, KeptAnswer, PageOutcome, Refusal,
};

use super::AppState;
use super::answers::replay;
use super::dispatch::call_routes;
use super::extract::read_body;
use super::problem::ApiError;

/// The request header carrying the key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// The response header marking a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Marks a response whose idempotency record was written in the change's transaction.
#[derive(Debug, Clone, Copy)]
pub struct RecordedInTransaction;

/// Marks the answer of a keyed read, with its page when the answer is small enough to keep
/// (see the module docs).
#[derive(Debug, Clone)]
pub struct ReadAnswer(pub Option<PageOutcome>);

/// The scopes being served right now in this process.
#[derive(Debug, Default)]
pub struct InFlightKeys(Mutex<HashSet<IdempotencyScope>>);

/// Releases a claimed scope when dropped.
struct InFlightClaim {
    keys: Arc<InFlightKeys>,
    scope: IdempotencyScope,
}

impl InFlightKeys {
    fn claim(self: &Arc<Self>, scope: &IdempotencyScope) -> Option<InFlightClaim> {
        let mut keys = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        keys.insert(scope.clone()).then(|| InFlightClaim {
            keys: Arc::clone(self),
            scope: scope.clone(),
        })
    }
}

impl Drop for InFlightClaim {
    fn drop(&mut self) {
        self.keys
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.scope);
    }
}

/// Whether `request` goes through the key's handling: a POST with an `Idempotency-Key`.
pub fn applies_to(request: &Request) -> bool {
    request.method() == Method::POST && request.headers().contains_key(IDEMPOTENCY_KEY_HEADER)
}

/// Serves a POST with an `Idempotency-Key` (see the module documentation) through `routes`.
pub async fn with_key(state: AppState, request: Request, routes: Router) -> Response {
    serve_with_key(state, request, routes)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn serve_with_key(
    state: AppState,
    request: Request,
    routes: Router,
) -> Result<Response, ApiError> {
    let key_text = request
        .headers()
        .get(IDEMPOTENCY_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let actor = request
        .extensions()
        .get::<RequestContext>()
        .map(|c| c.actor.to_string())
        .ok_or_else(|| {
            Error::internal(
                "no request context",
                std::io::Error::other("middleware order"),
            )
        })?;
    let scope = IdempotencyScope::new(
        actor,
        Method::POST.to_string(),
        request.uri().path().to_owned(),
        &key_text,
    )?;
    let (parts, body) = request.into_parts();
    let bytes = read_body(
        &parts.headers,
        body,
        state.storage().limits().max_request_bytes(),
    )
    .await?;
    let request_hash = match shared_kernel::json::parse_strict(&bytes) {
        Ok(value) => Sha256Digest::of_json(&value),
        Err(_) => Sha256Digest::of(&bytes),
    };
    let key = IdempotencyKey {
        scope,
        request_hash,
    };

    let Some(_claim) = state.0.in_flight.claim(&key.scope) else {
        return Err(
            Error::conflict("a request with this Idempotency-Key is still in flight").into(),
        );
    };
    if let Some(record) = state.storage().idempotency_record(&key.scope).await? {
        if record.key.request_hash != key.request_hash {
            return Err(Error::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was first used with a different request",
            )
            .into());
        }
        match record.answer {
            KeptAnswer::Replay(outcome) => {
                let mut response = replay(&outcome);
                response
                    .headers_mut()
                    .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
                return Ok(response);
            }
            KeptAnswer::RunAgain => {
                // Only the request was kept: answer it afresh (the key is recorded already).
                let mut request = Request::from_parts(parts, Body::from(bytes));
                request.extensions_mut().insert(key);
                return Ok(call_routes(routes, request).await);
            }
        }
    }

    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(key.clone());
    let mut response = call_routes(routes, request).await;
    let status = response.status();
    if response
        .extensions()
        .get::<RecordedInTransaction>()
        .is_some()
        || status.is_server_error()
    {
        return Ok(response);
    }
    let storage = state.storage();
    let recorded = if let Some(refusal) = response.extensions_mut().remove::<Refusal>() {
        storage.record_refusal(&key, refusal).await
    } else if let Some(ReadAnswer(page)) = response.extensions_mut().remove::<ReadAnswer>() {
        storage.record_read_answer(&key, page).await
    } else {
        // Every keyed route marks its answer; one that does not is answered unrecorded
        // rather than recorded wrong.
        tracing::warn!(%status, "a keyed answer carried no outcome; its key is not recorded");
        return Ok(response);
    };
    if let Err(error) = recorded {
        // The answer stands; only its replay is lost (a concurrent twin may have recorded first).
        tracing::warn!(error = %error.chain(), "could not record an idempotent answer");
    }
    Ok(response)
}
