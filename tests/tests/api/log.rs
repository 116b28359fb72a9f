//! The verifiable log end to end: writes through the API are sequenced, the served checkpoint
//! verifies with the served key, inclusion proofs verify against it, and a consistency proof
//! links two checkpoints.

use std::time::Duration;

use audit_domain::checkpoint::Checkpoint;
use audit_domain::merkle::{Hash, leaf_hash, verify_consistency, verify_inclusion};
use audit_domain::note::NoteVerifier;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_in};

fn hash(value: &Value) -> Hash {
    Hash::parse(value.as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {value}"))
}

fn hashes(value: &Value) -> Vec<Hash> {
    value
        .as_array()
        .map(|a| a.iter().map(hash).collect())
        .unwrap_or_default()
}

async fn verifier(app: &TestApp) -> NoteVerifier {
    let verifier = served_verifier(app).await;
    assert!(verifier.name().as_str().starts_with("offchain-db/"));
    verifier
}

/// The verifier the server serves, whatever its origin.
async fn served_verifier(app: &TestApp) -> NoteVerifier {
    let key = app.get("/v1/log/key").await;
    assert_eq!(key.status, StatusCode::OK, "{:#}", key.body);
    let verifier = NoteVerifier::parse_vkey(key.body["vkey"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(key.body["origin"], json!(verifier.name().as_str()));
    assert_eq!(
        key.body["public_key"],
        json!(hex::encode(verifier.public_key()))
    );
    verifier
}

/// Polls until the audit entry `audit_id` has a leaf index; returns it.
async fn wait_sequenced(app: &TestApp, audit_id: &str) -> u64 {
    for _ in 0..200 {
        let answer = app
            .get(&format!("/v1/log/entries/by-audit-id/{audit_id}"))
            .await;
        if answer.status == StatusCode::OK {
            return answer.body["index"].as_u64().unwrap_or(u64::MAX);
        }
        let body = answer.assert_problem(404, "NOT_YET_SEQUENCED");
        assert!(body["details"]["tree_size"].is_u64(), "{body:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("audit entry {audit_id} was never sequenced");
}

/// Polls until a checkpoint of at least `size` is served; returns it opened and its JSON.
async fn wait_checkpoint(app: &TestApp, verifier: &NoteVerifier, size: u64) -> Checkpoint {
    for _ in 0..200 {
        let answer = TestApp::send(
            app.request(reqwest::Method::GET, "/v1/log/checkpoint")
                .header("accept", "application/json"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
        let note = answer.body["note"].as_str().unwrap_or_default();
        let checkpoint = Checkpoint::open(note, verifier).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer.body["tree_size"], json!(checkpoint.tree_size()));
        assert_eq!(
            answer.body["root_hash"],
            json!(checkpoint.root_hash().to_hex())
        );
        assert_eq!(answer.body["origin"], json!(verifier.name().as_str()));
        assert!(answer.body["signed_at"].is_string());
        if checkpoint.tree_size() >= size {
            return checkpoint;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no checkpoint of size {size} was served");
}

async fn write_documents(app: &TestApp, range: std::ops::Range<u32>) -> Vec<String> {
    let mut audit_ids = Vec::new();
    for n in range {
        let created = app
            .create_document("ledger", &format!("doc-{n}"), json!({"n": n}))
            .await;
        audit_ids.push(
            created.body["audit_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    audit_ids
}

#[tokio::test]
async fn writes_are_sequenced_and_proven_against_signed_checkpoints() {
    let app = spawn_app().await;
    let verifier = verifier(&app).await;

    // A new log serves its size-0 checkpoint as a plain-text note.
    let plain = app.get("/v1/log/checkpoint").await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(
        plain
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain"))
    );
    let note = plain.body.as_str().unwrap_or_default();
    let empty = Checkpoint::open(note, &verifier).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(empty.tree_size(), 0);

    app.create_collection("ledger", None).await;
    let first = write_documents(&app, 0..5).await;
    let last_index = wait_sequenced(&app, first.last().map_or("", String::as_str)).await;
    assert_eq!(
        last_index, 5,
        "the collection's entry is leaf 0, then one per document"
    );
    let old = wait_checkpoint(&app, &verifier, 6).await;
    let old_size = old.tree_size();

    // Every leaf: its bytes hash to its leaf hash, and its inclusion proof reaches the root.
    let listed = app
        .get(&format!("/v1/log/entries?start=0&end={old_size}"))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{:#}", listed.body);
    let items = listed.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len() as u64, old_size);
    for (index, item) in (0_u64..).zip(&items) {
        assert_eq!(item["index"], json!(index));
        let leaf = STANDARD
            .decode(item["leaf_b64"].as_str().unwrap_or_default())
            .unwrap_or_default();
        assert_eq!(leaf_hash(&leaf), hash(&item["leaf_hash"]));
        let entry: Value = serde_json::from_slice(&leaf).unwrap_or_default();
        assert_eq!(entry, item["entry"]);
        let proof = app
            .get(&format!(
                "/v1/log/proofs/inclusion?index={index}&tree_size={old_size}"
            ))
            .await;
        assert_eq!(proof.status, StatusCode::OK, "{:#}", proof.body);
        assert_eq!(proof.body["leaf_index"], json!(index));
        assert_eq!(proof.body["tree_size"], json!(old_size));
        let path = hashes(&proof.body["hashes"]);
        assert_eq!(
            verify_inclusion(&leaf_hash(&leaf), index, old_size, &path, &old.root_hash()),
            Ok(()),
            "leaf {index}"
        );
    }
    let ids: Vec<Value> = items.iter().map(|i| i["entry"]["id"].clone()).collect();
    for audit_id in &first {
        assert!(ids.contains(&json!(audit_id)), "{audit_id} is in the log");
    }

    // More writes, a second checkpoint, and a consistency proof between the two.
    let second = write_documents(&app, 5..12).await;
    wait_sequenced(&app, second.last().map_or("", String::as_str)).await;
    let new = wait_checkpoint(&app, &verifier, old_size + 7).await;
    let new_size = new.tree_size();
    let proof = app
        .get(&format!(
            "/v1/log/proofs/consistency?from={old_size}&to={new_size}"
        ))
        .await;
    assert_eq!(proof.status, StatusCode::OK, "{:#}", proof.body);
    assert_eq!(proof.body["from"], json!(old_size));
    assert_eq!(proof.body["to"], json!(new_size));
    assert_eq!(
        verify_consistency(
            old_size,
            new_size,
            &hashes(&proof.body["hashes"]),
            &old.root_hash(),
            &new.root_hash()
        ),
        Ok(())
    );

    // History shows the leaf index once known.
    let history = app
        .get("/v1/collections/ledger/documents/doc-0/history")
        .await;
    assert_eq!(
        history.body["items"][0]["leaf_index"],
        json!(1),
        "{:#}",
        history.body
    );
}

#[tokio::test]
async fn impossible_log_requests_are_rejected_with_the_log_size() {
    let app = spawn_app().await;
    app.create_collection("ledger", None).await;
    let ids = write_documents(&app, 0..2).await;
    wait_sequenced(&app, &ids[1]).await;
    let size = 3;
    // Requests are judged against the newest checkpoint, which may follow the sequencing of
    // the last entry by a checkpoint interval.
    wait_checkpoint(&app, &served_verifier(&app).await, size).await;

    let same = app.get("/v1/log/proofs/consistency?from=2&to=2").await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(same.body["hashes"], json!([]));
    app.get("/v1/log/proofs/consistency?from=0&to=2")
        .await
        .assert_problem(400, "INVALID_INPUT");
    for path in [
        format!("/v1/log/proofs/consistency?from=1&to={}", size + 1),
        format!("/v1/log/proofs/inclusion?index=0&tree_size={}", size + 1),
        format!("/v1/log/proofs/inclusion?index={size}&tree_size={size}"),
        format!("/v1/log/entries?start=0&end={}", size + 1),
    ] {
        let answer = app.get(&path).await;
        let body = answer.assert_problem(400, "INVALID_INPUT");
        assert_eq!(body["details"]["tree_size"], json!(size), "{path}");
    }
    app.get("/v1/log/entries?start=0&end=1001")
        .await
        .assert_problem(400, "INVALID_INPUT");
    app.get("/v1/log/entries?start=0&end=1&extra=1")
        .await
        .assert_problem(400, "INVALID_INPUT");
    app.get("/v1/log/entries/by-audit-id/not-a-uuid")
        .await
        .assert_problem(400, "INVALID_INPUT");
    app.get("/v1/log/entries/by-audit-id/0190b6f0-0000-7000-8000-000000000000")
        .await
        .assert_problem(404, "NOT_FOUND");
}

#[tokio::test]
async fn a_restarted_server_keeps_its_key_indexes_and_checkpoints() {
    let app = spawn_app().await;
    let verifier_before = verifier(&app).await;
    app.create_collection("ledger", None).await;
    let ids = write_documents(&app, 0..3).await;
    let index = wait_sequenced(&app, &ids[2]).await;
    let before = wait_checkpoint(&app, &verifier_before, 4).await;
    let app = app.restart().await;
    let verifier_after = verifier(&app).await;
    assert_eq!(
        verifier_after, verifier_before,
        "the key is kept in the data folder"
    );
    assert_eq!(wait_sequenced(&app, &ids[2]).await, index);
    let after = wait_checkpoint(&app, &verifier_after, before.tree_size()).await;
    assert_eq!(after.root_hash(), before.root_hash());
}

#[tokio::test]
async fn a_configured_key_file_and_origin_are_used_and_a_missing_key_file_stops_the_start() {
    // The first server generates a key; a second one, on another folder, is pointed at a copy.
    let first = spawn_app().await;
    let generated = served_verifier(&first).await;
    let keys = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let key_file = keys.path().join("ledger.key");
    std::fs::copy(first.dir.path().join("log-signing.key"), &key_file)
        .unwrap_or_else(|e| panic!("copy the key: {e}"));

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let configured = key_file.clone();
    let app = spawn_app_in(dir, move |config| {
        config.tlog.signing_key = Some(configured);
        config.tlog.origin = Some("example.com/ledger".to_owned());
    })
    .await;
    let verifier = served_verifier(&app).await;
    assert_eq!(verifier.name().as_str(), "example.com/ledger");
    assert_eq!(verifier.public_key(), generated.public_key());
    assert!(
        !app.dir.path().join("log-signing.key").exists(),
        "no key is generated when one is configured"
    );
    let checkpoint = wait_checkpoint(&app, &verifier, 0).await;
    assert_eq!(checkpoint.origin(), "example.com/ledger");

    let mut config =
        crate::helpers::test_config(tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")).path());
    config.tlog.signing_key = Some(keys.path().join("missing.key"));
    match server::start(config).await {
        Ok(_) => panic!("a server started with a missing key file"),
        Err(error) => assert!(error.chain().contains("missing.key"), "{}", error.chain()),
    }
}
