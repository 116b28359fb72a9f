//! The verifiable log (API.md "The log"): the latest signed checkpoint, the log's key, its
//! leaves, inclusion and consistency proofs, and an audit entry's leaf by the entry's id.

use audit_app::queries::LogEntryView;
use audit_domain::checkpoint::Checkpoint;
use audit_domain::merkle::Hash;
use audit_domain::note::Note;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared_kernel::{AuditId, Error};

use super::AppState;
use super::extract::{PathParams, QueryParams};
use super::problem::ApiError;

/// The log routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/log/checkpoint", get(checkpoint))
        .route("/v1/log/key", get(key))
        .route("/v1/log/entries", get(entries))
        .route("/v1/log/entries/by-audit-id/{id}", get(entry_by_audit_id))
        .route("/v1/log/proofs/inclusion", get(inclusion_proof))
        .route("/v1/log/proofs/consistency", get(consistency_proof))
}

fn hex_list(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(Hash::to_hex).collect()
}

/// `text/plain` (the note itself) unless the client asks for `application/json`.
async fn checkpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let stored = state.log().latest_checkpoint().await?;
    let wants_json = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("application/json"));
    if !wants_json {
        let mut response = stored.note.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return Ok(response);
    }
    let origin = Note::parse(&stored.note)
        .ok()
        .and_then(|note| Checkpoint::parse_text(note.text()).ok())
        .map(|checkpoint| checkpoint.origin().to_owned())
        .ok_or_else(|| {
            Error::internal(
                "a stored checkpoint is malformed",
                std::io::Error::other("unparsable checkpoint note"),
            )
        })?;
    Ok(Json(json!({
        "origin": origin,
        "tree_size": stored.tree_size,
        "root_hash": stored.root_hash.to_hex(),
        "note": stored.note,
        "signed_at": stored.signed_at.to_rfc3339(),
    }))
    .into_response())
}

async fn key(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let verifier = state.log().verifier();
    Ok(Json(json!({
        "vkey": verifier.to_vkey(),
        "origin": verifier.name().as_str(),
        "public_key": hex::encode(verifier.public_key()),
    })))
}

/// `{"index","leaf_hash","entry","leaf_b64"}`.
#[derive(Serialize)]
struct LogEntryDto {
    index: u64,
    leaf_hash: String,
    entry: Value,
    leaf_b64: String,
}

impl From<LogEntryView> for LogEntryDto {
    fn from(view: LogEntryView) -> Self {
        Self {
            index: view.index,
            leaf_hash: view.leaf_hash.to_hex(),
            entry: view.entry.to_json(),
            leaf_b64: STANDARD.encode(&view.leaf),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeParams {
    start: u64,
    end: u64,
}

async fn entries(
    State(state): State<AppState>,
    QueryParams(range): QueryParams<RangeParams>,
) -> Result<Json<Value>, ApiError> {
    let views = state.log().entries(range.start, range.end).await?;
    let items: Vec<LogEntryDto> = views.into_iter().map(LogEntryDto::from).collect();
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}

async fn entry_by_audit_id(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<LogEntryDto>, ApiError> {
    let id = AuditId::parse(&id)?;
    let view = state.log().entry_by_audit_id(id).await?;
    Ok(Json(LogEntryDto::from(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionParams {
    index: u64,
    tree_size: u64,
}

async fn inclusion_proof(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<InclusionParams>,
) -> Result<Json<Value>, ApiError> {
    let hashes = state
        .log()
        .inclusion_proof(params.index, params.tree_size)
        .await?;
    Ok(Json(json!({
        "leaf_index": params.index,
        "tree_size": params.tree_size,
        "hashes": hex_list(&hashes),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyParams {
    from: u64,
    to: u64,
}

async fn consistency_proof(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<ConsistencyParams>,
) -> Result<Json<Value>, ApiError> {
    let hashes = state
        .log()
        .consistency_proof(params.from, params.to)
        .await?;
    Ok(Json(json!({
        "from": params.from,
        "to": params.to,
        "hashes": hex_list(&hashes),
    })))
}
