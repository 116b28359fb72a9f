//! Every error this slice can produce: status, code, problem+json shape, field paths — and
//! that a rejected request stores nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::snapshot::StoreSnapshot;

/// A collection with a schema and one document, to aim bad requests at.
async fn prepared_app() -> TestApp {
    let app = spawn_app().await;
    let schema = json!({
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer", "minimum": 0},
            "email": {"type": "string", "format": "email"},
            "tags": {"type": "array", "items": {"type": "string"}}
        }
    });
    app.create_collection("people", Some(schema)).await;
    app.create_document("people", "alice", json!({"name": "Alice"}))
        .await;
    app
}

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!({ "k": inner }))
}

#[tokio::test]
async fn a_schema_rejection_lists_every_failing_json_pointer() {
    let app = prepared_app().await;
    let data = json!({"name": 7, "age": -1, "email": "nope", "tags": ["ok", 3, true]});
    let answer = app
        .post_json(
            "/v1/collections/people/documents",
            &json!({"id": "bob", "data": data}),
        )
        .await;
    answer.assert_problem(422, "SCHEMA_VIOLATION");
    assert_eq!(
        answer.error_paths(),
        vec![
            "/data/age",
            "/data/email",
            "/data/name",
            "/data/tags/1",
            "/data/tags/2"
        ]
    );
    let missing = app
        .post_json(
            "/v1/collections/people/documents",
            &json!({"data": {"age": 3}}),
        )
        .await;
    missing.assert_problem(422, "SCHEMA_VIOLATION");
    assert_eq!(missing.error_paths(), vec!["/data"]);
}

/// One bad request: what is sent, and the status, code and field paths expected.
struct Case {
    name: &'static str,
    method: Method,
    path: &'static str,
    content_type: Option<&'static str>,
    body: String,
    if_match: Option<&'static str>,
    status: u16,
    code: &'static str,
    paths: &'static [&'static str],
}

fn case(
    name: &'static str,
    method: Method,
    path: &'static str,
    body: Value,
    status: u16,
    code: &'static str,
) -> Case {
    let content_type = if method == Method::PATCH {
        "application/merge-patch+json"
    } else {
        "application/json"
    };
    Case {
        name,
        method,
        path,
        content_type: Some(content_type),
        body: body.to_string(),
        if_match: None,
        status,
        code,
        paths: &[],
    }
}

fn raw(
    name: &'static str,
    method: Method,
    path: &'static str,
    body: &str,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        body: body.to_owned(),
        ..case(name, method, path, Value::Null, status, code)
    }
}

impl Case {
    fn paths(mut self, paths: &'static [&'static str]) -> Self {
        self.paths = paths;
        self
    }
    fn content_type(mut self, content_type: Option<&'static str>) -> Self {
        self.content_type = content_type;
        self
    }
    fn if_match(mut self, tag: &'static str) -> Self {
        self.if_match = Some(tag);
        self
    }
}

