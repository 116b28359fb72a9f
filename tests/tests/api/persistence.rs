//! Durability across restarts, and the data-folder lock.

use reqwest::StatusCode;
use serde_json::json;
use server::config::StoreMode;

use crate::helpers::{spawn_app, test_config, test_store};
use crate::snapshot::StoreSnapshot;

#[tokio::test]
async fn every_document_is_still_there_after_a_stop_and_a_start() {
    let app = spawn_app().await;
    app.create_collection("c", Some(json!({"type": "object"})))
        .await;
    let mut written = Vec::new();
    for n in 0..20 {
        let answer = app
            .create_document("c", &format!("d{n}"), json!({"n": n}))
            .await;
        written.push(answer.body);
    }
    app.patch(
        "/v1/collections/c/documents/d0",
        &json!({"patched": true}),
        None,
    )
    .await;
    let patched = app.get("/v1/collections/c/documents/d0").await.body;
    let before = StoreSnapshot::take(&app).await;

    let app = app.restart().await;
    assert_eq!(
        StoreSnapshot::take(&app).await,
        before,
        "collections, documents, revisions, audit entries and the log all survive"
    );
    assert_eq!(
        app.get("/v1/collections/c/documents/d0").await.body,
        patched
    );
    for expected in &written[1..] {
        let id = expected["id"].as_str().unwrap_or_default();
        let answer = app.get(&format!("/v1/collections/c/documents/{id}")).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(&answer.body, expected);
    }
    let next = app
        .patch(
            "/v1/collections/c/documents/d0",
            &json!({"again": 1}),
            Some("\"2\""),
        )
        .await;
    assert_eq!(next.body["version"], 3, "versions continue after restart");
}

#[tokio::test]
async fn a_second_server_on_the_same_data_folder_refuses_to_start() {
    let app = spawn_app().await;
    // On the embedded store the folder is locked; on MongoDB the database's sequencer lock
    // refuses the second server (until issue 24's lease lets several share the work).
    let second = server::start(test_config(app.dir.path())).await;
    let error = second.err().map(|e| (e.code(), e.detail().to_owned()));
    let (code, detail) =
        error.unwrap_or_else(|| panic!("a second server started on a store in use"));
    assert_eq!(code, shared_kernel::ErrorCode::Unavailable);
    let expected = match test_store() {
        StoreMode::Embedded => "locked",
        StoreMode::Mongo => "another server runs the log's sequencer on this database",
    };
    assert!(detail.contains(expected), "{detail}");
    // The first server still serves.
    app.create_collection("still-served", None).await;
}
