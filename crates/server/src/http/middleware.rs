//! Middleware: the request context (id, trace, actor) and the request timeout.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shared_kernel::constants::REQUEST_ID_HEADER;
use shared_kernel::{Actor, Error, RequestContext, RequestId, TraceId};
use tracing::Instrument;

use super::AppState;
use super::problem::ApiError;

tokio::task_local! {
    /// The request id of the request being served, for error bodies built deep inside.
    static REQUEST_ID: String;
}

/// The request id of the request this task is serving (empty outside a request).
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// Takes the client's `X-Request-Id` when it follows the grammar (else generates one), reads a
/// W3C `traceparent`, stores the [`RequestContext`] for extractors, runs the request inside a
/// span, and echoes the id on the response.
pub async fn request_context(mut request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| RequestId::parse(v).ok())
        .unwrap_or_else(RequestId::generate);
    let trace_id = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split('-').nth(1))
        .and_then(|id| TraceId::parse(id).ok());
    let context = RequestContext {
        actor: Actor::Anonymous,
        request_id: request_id.clone(),
        trace_id,
    };
    // The span gives every line logged while serving the request its method, path and id.
    // It has no `status` field filled in at the end: nothing logs after the answer is made,
    // and recording a field on an open span made the JSON formatter parse and re-serialise
    // the span's fields, which was a sixth of the instructions of a read by id.
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    );
    request.extensions_mut().insert(context);
    let id_text = request_id.to_string();
    let mut response = REQUEST_ID
        .scope(id_text.clone(), next.run(request))
        .instrument(span)
        .await;
    if let Ok(value) = HeaderValue::from_str(&id_text) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Answers 503 when a request outlives the configured timeout.
pub async fn timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(state.0.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError(Error::unavailable(
            "the request took longer than the configured timeout",
            std::io::Error::from(std::io::ErrorKind::TimedOut),
        ))
        .into_response(),
    }
}
