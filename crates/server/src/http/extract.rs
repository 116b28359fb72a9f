//! Extractors that answer in our problem format: bodies (media type, size, strict JSON, no
//! unknown fields), query strings, path segments, and the request context.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use serde_json::Value;
use shared_kernel::{Deadline, Error, ErrorCode, FieldError, RequestContext};

use super::AppState;
use super::problem::ApiError;

/// A request body type: its fields, so that unknown ones are named, every one of them.
pub trait RequestBody: DeserializeOwned {
    /// The accepted top-level fields.
    const FIELDS: &'static [&'static str];

    /// The required field that carries arbitrary JSON (a document's data), if the body has
    /// one. Its parsed value is moved into the body by [`put_payload`](Self::put_payload)
    /// rather than deserialised again: serde would rebuild the whole tree, allocating every
    /// key and node anew, only to drop the one just parsed. The body type marks the field
    /// `#[serde(skip)]`.
    const PAYLOAD: Option<&'static str> = None;

    /// Puts the payload (see [`PAYLOAD`](Self::PAYLOAD)) in its place.
    fn put_payload(&mut self, _payload: Value) {}
}

/// A JSON body (`application/json`), read within the body limit, parsed strictly.
pub struct JsonBody<T>(pub T);

/// An RFC 7396 merge patch body (`application/merge-patch+json`).
pub struct MergePatchBody(pub Value);

fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    Some(essence)
}

fn require_media_type(headers: &HeaderMap, expected: &str) -> Result<(), Error> {
    match media_type(headers) {
        Some(actual) if actual == expected => Ok(()),
        Some(actual) => Err(Error::new(
            ErrorCode::UnsupportedMediaType,
            format!("this route takes `{expected}`, not `{actual}`"),
        )),
        None => Err(Error::new(
            ErrorCode::UnsupportedMediaType,
            format!("a Content-Type header of `{expected}` is required"),
        )),
    }
}

/// Reads at most `limit` bytes of body.
///
/// # Errors
/// `PAYLOAD_TOO_LARGE` over the limit; `INVALID_INPUT` when the body cannot be read.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Error> {
    let too_large = || {
        Error::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body exceeds {limit} bytes"),
        )
        .with_detail("limit_bytes", limit)
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let over_limit = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if over_limit {
            too_large()
        } else {
            Error::invalid_input("the request body could not be read").with_source(e)
        }
    })
}

/// Rejects unknown top-level fields (naming every one), then deserialises with the failing
/// field's path.
fn into_body<T: RequestBody>(mut value: Value) -> Result<T, Error> {
    let Value::Object(object) = &mut value else {
        return Err(Error::invalid_field(
            "",
            "the request body must be a JSON object",
        ));
    };
    let unknown: Vec<FieldError> = object
        .keys()
        .filter(|key| !T::FIELDS.contains(&key.as_str()))
        .map(|key| FieldError::new(format!("/{key}"), format!("unknown field `{key}`")))
        .collect();
    if !unknown.is_empty() {
        return Err(
            Error::invalid_input("the request body has unknown fields").with_field_errors(unknown)
        );
    }
    let payload = match T::PAYLOAD {
        Some(field) => Some(object.remove(field).ok_or_else(|| {
            Error::invalid_field(format!("/{field}"), format!("missing field `{field}`"))
        })?),
        None => None,
    };
    let mut body: T = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = format!("/{}", e.path().to_string().replace('.', "/"));
        let path = if path == "/." { String::new() } else { path };
        Error::invalid_field(path, e.inner().to_string())
    })?;
    if let Some(payload) = payload {
        body.put_payload(payload);
    }
    Ok(body)
}

impl<T: RequestBody> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        require_media_type(request.headers(), "application/json")?;
        let (parts, body) = request.into_parts();
        let bytes = read_body(
            &parts.headers,
            body,
            state.storage().limits().max_request_bytes(),
        )
        .await?;
        let value = shared_kernel::json::parse_strict(&bytes)?;
        Ok(Self(into_body(value)?))
    }
}

impl FromRequest<AppState> for MergePatchBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        require_media_type(request.headers(), "application/merge-patch+json")?;
        let (parts, body) = request.into_parts();
        let bytes = read_body(
            &parts.headers,
            body,
            state.storage().limits().max_request_bytes(),
        )
        .await?;
        Ok(Self(shared_kernel::json::parse_strict(&bytes)?))
    }
}

/// Query parameters; unknown ones are rejected rather than silently ignored, and a value that
/// does not fit its parameter's type (`limit=ten`, `version=18446744073709551616`) is refused
/// naming the parameter (`/version`).
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default())
            .map(Self)
            .map_err(ApiError)
    }
}

/// Deserialises a query string, naming the failing parameter.
fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, Error> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let parameter = e.path().to_string();
        let error = Error::invalid_input(format!("bad query parameters: {}", e.inner()));
        if parameter.is_empty() || parameter == "." {
            error
        } else {
            error.at(&format!("/{parameter}"))
        }
    })
}

/// Path segments.
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|e| ApiError(Error::invalid_input(format!("bad path: {e}"))))
    }
}

/// The request context stored by the request-context middleware.
pub struct Context(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Context {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .map(Self)
            .ok_or_else(|| {
                ApiError(Error::internal(
                    "the request context middleware did not run",
                    std::io::Error::other("missing RequestContext extension"),
                ))
            })
    }
}

/// The request's deadline, stored by the pipeline's timeout (`pipeline.rs`): handed to work
/// that runs on other threads (query pages), which stops there. `None` outside the pipeline.
pub struct RequestDeadline(pub Option<Deadline>);

impl<S: Send + Sync> FromRequestParts<S> for RequestDeadline {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<Deadline>().copied()))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Params {
        version: Option<u64>,
        #[serde(rename = "limit")]
        _limit: Option<u32>,
    }

    fn path_of(query: &str) -> Option<String> {
        parse_query::<Params>(query)
            .err()
            .and_then(|e| e.field_errors().first().map(|f| f.path.clone()))
    }

    #[test]
    fn a_number_that_does_not_fit_names_its_parameter() {
        assert_eq!(
            parse_query::<Params>("version=9223372036854775808")
                .ok()
                .and_then(|p| p.version),
            Some(9_223_372_036_854_775_808)
        );
        assert_eq!(
            path_of("version=18446744073709551616").as_deref(),
            Some("/version")
        );
        assert_eq!(path_of("version=-1").as_deref(), Some("/version"));
        assert_eq!(path_of("limit=4294967296").as_deref(), Some("/limit"));
        assert_eq!(path_of("limit=ten").as_deref(), Some("/limit"));
    }

    #[test]
    fn unknown_parameters_are_still_refused() {
        assert!(parse_query::<Params>("colour=red").is_err());
    }
}
