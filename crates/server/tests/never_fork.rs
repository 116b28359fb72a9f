//! The log never signs a fork, through the real binary: a database put back from an older
//! copy (the key and the signer's state untouched, as a restore of the database files or the
//! loss of its unsynced writes leaves them) makes the server refuse writes, naming the last
//! signed size, while it serves reads and proofs and nothing that contradicts a checkpoint
//! served before; a missing or changed key, or a changed origin, refuses the start (exit 2).
//!
//! An embedded-store test by nature (it puts back older copies of the SQLite files);
//! the backend-neutral suite is `tests/tests/api`.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use audit_domain::checkpoint::Checkpoint;
use audit_domain::merkle::{Hash, verify_consistency, verify_inclusion};
use audit_domain::note::NoteVerifier;
use audit_domain::receipt::{Receipt, verify_receipt};
use serde_json::{Value, json};

use server::config::Config;
use server::log_cmd::{self, CrashPoint};
use support::{Server, client, serve_refused};

/// The database's files in a data folder (not the key, not the signer's state).
const DATABASE_FILES: [&str; 3] = ["offchain.db", "offchain.db-wal", "offchain.db-shm"];

/// Replaces the database files of `data` with those saved in `saved`.
fn put_back_database(saved: &Path, data: &Path) {
    for name in DATABASE_FILES {
        let _absent = std::fs::remove_file(data.join(name));
        if saved.join(name).exists() {
            std::fs::copy(saved.join(name), data.join(name))
                .unwrap_or_else(|e| panic!("put back {name}: {e}"));
        }
    }
}

