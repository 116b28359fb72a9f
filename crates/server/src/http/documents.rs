//! `/v1/collections/{name}/documents`: create, read, replace, merge-patch, delete.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;
use shared_kernel::Error;
use storage_app::DocumentView;
use storage_app::commands::{CreateDocument, DeleteDocument, PatchDocument, ReplaceDocument};

use axum::Extension;
use storage_app::idempotency::IdempotencyKey;

use super::AppState;
use super::answers::document_created;
use super::dto::DocumentDto;
use super::extract::{Context, JsonBody, MergePatchBody, PathParams, QueryParams, RequestBody};
use super::idempotency::RecordedInTransaction;
use super::precondition::{etag, if_match};
use super::problem::ApiError;

/// The document routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/collections/{name}/documents", post(create))
        .route(
            "/v1/collections/{name}/documents/{id}",
            get(read).put(replace).patch(patch).delete(delete),
        )
}

#[derive(Deserialize)]
struct CreateBody {
    #[serde(default)]
    id: Option<String>,
    /// Moved in as parsed (see [`RequestBody::PAYLOAD`]).
    #[serde(skip)]
    data: Value,
}

impl RequestBody for CreateBody {
    const FIELDS: &'static [&'static str] = &["id", "data"];
    const PAYLOAD: Option<&'static str> = Some("data");

    fn put_payload(&mut self, payload: Value) {
        self.data = payload;
    }
}

#[derive(Deserialize)]
struct ReplaceBody {
    /// Moved in as parsed (see [`RequestBody::PAYLOAD`]).
    #[serde(skip)]
    data: Value,
}

impl RequestBody for ReplaceBody {
    const FIELDS: &'static [&'static str] = &["data"];
    const PAYLOAD: Option<&'static str> = Some("data");

    fn put_payload(&mut self, payload: Value) {
        self.data = payload;
    }
}

/// `?version=N` reads a past version; any other parameter is an error, never ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadParams {
    version: Option<u64>,
}

/// A document answer with its ETag.
fn document_response(status: StatusCode, view: &DocumentView) -> Result<Response, ApiError> {
    let body = document_body(&DocumentDto::from(view))?;
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ),
        (header::ETAG, etag(view.document.version())),
    ];
    Ok((status, headers, body).into_response())
}

/// The document as JSON, written into a buffer sized for it once.
fn document_body(dto: &DocumentDto<'_>) -> Result<Vec<u8>, Error> {
    let mut body = Vec::with_capacity(dto.size_hint());
    serde_json::to_writer(&mut body, dto)
        .map_err(|e| Error::internal("could not encode a document", e))?;
    Ok(body)
}

async fn create(
    State(state): State<AppState>,
    Context(context): Context,
    PathParams(name): PathParams<String>,
    key: Option<Extension<IdempotencyKey>>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let recorded = key.is_some();
    let command = CreateDocument {
        collection: name,
        id: body.id,
        data: body.data,
        idempotency: key.map(|Extension(key)| key),
    };
    let view = state.storage().create_document(&context, command).await?;
    let mut response = document_created(&DocumentDto::from(&view))?;
    if recorded {
        response.extensions_mut().insert(RecordedInTransaction);
    }
    Ok(response)
}

async fn read(
    State(state): State<AppState>,
    PathParams((name, id)): PathParams<(String, String)>,
    QueryParams(params): QueryParams<ReadParams>,
) -> Result<Response, ApiError> {
    let view = match params.version {
        Some(version) => {
            state
                .0
                .storage
                .get_document_version(&name, &id, version)
                .await?
        }
        None => state.storage().get_document(&name, &id).await?,
    };
    document_response(StatusCode::OK, &view)
}

async fn replace(
    State(state): State<AppState>,
    Context(context): Context,
    PathParams((name, id)): PathParams<(String, String)>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ReplaceBody>,
) -> Result<Response, ApiError> {
    let precondition = if_match(&headers)?;
    let command = ReplaceDocument {
        collection: name,
        id,
        data: body.data,
        precondition,
    };
    let view = state.storage().replace_document(&context, command).await?;
    document_response(StatusCode::OK, &view)
}

async fn patch(
    State(state): State<AppState>,
    Context(context): Context,
    PathParams((name, id)): PathParams<(String, String)>,
    headers: HeaderMap,
    MergePatchBody(merge_patch): MergePatchBody,
) -> Result<Response, ApiError> {
    let precondition = if_match(&headers)?;
    let command = PatchDocument {
        collection: name,
        id,
        merge_patch,
        precondition,
    };
    let view = state.storage().patch_document(&context, command).await?;
    document_response(StatusCode::OK, &view)
}

async fn delete(
    State(state): State<AppState>,
    Context(context): Context,
    PathParams((name, id)): PathParams<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let precondition = if_match(&headers)?;
    let view = state
        .0
        .storage
        .delete_document(
            &context,
            DeleteDocument {
                collection: name,
                id,
                precondition,
            },
        )
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(view.document.version()));
    Ok(response)
}