fn bad_requests() -> Vec<Case> {
    let docs = "/v1/collections/people/documents";
    let alice = "/v1/collections/people/documents/alice";
    let over_document_limit = "x".repeat(1024 * 1024 + 10);
    let over_body_limit = "x".repeat(1024 * 1024 + 70 * 1024);
    vec![
        raw(
            "malformed JSON",
            Method::POST,
            docs,
            "{\"id\": ",
            400,
            "INVALID_INPUT",
        ),
        raw(
            "trailing garbage",
            Method::POST,
            docs,
            "{\"data\": {}} x",
            400,
            "INVALID_INPUT",
        ),
        raw(
            "duplicate keys",
            Method::POST,
            docs,
            r#"{"data": {"a": 1, "a": 2}}"#,
            400,
            "INVALID_INPUT",
        ),
        case(
            "unknown body fields",
            Method::POST,
            docs,
            json!({"data": {}, "version": 3, "created_at": "x"}),
            400,
            "INVALID_INPUT",
        )
        .paths(&["/created_at", "/version"]),
        case(
            "body not an object",
            Method::POST,
            docs,
            json!([1]),
            400,
            "INVALID_INPUT",
        ),
        case(
            "data missing",
            Method::POST,
            docs,
            json!({"id": "x"}),
            400,
            "INVALID_INPUT",
        )
        .paths(&["/data"]),
        case(
            "data missing from a replace",
            Method::PUT,
            alice,
            json!({}),
            400,
            "INVALID_INPUT",
        )
        .paths(&["/data"]),
        case(
            "data not an object",
            Method::POST,
            docs,
            json!({"data": [1, 2]}),
            400,
            "INVALID_INPUT",
        )
        .paths(&["/data"]),
        case(
            "id of the wrong type",
            Method::POST,
            docs,
            json!({"id": 5, "data": {}}),
            400,
            "INVALID_INPUT",
        )
        .paths(&["/id"]),
        case(
            "bad document id",
            Method::POST,
            docs,
            json!({"id": "-bad id", "data": {"name": "x"}}),
            400,
            "INVALID_INPUT",
        )
        .paths(&["/id"]),
        case(
            "dollar keys",
            Method::POST,
            docs,
            json!({"data": {"name": "x", "$set": 1, "a": {"$where": 2}}}),
            400,
            "INVALID_INPUT",
        )
        .paths(&["/data/$set", "/data/a/$where"]),
        case(
            "integer beyond 2^53",
            Method::POST,
            docs,
            json!({"data": {"name": "x", "n": 9_007_199_254_740_993_u64}}),
            400,
            "INVALID_INPUT",
        )
        .paths(&["/data/n"]),
        raw(
            "huge integer literal",
            Method::POST,
            docs,
            r#"{"data": {"name": "x", "n": 123456789012345678901234567890}}"#,
            400,
            "INVALID_INPUT",
        )
        .paths(&["/data/n"]),
        case(
            "nesting deeper than 64",
            Method::POST,
            docs,
            json!({"data": {"name": "x", "deep": nested(64)}}),
            400,
            "INVALID_INPUT",
        ),
        case(
            "bad collection name",
            Method::POST,
            "/v1/collections",
            json!({"name": "Bad Name"}),
            400,
            "INVALID_INPUT",
        )
        .paths(&["/name"]),
        case(
            "invalid schema",
            Method::POST,
            "/v1/collections",
            json!({"name": "x", "schema": {"type": "nope"}}),
            400,
            "INVALID_INPUT",
        ),
        case(
            "unsupported schema draft",
            Method::POST,
            "/v1/collections",
            json!({"name": "x", "schema": {"$schema": "https://example.com/draft", "type": "object"}}),
            400,
            "INVALID_INPUT",
        ),
        case(
            "schema not an object",
            Method::POST,
            "/v1/collections",
            json!({"name": "x", "schema": 3}),
            400,
            "INVALID_INPUT",
        )
        .paths(&["/schema"]),
        case(
            "malformed If-Match",
            Method::PUT,
            alice,
            json!({"data": {"name": "x"}}),
            400,
            "INVALID_INPUT",
        )
        .if_match("3"),
        case(
            "existing collection name",
            Method::POST,
            "/v1/collections",
            json!({"name": "people"}),
            409,
            "CONFLICT",
        ),
        case(
            "existing document id",
            Method::POST,
            docs,
            json!({"id": "alice", "data": {"name": "x"}}),
            409,
            "CONFLICT",
        ),
        case(
            "stale If-Match",
            Method::PATCH,
            alice,
            json!({"name": "x"}),
            412,
            "PRECONDITION_FAILED",
        )
        .if_match("\"2\""),
        case(
            "unknown collection",
            Method::POST,
            "/v1/collections/nobody/documents",
            json!({"data": {}}),
            404,
            "NOT_FOUND",
        ),
        case(
            "unknown document",
            Method::PUT,
            "/v1/collections/people/documents/bob",
            json!({"data": {"name": "x"}}),
            404,
            "NOT_FOUND",
        ),
        case(
            "unknown route",
            Method::GET,
            "/v1/nothing",
            Value::Null,
            404,
            "NOT_FOUND",
        ),
        case(
            "wrong method",
            Method::PATCH,
            "/v1/collections",
            json!({}),
            405,
            "METHOD_NOT_ALLOWED",
        ),
        case(
            "json PATCH",
            Method::PATCH,
            alice,
            json!({"name": "x"}),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        )
        .content_type(Some("application/json")),
        case(
            "text POST",
            Method::POST,
            docs,
            json!({"data": {}}),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        )
        .content_type(Some("text/plain")),
        case(
            "no content type",
            Method::POST,
            docs,
            json!({"data": {}}),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        )
        .content_type(None),
        raw(
            "document over the limit",
            Method::POST,
            docs,
            &format!(r#"{{"data": {{"name": "{over_document_limit}"}}}}"#),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        raw(
            "body over the limit",
            Method::POST,
            docs,
            &format!(r#"{{"data": {{"name": "{over_body_limit}"}}}}"#),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        case(
            "schema violation",
            Method::PUT,
            alice,
            json!({"data": {"name": 1}}),
            422,
            "SCHEMA_VIOLATION",
        )
        .paths(&["/data/name"]),
        case(
            "bad limit",
            Method::GET,
            "/v1/collections?limit=1001",
            Value::Null,
            400,
            "INVALID_INPUT",
        )
        .paths(&["/limit"]),
        case(
            "non-numeric limit",
            Method::GET,
            "/v1/collections?limit=ten",
            Value::Null,
            400,
            "INVALID_INPUT",
        ),
        case(
            "tampered cursor",
            Method::GET,
            "/v1/collections?cursor=zz",
            Value::Null,
            400,
            "INVALID_INPUT",
        )
        .paths(&["/cursor"]),
        case(
            "unknown query parameter",
            Method::GET,
            "/v1/collections?colour=red",
            Value::Null,
            400,
            "INVALID_INPUT",
        ),
        case(
            "version zero",
            Method::GET,
            "/v1/collections/people/documents/alice?version=0",
            Value::Null,
            400,
            "INVALID_INPUT",
        ),
        case(
            "version never reached",
            Method::GET,
            "/v1/collections/people/documents/alice?version=9",
            Value::Null,
            404,
            "NOT_FOUND",
        ),
        case(
            "unknown document parameter",
            Method::GET,
            "/v1/collections/people/documents/alice?colour=red",
            Value::Null,
            400,
            "INVALID_INPUT",
        ),
        case(
            "revisions of an unknown document",
            Method::GET,
            "/v1/collections/people/documents/bob/revisions",
            Value::Null,
            404,
            "NOT_FOUND",
        ),
        case(
            "history of an unknown document",
            Method::GET,
            "/v1/collections/people/documents/bob/history",
            Value::Null,
            404,
            "NOT_FOUND",
        ),
        case(
            "history cursor of another list",
            Method::GET,
            "/v1/collections/people/documents/alice/history?cursor=7265766973696f6e737c31",
            Value::Null,
            400,
            "INVALID_INPUT",
        )
        .paths(&["/cursor"]),
    ]
}

#[tokio::test]
async fn every_bad_request_gets_its_code_and_stores_nothing() {
    let app = prepared_app().await;
    let before = StoreSnapshot::take(&app).await;
    for case in bad_requests() {
        let mut request = app.request(case.method.clone(), case.path);
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(tag) = case.if_match {
            request = request.header("if-match", tag);
        }
        if case.method != Method::GET {
            request = request.body(case.body.clone());
        }
        let answer = TestApp::send(request).await;
        assert_eq!(
            answer.status.as_u16(),
            case.status,
            "case `{}`: {:#}",
            case.name,
            answer.body
        );
        answer.assert_problem(case.status, case.code);
        if !case.paths.is_empty() {
            assert_eq!(answer.error_paths(), case.paths, "case `{}`", case.name);
        }
        assert_eq!(
            StoreSnapshot::take(&app).await,
            before,
            "case `{}` stored something",
            case.name
        );
    }
}

#[tokio::test]
async fn a_patch_whose_result_exceeds_the_document_limit_is_413() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app = crate::helpers::spawn_app_in(dir, |config| config.max_document_bytes = 64).await;
    app.create_collection("c", None).await;
    app.create_document("c", "d", json!({"a": "0123456789"}))
        .await;
    let before = StoreSnapshot::take(&app).await;
    let answer = app
        .patch(
            "/v1/collections/c/documents/d",
            &json!({"b": "0123456789012345678901234567890123456789"}),
            None,
        )
        .await;
    answer.assert_problem(413, "PAYLOAD_TOO_LARGE");
    assert_eq!(StoreSnapshot::take(&app).await, before);
}

#[tokio::test]
async fn request_ids_are_echoed_when_valid_and_replaced_when_not() {
    let app = spawn_app().await;
    let valid = TestApp::send(
        app.request(Method::GET, "/healthz")
            .header("x-request-id", "my-req:1.2_3"),
    )
    .await;
    assert_eq!(valid.header("x-request-id"), Some("my-req:1.2_3"));
    let invalid = TestApp::send(
        app.request(Method::GET, "/v1/nothing")
            .header("x-request-id", "bad id!"),
    )
    .await;
    let replaced = invalid
        .header("x-request-id")
        .unwrap_or_default()
        .to_owned();
    assert!(!replaced.is_empty() && replaced != "bad id!");
    assert_eq!(invalid.body["request_id"], json!(replaced));
}
