//! Optimistic concurrency under real contention: 32 clients at once on one document.

use reqwest::StatusCode;
use serde_json::json;
use tokio::task::JoinSet;

use crate::helpers::{TestApp, spawn_app};
use crate::snapshot::list_all;

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

/// The changes committed to document `d`, as their audit entries: the store-wide audit
/// listing filtered to `d` and the document's own history must name the same entries, one
/// per version, versions 1, 2, ... with none missing or doubled.
async fn audit_entries_of_d(app: &TestApp) -> usize {
    let listed = list_all(app, "/v1/audit?collection=c&document_id=d").await;
    let history = list_all(app, "/v1/collections/c/documents/d/history").await;
    let ids = |items: &[serde_json::Value]| {
        let mut ids: Vec<String> = items
            .iter()
            .map(|item| item["entry"]["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(&listed),
        ids(&history),
        "the audit listing and the history agree"
    );
    let mut versions: Vec<u64> = listed
        .iter()
        .filter_map(|item| item["entry"]["version"].as_u64())
        .collect();
    versions.sort_unstable();
    let expected: Vec<u64> = (1..=listed.len() as u64).collect();
    assert_eq!(versions, expected, "one entry per version");
    listed.len()
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
    assert_eq!(audit_entries_of_d(&app).await, 2);
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
    assert_eq!(audit_entries_of_d(&app).await, 1 + CLIENTS as usize);
    let revisions = list_all(&app, "/v1/collections/c/documents/d/revisions").await;
    let mut versions: Vec<u64> = revisions
        .iter()
        .filter_map(|revision| revision["version"].as_u64())
        .collect();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), revisions.len(), "no version stored twice");
    assert_eq!(versions, (1..=1 + CLIENTS).collect::<Vec<_>>());
}
