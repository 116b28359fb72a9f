//! Optimistic concurrency under real contention: 32 clients at once on one document.

use reqwest::StatusCode;
use serde_json::json;
use tokio::task::JoinSet;

use crate::helpers::{TestApp, spawn_app};

const CLIENTS: u64 = 32;

async fn concurrent_patches(app: &TestApp, if_match: Option<&'static str>) -> Vec<StatusCode> {
    let mut patches = JoinSet::new();
    for client in 0..CLIENTS {
        let request = {
            let mut request = app
                .request(reqwest::Method::PATCH, "/v1/collections/c/documents/d")
                .header("content-type", "application/merge-patch+json")
                .body(json!({ format!("client{client}"): client }).to_string());
            if let Some(tag) = if_match {
                request = request.header("if-match", tag);
            }
            request
        };
        patches.spawn(async move { TestApp::send(request).await.status });
    }
    patches.join_all().await
}

fn audit_entries_of_d(app: &TestApp) -> i64 {
    app.database()
        .query_row(
            "SELECT COUNT(*) FROM audit_entries WHERE document_id = 'd'",
            [],
            |row| row.get(0),
        )
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_patches_with_the_same_if_match_let_exactly_one_through() {
    let app = spawn_app().await;
    app.create_collection("c", None).await;
    app.create_document("c", "d", json!({})).await;
    let statuses = concurrent_patches(&app, Some("\"1\"")).await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let failed = statuses
        .iter()
        .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((ok, failed), (1, CLIENTS as usize - 1), "{statuses:?}");
    assert_eq!(
        app.get("/v1/collections/c/documents/d").await.body["version"],
        2
    );
    assert_eq!(audit_entries_of_d(&app), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_patches_without_if_match_all_land_with_their_own_version() {
    let app = spawn_app().await;
    app.create_collection("c", None).await;
    app.create_document("c", "d", json!({})).await;
    let statuses = concurrent_patches(&app, None).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let document = app.get("/v1/collections/c/documents/d").await;
    assert_eq!(document.body["version"], json!(1 + CLIENTS));
    assert_eq!(
        document.body["data"].as_object().map(|o| o.len()),
        Some(CLIENTS as usize),
        "no update was lost"
    );
    assert_eq!(audit_entries_of_d(&app), 1 + CLIENTS as i64);
    let revisions: i64 = app
        .database()
        .query_row(
            "SELECT COUNT(DISTINCT version) FROM revisions WHERE document_id = 'd'",
            [],
            |row| row.get(0),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(revisions, 1 + CLIENTS as i64);
}
