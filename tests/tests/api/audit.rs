//! Every change leaves exactly one audit entry, in the API.md format, chained by hashes.
//!
//! Read as a client or an auditor reads them: the audit listing, the exact leaf bytes the log
//! serves, and inclusion proofs against the served checkpoint.

use audit_domain::AuditEntry;
use audit_domain::merkle::{Hash, verify_inclusion};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared_kernel::Sha256Digest;

use crate::helpers::{TestApp, spawn_app};
use crate::snapshot::StoreSnapshot;

/// One audit entry as the API serves it: the leaf bytes the log holds for it, the leaf hash
/// the audit listing names, and the patch stored beside it.
struct ServedEntry {
    entry: Value,
    leaf: Vec<u8>,
    leaf_hash: String,
    patch: Option<Value>,
}

fn parse_hash(value: &Value) -> Hash {
    Hash::parse(value.as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {value}"))
}

/// Every audit entry in log order, each with its exact leaf bytes from `/v1/log/entries`;
/// asserts along the way that the listing and the log agree on each leaf hash and that every
/// leaf is included, by a served inclusion proof, in the tree the served checkpoint names.
async fn served_entries(app: &TestApp) -> Vec<ServedEntry> {
    let audit = StoreSnapshot::take(app).await.audit().to_vec();
    let checkpoint = TestApp::send(
        app.request(Method::GET, "/v1/log/checkpoint")
            .header("accept", "application/json"),
    )
    .await;
    assert_eq!(checkpoint.status, StatusCode::OK, "{:#}", checkpoint.body);
    let tree_size = checkpoint.body["tree_size"].as_u64().unwrap_or_default();
    let root = parse_hash(&checkpoint.body["root_hash"]);
    let log = app
        .get(&format!("/v1/log/entries?start=0&end={tree_size}"))
        .await;
    assert_eq!(log.status, StatusCode::OK, "{:#}", log.body);
    let leaves = log.body["items"].as_array().cloned().unwrap_or_default();
    let mut served = Vec::new();
    for item in audit {
        let index = item["leaf_index"]
            .as_u64()
            .unwrap_or_else(|| panic!("not sequenced: {item:#}"));
        let logged = leaves
            .iter()
            .find(|leaf| leaf["index"] == json!(index))
            .unwrap_or_else(|| panic!("leaf {index} is not in the log"));
        assert_eq!(logged["entry"], item["entry"], "leaf {index}");
        assert_eq!(logged["leaf_hash"], item["leaf_hash"], "leaf {index}");
        let proof = app
            .get(&format!(
                "/v1/log/proofs/inclusion?index={index}&tree_size={tree_size}"
            ))
            .await;
        assert_eq!(proof.status, StatusCode::OK, "{:#}", proof.body);
        let path: Vec<Hash> = proof.body["hashes"]
            .as_array()
            .map(|hashes| hashes.iter().map(parse_hash).collect())
            .unwrap_or_default();
        let leaf_hash = parse_hash(&item["leaf_hash"]);
        assert_eq!(
            verify_inclusion(&leaf_hash, index, tree_size, &path, &root),
            Ok(()),
            "leaf {index} is in the checkpointed tree"
        );
        served.push(ServedEntry {
            entry: item["entry"].clone(),
            leaf: STANDARD
                .decode(logged["leaf_b64"].as_str().unwrap_or_default())
                .unwrap_or_else(|e| panic!("leaf_b64 of {index}: {e}")),
            leaf_hash: item["leaf_hash"].as_str().unwrap_or_default().to_owned(),
            patch: Some(item["patch"].clone()).filter(|patch| !patch.is_null()),
        });
    }
    served
}

#[tokio::test]
async fn every_change_leaves_one_entry_whose_hashes_chain_across_versions() {
    let app = spawn_app().await;
    let collection = app.create_collection("c", None).await;
    let created = app
        .create_document("c", "d", json!({"a": 1, "b": [1, 2]}))
        .await;
    let replaced = app
        .put_json(
            "/v1/collections/c/documents/d",
            &json!({"data": {"a": 2}}),
            None,
        )
        .await;
    let patched = app
        .patch(
            "/v1/collections/c/documents/d",
            &json!({"c": {"x": true}}),
            None,
        )
        .await;
    app.delete("/v1/collections/c/documents/d", None).await;
    let schema = app
        .put_json(
            "/v1/collections/c/schema",
            &json!({"schema": {"type": "object"}}),
            None,
        )
        .await;
    assert_eq!(schema.status.as_u16(), 200);

    let entries = served_entries(&app).await;
    assert_eq!(
        entries.len(),
        6,
        "one entry per change: create collection, 4 document changes, schema"
    );
    let parsed: Vec<Value> = entries
        .iter()
        .map(|stored| {
            let entry = AuditEntry::from_leaf_bytes(&stored.leaf)
                .unwrap_or_else(|e| panic!("leaf is not a canonical entry: {e}"));
            let json = entry.to_json();
            assert_eq!(json, stored.entry, "the listing shows the leaf's entry");
            assert_eq!(
                serde_json_canonicalizer::to_vec(&json).ok().as_deref(),
                Some(stored.leaf.as_slice()),
                "leaf = JCS of the fields"
            );
            let mut prefixed = vec![0u8];
            prefixed.extend_from_slice(&stored.leaf);
            assert_eq!(
                stored.leaf_hash,
                hex::encode(Sha256::digest(&prefixed)),
                "leaf_hash = SHA-256(0x00 || leaf)"
            );
            json
        })
        .collect();

    let operations: Vec<&str> = parsed
        .iter()
        .filter_map(|e| e["operation"].as_str())
        .collect();
    assert_eq!(
        operations,
        vec![
            "collection.create",
            "document.create",
            "document.replace",
            "document.patch",
            "document.delete",
            "collection.schema_change"
        ]
    );
    for entry in &parsed {
        assert_eq!(entry.as_object().map(|o| o.len()), Some(14));
        assert_eq!(entry["v"], 1);
        assert_eq!(entry["actor"], "anonymous");
        assert_eq!(entry["collection"], "c");
        assert_eq!(entry["collection_id"], collection["id"]);
    }
    let documents = &parsed[1..5];
    assert_eq!(
        documents
            .iter()
            .map(|e| e["version"].clone())
            .collect::<Vec<_>>(),
        vec![json!(1), json!(2), json!(3), json!(4)]
    );
    assert_eq!(documents[0]["hash_before"], json!(null));
    assert_eq!(documents[0]["hash_after"], created.body["content_hash"]);
    assert_eq!(documents[1]["hash_after"], replaced.body["content_hash"]);
    assert_eq!(documents[2]["hash_after"], patched.body["content_hash"]);
    assert_eq!(documents[3]["hash_after"], json!(null));
    for pair in documents.windows(2) {
        assert_eq!(
            pair[1]["hash_before"], pair[0]["hash_after"],
            "hash_before of N is hash_after of N-1"
        );
    }
    assert_eq!(created.body["audit_id"], documents[0]["id"]);
    assert_eq!(patched.body["audit_id"], documents[2]["id"]);
    assert_eq!(parsed[0]["document_id"], json!(null));
    assert_eq!(parsed[0]["patch_sha256"], json!(null));

    // The patch served beside a replace entry hashes to patch_sha256 and turns N-1 into N.
    let patch: Value = entries[2].patch.clone().unwrap_or_default();
    assert_eq!(
        documents[1]["patch_sha256"],
        json!(Sha256Digest::of_json(&patch).to_hex())
    );
    let mut previous = json!({"a": 1, "b": [1, 2]});
    let operations: json_patch::Patch = serde_json::from_value(patch).unwrap_or_default();
    assert!(json_patch::patch(&mut previous, &operations).is_ok());
    assert_eq!(previous, json!({"a": 2}));
    assert!(
        entries[1].patch.is_none() && entries[4].patch.is_none(),
        "no patch at create or delete"
    );
}
