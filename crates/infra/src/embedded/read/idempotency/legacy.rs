//! Records written before migration 8 kept the rendered answer (status, headers, body) rather
//! than the outcome. Their keys stay good for a day after an upgrade, so they are read back
//! as the outcome that answer showed: every answer those builds could record is one of these.
//!
//! - 201 with a `collection` member: a created document (the document answer's fields);
//! - 201 with a `name` member: a created collection;
//! - 200: a query's page (`{"items","next_cursor"}`);
//! - 4xx: a refusal (`application/problem+json`: code, detail, errors, details, request id and
//!   any extension member; `type`, `title` and `status` follow from the code).
//!
//! The body's values are taken as they were sent (a document's data as its exact text), so
//! the answer rendered again from them is the answer sent then. Decoding here, when a row is
//! read, rather than by a migration leaves every row as its build wrote it (the auditor checks
//! a recorded answer against the audit entry it names) and keeps migrations plain SQL.

use serde_json::{Map, Value};
use shared_kernel::{Error, ErrorCode, FieldError};
use storage_app::idempotency::{Outcome, Refusal};

use crate::embedded::error::corrupt;

/// Problem members that follow from the code (or are kept on their own), never extensions.
const STANDARD_MEMBERS: [&str; 8] = [
    "type",
    "title",
    "status",
    "code",
    "detail",
    "request_id",
    "errors",
    "details",
];

/// The outcome of a rendered answer with `status` and `body`.
///
/// # Errors
/// `INTERNAL_ERROR` (corrupt) when the answer is not one those builds recorded.
pub(crate) fn decode(status: i64, body: &[u8]) -> Result<Outcome, Error> {
    let malformed = |what: &str, e: serde_json::Error| corrupt(&format!("recorded {what}"), e);
    match status {
        201 => {
            let members: Map<String, Value> =
                serde_json::from_slice(body).map_err(|e| malformed("answer", e))?;
            if members.contains_key("collection") {
                serde_json::from_slice(body)
                    .map(Outcome::Document)
                    .map_err(|e| malformed("document answer", e))
            } else {
                serde_json::from_slice(body)
                    .map(Outcome::Collection)
                    .map_err(|e| malformed("collection answer", e))
            }
        }
        200 => serde_json::from_slice(body)
            .map(Outcome::Page)
            .map_err(|e| malformed("page answer", e)),
        400..=499 => {
            let members: Map<String, Value> =
                serde_json::from_slice(body).map_err(|e| malformed("problem", e))?;
            refusal(members).map(Outcome::Refused)
        }
        other => Err(corrupt(
            "recorded answer",
            std::io::Error::other(format!("status {other} is never recorded")),
        )),
    }
}

/// The refusal a problem body shows.
fn refusal(mut members: Map<String, Value>) -> Result<Refusal, Error> {
    let text = |members: &mut Map<String, Value>, name: &str| match members.remove(name) {
        Some(Value::String(text)) => Ok(text),
        other => Err(corrupt(
            "recorded problem",
            std::io::Error::other(format!("`{name}` is not a string: {other:?}")),
        )),
    };
    let code_text = text(&mut members, "code")?;
    let code = ErrorCode::ALL
        .into_iter()
        .find(|code| code.as_str() == code_text)
        .ok_or_else(|| {
            corrupt(
                "recorded problem",
                std::io::Error::other(format!("unknown code `{code_text}`")),
            )
        })?;
    let detail = text(&mut members, "detail")?;
    let request_id = text(&mut members, "request_id")?;
    let errors: Vec<FieldError> = match members.remove("errors") {
        Some(errors) => {
            serde_json::from_value(errors).map_err(|e| corrupt("recorded problem's errors", e))?
        }
        None => Vec::new(),
    };
    let details = match members.remove("details") {
        Some(Value::Object(details)) => details,
        None => Map::new(),
        Some(other) => {
            return Err(corrupt(
                "recorded problem",
                std::io::Error::other(format!("`details` is not an object: {other}")),
            ));
        }
    };
    members.retain(|name, _| !STANDARD_MEMBERS.contains(&name.as_str()));
    Ok(Refusal {
        code,
        detail,
        errors,
        details,
        extensions: members,
        request_id,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use storage_app::idempotency::PageOutcome;

    use super::*;

    /// The body the af45eca release recorded for key `fixture-note-1`
    /// (tests/fixtures/af45eca-store).
    const NOTE: &str = r#"{"id":"n1","collection":"notes","version":1,"data":{"deep":{"list":[1,2.5,{"k":null}]},"flag":true},"content_hash":"7afdd741dbf30b33ae37a87213b2233605f31a993c1b8455d7b39c4ee4bc06aa","created_at":"2026-12-05T18:43:42.616Z","updated_at":"2026-12-05T18:43:42.616Z","audit_id":"01a24784-e998-73bd-8b1e-5047175e106c"}"#;

    #[test]
    fn a_created_document_reads_back_with_its_data_as_sent() {
        let Ok(Outcome::Document(document)) = decode(201, NOTE.as_bytes()) else {
            panic!("not a document");
        };
        assert_eq!((document.id.as_str(), document.version), ("n1", 1));
        assert_eq!(
            document.data.map(|d| d.get().to_owned()).as_deref(),
            Some(r#"{"deep":{"list":[1,2.5,{"k":null}]},"flag":true}"#)
        );
        assert_eq!(document.audit_id, "01a24784-e998-73bd-8b1e-5047175e106c");
    }

    #[test]
    fn a_created_collection_and_a_page_read_back() {
        let collection = json!({"name": "notes", "id": "c1", "schema": null, "version": 1,
            "created_at": "2026-12-05T18:43:42.616Z", "updated_at": "2026-12-05T18:43:42.616Z"});
        let Ok(Outcome::Collection(read)) = decode(201, collection.to_string().as_bytes()) else {
            panic!("not a collection");
        };
        assert_eq!((read.name.as_str(), read.schema), ("notes", None));
        let page = format!(r#"{{"items":[{NOTE}],"next_cursor":null}}"#);
        let Ok(Outcome::Page(PageOutcome { items, next_cursor })) = decode(200, page.as_bytes())
        else {
            panic!("not a page");
        };
        assert_eq!((items.len(), next_cursor), (1, None));
    }

    #[test]
    fn a_problem_reads_back_whole() {
        let problem = json!({"type": "urn:offchain-db:error:schema_violation",
            "title": "Schema violation", "status": 422, "code": "SCHEMA_VIOLATION",
            "detail": "data fails the schema", "request_id": "r-1",
            "errors": [{"path": "/data/a", "message": "bad"}],
            "details": {"n": 1}, "reason": "x"});
        let Ok(Outcome::Refused(refusal)) = decode(422, problem.to_string().as_bytes()) else {
            panic!("not a refusal");
        };
        assert_eq!(refusal.code, ErrorCode::SchemaViolation);
        assert_eq!(refusal.detail, "data fails the schema");
        assert_eq!(refusal.request_id, "r-1");
        assert_eq!(refusal.errors, vec![FieldError::new("/data/a", "bad")]);
        assert_eq!(Value::Object(refusal.details), json!({"n": 1}));
        assert_eq!(Value::Object(refusal.extensions), json!({"reason": "x"}));
    }

    #[test]
    fn an_answer_never_recorded_is_corrupt() {
        assert!(decode(500, b"{}").is_err());
        assert!(decode(404, br#"{"code":"NOPE","detail":"","request_id":"r"}"#).is_err());
        assert!(decode(201, b"not json").is_err());
    }
}
