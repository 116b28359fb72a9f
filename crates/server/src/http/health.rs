//! Liveness and readiness.
//!
//! `/healthz` says the process is up. `/readyz` says it can serve: not shutting down, the
//! store answers a read, and its last commit did not fail (a store whose disk is full still
//! reads; see [`CommitState`]). Not ready is a 503 `UNAVAILABLE` problem whose detail says
//! why; ready is `{"status": "ready"}`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use shared_kernel::Error;

use super::AppState;
use super::problem::ApiError;

/// Whether the store's commits succeed, as far as it knows.
pub trait CommitState: Send + Sync {
    /// Why commits fail, while no commit has succeeded since the last failure.
    fn failing(&self) -> Option<String>;
}

/// `/healthz` and `/readyz`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can serve: not shutting down, commits not failing, and the store answers a
/// read.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if state.is_shutting_down() {
        return Err(not_ready("the server is shutting down"));
    }
    if let Some(reason) = state.commits().failing() {
        return Err(not_ready(&format!(
            "the store cannot commit: {reason}; writes fail until a commit succeeds again"
        )));
    }
    state.storage().list_collections(Some(1), None).await?;
    Ok(Json(json!({"status": "ready"})))
}

fn not_ready(detail: &str) -> ApiError {
    ApiError(Error::unavailable(
        detail.to_owned(),
        std::io::Error::other("not ready"),
    ))
}
