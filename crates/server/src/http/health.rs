//! Liveness and readiness.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use shared_kernel::Error;

use super::AppState;
use super::problem::ApiError;

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

/// The process can serve: not shutting down, and the store answers a read.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if state.is_shutting_down() {
        return Err(ApiError(Error::unavailable(
            "the server is shutting down",
            std::io::Error::other("shutdown in progress"),
        )));
    }
    state.storage().list_collections(Some(1), None).await?;
    Ok(Json(json!({"status": "ready"})))
}
