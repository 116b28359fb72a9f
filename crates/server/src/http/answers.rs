//! The answers an `Idempotency-Key` may replay, each rendered by one function that serves both
//! the first answer (from what the handler got) and every replay (from the kept
//! [`Outcome`]), so a replay is byte for byte the first answer: status, body, `ETag`,
//! `Location`. Problems are rendered the same way by [`problem_response`].

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shared_kernel::Error;
use storage_app::idempotency::Outcome;

use super::dto::{CollectionDto, DocumentDto, ListDto};
use super::problem::{ApiError, problem_response};

/// `body` as `application/json` with `status`.
///
/// # Errors
/// `INTERNAL_ERROR` when the body cannot be serialised.
fn json(status: StatusCode, body: &impl Serialize, capacity: usize) -> Result<Response, Error> {
    let mut bytes = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut bytes, body)
        .map_err(|e| Error::internal("could not encode the answer", e))?;
    let content_type = (
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok((status, [content_type], Body::from(bytes)).into_response())
}

/// `/v1/collections/{name}/documents/{id}`.
pub fn location(collection: &str, id: &str) -> String {
    format!("/v1/collections/{collection}/documents/{id}")
}

/// 201 with a created collection.
///
/// # Errors
/// `INTERNAL_ERROR` when the body cannot be serialised.
pub fn collection_created(collection: &CollectionDto) -> Result<Response, Error> {
    json(StatusCode::CREATED, collection, 256)
}

/// 201 with a created document, its `ETag` and its `Location`.
///
/// # Errors
/// `INTERNAL_ERROR` when the body cannot be serialised.
pub fn document_created(document: &DocumentDto<'_>) -> Result<Response, Error> {
    let mut response = json(StatusCode::CREATED, document, document.size_hint())?;
    let headers = response.headers_mut();
    let etag = HeaderValue::from_str(&format!("\"{}\"", document.version()));
    let location = HeaderValue::from_str(&location(document.collection(), document.id()));
    if let (Ok(etag), Ok(location)) = (etag, location) {
        headers.insert(header::ETAG, etag);
        headers.insert(header::LOCATION, location);
    }
    Ok(response)
}

/// 200 with one page of documents; also the answer's length, which decides whether a keyed
/// read keeps it.
///
/// # Errors
/// `INTERNAL_ERROR` when the body cannot be serialised.
pub fn page(page: &ListDto<DocumentDto<'_>>) -> Result<(Response, usize), Error> {
    let response = json(StatusCode::OK, page, 1024)?;
    let length = axum::body::HttpBody::size_hint(response.body())
        .exact()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(usize::MAX);
    Ok((response, length))
}

