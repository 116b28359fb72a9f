//! Every change leaves exactly one audit entry, in the API.md format, chained by hashes.

use audit_domain::AuditEntry;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared_kernel::Sha256Digest;

use crate::helpers::{TestApp, spawn_app};

struct StoredEntry {
    leaf: Vec<u8>,
    leaf_hash: Vec<u8>,
    patch: Option<String>,
}

fn stored_entries(app: &TestApp) -> Vec<StoredEntry> {
    let db = app.database();
    let mut statement = db
        .prepare("SELECT leaf, leaf_hash, patch FROM audit_entries ORDER BY seq")
        .unwrap_or_else(|e| panic!("{e}"));
    statement
        .query_map([], |row| {
            Ok(StoredEntry {
                leaf: row.get(0)?,
                leaf_hash: row.get(1)?,
                patch: row.get(2)?,
            })
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{e}"))
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

    let entries = stored_entries(&app);
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
            assert_eq!(
                serde_json_canonicalizer::to_vec(&json).ok().as_deref(),
                Some(stored.leaf.as_slice()),
                "leaf = JCS of the fields"
            );
            let mut prefixed = vec![0u8];
            prefixed.extend_from_slice(&stored.leaf);
            assert_eq!(
                stored.leaf_hash,
                Sha256::digest(&prefixed).to_vec(),
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

    // The patch stored beside a replace entry hashes to patch_sha256 and turns N-1 into N.
    let patch_text = entries[2].patch.clone().unwrap_or_default();
    let patch: Value = serde_json::from_str(&patch_text).unwrap_or_default();
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
