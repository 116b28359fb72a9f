//! Receipts that a log serves verify, in both encodings; documents are held to their entry;
//! strict parsing refuses every second spelling.
//!
//! [`fixture`] builds the signed log both suites use; [`mutation`] flips every bit of a valid
//! receipt.

mod fixture;
mod mutation;

use serde_json::{Value, json};

use super::*;
use crate::note::{KeyName, NoteSigner};
use fixture::{Fixture, ORIGIN};

fn parse_and_verify(
    bytes: &[u8],
    fixture: &Fixture,
    document: Option<&DocumentClaim>,
) -> Result<VerifiedReceipt, ReceiptError> {
    verify_receipt(&Receipt::parse(bytes)?, &fixture.verifier(), document)
}

fn claim(value: &Value) -> DocumentClaim {
    DocumentClaim::from_json(value).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_served_json_bundle_round_trips_and_verifies_for_every_leaf() {
    let fixture = Fixture::new(9);
    for index in 0..9 {
        let text = fixture.bundle(index).to_json().to_string();
        let parsed = Receipt::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, Receipt::Bundle(Box::new(fixture.bundle(index))));
        let verified = verify_receipt(&parsed, &fixture.verifier(), None)
            .unwrap_or_else(|e| panic!("index {index}: {e}"));
        assert_eq!(verified.leaf_index, index as u64);
        assert_eq!(verified.checkpoint.tree_size(), 9);
        assert_eq!(verified.checkpoint.origin(), ORIGIN);
        assert_eq!(verified.entry, fixture.entries[index].0);
        assert_eq!(verified.documents.len(), 1);
    }
}

#[test]
fn a_tlog_proof_has_the_c2sp_layout_round_trips_and_verifies() {
    let fixture = Fixture::new(5);
    let proof = fixture.tlog_proof(2);
    let text = proof.to_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "c2sp.org/tlog-proof@v1");
    assert!(lines[1].starts_with("extra "));
    assert_eq!(lines[2], "index 2");
    // Size 5, index 2: two siblings inside the first four leaves, then leaf 4.
    assert_eq!(proof.proof().len(), 3);
    assert_eq!(lines[6], "");
    assert!(text.ends_with(&fixture.note));
    assert_eq!(
        Receipt::parse(text.as_bytes()),
        Ok(Receipt::TlogProof(proof))
    );
    let verified =
        parse_and_verify(text.as_bytes(), &fixture, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(verified.entry, fixture.entries[2].0);
    assert!(verified.documents.is_empty());
}

#[test]
fn a_tree_of_one_leaf_has_an_empty_proof_and_verifies() {
    let fixture = Fixture::new(1);
    let text = fixture.tlog_proof(0).to_text();
    assert!(text.contains("index 0\n\n"));
    assert!(parse_and_verify(text.as_bytes(), &fixture, None).is_ok());
    let bundle = fixture.bundle(0).to_json().to_string();
    assert!(parse_and_verify(bundle.as_bytes(), &fixture, None).is_ok());
}

#[test]
fn a_document_given_beside_the_receipt_must_be_the_proven_revision() {
    let fixture = Fixture::new(4);
    let text = fixture.tlog_proof(1).to_text();
    let document = fixture.entries[1].1.clone();
    let verified = parse_and_verify(text.as_bytes(), &fixture, Some(&claim(&document)));
    assert!(verified.is_ok(), "{verified:?}");
    // Trimmed to the required fields, it still verifies.
    let trimmed = json!({"id": "doc-1", "collection": "people", "version": 1, "data": {"n": 1}});
    assert!(parse_and_verify(text.as_bytes(), &fixture, Some(&claim(&trimmed))).is_ok());
    for (pointer, value, field) in [
        ("/data", json!({"n": 2}), "content hash"),
        ("/id", json!("doc-2"), "`id`"),
        ("/collection", json!("other"), "`collection`"),
        ("/version", json!(2), "`version`"),
        ("/content_hash", json!("00".repeat(32)), "`content_hash`"),
        (
            "/audit_id",
            json!(fixture.entries[0].0.id.to_string()),
            "`audit_id`",
        ),
        (
            "/updated_at",
            json!("2020-01-01T00:00:00.000Z"),
            "`updated_at`",
        ),
        ("/data", Value::Null, "content hash"),
    ] {
        let mut wrong = document.clone();
        if let Some(slot) = wrong.pointer_mut(pointer) {
            *slot = value;
        }
        let outcome = parse_and_verify(text.as_bytes(), &fixture, Some(&claim(&wrong)));
        match outcome {
            Err(ReceiptError::Document(message)) => {
                assert!(message.contains(field), "{pointer}: {message}");
            }
            other => panic!("{pointer}: expected a document finding, got {other:?}"),
        }
    }
}

