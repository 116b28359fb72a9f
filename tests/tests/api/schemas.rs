//! Issue 18, defects 1 and 5: what a schema may cost the server.
//!
//! A new schema's patterns must run on the linear-time engine and the schema must fit its
//! caps; a schema stored before that rule (the fixture store, made by the build before it)
//! keeps working under a backtracking limit and answers 422 before the request's deadline;
//! validation runs off the serving threads, so `/healthz` and other writes are answered while
//! one validation is held.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::serving::Serving;
use tempfile::TempDir;

use crate::helpers::{TestApp, embedded_only, spawn_app_in};

/// The schema of issue 18: `anyOf` of 150 patterns like `^(a|a)*\1b...$`, about 17 KB, each
/// exponential on a backtracking engine for `aaaa…a!`.
fn hostile_schema() -> Value {
    let patterns: Vec<Value> = (0..150)
        .map(|i| json!({"pattern": format!("^(a|a)*\\1b{i:0>88}$")}))
        .collect();
    json!({"type": "object", "properties": {"s": {"anyOf": patterns}}})
}

/// The document that made the old build spend 10.9 s in the schema above.
fn hostile_document() -> Value {
    json!({"s": format!("{}!", "a".repeat(30))})
}

/// A server on `dir` serving every connection on ONE thread, so a request that held its
/// thread would hold `/healthz` too.
async fn spawn_on_one_thread(
    dir: TempDir,
    adjust: impl FnOnce(&mut server::config::Config),
) -> TestApp {
    spawn_app_in(dir, |config| {
        config.serving = Serving::PerThread {
            threads: NonZeroUsize::MIN,
        };
        adjust(config);
    })
    .await
}

/// A client with connections of its own, so each request below may use a new connection.
fn client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn the_hostile_schema_is_refused_when_set_naming_its_pattern() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let app = spawn_on_one_thread(dir, |_| {}).await;
    let created = app
        .post_json(
            "/v1/collections",
            &json!({"name": "hostile", "schema": hostile_schema()}),
        )
        .await;
    created.assert_problem(400, "INVALID_INPUT");
    assert_eq!(
        created.error_paths(),
        vec!["/schema/properties/s/anyOf/0/pattern"]
    );
    assert_eq!(
        app.get("/v1/collections/hostile").await.status,
        StatusCode::NOT_FOUND
    );

    app.create_collection("plain", Some(json!({"type": "object"})))
        .await;
    let changed = app
        .put_json(
            "/v1/collections/plain/schema",
            &json!({"schema": {"patternProperties": {"^(x)\\1$": {}}}}),
            None,
        )
        .await;
    changed.assert_problem(400, "INVALID_INPUT");
    assert_eq!(
        changed.error_paths(),
        vec!["/schema/patternProperties/^(x)\\1$"]
    );
    let kept = app.get("/v1/collections/plain").await;
    assert_eq!(
        kept.body["schema"],
        json!({"type": "object"}),
        "{:#}",
        kept.body
    );
}

#[tokio::test]
async fn a_schema_above_the_size_cap_is_refused_naming_schema() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let app = spawn_app_in(dir, |config| config.max_schema_bytes = 4096).await;
    let values: Vec<String> = (0..1000).map(|i| format!("value-{i}")).collect();
    let answer = app
        .post_json(
            "/v1/collections",
            &json!({"name": "big", "schema": {"enum": values}}),
        )
        .await;
    answer.assert_problem(400, "INVALID_INPUT");
    assert_eq!(answer.error_paths(), vec!["/schema"]);
    app.create_collection("small", Some(json!({"enum": [{"a": 1}]})))
        .await;
    let replaced = app
        .put_json(
            "/v1/collections/small/schema",
            &json!({"schema": {"enum": values}}),
            None,
        )
        .await;
    replaced.assert_problem(400, "INVALID_INPUT");
    assert_eq!(replaced.error_paths(), vec!["/schema"]);
}

/// Copies the fixture folder `name` under `tests/fixtures/` into a new temporary folder.
fn fixture(name: &str) -> TempDir {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let entries =
        std::fs::read_dir(&source).unwrap_or_else(|e| panic!("fixture {}: {e}", source.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("fixture entry: {e}"));
        std::fs::copy(entry.path(), dir.path().join(entry.file_name()))
            .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
    }
    dir
}

