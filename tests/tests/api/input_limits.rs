//! Numbers a client sends are range-checked at the edge (issue 18, defect 4 and the number
//! items), and a keyed read keeps only a small answer (defect 6). Each test is a reproduction
//! from the issue: before the fix, the first ones answered 500 or stored a changed number.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use server::config::StoreMode;

use crate::helpers::{Answer, TestApp, spawn_app, test_store};
use crate::snapshot::StoreSnapshot;

/// 2^63: one above the largest integer a SQLite (or MongoDB) integer holds.
const TWO_TO_THE_63: &str = "9223372036854775808";
/// 2^64: one above the largest `u64`.
const TWO_TO_THE_64: &str = "18446744073709551616";

/// A collection `c` with document `d` at version 2.
async fn prepared_app() -> TestApp {
    let app = spawn_app().await;
    app.create_collection("c", None).await;
    app.create_document("c", "d", json!({"n": 1})).await;
    let replaced = app
        .put_json(
            "/v1/collections/c/documents/d",
            &json!({"data": {"n": 2}}),
            None,
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{:#}", replaced.body);
    app
}

/// Asserts a 400 `INVALID_INPUT` naming exactly `path`.
fn assert_invalid_at(answer: &Answer, path: &str, case: &str) {
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{case}: {:#}",
        answer.body
    );
    answer.assert_problem(400, "INVALID_INPUT");
    assert_eq!(answer.error_paths(), vec![path.to_owned()], "{case}");
}

/// Sends `body` as it is written (serde_json would rewrite `1e-400` as `0.0`).
async fn send_raw(app: &TestApp, method: Method, path: &str, body: &str) -> Answer {
    let content_type = if method == Method::PATCH {
        "application/merge-patch+json"
    } else {
        "application/json"
    };
    TestApp::send(
        app.request(method, path)
            .header("content-type", content_type)
            .body(body.to_owned()),
    )
    .await
}

fn hex_cursor(kind: &str, key: &str) -> String {
    hex::encode(format!("{kind}|{key}"))
}

#[tokio::test]
async fn a_version_beyond_what_a_store_holds_is_400_naming_the_parameter() {
    let app = prepared_app().await;
    let before = StoreSnapshot::take(&app).await;
    for route in [
        "/v1/collections/c/documents/d",
        "/v1/collections/c/documents/d/proof",
    ] {
        for number in [TWO_TO_THE_63, TWO_TO_THE_64, "99999999999999999999999"] {
            let answer = app.get(&format!("{route}?version={number}")).await;
            assert_invalid_at(&answer, "/version", &format!("{route}?version={number}"));
        }
    }
    let largest = app
        .get("/v1/collections/c/documents/d?version=9223372036854775807")
        .await;
    largest.assert_problem(404, "NOT_FOUND");

    // An If-Match naming such a version is a well-formed tag that matches nothing.
    let put = TestApp::send(
        app.request(Method::PUT, "/v1/collections/c/documents/d")
            .header("if-match", format!("\"{TWO_TO_THE_63}\""))
            .json(&json!({"data": {"n": 3}})),
    )
    .await;
    put.assert_problem(412, "PRECONDITION_FAILED");
    assert_eq!(StoreSnapshot::take(&app).await, before, "nothing stored");
}

#[tokio::test]
async fn hand_made_cursors_holding_two_to_the_63_are_400_naming_the_cursor() {
    let app = prepared_app().await;
    // The audit list's position is the backend's own: the embedded store's is
    // `<next leaf>.<after seq>`, MongoDB's `m.<next leaf>[.<order>.<id>]`.
    let (audit_too_large, audit_largest) = match test_store() {
        StoreMode::Embedded => (
            [format!("{TWO_TO_THE_63}.0"), format!("0.{TWO_TO_THE_64}")],
            "9223372036854775807.9223372036854775807".to_owned(),
        ),
        StoreMode::Mongo => (
            [
                format!("m.{TWO_TO_THE_63}"),
                format!("m.0.{TWO_TO_THE_63}.0190b3d2-2a9c-7000-8000-000000000000"),
            ],
            "m.9223372036854775807.9223372036854775807.ffffffff-ffff-7fff-bfff-ffffffffffff"
                .to_owned(),
        ),
    };
    let cases = [
        (
            "/v1/collections/c/documents/d/revisions",
            hex_cursor("revisions", TWO_TO_THE_63),
        ),
        (
            "/v1/collections/c/documents/d/history",
            hex_cursor("history", TWO_TO_THE_63),
        ),
        ("/v1/audit", hex_cursor("audit", &audit_too_large[0])),
        ("/v1/audit", hex_cursor("audit", &audit_too_large[1])),
        ("/v1/collections", hex_cursor("collections", TWO_TO_THE_63)),
    ];
    for (route, cursor) in cases {
        let answer = app.get(&format!("{route}?cursor={cursor}")).await;
        assert_invalid_at(&answer, "/cursor", route);
    }
    // The largest position is a fine cursor: past the end, an empty page.
    let last = app
        .get(&format!(
            "/v1/audit?cursor={}",
            hex_cursor("audit", &audit_largest)
        ))
        .await;
    assert_eq!(last.status, StatusCode::OK, "{:#}", last.body);
    assert_eq!(last.body["items"], json!([]));

    for route in [
        "/v1/collections",
        "/v1/audit",
        "/v1/collections/c/documents",
    ] {
        let answer = app.get(&format!("{route}?limit=4294967296")).await;
        assert_invalid_at(&answer, "/limit", route);
    }
}

/// A query cursor is checksummed but not secret: a client can build one holding any number.
fn query_cursor_with_number(real: &str, number: &str) -> String {
    let payload = hex::decode(&real[..real.len() - 16]).unwrap_or_else(|e| panic!("{e}"));
    let mut payload: Value = serde_json::from_slice(&payload).unwrap_or_else(|e| panic!("{e}"));
    payload[1][0] = json!(["n", "NUMBER"]);
    let text = payload.to_string().replace("\"NUMBER\"", number);
    let checksum = hex::encode(Sha256::digest(text.as_bytes()));
    format!("{}{}", hex::encode(&text), &checksum[..16])
}

#[tokio::test]
async fn a_hand_made_query_cursor_holding_two_to_the_64_is_400_naming_the_cursor() {
    let app = prepared_app().await;
    app.create_document("c", "e", json!({"n": 5})).await;
    let first = app
        .get("/v1/collections/c/documents?sort=$version&limit=1")
        .await;
    let real = first.body["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("no cursor: {:#}", first.body));
    let valid = app
        .get(&format!(
            "/v1/collections/c/documents?sort=$version&limit=1&cursor={}",
            query_cursor_with_number(real, "1")
        ))
        .await;
    assert_eq!(valid.status, StatusCode::OK, "the rebuilt cursor is sound");
    for number in [TWO_TO_THE_64, "1e300"] {
        let cursor = query_cursor_with_number(real, number);
        let answer = app
            .get(&format!(
                "/v1/collections/c/documents?sort=$version&limit=1&cursor={cursor}"
            ))
            .await;
        assert_invalid_at(&answer, "/cursor", number);
    }
}

#[tokio::test]
async fn a_non_zero_number_a_double_cannot_hold_is_400_naming_its_path_and_stores_nothing() {
    let app = prepared_app().await;
    let before = StoreSnapshot::take(&app).await;
    let docs = "/v1/collections/c/documents";
    let cases = [
        (Method::POST, docs, r#"{"data": {"x": 1e-400}}"#, "/data/x"),
        (
            Method::POST,
            docs,
            r#"{"data": {"x": [1, -2E-999]}}"#,
            "/data/x/1",
        ),
        (Method::POST, docs, r#"{"data": {"x": 1e400}}"#, "/data/x"),
        (
            Method::PUT,
            "/v1/collections/c/documents/d",
            r#"{"data": {"y": {"z": 5e-324, "w": 1e-330}}}"#,
            "/data/y/w",
        ),
        (
            Method::PATCH,
            "/v1/collections/c/documents/d",
            r#"{"x": 1e-400}"#,
            "/x",
        ),
        (
            Method::POST,
            "/v1/collections/c/documents/query",
            r#"{"filter": {"x": 1e-400}}"#,
            "/filter/x",
        ),
    ];
    for (method, path, body, pointer) in cases {
        let answer = send_raw(&app, method.clone(), path, body).await;
        assert_invalid_at(&answer, pointer, body);
    }
    let filtered = app
        .get("/v1/collections/c/documents?filter=%7B%22x%22%3A1e-400%7D")
        .await;
    assert_invalid_at(&filtered, "/filter/x", "GET filter");
    assert_eq!(StoreSnapshot::take(&app).await, before, "nothing stored");

    // Every other number takes its JCS form.
    let created = send_raw(
        &app,
        Method::POST,
        docs,
        r#"{"id": "jcs", "data": {"a": 1e2, "b": 0.0, "c": -0e10, "d": 1.50, "e": 5e-324}}"#,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let read = app.get("/v1/collections/c/documents/jcs").await;
    assert_eq!(
        read.body["data"],
        json!({"a": 100, "b": 0, "c": 0, "d": 1.5, "e": 5e-324})
    );
}

#[tokio::test]
async fn a_filter_operand_of_two_to_the_64_is_400_like_data() {
    let app = prepared_app().await;
    let data = send_raw(
        &app,
        Method::POST,
        "/v1/collections/c/documents",
        &format!(r#"{{"data": {{"n": {TWO_TO_THE_64}}}}}"#),
    )
    .await;
    assert_invalid_at(&data, "/data/n", "data");
    for (filter, pointer) in [
        (format!(r#"{{"n": {TWO_TO_THE_64}}}"#), "/filter/n"),
        (
            format!(r#"{{"n": {{"$in": [1, {TWO_TO_THE_64}]}}}}"#),
            "/filter/n/$in/1",
        ),
        (
            format!(r#"{{"$version": {{"$gt": {TWO_TO_THE_64}}}}}"#),
            "/filter/$version/$gt",
        ),
    ] {
        let body = format!(r#"{{"filter": {filter}}}"#);
        let answer = send_raw(
            &app,
            Method::POST,
            "/v1/collections/c/documents/query",
            &body,
        )
        .await;
        assert_invalid_at(&answer, pointer, &filter);
    }
    let limit = json!(9_007_199_254_740_992_u64);
    let fine = app
        .post_json(
            "/v1/collections/c/documents/query",
            &json!({"filter": {"n": {"$lt": limit}}}),
        )
        .await;
    assert_eq!(fine.status, StatusCode::OK, "2^53 itself is fine");
}

#[tokio::test]
async fn a_filter_holds_256_clauses_as_the_readme_says_and_not_257() {
    let app = prepared_app().await;
    let or_of = |n: usize| {
        let alternatives: Vec<Value> = (0..n).map(|i| json!({ "n": i })).collect();
        json!({"filter": {"$or": alternatives}})
    };
    let query = "/v1/collections/c/documents/query";
    let fine = app.post_json(query, &or_of(256)).await;
    assert_eq!(fine.status, StatusCode::OK, "{:#}", fine.body);
    assert_eq!(fine.body["items"].as_array().map(Vec::len), Some(1));
    let refused = app.post_json(query, &or_of(257)).await;
    assert_invalid_at(&refused, "/filter/$or/256/n", "257 alternatives");
    let detail = refused.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("256"), "{detail}");
}

async fn keyed_query(app: &TestApp, key: &str, body: &Value) -> Answer {
    TestApp::send(
        app.request(Method::POST, "/v1/collections/c/documents/query")
            .header("idempotency-key", key)
            .json(body),
    )
    .await
}

#[tokio::test]
async fn a_keyed_query_answer_above_64_kib_runs_again_and_one_below_is_replayed() {
    let app = spawn_app().await;
    app.create_collection("c", None).await;
    let pad = "x".repeat(1500);
    for i in 0..50 {
        app.create_document("c", &format!("d{i:02}"), json!({"pad": pad}))
            .await;
    }
    let large = json!({"limit": 1000});
    let small = json!({"limit": 1});

    let first_large = keyed_query(&app, "large", &large).await;
    assert_eq!(first_large.status, StatusCode::OK);
    let first_large_bytes = first_large.body.to_string().len();
    assert!(first_large_bytes > 64 * 1024, "{first_large_bytes} bytes");
    let first_small = keyed_query(&app, "small", &small).await;
    assert_eq!(first_small.status, StatusCode::OK);

    // A change between the first answer and the repeat tells a replay from a new run.
    app.create_document("c", "a-first", json!({"new": true}))
        .await;
    let again_large = keyed_query(&app, "large", &large).await;
    assert_eq!(again_large.status, StatusCode::OK);
    assert_eq!(again_large.header("idempotent-replayed"), None);
    assert_eq!(
        again_large.body["items"].as_array().map(Vec::len),
        Some(51),
        "the query ran again and sees the new document"
    );
    let again_small = keyed_query(&app, "small", &small).await;
    assert_eq!(again_small.header("idempotent-replayed"), Some("true"));
    assert_eq!(again_small.body, first_small.body, "replayed from storage");
    assert_eq!(again_small.body["items"][0]["id"], json!("d00"));

    // The key still binds its request, kept answer or not.
    keyed_query(&app, "large", &json!({"limit": 999}))
        .await
        .assert_problem(422, "IDEMPOTENCY_KEY_REUSED");
    keyed_query(&app, "small", &json!({"limit": 2}))
        .await
        .assert_problem(422, "IDEMPOTENCY_KEY_REUSED");

    // Only the small answer is kept: after another change, every repeat of the large query
    // still runs afresh, while the small one still replays its first answer (byte for byte,
    // with the replay header). How a backend stores the kept answer is its own business; what
    // the contract fixes is this behaviour.
    app.create_document("c", "a-second", json!({"new": true}))
        .await;
    let third_large = keyed_query(&app, "large", &large).await;
    assert_eq!(third_large.status, StatusCode::OK);
    assert_eq!(third_large.header("idempotent-replayed"), None);
    assert_eq!(
        third_large.body["items"].as_array().map(Vec::len),
        Some(52),
        "the large answer was never kept: the query ran again"
    );
    let third_small = keyed_query(&app, "small", &small).await;
    assert_eq!(third_small.header("idempotent-replayed"), Some("true"));
    assert_eq!(third_small.body, first_small.body, "still the kept answer");
    let first_small_bytes = first_small.body.to_string().len();
    assert!(first_small_bytes <= 64 * 1024, "{first_small_bytes} bytes");
}

#[tokio::test]
async fn log_positions_beyond_what_a_store_holds_are_400_naming_the_parameter() {
    let app = prepared_app().await;
    let cases = [
        (
            format!("/v1/log/entries?start={TWO_TO_THE_63}&end={TWO_TO_THE_63}"),
            "/end",
        ),
        (
            format!("/v1/log/entries?start=0&end={TWO_TO_THE_64}"),
            "/end",
        ),
        (
            format!("/v1/log/proofs/inclusion?index=0&tree_size={TWO_TO_THE_63}"),
            "/tree_size",
        ),
        (
            format!("/v1/log/proofs/inclusion?index={TWO_TO_THE_63}&tree_size=0"),
            "/index",
        ),
        (
            format!("/v1/log/proofs/consistency?from=1&to={TWO_TO_THE_63}"),
            "/to",
        ),
        (
            format!("/v1/log/proofs/consistency?from={TWO_TO_THE_64}&to=1"),
            "/from",
        ),
    ];
    for (route, parameter) in cases {
        let answer = app.get(&route).await;
        assert_invalid_at(&answer, parameter, &route);
    }
}