/// Copies the database files of the stopped store in `data` to `saved`.
fn save_database(data: &Path, saved: &Path) {
    std::fs::create_dir_all(saved).unwrap_or_else(|e| panic!("{e}"));
    for name in DATABASE_FILES {
        if data.join(name).exists() {
            std::fs::copy(data.join(name), saved.join(name))
                .unwrap_or_else(|e| panic!("save {name}: {e}"));
        }
    }
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    let response = http
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Writes `count` documents named `<prefix>-<n>`, each acknowledged.
async fn write_documents(http: &reqwest::Client, base: &str, prefix: &str, count: usize) {
    let url = format!("{base}/v1/collections/people/documents");
    for n in 0..count {
        let (status, body) = post(
            http,
            &url,
            json!({"id": format!("{prefix}-{n}"), "data": {"n": n}}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
}

/// Waits until the served checkpoint has `size` leaves; returns its JSON form.
async fn checkpoint_at(http: &reqwest::Client, base: &str, size: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, checkpoint) = get(http, &format!("{base}/v1/log/checkpoint")).await;
        if checkpoint["tree_size"].as_u64() == Some(size) {
            return checkpoint;
        }
        assert!(
            Instant::now() < deadline,
            "the log never reached {size}: {checkpoint}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn verifier(http: &reqwest::Client, base: &str) -> NoteVerifier {
    let (_, key) = get(http, &format!("{base}/v1/log/key")).await;
    NoteVerifier::parse_vkey(key["vkey"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_database_put_back_from_an_older_copy_makes_the_log_refuse_to_sign_but_serve_reads() {
    // `durability = normal`: losing its unsynced writes leaves a database older than what
    // was signed, just like putting back an older copy of its files.
    let normal = ["--durability", "normal"];
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    let http = client();

    let server = Server::start_with(&data, &normal);
    let base = server.base.clone();
    let (status, _) = post(
        &http,
        &format!("{base}/v1/collections"),
        json!({"name": "people"}),
    )
    .await;
    assert_eq!(status, 201);
    write_documents(&http, &base, "early", 3).await;
    let older = checkpoint_at(&http, &base, 4).await;
    server.stop();
    let saved = dir.path().join("saved");
    save_database(&data, &saved);

    let server = Server::start_with(&data, &normal);
    let base = server.base.clone();
    write_documents(&http, &base, "later", 100).await;
    let signed = checkpoint_at(&http, &base, 104).await;
    let key = verifier(&http, &base).await;
    let (status, old_receipt) = get(
        &http,
        &format!("{base}/v1/collections/people/documents/later-7/proof"),
    )
    .await;
    assert_eq!(status, 200, "{old_receipt}");
    server.stop();
    let newer = dir.path().join("newer");
    save_database(&data, &newer);

    // The database goes back to its older copy; the key and the signer's state stay.
    put_back_database(&saved, &data);
    let server = Server::start_with(&data, &normal);
    let base = server.base.clone();

    // Writes are refused, naming the last signed size.
    let url = format!("{base}/v1/collections/people/documents");
    for n in 0..150 {
        let (status, problem) =
            post(&http, &url, json!({"id": format!("after-{n}"), "data": {}})).await;
        assert_eq!(status, 503, "{problem}");
        assert_eq!(problem["code"], "UNAVAILABLE", "{problem}");
        assert_eq!(problem["reason"], "log_rolled_back", "{problem}");
        if n == 0 {
            assert_eq!(problem["last_signed_size"], 104, "{problem}");
            assert_eq!(problem["database_size"], 4, "{problem}");
            let detail = problem["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("size 104"), "{problem}");
            assert!(detail.contains("put back the missing data"), "{problem}");
            assert!(detail.contains("offchain-db log succeed"), "{problem}");
        }
    }
    let (status, problem) = post(
        &http,
        &format!("{base}/v1/collections"),
        json!({"name": "more"}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].clone(), problem["reason"].clone()),
        (503, json!("UNAVAILABLE"), json!("log_rolled_back"))
    );

    // Reads, queries and proofs go on.
    let (status, document) = get(&http, &format!("{url}/early-1")).await;
    assert_eq!(
        (status, document["version"].clone()),
        (200, json!(1)),
        "{document}"
    );
    let (status, page) = post(&http, &format!("{url}/query"), json!({"filter": {}})).await;
    assert_eq!(status, 200, "{page}");
    let (status, proof) = get(&http, &format!("{url}/early-1/proof")).await;
    assert_eq!(status, 200, "{proof}");

    // What is served is the checkpoint the older copy held, which the last signed one
    // extends: nothing contradicts a checkpoint served before, and the log did not grow.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, served) = get(&http, &format!("{base}/v1/log/checkpoint")).await;
    assert_eq!(served["tree_size"], older["tree_size"], "{served}");
    assert_eq!(served["root_hash"], older["root_hash"], "{served}");
    let opened = Checkpoint::open(served["note"].as_str().unwrap_or_default(), &key);
    assert!(opened.is_ok(), "{opened:?}");
    assert_eq!(signed["tree_size"], 104);
    server.stop();

    // The first way out: put back the newer data, and the log goes on where it stopped.
    put_back_database(&newer, &data);
    let server = Server::start_with(&data, &normal);
    write_documents(&http, &server.base, "resumed", 1).await;
    let last_signed = checkpoint_at(&http, &server.base, 105).await;
    server.stop();

    // The second way out, when the newer data is gone for good: a successor log.
    put_back_database(&saved, &data);
    let data_arg = data.display().to_string();
    let succeeded = support::offchain_db(&["log", "succeed", "--data-dir", &data_arg])
        .output()
        .unwrap_or_else(|e| panic!("run log succeed: {e}"));
    let said = String::from_utf8_lossy(&succeeded.stdout).into_owned()
        + &String::from_utf8_lossy(&succeeded.stderr);
    assert_eq!(succeeded.status.code(), Some(0), "{said}");
    assert!(
        said.contains(&key.to_vkey()),
        "the old verifier key is printed: {said}"
    );

    let old_root = last_signed["root_hash"].as_str().unwrap_or_default();
    let target = format!("{} 105 {old_root}", key.name());
    let new_key = successor_checks(&http, &data, &normal, &key, &target).await;

    // A receipt of the old log still verifies under the old key, offline.
    let bytes = old_receipt.to_string().into_bytes();
    let receipt = Receipt::parse(&bytes).unwrap_or_else(|e| panic!("{e}"));
    let verified = verify_receipt(&receipt, &key, None);
    assert!(verified.is_ok(), "{verified:?}");
    assert!(verify_receipt(&receipt, &new_key, None).is_err());
}

/// The successor log of the store in `data` (one collection, `people`, with `early-0..2`):
/// `log.succession` (naming `target`) is leaf 0 of a new tree under a new key, the stored
/// entries follow in commit order and each document is provable there, the successor's
/// checkpoints are consistent with each other, `/v1/audit` lists the succession entry at
/// its place (not under a collection or document filter), writes work, and the auditor
/// finds nothing.
async fn successor_checks(
    http: &reqwest::Client,
    data: &Path,
    flags: &[&str],
    old_key: &NoteVerifier,
    target: &str,
) -> NoteVerifier {
    let server = Server::start_with(data, flags);
    let base = server.base.clone();
    let new_key = verifier(http, &base).await;
    assert_ne!(new_key.name(), old_key.name(), "a new origin");
    assert_ne!(new_key.public_key(), old_key.public_key(), "a new key");
    let first = checkpoint_at(http, &base, 5).await;
    let opened = Checkpoint::open(first["note"].as_str().unwrap_or_default(), &new_key);
    assert!(opened.is_ok(), "{opened:?}");

    // Leaf 0 names where the old log ended; the database's entries follow in commit order.
    let (status, page) = get(http, &format!("{base}/v1/log/entries?start=0&end=5")).await;
    assert_eq!(status, 200, "{page}");
    let entry = &page["items"][0]["entry"];
    assert_eq!(entry["operation"], "log.succession", "{page}");
    assert_eq!(entry["v"], 2, "{page}");
    assert_eq!(entry["target"], target, "{page}");
    assert_eq!(page["items"][1]["entry"]["operation"], "collection.create");
    for n in 0..3 {
        let item = &page["items"][n + 2]["entry"];
        assert_eq!(item["document_id"], format!("early-{n}"), "{page}");
    }
    let (status, proof) = get(
        http,
        &format!("{base}/v1/log/proofs/inclusion?index=0&tree_size=5"),
    )
    .await;
    assert_eq!(status, 200, "{proof}");
    let hashes: Vec<Hash> = proof["hashes"]
        .as_array()
        .map(|h| h.iter().map(hash).collect())
        .unwrap_or_default();
    let leaf = hash(&page["items"][0]["leaf_hash"]);
    let root = hash(&first["root_hash"]);
    assert_eq!(verify_inclusion(&leaf, 0, 5, &hashes, &root), Ok(()));

    // Every document written before is provable in the successor log, under its key.
    let url = format!("{base}/v1/collections/people/documents");
    for n in 0..3 {
        let (status, bundle) = get(http, &format!("{url}/early-{n}/proof")).await;
        assert_eq!(status, 200, "{bundle}");
        assert_eq!(bundle["leaf_index"], n + 2, "{bundle}");
        let bytes = bundle.to_string().into_bytes();
        let receipt = Receipt::parse(&bytes).unwrap_or_else(|e| panic!("{e}"));
        let verified = verify_receipt(&receipt, &new_key, None);
        assert!(verified.is_ok(), "early-{n}: {verified:?}");
    }

    // `/v1/audit` lists it at its leaf position; a collection or document filter does not.
    let (status, listed) = get(http, &format!("{base}/v1/audit")).await;
    assert_eq!(status, 200, "{listed}");
    let head = &listed["items"][0];
    assert_eq!(head["entry"]["operation"], "log.succession", "{listed}");
    assert_eq!(head["entry"]["collection"], Value::Null, "{listed}");
    assert_eq!(head["leaf_index"], 0, "{listed}");
    assert_eq!(head["leaf_hash"], page["items"][0]["leaf_hash"], "{listed}");
    assert_eq!(head["patch"], Value::Null, "{listed}");
    let indexes: Vec<Value> = listed["items"]
        .as_array()
        .map(|items| items.iter().map(|i| i["leaf_index"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(indexes, (0..5).map(Value::from).collect::<Vec<_>>());
    let (status, only) = get(http, &format!("{base}/v1/audit?operation=log.succession")).await;
    assert_eq!(status, 200, "{only}");
    assert_eq!(only["items"].as_array().map(Vec::len), Some(1), "{only}");
    assert_eq!(only["items"][0]["leaf_index"], 0, "{only}");
    for filter in ["collection=people", "document_id=early-1"] {
        let (status, filtered) = get(http, &format!("{base}/v1/audit?{filter}")).await;
        assert_eq!(status, 200, "{filtered}");
        let operations: Vec<&str> = filtered["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["entry"]["operation"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert!(!operations.is_empty(), "{filter}: {filtered}");
        assert!(
            !operations.contains(&"log.succession"),
            "{filter}: {filtered}"
        );
    }

    // Writes work again, and the successor's checkpoints are consistent with each other.
    write_documents(http, &base, "successor", 1).await;
    let later = checkpoint_at(http, &base, 6).await;
    let (status, consistency) = get(
        http,
        &format!("{base}/v1/log/proofs/consistency?from=5&to=6"),
    )
    .await;
    assert_eq!(status, 200, "{consistency}");
    let hashes: Vec<Hash> = consistency["hashes"]
        .as_array()
        .map(|h| h.iter().map(hash).collect())
        .unwrap_or_default();
    let checked = verify_consistency(
        5,
        6,
        &hashes,
        &hash(&first["root_hash"]),
        &hash(&later["root_hash"]),
    );
    assert_eq!(checked, Ok(()));
    server.stop();

    let audited = support::audit(data, &new_key.to_vkey(), &[]);
    assert_eq!(audited.code, Some(0), "{audited}");
    new_key
}

fn hash(value: &Value) -> Hash {
    Hash::parse(value.as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("{value}: {e}"))
}

#[tokio::test]
async fn a_missing_or_changed_key_or_a_changed_origin_refuses_the_start_with_exit_2() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    let http = client();
    let server = Server::start(&data);
    let (status, _) = post(
        &http,
        &format!("{}/v1/collections", server.base),
        json!({"name": "people"}),
    )
    .await;
    assert_eq!(status, 201);
    let key = verifier(&http, &server.base).await;
    server.stop();
    let key_file = data.join("log-signing.key");
    let kept = dir.path().join("kept.key");
    std::fs::rename(&key_file, &kept).unwrap_or_else(|e| panic!("{e}"));

    // Missing: no new key is made for a log that has checkpoints.
    let (code, said) = serve_refused(&data, &[]);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("log-signing.key") && said.contains("is missing"),
        "{said}"
    );
    assert!(!key_file.exists(), "no key was generated");

    // Changed: another key in its place (with the signer's state moved away too, so the
    // stored checkpoints are what refuses it), named with the log's origin.
    std::fs::write(&key_file, "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let state = data.join("log-signing.key.signer-state");
    let kept_state = dir.path().join("kept.state");
    std::fs::rename(&state, &kept_state).unwrap_or_else(|e| panic!("{e}"));
    let (code, said) = serve_refused(&data, &[]);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains(key.name().as_str()),
        "names the log's origin: {said}"
    );
    assert!(said.contains("does not verify"), "{said}");

    // The right key under another origin.
    std::fs::rename(&kept, &key_file).unwrap_or_else(|e| panic!("{e}"));
    std::fs::rename(&kept_state, &state).unwrap_or_else(|e| panic!("{e}"));
    let (code, said) = serve_refused(&data, &["--tlog-origin", "example.com/renamed"]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("example.com/renamed"), "{said}");

    // And with everything as it was, the log starts again.
    let server = Server::start(&data);
    let (status, _) = get(&http, &format!("{}/v1/log/checkpoint", server.base)).await;
    assert_eq!(status, 200);
    server.stop();
}

#[tokio::test]
async fn a_log_succeed_stopped_at_any_step_never_lets_the_old_key_sign_and_a_rerun_finishes_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let original = dir.path().join("original");
    let http = client();
    let server = Server::start(&original);
    let base = server.base.clone();
    let (status, _) = post(
        &http,
        &format!("{base}/v1/collections"),
        json!({"name": "people"}),
    )
    .await;
    assert_eq!(status, 201);
    write_documents(&http, &base, "early", 3).await;
    let ended = checkpoint_at(&http, &base, 4).await;
    let old_key = verifier(&http, &base).await;
    server.stop();
    let old_root = ended["root_hash"].as_str().unwrap_or_default();
    let target = format!("{} 4 {old_root}", old_key.name());

    for point in [
        CrashPoint::AfterSuccessorKey,
        CrashPoint::AfterDatabase,
        CrashPoint::AfterRetiringState,
        CrashPoint::AfterRetiringKey,
        CrashPoint::BeforeSigning,
    ] {
        let data = dir.path().join(format!("{point:?}"));
        support::copy_store(&original, &data);
        let config = Config::with_data_dir(&data);
        let stopped = log_cmd::run(&config, None, Some(point)).await;
        assert!(stopped.is_err(), "{point:?}: {stopped:?}");

        // While a successor key waits beside the key file, no server starts on the folder.
        if data.join("log-signing.key.successor").exists() {
            let (code, said) = serve_refused(&data, &[]);
            assert_eq!(code, Some(2), "{point:?}: {said}");
            assert!(said.contains("interrupted"), "{point:?}: {said}");
        } else {
            assert_eq!(
                point,
                CrashPoint::BeforeSigning,
                "the successor key is in place"
            );
        }

        // Running it again finishes the succession.
        let data_arg = data.display().to_string();
        let rerun = support::offchain_db(&["log", "succeed", "--data-dir", &data_arg])
            .output()
            .unwrap_or_else(|e| panic!("run log succeed: {e}"));
        let said = String::from_utf8_lossy(&rerun.stdout).into_owned()
            + &String::from_utf8_lossy(&rerun.stderr);
        assert_eq!(rerun.status.code(), Some(0), "{point:?}: {said}");
        assert!(
            !data.join("log-signing.key.successor").exists(),
            "{point:?}"
        );
        let kept_old_key = std::fs::read_dir(&data)
            .unwrap_or_else(|e| panic!("{e}"))
            .map_while(Result::ok)
            .filter(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with("log-signing.key.predecessor-")
            })
            .count();
        assert_eq!(kept_old_key, 1, "{point:?}: the old key is kept, once");
        successor_checks(&http, &data, &[], &old_key, &target).await;
    }
}