#[test]
fn the_bundle_of_a_deletion_proves_the_deletion_with_null_data() {
    let fixture = Fixture::new(4);
    let bundle = fixture.bundle(3).to_json();
    assert_eq!(bundle["document"]["data"], Value::Null);
    assert_eq!(bundle["audit_entry"]["operation"], json!("document.delete"));
    let verified = parse_and_verify(bundle.to_string().as_bytes(), &fixture, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(verified.documents[0].data(), None);
    // Claiming the deleted document still holds data is a finding.
    let mut alive = bundle.clone();
    alive["document"]["data"] = json!({"n": 0});
    alive["document"]["content_hash"] = Value::Null;
    assert!(matches!(
        parse_and_verify(alive.to_string().as_bytes(), &fixture, None),
        Err(ReceiptError::Document(_))
    ));
}

#[test]
fn a_receipt_is_refused_with_another_key_or_a_key_of_another_name() {
    let fixture = Fixture::new(3);
    let text = fixture.tlog_proof(0).to_text();
    let receipt = Receipt::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let other_key = NoteSigner::from_seed(
        KeyName::new(ORIGIN).unwrap_or_else(|e| panic!("{e}")),
        &[8; 32],
    );
    let other_name = NoteSigner::from_seed(
        KeyName::new("offchain-db/other").unwrap_or_else(|e| panic!("{e}")),
        &[7; 32],
    );
    for signer in [other_key, other_name] {
        assert!(matches!(
            verify_receipt(&receipt, &signer.verifier(), None),
            Err(ReceiptError::Checkpoint(_))
        ));
    }
}

#[test]
fn a_proof_against_a_checkpoint_that_does_not_cover_the_leaf_is_refused() {
    // A valid proof for a leaf of a smaller tree, wrapped with a larger checkpoint.
    let small = Fixture::new(4);
    let proof = small.tlog_proof(1);
    let large = Fixture::new(9);
    let forged = TlogProof::new(
        proof.leaf().to_vec(),
        1,
        proof.proof().to_vec(),
        large.note.clone(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let receipt = Receipt::TlogProof(forged);
    assert!(matches!(
        verify_receipt(&receipt, &large.verifier(), None),
        Err(ReceiptError::Inclusion(_) | ReceiptError::Checkpoint(_))
    ));
}

#[test]
fn second_spellings_of_a_tlog_proof_are_refused() {
    let fixture = Fixture::new(5);
    let text = fixture.tlog_proof(2).to_text();
    let extra = text.lines().nth(1).unwrap_or_default().to_owned();
    for bad in [
        text.replacen("index 2", "index 02", 1),
        text.replacen("index 2", "index +2", 1),
        text.replacen("index 2", "index  2", 1),
        text.replacen(&format!("{extra}\n"), "", 1),
        text.replacen(&extra, &format!("{extra}="), 1),
        text.replacen("\n\n", "\n", 1),
        text.replace('\n', "\r\n"),
        format!("{text}\n"),
        text.replacen("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2", 1),
    ] {
        assert!(
            parse_and_verify(bad.as_bytes(), &fixture, None).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn second_spellings_and_extra_fields_of_a_json_bundle_are_refused() {
    let fixture = Fixture::new(5);
    let bundle = fixture.bundle(2).to_json();
    let text = bundle.to_string();
    let mut extra = bundle.clone();
    extra["leaf_b64"] = json!("AA==");
    let mut upper = bundle.clone();
    upper["leaf_hash"] = json!(
        bundle["leaf_hash"]
            .as_str()
            .unwrap_or_default()
            .to_uppercase()
    );
    let mut float = bundle.clone();
    float["leaf_index"] = json!(2.0);
    let mut missing = bundle.clone();
    if let Some(proof) = missing["inclusion_proof"].as_object_mut() {
        proof.remove("tree_size");
    }
    for bad in [
        extra.to_string(),
        upper.to_string(),
        float.to_string(),
        missing.to_string(),
        text.replacen("{", r#"{"leaf_index":2,"#, 1),
        format!("{text} x"),
    ] {
        assert!(
            matches!(
                parse_and_verify(bad.as_bytes(), &fixture, None),
                Err(ReceiptError::Malformed(_))
            ),
            "{bad}"
        );
    }
}
