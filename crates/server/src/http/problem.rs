//! Errors as RFC 9457 `application/problem+json`: the one place codes become statuses.

use std::any::Any;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use shared_kernel::{Error, ErrorCode};
use storage_app::idempotency::Refusal;

use super::request_id::current_request_id;

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error on its way to becoming an HTTP answer.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

/// The HTTP status of each code: one exhaustive match, so a new code cannot be forgotten.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound | ErrorCode::NotYetSequenced => StatusCode::NOT_FOUND,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::SchemaViolation | ErrorCode::IdempotencyKeyReused => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn title_of(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidInput => "Invalid input",
        ErrorCode::Unauthorized => "Unauthorized",
        ErrorCode::Forbidden => "Forbidden",
        ErrorCode::NotFound => "Not found",
        ErrorCode::NotYetSequenced => "Not yet sequenced",
        ErrorCode::MethodNotAllowed => "Method not allowed",
        ErrorCode::Conflict => "Conflict",
        ErrorCode::PreconditionFailed => "Precondition failed",
        ErrorCode::PayloadTooLarge => "Payload too large",
        ErrorCode::UnsupportedMediaType => "Unsupported media type",
        ErrorCode::SchemaViolation => "Schema violation",
        ErrorCode::IdempotencyKeyReused => "Idempotency key reused",
        ErrorCode::RateLimited => "Rate limited",
        ErrorCode::Internal => "Internal error",
        ErrorCode::Unavailable => "Unavailable",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let code = error.code();
        let request_id = current_request_id();
        let detail = match code {
            ErrorCode::Internal => {
                tracing::error!(error = %error.chain(), request_id, "request failed");
                "an internal error occurred; quote the request id when reporting it".to_owned()
            }
            ErrorCode::Unavailable => {
                tracing::warn!(error = %error.chain(), request_id, "request failed: unavailable");
                error.detail().to_owned()
            }
            ErrorCode::InvalidInput
            | ErrorCode::Unauthorized
            | ErrorCode::Forbidden
            | ErrorCode::NotFound
            | ErrorCode::NotYetSequenced
            | ErrorCode::MethodNotAllowed
            | ErrorCode::Conflict
            | ErrorCode::PreconditionFailed
            | ErrorCode::PayloadTooLarge
            | ErrorCode::UnsupportedMediaType
            | ErrorCode::SchemaViolation
            | ErrorCode::IdempotencyKeyReused
            | ErrorCode::RateLimited => {
                tracing::debug!(error = %error.chain(), request_id, "request rejected");
                error.detail().to_owned()
            }
        };
        let refusal = Refusal::of(&error, detail, request_id);
        let mut response = problem_response(&refusal);
        if !code.is_server_fault() {
            // What the `Idempotency-Key` handling keeps of a refused keyed request.
            response.extensions_mut().insert(refusal);
        }
        response
    }
}

/// The problem answer of `refusal`: every error answer, first or replayed, is rendered here,
/// so a replay is the first answer again.
pub fn problem_response(refusal: &Refusal) -> Response {
    let code = refusal.code;
    let status = status_of(code);
    let mut body = Map::new();
    body.insert(
        "type".into(),
        json!(format!(
            "urn:offchain-db:error:{}",
            code.as_str().to_lowercase()
        )),
    );
    body.insert("title".into(), json!(title_of(code)));
    body.insert("status".into(), json!(status.as_u16()));
    body.insert("code".into(), json!(code.as_str()));
    body.insert("detail".into(), json!(refusal.detail));
    body.insert("request_id".into(), json!(refusal.request_id));
    if !refusal.errors.is_empty() {
        body.insert("errors".into(), json!(refusal.errors));
    }
    if !refusal.details.is_empty() {
        body.insert("details".into(), Value::Object(refusal.details.clone()));
    }
    // RFC 9457 extension members; never in place of a standard member.
    for (name, value) in &refusal.extensions {
        if !body.contains_key(name) {
            body.insert(name.clone(), value.clone());
        }
    }
    let mut response = (status, axum::Json(Value::Object(body))).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

/// The answer for a route that does not exist.
pub async fn route_not_found() -> ApiError {
    ApiError(Error::not_found("no such route"))
}

/// The answer for a known route called with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError(Error::new(
        ErrorCode::MethodNotAllowed,
        "this route does not accept that method",
    ))
}

/// The answer when a handler panicked: a 500 like any internal error, never a dropped
/// connection.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    ApiError(Error::internal(
        "a handler panicked",
        std::io::Error::other(message),
    ))
    .into_response()
}
