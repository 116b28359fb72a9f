//! The life cycle of documents: create, read, replace, merge-patch, delete, re-create.

use reqwest::StatusCode;
use serde_json::json;
use shared_kernel::Sha256Digest;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_document_lives_through_every_change_with_versions_and_etags() {
    let app = spawn_app().await;
    app.create_collection("people", None).await;

    let created = app
        .create_document("people", "alice", json!({"name": "Alice", "age": 1e1}))
        .await;
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(
        created.header("location"),
        Some("/v1/collections/people/documents/alice")
    );
    assert_eq!(created.body["version"], 1);
    assert_eq!(created.body["collection"], "people");
    assert_eq!(
        created.body["data"],
        json!({"age": 10, "name": "Alice"}),
        "numbers come back in JCS form"
    );
    let canonical = r#"{"age":10,"name":"Alice"}"#;
    assert_eq!(
        created.body["content_hash"],
        json!(Sha256Digest::of(canonical.as_bytes()).to_hex())
    );
    assert!(created.body["audit_id"].is_string());

    let read = app.get("/v1/collections/people/documents/alice").await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.header("etag"), Some("\"1\""));
    assert_eq!(read.body, created.body);

    let replaced = app
        .put_json(
            "/v1/collections/people/documents/alice",
            &json!({"data": {"name": "Alicia"}}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{:#}", replaced.body);
    assert_eq!(replaced.header("etag"), Some("\"2\""));
    assert_eq!(replaced.body["data"], json!({"name": "Alicia"}));
    assert_eq!(replaced.body["created_at"], created.body["created_at"]);

    let patched = app
        .patch(
            "/v1/collections/people/documents/alice",
            &json!({"age": 31, "tags": ["a"]}),
            Some("*"),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:#}", patched.body);
    assert_eq!(patched.body["version"], 3);
    assert_eq!(
        patched.body["data"],
        json!({"age": 31, "name": "Alicia", "tags": ["a"]})
    );

    let removed_key = app
        .patch(
            "/v1/collections/people/documents/alice",
            &json!({"tags": null}),
            None,
        )
        .await;
    assert_eq!(
        removed_key.body["data"],
        json!({"age": 31, "name": "Alicia"})
    );

    let deleted = app
        .delete("/v1/collections/people/documents/alice", Some("\"4\""))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        deleted.header("etag"),
        Some("\"5\""),
        "the tombstone's version"
    );
    app.get("/v1/collections/people/documents/alice")
        .await
        .assert_problem(404, "NOT_FOUND");
    app.put_json(
        "/v1/collections/people/documents/alice",
        &json!({"data": {}}),
        None,
    )
    .await
    .assert_problem(404, "NOT_FOUND");
    app.patch(
        "/v1/collections/people/documents/alice",
        &json!({}),
        Some("*"),
    )
    .await
    .assert_problem(404, "NOT_FOUND");
    app.delete("/v1/collections/people/documents/alice", None)
        .await
        .assert_problem(404, "NOT_FOUND");

    let recreated = app
        .create_document("people", "alice", json!({"name": "Alice II"}))
        .await;
    assert_eq!(
        recreated.body["version"], 6,
        "re-creation continues the version sequence"
    );
    assert_eq!(recreated.header("etag"), Some("\"6\""));
}

#[tokio::test]
async fn a_document_posted_without_an_id_gets_a_generated_one() {
    let app = spawn_app().await;
    app.create_collection("notes", None).await;
    let answer = app
        .post_json(
            "/v1/collections/notes/documents",
            &json!({"data": {"t": "x"}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let id = answer.body["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(id.len(), 36, "a UUIDv7");
    assert_eq!(
        answer.header("location").map(str::to_owned),
        Some(format!("/v1/collections/notes/documents/{id}"))
    );
    assert_eq!(
        app.get(&format!("/v1/collections/notes/documents/{id}"))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_stale_if_match_is_refused_and_a_matching_list_is_accepted() {
    let app = spawn_app().await;
    app.create_collection("c", None).await;
    app.create_document("c", "d", json!({"n": 0})).await;
    let path = "/v1/collections/c/documents/d";
    app.put_json(path, &json!({"data": {"n": 1}}), Some("\"7\""))
        .await
        .assert_problem(412, "PRECONDITION_FAILED");
    app.put_json(path, &json!({"data": {"n": 1}}), Some("W/\"1\""))
        .await
        .assert_problem(412, "PRECONDITION_FAILED");
    let ok = app
        .put_json(path, &json!({"data": {"n": 1}}), Some("\"9\", \"1\""))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    app.delete(path, Some("\"1\""))
        .await
        .assert_problem(412, "PRECONDITION_FAILED");
}

#[tokio::test]
async fn a_schema_change_applies_to_later_writes_only() {
    let app = spawn_app().await;
    app.create_collection("c", None).await;
    app.create_document("c", "old", json!({"n": "text"})).await;
    let schema = json!({"schema": {"type": "object", "properties": {"n": {"type": "integer"}}}});
    assert_eq!(
        app.put_json("/v1/collections/c/schema", &schema, None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/collections/c/documents/old").await.status,
        StatusCode::OK,
        "not re-checked"
    );
    let path = "/v1/collections/c/documents";
    app.post_json(path, &json!({"id": "new", "data": {"n": "text"}}))
        .await
        .assert_problem(422, "SCHEMA_VIOLATION");
    assert_eq!(
        app.post_json(path, &json!({"id": "new", "data": {"n": 3}}))
            .await
            .status,
        StatusCode::CREATED
    );
    let patch = app
        .patch("/v1/collections/c/documents/old", &json!({"m": 1}), None)
        .await;
    patch.assert_problem(422, "SCHEMA_VIOLATION");
    assert_eq!(
        patch.error_paths(),
        vec!["/n"],
        "a PATCH names paths in the resulting document"
    );
}
