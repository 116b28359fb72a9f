//! `Idempotency-Key` on POST: a retried request replays its first answer and stores nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::helpers::{Answer, TestApp, spawn_app};
use crate::snapshot::{StoreSnapshot, list_all};

async fn post_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> Answer {
    TestApp::send(
        app.request(Method::POST, path)
            .header("idempotency-key", key)
            .json(body),
    )
    .await
}

#[tokio::test]
async fn a_repeated_post_replays_the_first_answer_and_stores_nothing_new() {
    let app = spawn_app().await;
    app.create_collection("c", None).await;
    let path = "/v1/collections/c/documents";
    let body = json!({"data": {"n": 1}});
    let first = post_with_key(&app, path, "key-1", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:#}", first.body);
    let before = StoreSnapshot::take(&app).await;

    // The same JSON, written differently, is the same request (the hash is of its JCS form).
    let same = json!({"data": {"n": 1.0}});
    let replay = post_with_key(&app, path, "key-1", &same).await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(
        replay.body, first.body,
        "identical body, including the generated id"
    );
    assert_eq!(replay.header("etag"), first.header("etag"));
    assert_eq!(replay.header("location"), first.header("location"));
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        StoreSnapshot::take(&app).await,
        before,
        "nothing new stored"
    );

    let reused = post_with_key(&app, path, "key-1", &json!({"data": {"n": 2}})).await;
    reused.assert_problem(422, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(StoreSnapshot::take(&app).await, before);

    let other_path = post_with_key(&app, "/v1/collections", "key-1", &json!({"name": "d"})).await;
    assert_eq!(
        other_path.status,
        StatusCode::CREATED,
        "keys are scoped to the path"
    );
}

#[tokio::test]
async fn a_rejection_is_replayed_too_but_a_fresh_key_gets_a_fresh_answer() {
    let app = spawn_app().await;
    let path = "/v1/collections/missing/documents";
    let body = json!({"data": {}});
    let first = post_with_key(&app, path, "k", &body).await;
    first.assert_problem(404, "NOT_FOUND");
    app.create_collection("missing", None).await;
    let replay = post_with_key(&app, path, "k", &body).await;
    assert_eq!(
        replay.status,
        StatusCode::NOT_FOUND,
        "4xx answers are replayed as they were"
    );
    assert_eq!(replay.body, first.body);
    let fresh = post_with_key(&app, path, "k2", &body).await;
    assert_eq!(fresh.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_malformed_key_is_rejected() {
    let app = spawn_app().await;
    let before = StoreSnapshot::take(&app).await;
    let long = "k".repeat(256);
    post_with_key(&app, "/v1/collections", &long, &json!({"name": "x"}))
        .await
        .assert_problem(400, "INVALID_INPUT");
    let after = StoreSnapshot::take(&app).await;
    assert!(after.collections().is_empty(), "{after:#?}");
    assert_eq!(after, before, "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_posts_with_one_key_create_one_document() {
    let app = spawn_app().await;
    app.create_collection("c", None).await;
    for round in 0..10 {
        let key = format!("race-{round}");
        let mut posts = JoinSet::new();
        for _ in 0..2 {
            let request = app
                .request(Method::POST, "/v1/collections/c/documents")
                .header("idempotency-key", key.clone())
                .json(&json!({"data": {"round": round}}));
            posts.spawn(async move { TestApp::send(request).await });
        }
        let answers = posts.join_all().await;
        let mut statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
        statuses.sort_unstable();
        assert!(
            statuses == vec![201, 201] || statuses == vec![201, 409],
            "round {round}: {statuses:?}"
        );
        if statuses == vec![201, 201] {
            assert_eq!(answers[0].body, answers[1].body, "the second is the replay");
        }
    }
    let documents = list_all(&app, "/v1/collections/c/documents").await;
    assert_eq!(documents.len(), 10, "one document per key");
    let creates = list_all(&app, "/v1/audit?operation=document.create").await;
    assert_eq!(creates.len(), 10, "one change per key, never a second one");
}

#[tokio::test]
async fn keys_survive_a_restart() {
    let app = spawn_app().await;
    app.create_collection("c", None).await;
    let first = post_with_key(
        &app,
        "/v1/collections/c/documents",
        "persist",
        &json!({"data": {}}),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let app = app.restart().await;
    let replay = post_with_key(
        &app,
        "/v1/collections/c/documents",
        "persist",
        &json!({"data": {}}),
    )
    .await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
}
