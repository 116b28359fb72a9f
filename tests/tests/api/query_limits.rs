//! What heavy queries cannot do (issue 18, defect 2): take every reader from point reads, or
//! keep a reader busy after their request is over. The heavy query is one any client may send
//! within the limits: `$and` of many `$nin` clauses of 1,000 values each, sorted by a long
//! string, so SQLite compares every document with every value before it can sort. Timings are
//! compared with each other or with the server's own timeout, with wide margins.

use std::time::{Duration, Instant};

use infra::embedded::Durability;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::helpers::{TestApp, embedded_only, spawn_app_in};

const DOCS: &str = "/v1/collections/c/documents";

/// Documents in the collection.
const DOCUMENTS: usize = 1000;

/// Heavy queries sent at once, as in the issue.
const HEAVY_QUERIES: usize = 8;

/// A server over a fresh folder (without fsync: the tests are about reads), adjusted.
async fn app_with_timeout(timeout: Duration) -> TestApp {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    spawn_app_in(dir, |config| {
        config.durability = Durability::Normal;
        config.request_timeout = timeout;
    })
    .await
}

/// `DOCUMENTS` documents with a long `pad` to sort by, written by 16 clients at once.
async fn seed(app: &TestApp) {
    app.create_collection("c", None).await;
    let mut writers = JoinSet::new();
    for client in 0..16 {
        let (client_http, url) = (app.client.clone(), app.url(DOCS));
        writers.spawn(async move {
            for i in (client..DOCUMENTS).step_by(16) {
                let body = json!({
                    "id": format!("d{i:05}"),
                    "data": {"name": format!("n{i}"), "pad": format!("{}{i:05}", "p".repeat(200)), "tag": i},
                });
                let answer = TestApp::send(client_http.post(&url).json(&body)).await;
                assert_eq!(answer.status, StatusCode::CREATED, "{:#}", answer.body);
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap_or_else(|e| panic!("{e}"));
    }
}

/// `clauses` × `$nin` of the 1,000 numbers 1000..1999, which no document's `tag` is, sorted
/// by `-pad,name`, 1,000 a page (about 5 KB a clause: 150 fit in the body limit).
fn heavy_query(clauses: usize) -> Value {
    let values: Vec<usize> = (DOCUMENTS..DOCUMENTS + 1000).collect();
    let clauses = vec![json!({"tag": {"$nin": values}}); clauses];
    json!({"filter": {"$and": clauses}, "sort": "-pad,name", "limit": 1000})
}

/// Sends `HEAVY_QUERIES` copies of `body` at once; each task answers (status, code, time).
fn send_heavy_queries(app: &TestApp, body: &Value) -> JoinSet<(StatusCode, Value, Duration)> {
    let mut queries = JoinSet::new();
    for _ in 0..HEAVY_QUERIES {
        let request = app
            .client
            .post(app.url(&format!("{DOCS}/query")))
            .json(body);
        queries.spawn(async move {
            let started = Instant::now();
            let answer = TestApp::send(request).await;
            (answer.status, answer.body, started.elapsed())
        });
    }
    queries
}

async fn join_all(
    mut queries: JoinSet<(StatusCode, Value, Duration)>,
) -> Vec<(StatusCode, Value, Duration)> {
    let mut answers = Vec::new();
    while let Some(done) = queries.join_next().await {
        answers.push(done.unwrap_or_else(|e| panic!("{e}")));
    }
    answers
}

#[tokio::test]
async fn a_read_by_version_answers_while_eight_heavy_queries_run_ten_times_faster_than_they_do() {
    if embedded_only("SQLite's reader pool (point reads beside queries on the same readers)") {
        return;
    }
    let app = app_with_timeout(Duration::from_secs(120)).await;
    seed(&app).await;
    // Version 1 of d00000 is no longer the current one, so the document cache cannot answer it.
    let changed = app
        .patch(&format!("{DOCS}/d00000"), &json!({"changed": true}), None)
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:#}", changed.body);

    let queries = send_heavy_queries(&app, &heavy_query(2));
    // Let them reach the readers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut slowest_read = Duration::ZERO;
    for _ in 0..3 {
        let started = Instant::now();
        let read = app.get(&format!("{DOCS}/d00000?version=1")).await;
        slowest_read = slowest_read.max(started.elapsed());
        assert_eq!(read.status, StatusCode::OK, "{:#}", read.body);
        assert_eq!(read.body["version"], 1, "{:#}", read.body);
    }

    let answers = join_all(queries).await;
    for (status, body, _) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body:#}");
        assert_eq!(body["items"].as_array().map(Vec::len), Some(1000));
    }
    let fastest_query = answers
        .iter()
        .map(|(_, _, took)| *took)
        .min()
        .unwrap_or_default();
    assert!(
        slowest_read * 10 <= fastest_query,
        "a read by version took {slowest_read:?} while the fastest heavy query took \
         {fastest_query:?}: point reads must not wait for query pages"
    );
}

#[tokio::test]
async fn a_query_past_its_deadline_frees_its_reader_for_the_next_request() {
    if embedded_only("SQLite's reader pool (a reader freed when its query's request ends)") {
        return;
    }
    // Each of these queries alone would run many times the 1 s deadline (over 10 s in a
    // debug build; eight of them one after the other on one scan reader, minutes).
    let app = app_with_timeout(Duration::from_secs(1)).await;
    seed(&app).await;

    let answers = join_all(send_heavy_queries(&app, &heavy_query(150))).await;
    for (status, body, _) in &answers {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{body:#}");
        assert_eq!(body["code"], "UNAVAILABLE", "{body:#}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body:#}"
        );
    }

    // A cheap page needs a scan reader too; within its own 1 s budget it gets one only if
    // the heavy queries were stopped (and the queued ones dropped) at their deadline.
    let next = app.get(&format!("{DOCS}?limit=1")).await;
    assert_eq!(next.status, StatusCode::OK, "{:#}", next.body);
    assert_eq!(next.body["items"][0]["id"], "d00000", "{:#}", next.body);

    // The interrupted readers left no snapshot open: a new write is visible to queries.
    app.create_document("c", "zz-new", json!({"tag": -1})).await;
    let filter = json!({"tag": -1}).to_string();
    let found = app
        .get(&format!("{DOCS}?filter={}", url_encode(&filter)))
        .await;
    assert_eq!(found.status, StatusCode::OK, "{:#}", found.body);
    assert_eq!(found.body["items"][0]["id"], "zz-new", "{:#}", found.body);
}

/// Percent-encodes a query parameter value.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
