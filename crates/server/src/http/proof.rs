//! `/v1/collections/{name}/documents/{id}/proof[?version=N][&format=tlog-proof]`: the verified
//! read of API.md "The log", a receipt tying a revision to the latest signed checkpoint.
//!
//! The revision is the latest one (or version `N`), a deletion included: the receipt of a
//! deletion proves the `document.delete` entry, with the document's `data` and
//! `content_hash` null. The encodings and their checks live in `audit_domain::receipt`; this
//! handler only gathers the parts.

use audit_domain::AuditEntry;
use audit_domain::receipt::{ReceiptBundle, TlogProof};
use audit_domain::succession::LogEntry;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use shared_kernel::Error;

use super::AppState;
use super::dto::DocumentDto;
use super::extract::{PathParams, QueryParams};
use super::problem::ApiError;

/// The proof route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/collections/{name}/documents/{id}/proof", get(proof))
}

/// How the receipt is encoded.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ProofFormat {
    /// The JSON bundle.
    #[default]
    Json,
    /// The C2SP `tlog-proof@v1` text.
    TlogProof,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofParams {
    version: Option<u64>,
    #[serde(default)]
    format: ProofFormat,
}

async fn proof(
    State(state): State<AppState>,
    PathParams((name, id)): PathParams<(String, String)>,
    QueryParams(params): QueryParams<ProofParams>,
) -> Result<Response, ApiError> {
    let log = state.log();
    let view = state
        .0
        .storage
        .get_document_revision(&name, &id, params.version)
        .await?;
    let proven = log.proven_entry(view.document.audit_id()).await?;
    let malformed = |e| Error::internal("could not assemble a receipt", e);
    match params.format {
        ProofFormat::Json => {
            let document = serde_json::to_value(DocumentDto::from(&view))
                .map_err(|e| Error::internal("could not encode a document", e))?;
            let bundle = ReceiptBundle::new(
                document,
                data_entry(&proven.leaf.entry)?,
                proven.leaf.index,
                proven.proof,
                proven.checkpoint.note,
            )
            .map_err(malformed)?;
            Ok(Json(bundle.to_json()).into_response())
        }
        ProofFormat::TlogProof => {
            let text = TlogProof::new(
                proven.leaf.leaf,
                proven.leaf.index,
                proven.proof,
                proven.checkpoint.note,
            )
            .map_err(malformed)?
            .to_text();
            let mut response = text.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            Ok(response)
        }
    }
}

/// A document's audit entry: a revision names a data entry, never an operator's.
fn data_entry(entry: &LogEntry) -> Result<&AuditEntry, Error> {
    entry.as_data().ok_or_else(|| {
        Error::internal(
            "a revision names an audit entry that is not a data entry",
            std::io::Error::other("log.succession entry named by a revision"),
        )
    })
}
