//! Every revision stays readable: `?version=N`, `/revisions` and `/history`, also after delete.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Walks a paginated list with `limit` items per page, returning every item.
async fn walk(app: &TestApp, path: &str, limit: u32) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
            None => format!("{path}?limit={limit}"),
        };
        let page = app.get(&url).await;
        assert_eq!(page.status, StatusCode::OK, "{:#}", page.body);
        items.extend(page.body["items"].as_array().cloned().unwrap_or_default());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

#[tokio::test]
async fn three_updates_and_a_delete_leave_five_readable_revisions_and_five_audit_entries() {
    let app = spawn_app().await;
    app.create_collection("c", None).await;
    let doc = "/v1/collections/c/documents/d";
    let created = app.create_document("c", "d", json!({"step": 0})).await;
    let second = app.put_json(doc, &json!({"data": {"step": 1}}), None).await;
    app.patch(doc, &json!({"step": 2}), None).await;
    app.patch(doc, &json!({"extra": true}), None).await;
    assert_eq!(app.delete(doc, None).await.status, StatusCode::NO_CONTENT);

    let revisions = walk(&app, &format!("{doc}/revisions"), 2).await;
    assert_eq!(revisions.len(), 5);
    let versions: Vec<_> = revisions.iter().map(|r| r["version"].clone()).collect();
    assert_eq!(
        versions,
        vec![json!(1), json!(2), json!(3), json!(4), json!(5)]
    );
    let operations: Vec<_> = revisions
        .iter()
        .filter_map(|r| r["operation"].as_str())
        .collect();
    assert_eq!(
        operations,
        vec![
            "document.create",
            "document.replace",
            "document.patch",
            "document.patch",
            "document.delete"
        ]
    );
    assert_eq!(revisions[0]["data"], json!({"step": 0}));
    assert_eq!(revisions[0]["content_hash"], created.body["content_hash"]);
    assert_eq!(revisions[0]["actor"], "anonymous");
    assert_eq!(revisions[0]["audit_id"], created.body["audit_id"]);
    assert_eq!(revisions[4]["data"], json!(null));
    assert_eq!(revisions[4]["content_hash"], json!(null));

    let history = walk(&app, &format!("{doc}/history"), 3).await;
    assert_eq!(history.len(), 5);
    for (entry, revision) in history.iter().zip(&revisions) {
        assert_eq!(entry["entry"]["id"], revision["audit_id"]);
        assert_eq!(entry["entry"]["version"], revision["version"]);
        assert_eq!(entry["entry"]["hash_after"], revision["content_hash"]);
        // Null until the sequencer places the entry in the log, then its index.
        assert!(entry["leaf_index"].is_null() || entry["leaf_index"].is_u64());
        assert!(entry["leaf_hash"].as_str().is_some_and(|h| h.len() == 64));
    }
    assert_eq!(history[0]["patch"], json!(null));
    assert!(
        history[1]["patch"].is_array(),
        "a replace carries its RFC 6902 patch"
    );

    app.get(doc).await.assert_problem(404, "NOT_FOUND");
    let past = app.get(&format!("{doc}?version=2")).await;
    assert_eq!(past.status, StatusCode::OK, "{:#}", past.body);
    assert_eq!(past.header("etag"), Some("\"2\""));
    assert_eq!(
        past.body, second.body,
        "version 2 reads back exactly as it was answered"
    );
    app.get(&format!("{doc}?version=5"))
        .await
        .assert_problem(404, "NOT_FOUND");

    let recreated = app.create_document("c", "d", json!({"again": 1})).await;
    assert_eq!(recreated.body["version"], 6);
    assert_eq!(walk(&app, &format!("{doc}/revisions"), 50).await.len(), 6);
    let old = app.get(&format!("{doc}?version=1")).await;
    assert_eq!(
        old.body["created_at"], created.body["created_at"],
        "created_at of the life version 1 belongs to"
    );
}
