//! `GET /v1/audit`: audit entries across the store, in commit order, filtered by
//! `collection`, `document_id`, `actor`, `operation`, `since` (inclusive) and `until`
//! (exclusive, both RFC 3339).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use storage_app::queries::list_audit::ListAudit;

use super::AppState;
use super::dto::{AuditEntryDto, ListDto};
use super::extract::{QueryParams, RequestDeadline};
use super::problem::ApiError;

/// The audit routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/audit", get(list))
}

/// The filters and the page; any other parameter is an error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    collection: Option<String>,
    document_id: Option<String>,
    actor: Option<String>,
    operation: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    RequestDeadline(deadline): RequestDeadline,
    QueryParams(params): QueryParams<AuditParams>,
) -> Result<Json<ListDto<AuditEntryDto>>, ApiError> {
    let request = ListAudit {
        collection: params.collection,
        document_id: params.document_id,
        actor: params.actor,
        operation: params.operation,
        since: params.since,
        until: params.until,
        limit: params.limit,
        cursor: params.cursor,
        deadline,
    };
    let page = state.storage().list_audit(request).await?;
    Ok(Json(ListDto::from_page(&page, AuditEntryDto::from)))
}
