//! Finding documents: `GET /v1/collections/{name}/documents?filter=&sort=&limit=&cursor=` and
//! `POST /v1/collections/{name}/documents/query` `{"filter","sort","limit","cursor"}`. Both
//! answer one page of `DocumentDto`s; the POST form is a read, for filters too long for a URL.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use serde_json::Value;
use shared_kernel::Error;
use storage_app::idempotency::{IdempotencyKey, PageOutcome, keeps_read_answer};
use storage_app::queries::query_documents::QueryDocuments;

use super::AppState;
use super::answers;
use super::dto::{DocumentDto, ListDto};
use super::extract::{JsonBody, PathParams, QueryParams, RequestBody, RequestDeadline};
use super::idempotency::ReadAnswer;
use super::problem::{ApiError, method_not_allowed};

/// The last path segment of the POST form. It shares its place with document ids, so the
/// POST handler of `/documents/{id}` serves it (documents have no POST there).
const QUERY_SEGMENT: &str = "query";

/// The query routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/collections/{name}/documents", get(list))
        .route("/v1/collections/{name}/documents/{id}", post(query))
}

/// `?filter=<url-encoded JSON>&sort=&limit=&cursor=`; any other parameter is an error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    filter: Option<String>,
    sort: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct QueryBody {
    #[serde(default)]
    filter: Option<Value>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
}

impl RequestBody for QueryBody {
    const FIELDS: &'static [&'static str] = &["filter", "sort", "limit", "cursor"];
}

/// One page of documents. For a keyed read the answer carries what its key keeps: the page
/// when the answer is small enough to keep, nothing but the mark when it is not.
async fn answer(
    state: &AppState,
    name: &str,
    query: QueryDocuments,
    keyed: bool,
) -> Result<Response, ApiError> {
    let page = state.storage().query_documents(name, query).await?;
    let (mut response, length) = answers::page(&ListDto::from_page(&page, DocumentDto::from))?;
    if keyed {
        let kept = keeps_read_answer(length).then(|| PageOutcome::from(&page));
        response.extensions_mut().insert(ReadAnswer(kept));
    }
    Ok(response)
}

async fn list(
    State(state): State<AppState>,
    RequestDeadline(deadline): RequestDeadline,
    PathParams(name): PathParams<String>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Response, ApiError> {
    let filter = params
        .filter
        .map(|text| {
            shared_kernel::json::parse_strict(text.as_bytes()).map_err(|e| {
                // A number the reader refused names its place inside the filter.
                let error = Error::invalid_input(format!("bad filter: {}", e.detail()));
                if e.field_errors().is_empty() {
                    error.at("/filter")
                } else {
                    error
                        .with_field_errors(e.field_errors().to_vec())
                        .nested_under("/filter")
                }
            })
        })
        .transpose()?;
    let query = QueryDocuments {
        filter,
        sort: params.sort,
        limit: params.limit,
        cursor: params.cursor,
        deadline,
    };
    answer(&state, &name, query, false).await
}

async fn query(
    State(state): State<AppState>,
    RequestDeadline(deadline): RequestDeadline,
    PathParams((name, segment)): PathParams<(String, String)>,
    key: Option<Extension<IdempotencyKey>>,
    body: Result<JsonBody<QueryBody>, ApiError>,
) -> Response {
    if segment != QUERY_SEGMENT {
        return method_not_allowed().await.into_response();
    }
    let answered = match body {
        Ok(JsonBody(body)) => {
            let query = QueryDocuments {
                filter: body.filter,
                sort: body.sort,
                limit: body.limit,
                cursor: body.cursor,
                deadline,
            };
            answer(&state, &name, query, key.is_some()).await
        }
        Err(rejection) => Err(rejection),
    };
    // A refusal carries its own outcome (see `problem.rs`).
    answered.unwrap_or_else(IntoResponse::into_response)
}
