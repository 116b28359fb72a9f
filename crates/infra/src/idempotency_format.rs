//! How an idempotency record's outcome is kept, on every backend: its kind (`collection`,
//! `document`, `page`, `refusal`; the embedded store's `outcome` column since migration 8)
//! and its JSON (`body`).
//! Each kind's JSON has API.md's field names, so a kept document outcome is the document
//! answer's fields at the top level, as in the rows earlier builds wrote (and as the auditor
//! reads them). Rows written before migration 8 have no kind: `legacy.rs` reads those.

use shared_kernel::Error;
use storage_app::idempotency::Outcome;

/// The `outcome` column of each kind.
const COLLECTION: &str = "collection";
const DOCUMENT: &str = "document";
const PAGE: &str = "page";
const REFUSAL: &str = "refusal";

/// The `outcome` column and the `body` bytes that keep `outcome`.
///
/// # Errors
/// `INTERNAL_ERROR` when it cannot be encoded (a value serde cannot write).
pub(crate) fn encode(outcome: &Outcome) -> Result<(&'static str, Vec<u8>), Error> {
    let encoded = match outcome {
        Outcome::Collection(collection) => (COLLECTION, serde_json::to_vec(collection)),
        Outcome::Document(document) => (DOCUMENT, serde_json::to_vec(document)),
        Outcome::Page(page) => (PAGE, serde_json::to_vec(page)),
        Outcome::Refused(refusal) => (REFUSAL, serde_json::to_vec(refusal)),
    };
    let (kind, body) = encoded;
    Ok((
        kind,
        body.map_err(|e| Error::internal("could not encode an idempotency outcome", e))?,
    ))
}

/// The outcome a row keeps as `kind` and `body`.
///
/// # Errors
/// `INTERNAL_ERROR` (corrupt) when the kind is unknown or the body is not of that kind.
pub(crate) fn decode(kind: &str, body: &[u8]) -> Result<Outcome, Error> {
    let bad = |e| corrupt(&format!("{kind} outcome"), e);
    Ok(match kind {
        COLLECTION => Outcome::Collection(serde_json::from_slice(body).map_err(bad)?),
        DOCUMENT => Outcome::Document(serde_json::from_slice(body).map_err(bad)?),
        PAGE => Outcome::Page(serde_json::from_slice(body).map_err(bad)?),
        REFUSAL => Outcome::Refused(serde_json::from_slice(body).map_err(bad)?),
        other => {
            return Err(corrupt(
                "outcome kind",
                std::io::Error::other(format!("unknown kind `{other}`")),
            ));
        }
    })
}

/// A kept outcome that does not parse back: the store was changed behind its back.
fn corrupt(what: &str, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::internal(format!("stored {what} is malformed"), cause)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use serde_json::value::RawValue;
    use shared_kernel::{ErrorCode, FieldError};
    use storage_app::idempotency::{
        CollectionOutcome, DocumentOutcome, Outcome, PageOutcome, Refusal,
    };

    use super::*;

    fn document() -> DocumentOutcome {
        DocumentOutcome {
            id: "n1".into(),
            collection: "notes".into(),
            version: 1,
            data: RawValue::from_string(r#"{"a":[1,2.5],"b":"Zürich"}"#.into()).ok(),
            content_hash: Some("ab".repeat(32)),
            created_at: "2026-12-05T18:43:42.616Z".into(),
            updated_at: "2026-12-05T18:43:42.616Z".into(),
            audit_id: "01a24784-e998-73bd-8b1e-5047175e106c".into(),
        }
    }

    #[test]
    fn every_kind_reads_back_as_written() {
        let outcomes = [
            Outcome::Collection(CollectionOutcome {
                name: "notes".into(),
                id: "01a24784-e998-73bd-8b1e-5047175e1000".into(),
                schema: Some(json!({"type": "object"})),
                version: 1,
                created_at: "2026-12-05T18:43:42.616Z".into(),
                updated_at: "2026-12-05T18:43:42.616Z".into(),
            }),
            Outcome::Document(document()),
            Outcome::Page(PageOutcome {
                items: vec![document(), document()],
                next_cursor: Some("opaque".into()),
            }),
            Outcome::Refused(Refusal {
                code: ErrorCode::SchemaViolation,
                detail: "data fails the schema".into(),
                errors: vec![FieldError::new("/data/a", "not a string")],
                details: json!({"k": 1}).as_object().cloned().unwrap_or_default(),
                extensions: json!({"reason": "x"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                request_id: "req-1".into(),
            }),
        ];
        for outcome in outcomes {
            let (kind, body) = encode(&outcome).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(decode(kind, &body).ok(), Some(outcome), "{kind}");
        }
    }

    #[test]
    fn a_document_outcome_keeps_the_answer_fields_at_the_top_level_and_data_as_sent() {
        let (kind, body) = encode(&Outcome::Document(document())).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(kind, "document");
        let text = String::from_utf8(body).unwrap_or_default();
        assert!(
            text.contains(r#""data":{"a":[1,2.5],"b":"Zürich"}"#),
            "{text}"
        );
        assert!(text.contains(r#""version":1"#), "{text}");
        assert!(text.contains(r#""audit_id":"01a24784"#), "{text}");
    }

    #[test]
    fn an_unknown_kind_or_a_body_of_another_kind_is_corrupt() {
        assert!(decode("webhook", b"{}").is_err());
        assert!(decode("document", br#"{"items":[]}"#).is_err());
        assert!(
            decode(
                "refusal",
                br#"{"code":"NO_SUCH_CODE","detail":"","request_id":"r"}"#
            )
            .is_err()
        );
    }
}
