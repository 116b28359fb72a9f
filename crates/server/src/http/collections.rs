//! `/v1/collections`: create, list, read, change schema, delete.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use storage_app::commands::{ChangeSchema, CreateCollection, DeleteCollection};

use axum::Extension;
use storage_app::idempotency::IdempotencyKey;

use super::AppState;
use super::answers::collection_created;
use super::dto::{CollectionDto, ListDto};
use super::extract::{Context, JsonBody, PathParams, QueryParams, RequestBody};
use super::idempotency::RecordedInTransaction;
use super::problem::ApiError;

/// The collection routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/collections", get(list).post(create))
        .route("/v1/collections/{name}", get(read).delete(delete))
        .route("/v1/collections/{name}/schema", put(change_schema))
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    #[serde(default)]
    schema: Option<Value>,
}

impl RequestBody for CreateBody {
    const FIELDS: &'static [&'static str] = &["name", "schema"];
}

#[derive(Deserialize)]
struct SchemaBody {
    /// `null` removes the schema.
    schema: Option<Value>,
}

impl RequestBody for SchemaBody {
    const FIELDS: &'static [&'static str] = &["schema"];
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    Context(context): Context,
    key: Option<Extension<IdempotencyKey>>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let recorded = key.is_some();
    let command = CreateCollection {
        name: body.name,
        schema: body.schema,
        idempotency: key.map(|Extension(key)| key),
    };
    let collection = state.storage().create_collection(&context, command).await?;
    let mut response = collection_created(&CollectionDto::from(&collection))?;
    if recorded {
        response.extensions_mut().insert(RecordedInTransaction);
    }
    Ok(response)
}

async fn list(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<ListDto<CollectionDto>>, ApiError> {
    let page = state
        .0
        .storage
        .list_collections(params.limit, params.cursor.as_deref())
        .await?;
    Ok(Json(ListDto::from_page(&page, CollectionDto::from)))
}

async fn read(
    State(state): State<AppState>,
    PathParams(name): PathParams<String>,
) -> Result<Json<CollectionDto>, ApiError> {
    let collection = state.storage().get_collection(&name).await?;
    Ok(Json(CollectionDto::from(&collection)))
}

async fn change_schema(
    State(state): State<AppState>,
    Context(context): Context,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<SchemaBody>,
) -> Result<Json<CollectionDto>, ApiError> {
    let command = ChangeSchema {
        collection: name,
        schema: body.schema,
    };
    let collection = state.storage().change_schema(&context, command).await?;
    Ok(Json(CollectionDto::from(&collection)))
}

async fn delete(
    State(state): State<AppState>,
    Context(context): Context,
    PathParams(name): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    state
        .0
        .storage
        .delete_collection(&context, DeleteCollection { collection: name })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
