//! A data folder written by an earlier release opens with this build: the fixture
//! `tests/fixtures/af45eca-store` was written by the release of commit `af45eca` (before
//! issues 18 and 19 added migrations and the signer's state file; see
//! tests/fixtures/README.md). This build must serve every document and revision it holds,
//! prove each one under the same key, stay consistent with the checkpoint that release
//! signed, accept writes, and audit clean. The folder is copied first, so the fixture
//! never changes.
//!
//! An embedded-store test by nature (its fixture is an embedded store);
//! the backend-neutral suite is `tests/tests/api`.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use audit_domain::checkpoint::Checkpoint;
use audit_domain::merkle::{Hash, verify_consistency};
use audit_domain::note::NoteVerifier;
use audit_domain::receipt::{DocumentClaim, Receipt, verify_receipt};
use serde_json::{Value, json};

use support::{Server, audit, client};

/// The fixture's folder in the repository.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/af45eca-store")
}

/// A copy of the fixture's data files (not the outside checkpoint, key and receipt kept
/// beside them) in a fresh folder.
fn data_folder(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{e}"));
    for name in ["offchain.db", "offchain.db-wal", "log-signing.key"] {
        std::fs::copy(fixture().join(name), data.join(name))
            .unwrap_or_else(|e| panic!("copy the fixture's {name}: {e}"));
    }
    data
}

fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(fixture().join(name))
        .unwrap_or_else(|e| panic!("the fixture's {name}: {e}"))
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

/// GETs `url`, which must answer 200; returns the body.
async fn get_ok(http: &reqwest::Client, url: &str) -> Value {
    let (status, body) = get(http, url).await;
    assert_eq!(status, 200, "GET {url}: {body:#}");
    body
}

