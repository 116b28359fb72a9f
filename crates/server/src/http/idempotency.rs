//! `Idempotency-Key` on POST: replay the first answer, refuse a reused key, record answers.
//!
//! The middleware scopes the key to actor + method + path + key and hashes the request body
//! (SHA-256 of its canonical JSON; of its raw bytes when it is not JSON). A key still in
//! flight in this process answers 409; a recorded key with the same hash replays the first
//! answer (status, body, `ETag`, `Location`); with another hash it answers 422.
//!
//! Handlers that change something render their answer as a [`StoredResponse`] and pass it to
//! the command, which records it *inside the change's transaction*; they mark their response
//! with [`RecordedInTransaction`]. Any other 2xx or 4xx answer is recorded here afterwards,
//! in its own transaction (it changed nothing). 5xx answers are never recorded.
//!
//! A read (`POST .../documents/query`) marks its answer with [`ReadAnswer`]: its answer is
//! kept only up to 64 KiB of body; above that only the request's hash is kept, and a repeat
//! of the same request runs the read again (answered as a fresh answer, without
//! `Idempotent-Replayed`), while another request with the key is still refused.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shared_kernel::{Error, ErrorCode, RequestContext, Sha256Digest};
use storage_app::idempotency::{IdempotencyKey, IdempotencyScope, KeptAnswer, StoredResponse};

use super::AppState;
use super::dispatch::call_routes;
use super::extract::read_body;
use super::problem::ApiError;

/// The request header carrying the key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// The response header marking a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// The headers of an answer that are recorded and replayed.
const REPLAYED_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::ETAG, header::LOCATION];

/// Marks a response whose idempotency record was written in the change's transaction.
#[derive(Debug, Clone, Copy)]
pub struct RecordedInTransaction;

/// Marks the answer of a read: kept for its key only when small (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct ReadAnswer;

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

/// Renders a JSON answer as the bytes that are both sent and recorded.
///
/// # Errors
/// `INTERNAL_ERROR` when the body cannot be serialised.
pub fn render_json(
    status: StatusCode,
    headers: Vec<(HeaderName, String)>,
    body: &impl Serialize,
) -> Result<StoredResponse, Error> {
    let body =
        serde_json::to_vec(body).map_err(|e| Error::internal("could not encode the answer", e))?;
    let mut stored_headers = vec![(
        header::CONTENT_TYPE.to_string(),
        "application/json".to_owned(),
    )];
    stored_headers.extend(
        headers
            .into_iter()
            .map(|(name, value)| (name.to_string(), value)),
    );
    Ok(StoredResponse {
        status: status.as_u16(),
        headers: stored_headers,
        body,
    })
}

/// Turns a stored answer into an HTTP response.
pub fn to_response(stored: &StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Body::from(stored.body.clone())).into_response();
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
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
            KeptAnswer::Replay(stored) => {
                let mut response = to_response(&stored);
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
    let response = call_routes(routes, request).await;
    let status = response.status();
    let read = response.extensions().get::<ReadAnswer>().is_some();
    if response
        .extensions()
        .get::<RecordedInTransaction>()
        .is_some()
        || status.is_server_error()
    {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| Error::internal("could not buffer the answer", e))?;
    let headers = REPLAYED_HEADERS
        .iter()
        .filter_map(|name| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| (name.to_string(), v.to_owned()))
        })
        .collect();
    let stored = StoredResponse {
        status: status.as_u16(),
        headers,
        body: body.to_vec(),
    };
    let storage = state.storage();
    let recorded = if read {
        storage.record_read_answer(&key, stored).await
    } else {
        storage.record_idempotent_response(&key, stored).await
    };
    if let Err(error) = recorded {
        // The answer stands; only its replay is lost (a concurrent twin may have recorded first).
        tracing::warn!(error = %error.chain(), "could not record an idempotent answer");
    }
    Ok(Response::from_parts(parts, Body::from(body)))
}