/// The answer `outcome` was first given as.
pub fn replay(outcome: &Outcome) -> Response {
    let rendered = match outcome {
        Outcome::Collection(collection) => collection_created(&CollectionDto::from(collection)),
        Outcome::Document(document) => document_created(&DocumentDto::from(document)),
        Outcome::Page(kept) => {
            let items = kept.items.iter().map(DocumentDto::from).collect();
            page(&ListDto::new(items, kept.next_cursor.clone())).map(|(response, _)| response)
        }
        Outcome::Refused(refusal) => Ok(problem_response(refusal)),
    };
    rendered.unwrap_or_else(|error| ApiError(error).into_response())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shared_kernel::{Actor, AuditId, CollectionId, ErrorCode, FieldError, Timestamp};
    use storage_app::DocumentView;
    use storage_app::idempotency::{CollectionOutcome, DocumentOutcome, PageOutcome, Refusal};
    use storage_app::queries::Page;
    use storage_domain::document::ChangeStamp;
    use storage_domain::{
        Collection, CollectionName, CollectionSchema, Document, DocumentData, DocumentId,
        DocumentLimits,
    };

    use super::*;

    /// Status, the headers a replay must repeat, and the body bytes.
    async fn parts(response: Response) -> (StatusCode, Vec<(String, String)>, Vec<u8>) {
        let status = response.status();
        let headers = ["content-type", "etag", "location"]
            .into_iter()
            .filter_map(|name| {
                let value = response.headers().get(name)?.to_str().ok()?;
                Some((name.to_owned(), value.to_owned()))
            })
            .collect();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (status, headers, body.to_vec())
    }

    fn view(id: &str, data: serde_json::Value) -> DocumentView {
        let data =
            DocumentData::parse(data, &DocumentLimits::default()).unwrap_or_else(|e| panic!("{e}"));
        let stamp = ChangeStamp {
            at: Timestamp::from_millis(1_796_496_222_616),
            actor: Actor::Anonymous,
            audit_id: AuditId::generate(),
        };
        let id = DocumentId::parse(id).unwrap_or_else(|e| panic!("{e}"));
        DocumentView {
            collection: CollectionName::parse("notes").unwrap_or_else(|e| panic!("{e}")),
            document: Document::create(CollectionId::generate(), id, data, stamp),
        }
    }

    #[tokio::test]
    async fn a_replayed_document_is_the_first_answer_byte_for_byte() {
        let view = view(
            "n-1",
            json!({"b": [1, 2.5e0, {"k": null}], "a": "Zürich 👩‍🔬", "n": 1e2}),
        );
        let first = document_created(&DocumentDto::from(&view)).unwrap_or_else(|e| panic!("{e}"));
        let again = replay(&Outcome::Document(DocumentOutcome::from(&view)));
        let (first, again) = (parts(first).await, parts(again).await);
        assert_eq!(first, again);
        assert_eq!(first.0, StatusCode::CREATED);
        assert!(
            first.1.contains(&("etag".into(), "\"1\"".into())),
            "{:?}",
            first.1
        );
        assert!(
            first.1.contains(&(
                "location".into(),
                "/v1/collections/notes/documents/n-1".into()
            )),
            "{:?}",
            first.1
        );
    }

    #[tokio::test]
    async fn a_replayed_collection_and_page_are_the_first_answers() {
        let schema = CollectionSchema::new(json!({"type": "object", "required": ["a"]}))
            .unwrap_or_else(|e| panic!("{e}"));
        let collection = Collection::create(
            CollectionName::parse("notes").unwrap_or_else(|e| panic!("{e}")),
            Some(schema),
            Timestamp::from_millis(5),
        );
        let first =
            collection_created(&CollectionDto::from(&collection)).unwrap_or_else(|e| panic!("{e}"));
        let again = replay(&Outcome::Collection(CollectionOutcome::from(&collection)));
        assert_eq!(parts(first).await, parts(again).await);

        let page = Page {
            items: vec![view("a", json!({"x": 1})), view("b", json!({}))],
            next_cursor: Some("cursor".into()),
        };
        let (first, length) = super::page(&ListDto::from_page(&page, DocumentDto::from))
            .unwrap_or_else(|e| panic!("{e}"));
        let again = replay(&Outcome::Page(PageOutcome::from(&page)));
        let (first, again) = (parts(first).await, parts(again).await);
        assert_eq!(first, again);
        assert_eq!(length, first.2.len(), "the length that decides keeping");
    }

    #[tokio::test]
    async fn a_replayed_refusal_is_the_first_problem() {
        let error = Error::new(ErrorCode::SchemaViolation, "data fails the schema")
            .with_field_error(FieldError::new("/data/a", "not a string"))
            .with_detail("n", 1)
            .with_extension("reason", "x");
        let first = ApiError(error).into_response();
        let refusal = first
            .extensions()
            .get::<Refusal>()
            .cloned()
            .unwrap_or_else(|| panic!("a refusal carries its outcome"));
        let again = replay(&Outcome::Refused(refusal));
        let (first, again) = (parts(first).await, parts(again).await);
        assert_eq!(first, again);
        assert_eq!(first.0, StatusCode::UNPROCESSABLE_ENTITY);
        let body: serde_json::Value =
            serde_json::from_slice(&first.2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body["errors"][0]["path"], json!("/data/a"));
        assert_eq!(body["reason"], json!("x"));
    }

    #[test]
    fn a_server_fault_carries_no_outcome() {
        let response =
            ApiError(Error::unavailable("down", std::io::Error::other("disk"))).into_response();
        assert!(response.extensions().get::<Refusal>().is_none());
    }
}
