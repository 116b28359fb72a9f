//! The past of a document: `/revisions` (every version's data) and `/history` (every change's
//! audit entry). Both keep answering after the document is deleted.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::AppState;
use super::dto::{AuditEntryDto, ListDto, RevisionDto};
use super::extract::{PathParams, QueryParams};
use super::problem::ApiError;

/// The history routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/collections/{name}/documents/{id}/revisions",
            get(revisions),
        )
        .route(
            "/v1/collections/{name}/documents/{id}/history",
            get(history),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageParams {
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn revisions(
    State(state): State<AppState>,
    PathParams((name, id)): PathParams<(String, String)>,
    QueryParams(page): QueryParams<PageParams>,
) -> Result<Json<ListDto<RevisionDto>>, ApiError> {
    let revisions = state
        .0
        .storage
        .list_revisions(&name, &id, page.limit, page.cursor.as_deref())
        .await?;
    Ok(Json(ListDto::from_page(&revisions, |r| {
        RevisionDto::from(r)
    })))
}

async fn history(
    State(state): State<AppState>,
    PathParams((name, id)): PathParams<(String, String)>,
    QueryParams(page): QueryParams<PageParams>,
) -> Result<Json<ListDto<AuditEntryDto>>, ApiError> {
    let entries = state
        .0
        .storage
        .document_history(&name, &id, page.limit, page.cursor.as_deref())
        .await?;
    Ok(Json(ListDto::from_page(&entries, |e| {
        AuditEntryDto::from(e)
    })))
}
