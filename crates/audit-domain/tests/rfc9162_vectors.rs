//! RFC 9162 conformance: the reference tree's known answers, and every vector of the
//! transparency-dev/merkle suite found under `OFFCHAIN_RFC9162_TESTDATA` (or the shared folder).

use std::path::{Path, PathBuf};

use audit_domain::merkle::{
    Hash, MemoryTree, leaf_hash, node_hash, prove_consistency, prove_inclusion, tree_hash,
    verify_consistency_bytes, verify_inclusion_bytes,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// Leaf inputs of the reference tree (hex), from the suite's README.
const REFERENCE_LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Roots of the reference tree for sizes 0..=8, from the suite's README.
const REFERENCE_ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn reference_tree() -> MemoryTree {
    let leaves = REFERENCE_LEAVES
        .iter()
        .map(|input| leaf_hash(&hex::decode(input).unwrap()));
    MemoryTree::from_leaf_hashes(leaves).unwrap()
}

#[test]
fn the_reference_tree_has_the_known_roots_for_sizes_0_to_8() {
    let tree = reference_tree();
    for (size, expected) in (0_u64..).zip(REFERENCE_ROOTS) {
        assert_eq!(
            tree_hash(size, &tree).unwrap().to_string(),
            expected,
            "size {size}"
        );
    }
}

#[test]
fn the_hashers_give_the_known_answers() {
    assert_eq!(
        leaf_hash(b"").to_string(),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
    assert_eq!(
        leaf_hash(b"L123456").to_string(),
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    );
    // node("N123", "N456") hashes 4-byte strings, which `node_hash` (32-byte inputs) cannot take,
    // so check the same rule on the reference tree instead: root(2) = node(leaf 0, leaf 1).
    let tree = reference_tree();
    let leaf0 = tree_hash(1, &tree).unwrap();
    let leaf1 = leaf_hash(&[0x00]);
    assert_eq!(node_hash(&leaf0, &leaf1).to_string(), REFERENCE_ROOTS[2]);
}

#[test]
fn proofs_of_the_reference_tree_match_the_suite_happy_paths() {
    let tree = reference_tree();
    // inclusion/1/happy-path.json: leaf 0 in size 8; consistency/1/happy-path.json: 1 -> 8.
    let expected = [
        "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
        "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
        "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
    ];
    let encode = |proof: Vec<Hash>| -> Vec<String> {
        proof.iter().map(|hash| STANDARD.encode(hash)).collect()
    };
    assert_eq!(encode(prove_inclusion(0, 8, &tree).unwrap()), expected);
    assert_eq!(encode(prove_consistency(1, 8, &tree).unwrap()), expected);
}

/// The vectors folder: the env var if set, else `shared/testdata/rfc9162` beside the repo.
fn vectors_dir() -> PathBuf {
    std::env::var_os("OFFCHAIN_RFC9162_TESTDATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/rfc9162"),
        PathBuf::from,
    )
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            json_files(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "json") {
            out.push(path);
        }
    }
    Ok(())
}

fn field_u64(value: &Value, key: &str) -> Result<u64, String> {
    value[key]
        .as_u64()
        .ok_or_else(|| format!("`{key}` is not a u64"))
}

fn field_bytes(value: &Value, key: &str) -> Result<Vec<u8>, String> {
    let text = value[key]
        .as_str()
        .ok_or_else(|| format!("`{key}` is not a string"))?;
    STANDARD.decode(text).map_err(|e| format!("`{key}`: {e}"))
}

/// The proof array; `null` means an empty proof.
fn field_proof(value: &Value) -> Result<Vec<Vec<u8>>, String> {
    match &value["proof"] {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                let text = item.as_str().ok_or("a proof element is not a string")?;
                STANDARD.decode(text).map_err(|e| format!("proof: {e}"))
            })
            .collect(),
        Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => {
            Err("`proof` is not an array".to_owned())
        }
    }
}

/// Runs one vector; `Ok(verified)` tells whether verification accepted it.
fn run_vector(vector: &Value) -> Result<bool, String> {
    let proof = field_proof(vector)?;
    let outcome = if vector.get("leafIdx").is_some() {
        verify_inclusion_bytes(
            &field_bytes(vector, "leafHash")?,
            field_u64(vector, "leafIdx")?,
            field_u64(vector, "treeSize")?,
            &proof,
            &field_bytes(vector, "root")?,
        )
    } else {
        verify_consistency_bytes(
            field_u64(vector, "size1")?,
            field_u64(vector, "size2")?,
            &proof,
            &field_bytes(vector, "root1")?,
            &field_bytes(vector, "root2")?,
        )
    };
    Ok(outcome.is_ok())
}

#[test]
fn every_suite_vector_verifies_or_is_rejected_as_expected() {
    let dir = vectors_dir();
    if !dir.is_dir() {
        println!("RFC 9162 vectors not found at {}; skipping", dir.display());
        return;
    }
    let mut files = Vec::new();
    json_files(&dir, &mut files).unwrap();
    files.sort();
    assert!(!files.is_empty(), "no JSON vectors under {}", dir.display());
    let mut failures = Vec::new();
    let mut accepted = 0;
    for file in &files {
        let name = file
            .strip_prefix(&dir)
            .unwrap_or(file)
            .display()
            .to_string();
        let result = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<Value>(&text).map_err(|e| e.to_string()))
            .and_then(|vector| {
                let want_err = vector["wantErr"].as_bool().ok_or("`wantErr` is missing")?;
                Ok((want_err, run_vector(&vector)?))
            });
        match result {
            Ok((want_err, verified)) if verified != want_err => accepted += usize::from(verified),
            Ok((true, _)) => failures.push(format!("{name}: accepted, but wantErr is true")),
            Ok((false, _)) => failures.push(format!("{name}: rejected, but wantErr is false")),
            Err(e) => failures.push(format!("{name}: unreadable vector: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "failing vectors:\n{}",
        failures.join("\n")
    );
    assert!(
        accepted > 0,
        "no vector was accepted; is {} the suite?",
        dir.display()
    );
    println!(
        "{} RFC 9162 vectors checked, {accepted} accepted",
        files.len()
    );
}
