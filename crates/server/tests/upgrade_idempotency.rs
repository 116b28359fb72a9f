//! Idempotency keys recorded by an earlier release keep replaying after an upgrade: the
//! fixture `tests/fixtures/af45eca-store` (see tests/fixtures/README.md) holds the keys
//! `fixture-note-1` (a document create) and `fixture-query-1` (a query), recorded by the
//! release of commit `af45eca` as rendered answers. This build keeps neutral outcomes instead
//! and reads those old rows as the outcome they showed (`infra` `read/idempotency/legacy.rs`);
//! a repeat of either request must still get, byte for byte, the answer that release sent.
//!
//! Keys are kept 24 h and the fixture's were recorded on 2026-12-05, so the copy's records
//! are re-dated to now first: the upgrade happens within a day of the requests.
//!
//! An embedded-store test by nature (its fixture is an embedded store);
//! the backend-neutral suite is `tests/tests/api`.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use support::{Server, client};

/// The fixture's folder in the repository.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/af45eca-store")
}

/// A copy of the fixture's data files in a fresh folder.
fn data_folder(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{e}"));
    for name in ["offchain.db", "offchain.db-wal", "log-signing.key"] {
        std::fs::copy(fixture().join(name), data.join(name))
            .unwrap_or_else(|e| panic!("copy the fixture's {name}: {e}"));
    }
    data
}

/// Re-dates the copy's idempotency records to now; returns the answer bodies that release
/// recorded, by key.
fn redate_and_read_recorded_bodies(data: &Path) -> Vec<(String, Vec<u8>)> {
    let connection = rusqlite::Connection::open(data.join("offchain.db"))
        .unwrap_or_else(|e| panic!("open the copy: {e}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_else(|e| panic!("{e}"));
    connection
        .execute("UPDATE idempotency_keys SET created_at = ?1", [now])
        .unwrap_or_else(|e| panic!("re-date the records: {e}"));
    let mut statement = connection
        .prepare("SELECT key, body FROM idempotency_keys ORDER BY key")
        .unwrap_or_else(|e| panic!("{e}"));
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .and_then(Iterator::collect)
        .unwrap_or_else(|e| panic!("read the records: {e}"))
}

/// What a POST answered: status, `ETag`, `Location`, `Idempotent-Replayed` and body bytes.
struct Answer {
    status: u16,
    etag: Option<String>,
    location: Option<String>,
    replayed: Option<String>,
    body: Vec<u8>,
}

async fn post(http: &reqwest::Client, url: &str, key: &str, body: &Value) -> Answer {
    let response = http
        .post(url)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (etag, location, replayed) = (
        header("etag"),
        header("location"),
        header("idempotent-replayed"),
    );
    Answer {
        status: response.status().as_u16(),
        etag,
        location,
        replayed,
        body: response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .to_vec(),
    }
}

#[tokio::test]
async fn keys_the_af45eca_release_recorded_replay_its_answers_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = data_folder(dir.path());
    let recorded = redate_and_read_recorded_bodies(&data);
    let keys: Vec<&str> = recorded.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(
        keys,
        ["fixture-note-1", "fixture-query-1"],
        "the fixture's keys"
    );
    let (note_body, query_body) = (&recorded[0].1, &recorded[1].1);

    let http = client();
    let server = Server::start(&data);
    let base = server.base.clone();

    // The document create: 201, its body, ETag and Location as that release sent them.
    let notes = format!("{base}/v1/collections/notes/documents");
    let note = json!({"id": "n1", "data": {"deep": {"list": [1, 2.5, {"k": null}]}, "flag": true}});
    let replay = post(&http, &notes, "fixture-note-1", &note).await;
    assert_eq!(
        replay.status,
        201,
        "{}",
        String::from_utf8_lossy(&replay.body)
    );
    assert_eq!(replay.replayed.as_deref(), Some("true"));
    assert_eq!(
        String::from_utf8_lossy(&replay.body),
        String::from_utf8_lossy(note_body),
        "the body that release recorded"
    );
    assert_eq!(replay.etag.as_deref(), Some("\"1\""));
    assert_eq!(
        replay.location.as_deref(),
        Some("/v1/collections/notes/documents/n1")
    );

    // The query: 200 and the page that release answered, data and emoji as sent.
    let query = format!("{base}/v1/collections/people/documents/query");
    let filter = json!({"filter": {"age": {"$gte": 30}}, "sort": "name"});
    let replay = post(&http, &query, "fixture-query-1", &filter).await;
    assert_eq!(
        replay.status,
        200,
        "{}",
        String::from_utf8_lossy(&replay.body)
    );
    assert_eq!(replay.replayed.as_deref(), Some("true"));
    assert_eq!(
        String::from_utf8_lossy(&replay.body),
        String::from_utf8_lossy(query_body)
    );

    // The old keys still bind their requests.
    let other = post(&http, &query, "fixture-query-1", &json!({"limit": 1})).await;
    assert_eq!(
        other.status,
        422,
        "{}",
        String::from_utf8_lossy(&other.body)
    );

    // A key recorded by this build next to them replays too.
    let fresh = json!({"id": "n2", "data": {"x": 1}});
    let first = post(&http, &notes, "after-upgrade", &fresh).await;
    assert_eq!(first.status, 201);
    let again = post(&http, &notes, "after-upgrade", &fresh).await;
    assert_eq!(
        (again.status, again.replayed.as_deref()),
        (201, Some("true"))
    );
    assert_eq!(again.body, first.body);
    assert_eq!((again.etag, again.location), (first.etag, first.location));
    server.stop();
}