/// Verifies the receipt of `document` (a document response, or `None` for a tombstone
/// fetched by `path`) under `key`; returns the leaf index it proves.
async fn verified_leaf(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    document: Option<&Value>,
    key: &NoteVerifier,
) -> u64 {
    let receipt = get_ok(http, &format!("{base}{path}")).await;
    let parsed = Receipt::parse(receipt.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{path}: {e}: {receipt:#}"));
    let claim = document.map(|d| DocumentClaim::from_json(d).unwrap_or_else(|e| panic!("{e}")));
    let verified = verify_receipt(&parsed, key, claim.as_ref())
        .unwrap_or_else(|e| panic!("{path}: {e}: {receipt:#}"));
    verified.leaf_index
}

/// Waits until the served checkpoint has at least `size` leaves.
async fn checkpoint_reaching(http: &reqwest::Client, base: &str, size: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let checkpoint = get_ok(http, &format!("{base}/v1/log/checkpoint")).await;
        if checkpoint["tree_size"].as_u64().is_some_and(|n| n >= size) {
            return checkpoint;
        }
        assert!(
            Instant::now() < deadline,
            "the log never reached {size}: {checkpoint}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn hash(value: &Value) -> Hash {
    Hash::parse(value.as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {value}"))
}

#[tokio::test]
async fn a_store_written_by_the_af45eca_release_serves_proves_grows_and_audits_clean() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = data_folder(dir.path());
    let vkey = read_fixture("log.vkey").trim().to_owned();
    let key = NoteVerifier::parse_vkey(&vkey).unwrap_or_else(|e| panic!("{e}"));
    let signed_before = Checkpoint::open(&read_fixture("checkpoint.note"), &key)
        .unwrap_or_else(|e| panic!("the fixture's checkpoint: {e}"));
    assert_eq!(signed_before.tree_size(), 12, "the fixture's log");

    let http = client();
    let server = Server::start(&data);
    let base = server.base.clone();

    // The same key signs.
    let served_key = get_ok(&http, &format!("{base}/v1/log/key")).await;
    assert_eq!(served_key["vkey"], json!(vkey), "{served_key:#}");

    // Collections: `gone` was deleted, `notes` had its schema set after its document.
    let collections = get_ok(&http, &format!("{base}/v1/collections")).await;
    let names: Vec<&str> = collections["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{collections:#}"))
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["notes", "people"], "{collections:#}");
    let notes = get_ok(&http, &format!("{base}/v1/collections/notes")).await;
    assert_eq!(notes["schema"], json!({"type": "object"}), "{notes:#}");
    assert_eq!(notes["version"], json!(2), "{notes:#}");

    // Every document and revision, with the data that release stored.
    let people = format!("{base}/v1/collections/people/documents");
    let expected = [
        ("people", "alice", 1, json!({"name": "Alice", "age": 30})),
        (
            "people",
            "alice",
            2,
            json!({"name": "Alice", "age": 31, "city": "Zürich"}),
        ),
        (
            "people",
            "alice",
            3,
            json!({"name": "Alice B.", "age": 32, "tags": ["a", "b"]}),
        ),
        ("people", "bob", 1, json!({"name": "Bob"})),
        (
            "people",
            "carol",
            1,
            json!({"name": "Carol 👩‍🔬", "age": 41, "n": 100}),
        ),
        (
            "notes",
            "n1",
            1,
            json!({"deep": {"list": [1, 2.5, {"k": null}]}, "flag": true}),
        ),
    ];
    let mut leaves = Vec::new();
    for (collection, id, version, data) in &expected {
        let path = format!("/v1/collections/{collection}/documents/{id}");
        let revision = get_ok(&http, &format!("{base}{path}?version={version}")).await;
        assert_eq!(&revision["data"], data, "{path} v{version}: {revision:#}");
        let proof = format!("{path}/proof?version={version}");
        leaves.push(verified_leaf(&http, &base, &proof, Some(&revision), &key).await);
    }
    let current = get_ok(&http, &format!("{people}/alice")).await;
    assert_eq!(current["version"], json!(3), "{current:#}");
    let (status, gone) = get(&http, &format!("{people}/bob")).await;
    assert_eq!(status, 404, "bob was deleted: {gone:#}");
    let tombstone = "/v1/collections/people/documents/bob/proof?version=2";
    leaves.push(verified_leaf(&http, &base, tombstone, None, &key).await);
    leaves.sort_unstable();
    leaves.dedup();
    assert_eq!(leaves.len(), 7, "one leaf per revision: {leaves:?}");

    // A receipt that release handed out still verifies, for the revision served now.
    let old_receipt = Receipt::parse(read_fixture("alice-v2.receipt.json").as_bytes())
        .unwrap_or_else(|e| panic!("the fixture's receipt: {e}"));
    let alice_v2 = get_ok(&http, &format!("{people}/alice?version=2")).await;
    let claim = DocumentClaim::from_json(&alice_v2).unwrap_or_else(|e| panic!("{e}"));
    verify_receipt(&old_receipt, &key, Some(&claim))
        .unwrap_or_else(|e| panic!("the old receipt: {e}"));

    // Queries see the stored data.
    let (status, page) = {
        let response = http
            .post(format!("{people}/query"))
            .json(&json!({"filter": {"age": {"$gte": 30}}, "sort": "name"}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("query: {e}"));
        let status = response.status().as_u16();
        (
            status,
            response.json::<Value>().await.unwrap_or(Value::Null),
        )
    };
    assert_eq!(status, 200, "{page:#}");
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{page:#}"))
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(ids, ["alice", "carol"], "{page:#}");

    // The log grows, and its new checkpoint extends the one that release signed.
    let created = http
        .post(&people)
        .json(&json!({"id": "dave", "data": {"name": "Dave"}}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create: {e}"));
    assert_eq!(created.status().as_u16(), 201);
    let grown = checkpoint_reaching(&http, &base, 13).await;
    let grown_size = grown["tree_size"].as_u64().unwrap_or_default();
    Checkpoint::open(grown["note"].as_str().unwrap_or_default(), &key)
        .unwrap_or_else(|e| panic!("the new checkpoint: {e}"));
    let proof = get_ok(
        &http,
        &format!("{base}/v1/log/proofs/consistency?from=12&to={grown_size}"),
    )
    .await;
    let hashes: Vec<Hash> = proof["hashes"]
        .as_array()
        .unwrap_or_else(|| panic!("{proof:#}"))
        .iter()
        .map(hash)
        .collect();
    verify_consistency(
        12,
        grown_size,
        &hashes,
        &signed_before.root_hash(),
        &hash(&grown["root_hash"]),
    )
    .unwrap_or_else(|e| panic!("12 → {grown_size}: {e}"));
    server.stop();

    // And the auditor finds nothing, anchored on that release's checkpoint.
    let outside = dir.path().join("af45eca.checkpoint");
    std::fs::write(&outside, read_fixture("checkpoint.note")).unwrap_or_else(|e| panic!("{e}"));
    let run = audit(&data, &vkey, &[&outside]);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(run.stdout.contains("result: valid, no findings"), "{run}");
}
