//! Verified reads end to end: the receipt of each revision (JSON bundle and C2SP tlog-proof)
//! verifies offline against the served key, for the latest version, a past one and a
//! deletion; an entry not yet covered by a checkpoint answers NOT_YET_SEQUENCED.

use std::time::Duration;

use audit_domain::AuditOperation;
use audit_domain::note::NoteVerifier;
use audit_domain::receipt::{DocumentClaim, Receipt, VerifiedReceipt, verify_receipt};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Answer, TestApp, spawn_app};

async fn verifier(app: &TestApp) -> NoteVerifier {
    let key = app.get("/v1/log/key").await;
    NoteVerifier::parse_vkey(key.body["vkey"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {:#}", key.body))
}

/// Asserts the shape of a NOT_YET_SEQUENCED answer.
fn assert_not_yet_sequenced(answer: &Answer) {
    let body = answer.assert_problem(404, "NOT_YET_SEQUENCED");
    assert!(body["details"]["tree_size"].is_u64(), "{body:#}");
}

/// GETs `path` until the receipt is there; every earlier answer must be NOT_YET_SEQUENCED.
async fn wait_receipt(app: &TestApp, path: &str) -> Answer {
    for _ in 0..500 {
        let answer = app.get(path).await;
        if answer.status == StatusCode::OK {
            return answer;
        }
        assert_not_yet_sequenced(&answer);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no receipt at {path}");
}

/// Parses and verifies a receipt answer, JSON or text.
fn verify(answer: &Answer, verifier: &NoteVerifier, document: Option<&Value>) -> VerifiedReceipt {
    let bytes = answer.body.as_str().map_or_else(
        || answer.body.to_string().into_bytes(),
        |text| text.as_bytes().to_vec(),
    );
    let receipt = Receipt::parse(&bytes).unwrap_or_else(|e| panic!("{e}: {:#}", answer.body));
    let claim = document.map(|d| DocumentClaim::from_json(d).unwrap_or_else(|e| panic!("{e}")));
    verify_receipt(&receipt, verifier, claim.as_ref())
        .unwrap_or_else(|e| panic!("{e}: {:#}", answer.body))
}

#[tokio::test]
async fn receipts_of_the_latest_a_past_and_a_deleted_revision_verify_offline() {
    let app = spawn_app().await;
    let verifier = verifier(&app).await;
    app.create_collection("people", None).await;
    app.create_document("people", "alice", json!({"name": "Alice", "age": 30}))
        .await;
    let path = "/v1/collections/people/documents/alice/proof";
    // Right after the write the entry may or may not be covered yet: either answer is
    // allowed, and the waiting one has the problem shape of API.md.
    let early = app.get(path).await;
    if early.status != StatusCode::OK {
        assert_not_yet_sequenced(&early);
    }
    let patched = app
        .patch(
            "/v1/collections/people/documents/alice",
            &json!({"age": 31}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:#}", patched.body);

    // The latest revision, as JSON: its document is the one GET serves.
    let bundle = wait_receipt(&app, path).await;
    let verified = verify(&bundle, &verifier, Some(&patched.body));
    assert_eq!(bundle.body["document"], patched.body);
    assert_eq!(verified.entry.operation, AuditOperation::DocumentPatch);
    assert_eq!(bundle.body["leaf_index"], json!(verified.leaf_index));
    assert_eq!(verified.checkpoint.origin(), verifier.name().as_str());

    // The same as a tlog-proof text.
    let text = wait_receipt(&app, &format!("{path}?format=tlog-proof")).await;
    assert!(
        text.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        text.headers
    );
    let body = text.body.as_str().unwrap_or_default();
    assert!(body.starts_with("c2sp.org/tlog-proof@v1\nextra "), "{body}");
    let from_text = verify(&text, &verifier, Some(&patched.body));
    assert_eq!(from_text.entry, verified.entry);

    // A past version.
    let first = app
        .get("/v1/collections/people/documents/alice?version=1")
        .await;
    let old = wait_receipt(&app, &format!("{path}?version=1")).await;
    let old_verified = verify(&old, &verifier, Some(&first.body));
    assert_eq!(old.body["document"], first.body);
    assert_eq!(old_verified.entry.operation, AuditOperation::DocumentCreate);
    let old_text = wait_receipt(&app, &format!("{path}?version=1&format=tlog-proof")).await;
    assert_eq!(
        verify(&old_text, &verifier, Some(&first.body)).entry,
        old_verified.entry
    );
    // The receipt of version 1 is not a receipt of version 2.
    let claim = DocumentClaim::from_json(&patched.body).unwrap_or_else(|e| panic!("{e}"));
    let receipt = Receipt::parse(old.body.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert!(verify_receipt(&receipt, &verifier, Some(&claim)).is_err());

    // A deletion: the receipt proves the `document.delete` entry, with null data.
    let deleted = app
        .delete("/v1/collections/people/documents/alice", Some("\"2\""))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let tombstone = wait_receipt(&app, path).await;
    let gone = verify(&tombstone, &verifier, None);
    assert_eq!(gone.entry.operation, AuditOperation::DocumentDelete);
    assert_eq!(tombstone.body["document"]["data"], Value::Null);
    assert_eq!(tombstone.body["document"]["version"], json!(3));
    // The past stays provable after the delete.
    let still = wait_receipt(&app, &format!("{path}?version=2")).await;
    verify(&still, &verifier, Some(&patched.body));
}

#[tokio::test]
async fn a_receipt_for_nothing_is_404_and_bad_parameters_are_400() {
    let app = spawn_app().await;
    app.create_collection("people", None).await;
    app.create_document("people", "bob", json!({"n": 1})).await;
    app.get("/v1/collections/people/documents/nobody/proof")
        .await
        .assert_problem(404, "NOT_FOUND");
    app.get("/v1/collections/nothing/documents/bob/proof")
        .await
        .assert_problem(404, "NOT_FOUND");
    app.get("/v1/collections/people/documents/bob/proof?version=7")
        .await
        .assert_problem(404, "NOT_FOUND");
    for bad in ["version=0", "version=x", "format=xml", "verbose=1"] {
        app.get(&format!("/v1/collections/people/documents/bob/proof?{bad}"))
            .await
            .assert_problem(400, "INVALID_INPUT");
    }
}