#[tokio::test]
async fn a_stored_backtracking_schema_answers_422_before_the_deadline_while_healthz_answers() {
    if embedded_only("a data folder made by an older build (an SQLite fixture)") {
        return;
    }
    // Made by the build before this change (commit af45eca): the collection `legacy` with the
    // hostile schema, which that build accepted. See tests/fixtures/README.md.
    let dir = fixture("legacy-backtracking-schema");
    let deadline = Duration::from_secs(5);
    let app = spawn_on_one_thread(dir, |config| config.request_timeout = deadline).await;
    let stored = app.get("/v1/collections/legacy").await;
    assert_eq!(
        stored.body["schema"],
        hostile_schema(),
        "the fixture's schema"
    );

    let url = app.url("/v1/collections/legacy/documents");
    let write = tokio::spawn(async move {
        let started = Instant::now();
        let answer = client()
            .post(url)
            .json(&json!({"id": "hostile", "data": hostile_document()}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("write: {e}"));
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        (status, body, started.elapsed())
    });
    // While the write is validated, the serving thread keeps answering.
    loop {
        let started = Instant::now();
        let health = client()
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("healthz: {e}"));
        assert_eq!(health.status(), StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "/healthz waited {:?} beside the write",
            started.elapsed()
        );
        if write.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body, took) = write.await.unwrap_or_else(|e| panic!("write task: {e}"));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    assert_eq!(body["code"], json!("SCHEMA_VIOLATION"), "{body:#}");
    assert_eq!(body["errors"][0]["path"], json!("/data/s"), "{body:#}");
    assert!(
        took < deadline,
        "answered after {took:?}, past the deadline"
    );

    // The stored schema still decides what it can: a string its first pattern matches (the
    // backreference repeats the last `a`) is accepted and stored.
    let accepted = app
        .post_json(
            "/v1/collections/legacy/documents",
            &json!({"id": "fine", "data": {"s": format!("aab{}", "0".repeat(88))}}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{:#}", accepted.body);
}

/// A gate the validation hook waits at until the test opens it.
#[derive(Default)]
struct Gate {
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl Gate {
    /// Called by the held validation: says it has arrived, then waits (at most 30 s, so a
    /// failing test cannot hang the suite).
    fn arrive_and_wait(&self) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.0 = true;
        self.changed.notify_all();
        let _ = self
            .changed
            .wait_timeout_while(state, Duration::from_secs(30), |(_, open)| !*open);
    }

    fn wait_for_arrival(&self) {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (state, _) = self
            .changed
            .wait_timeout_while(state, Duration::from_secs(30), |(arrived, _)| !*arrived)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert!(state.0, "the validation never started");
    }

    fn open(&self) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.1 = true;
        self.changed.notify_all();
    }
}

#[tokio::test]
async fn a_stalled_validation_does_not_hold_other_connections() {
    let gate = Arc::new(Gate::default());
    let hook_gate = Arc::clone(&gate);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let app = spawn_on_one_thread(dir, move |config| {
        config.schema_stall = Some(infra::schema::ValidationStall::new(move |collection| {
            if collection.name().as_str() == "stalled" {
                hook_gate.arrive_and_wait();
            }
        }));
    })
    .await;
    let schema = json!({"type": "object", "required": ["n"]});
    app.create_collection("stalled", Some(schema.clone())).await;
    app.create_collection("other", Some(schema)).await;

    let url = app.url("/v1/collections/stalled/documents");
    let held = tokio::spawn(async move {
        client()
            .post(url)
            .json(&json!({"id": "held", "data": {"n": 1}}))
            .send()
            .await
            .map(|answer| answer.status())
    });
    let waiter = Arc::clone(&gate);
    tokio::task::spawn_blocking(move || waiter.wait_for_arrival())
        .await
        .unwrap_or_else(|e| panic!("gate: {e}"));

    // The validation is held on a validation thread; the one serving thread answers the rest.
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    app.create_document("other", "o1", json!({"n": 2})).await;
    let invalid = app
        .post_json(
            "/v1/collections/other/documents",
            &json!({"id": "o2", "data": {}}),
        )
        .await;
    invalid.assert_problem(422, "SCHEMA_VIOLATION");
    assert_eq!(
        app.get("/v1/collections/other/documents/o1").await.status,
        StatusCode::OK
    );
    assert!(
        !held.is_finished(),
        "the held write was answered while held"
    );

    gate.open();
    let status = held
        .await
        .unwrap_or_else(|e| panic!("held task: {e}"))
        .unwrap_or_else(|e| panic!("held write: {e}"));
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn replacing_a_big_schema_and_deleting_the_collection_keep_writes_correct() {
    // The byte accounting itself is unit-tested in infra (schema::tests); here the API path:
    // each replacement is picked up at once, and a deleted then re-created name starts over.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let app = spawn_app_in(dir, |_| {}).await;
    let values: Vec<String> = (0..5000).map(|i| format!("v{i:05}")).collect();
    app.create_collection("big", Some(json!({"type": "object"})))
        .await;
    for round in 0..4 {
        let mut allowed = values.clone();
        allowed.push(format!("round-{round}"));
        let schema = json!({"properties": {"k": {"enum": allowed}}});
        let changed = app
            .put_json(
                "/v1/collections/big/schema",
                &json!({"schema": schema}),
                None,
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{:#}", changed.body);
        app.create_document(
            "big",
            &format!("d{round}"),
            json!({"k": format!("round-{round}")}),
        )
        .await;
        if round > 0 {
            let stale = app
                .post_json(
                    "/v1/collections/big/documents",
                    &json!({"data": {"k": format!("round-{}", round - 1)}}),
                )
                .await;
            stale.assert_problem(422, "SCHEMA_VIOLATION");
        }
    }
    for round in 0..4 {
        let deleted = app
            .delete(&format!("/v1/collections/big/documents/d{round}"), None)
            .await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    }
    let deleted = app.delete("/v1/collections/big", None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{:#}", deleted.body);
    app.create_collection("big", Some(json!({"required": ["other"]})))
        .await;
    let answer = app
        .post_json(
            "/v1/collections/big/documents",
            &json!({"data": {"k": "round-3"}}),
        )
        .await;
    answer.assert_problem(422, "SCHEMA_VIOLATION");
}
