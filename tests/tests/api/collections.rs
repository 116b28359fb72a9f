//! The life cycle of collections.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_collection_is_created_listed_read_changed_and_deleted() {
    let app = spawn_app().await;
    let created = app
        .create_collection("orders", Some(json!({"type": "object"})))
        .await;
    assert_eq!(created["name"], "orders");
    assert_eq!(created["version"], 1);
    assert_eq!(created["schema"], json!({"type": "object"}));
    assert!(created["id"].as_str().is_some_and(|id| id.len() == 36));
    let created_at = created["created_at"].as_str().unwrap_or_default();
    assert_eq!(
        created_at.len(),
        "2026-11-25T09:30:00.123Z".len(),
        "three fractional digits, UTC"
    );
    assert!(created_at.ends_with('Z'));

    let read = app.get("/v1/collections/orders").await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, created);

    let changed = app
        .put_json(
            "/v1/collections/orders/schema",
            &json!({"schema": null}),
            None,
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:#}", changed.body);
    assert_eq!(changed.body["version"], 2);
    assert_eq!(changed.body["schema"], json!(null));

    let deleted = app.delete("/v1/collections/orders", None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get("/v1/collections/orders")
        .await
        .assert_problem(404, "NOT_FOUND");

    let again = app.create_collection("orders", None).await;
    assert_ne!(
        again["id"], created["id"],
        "a re-created name is a new collection with a new id"
    );
}

#[tokio::test]
async fn collections_are_listed_by_name_in_pages_with_an_opaque_cursor() {
    let app = spawn_app().await;
    for name in ["c", "a", "e", "b", "d"] {
        app.create_collection(name, None).await;
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/collections?limit=2&cursor={c}"),
            None => "/v1/collections?limit=2".to_owned(),
        };
        let page = app.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{:#}", page.body);
        let items = page.body["items"].as_array().cloned().unwrap_or_default();
        assert!(items.len() <= 2);
        names.extend(
            items
                .iter()
                .filter_map(|c| c["name"].as_str().map(str::to_owned)),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, vec!["a", "b", "c", "d", "e"]);
    let default_page = app.get("/v1/collections").await;
    assert_eq!(default_page.body["items"].as_array().map(Vec::len), Some(5));
    assert_eq!(default_page.body["next_cursor"], json!(null));
}

#[tokio::test]
async fn a_collection_holding_live_documents_cannot_be_deleted_until_they_are() {
    let app = spawn_app().await;
    app.create_collection("orders", None).await;
    app.create_document("orders", "o-1", json!({"n": 1})).await;
    app.delete("/v1/collections/orders", None)
        .await
        .assert_problem(409, "CONFLICT");
    assert_eq!(
        app.delete("/v1/collections/orders/documents/o-1", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete("/v1/collections/orders", None).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.body, json!({"status": "ok"}));
    assert_eq!(app.get("/readyz").await.body, json!({"status": "ready"}));
}
