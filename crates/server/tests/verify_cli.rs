//! `offchain-db verify` run as a process: exit 0 for a valid receipt or consistency proof, 1
//! for a finding (named on stderr), 2 for usage and I/O errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use audit_domain::checkpoint::Checkpoint;
use audit_domain::entry::{AuditEntry, AuditOperation, AuditSubject};
use audit_domain::merkle::{Hash, MemoryTree, prove_consistency, prove_inclusion, tree_hash};
use audit_domain::note::{KeyName, NoteSigner};
use audit_domain::receipt::{ReceiptBundle, TlogProof};
use serde_json::{Value, json};
use shared_kernel::{
    Actor, AuditId, CollectionId, RequestContext, RequestId, Sha256Digest, Timestamp,
};
use tempfile::TempDir;

const BINARY: &str = env!("CARGO_BIN_EXE_offchain-db");
const ORIGIN: &str = "offchain-db/cli-test";

/// A signed log of 6 document creations, written as files a user would hold.
struct Files {
    dir: TempDir,
    signer: NoteSigner,
    tree: MemoryTree,
    entries: Vec<(AuditEntry, Value)>,
}

impl Files {
    fn new() -> Self {
        let signer = NoteSigner::from_seed(
            KeyName::new(ORIGIN).unwrap_or_else(|e| panic!("{e}")),
            &[5; 32],
        );
        let context = RequestContext {
            actor: Actor::Anonymous,
            request_id: RequestId::parse("req").unwrap_or_else(|e| panic!("{e}")),
            trace_id: None,
            deadline: None,
        };
        let collection = CollectionId::generate();
        let entries: Vec<(AuditEntry, Value)> = (0..6)
            .map(|n| {
                let data = json!({"n": n});
                let hash = Sha256Digest::of_json(&data);
                let entry = AuditEntry::new(
                    AuditId::generate(),
                    Timestamp::from_millis(1_764_000_000_000 + n),
                    &context,
                    AuditOperation::DocumentCreate,
                    ("people", collection),
                    AuditSubject::Document {
                        document_id: format!("doc-{n}"),
                        version: 1,
                        hash_before: None,
                        hash_after: Some(hash),
                        patch_sha256: None,
                    },
                );
                let document = json!({"id": format!("doc-{n}"), "collection": "people",
                    "version": 1, "data": data, "content_hash": hash.to_hex()});
                (entry, document)
            })
            .collect();
        let tree = MemoryTree::from_leaf_hashes(entries.iter().map(|(e, _)| e.leaf_hash()))
            .unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        Self {
            dir,
            signer,
            tree,
            entries,
        }
    }

    fn note(&self, size: u64) -> String {
        let root = tree_hash(size, &self.tree).unwrap_or_else(|e| panic!("{e}"));
        Checkpoint::new(ORIGIN, size, root)
            .and_then(|c| c.sign(&self.signer))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn vkey(&self) -> String {
        self.signer.verifier().to_vkey()
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    fn bundle(&self, index: usize) -> Value {
        let (entry, document) = &self.entries[index];
        let proof = prove_inclusion(index as u64, 6, &self.tree).unwrap_or_else(|e| panic!("{e}"));
        ReceiptBundle::new(document.clone(), entry, index as u64, proof, self.note(6))
            .unwrap_or_else(|e| panic!("{e}"))
            .to_json()
    }

    fn tlog_proof(&self, index: usize) -> String {
        let (entry, _) = &self.entries[index];
        let proof = prove_inclusion(index as u64, 6, &self.tree).unwrap_or_else(|e| panic!("{e}"));
        let leaf = entry.leaf_bytes();
        TlogProof::new(leaf, index as u64, proof, self.note(6))
            .unwrap_or_else(|e| panic!("{e}"))
            .to_text()
    }
}

fn verify(args: &[&str]) -> Output {
    Command::new(BINARY)
        .arg("verify")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {BINARY}: {e}"))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// Asserts the exit code and that `needle` is in stdout (0) or stderr (otherwise).
fn assert_exit(output: &Output, code: i32, needle: &str) {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(code), "{stdout}{stderr}");
    let text = if code == 0 { &stdout } else { &stderr };
    assert!(text.contains(needle), "`{needle}` not in: {stdout}{stderr}");
}

#[test]
fn a_valid_receipt_in_either_encoding_exits_0_with_a_summary() {
    let files = Files::new();
    let json = files.write("r.json", files.bundle(2).to_string());
    let text = files.write("r.tlog-proof", files.tlog_proof(2));
    let vkey_file = files.write("log.vkey", format!("{}\n", files.vkey()));
    let document = files.write("doc.json", files.entries[2].1.to_string());
    let vkey = files.vkey();
    let output = verify(&["receipt", path(&json), "--vkey", &vkey]);
    assert_exit(&output, 0, "receipt OK");
    assert_exit(&output, 0, &format!("origin:     {ORIGIN}"));
    assert_exit(&output, 0, "leaf index: 2");
    assert_exit(&output, 0, "people/doc-2 version 1");
    let output = verify(&[
        "receipt",
        path(&text),
        "--vkey",
        path(&vkey_file),
        "--document",
        path(&document),
    ]);
    assert_exit(&output, 0, "tree size:  6");
}

#[test]
fn a_tampered_receipt_or_a_wrong_document_is_a_finding_with_exit_1() {
    let files = Files::new();
    let vkey = files.vkey();
    let text = files.tlog_proof(3);
    // A flipped bit in the first proof hash (line 4), in the signature, and a moved index.
    let lines: Vec<&str> = text.split('\n').collect();
    let mut hash_bytes = base64_decode(lines[3]);
    hash_bytes[0] ^= 1;
    let forged_hash = text.replacen(lines[3], &base64_encode(&hash_bytes), 1);
    let forged_index = text.replacen("index 3\n", "index 1\n", 1);
    let mut bundle = files.bundle(3);
    bundle["checkpoint"]["tree_size"] = json!(7);
    let mut wrong_doc = files.entries[3].1.clone();
    wrong_doc["data"] = json!({"n": 4});
    for (name, contents, document, needle) in [
        ("hash", forged_hash, None, "inclusion proof"),
        ("index", forged_index, None, "inclusion proof"),
        ("size", bundle.to_string(), None, "tree size"),
        ("doc", text.clone(), Some(wrong_doc), "document"),
        (
            "garbage",
            "not a receipt".to_owned(),
            None,
            "malformed receipt",
        ),
    ] {
        let file = files.write(name, contents);
        let mut args = vec!["receipt", path(&file), "--vkey", &vkey];
        let doc_file = document.map(|d| files.write("wrong-doc.json", d.to_string()));
        if let Some(doc) = &doc_file {
            args.extend(["--document", path(doc)]);
        }
        assert_exit(&verify(&args), 1, needle);
    }
    // The right receipt checked with another log's key.
    let other = NoteSigner::from_seed(
        KeyName::new(ORIGIN).unwrap_or_else(|e| panic!("{e}")),
        &[6; 32],
    )
    .verifier()
    .to_vkey();
    let file = files.write("ok", text);
    assert_exit(
        &verify(&["receipt", path(&file), "--vkey", &other]),
        1,
        "checkpoint",
    );
}

#[test]
fn usage_and_io_errors_exit_2() {
    let files = Files::new();
    let vkey = files.vkey();
    let file = files.write("r", files.tlog_proof(0));
    let missing = files.dir.path().join("missing");
    let not_a_doc = files.write("not-doc.json", "[1]");
    assert_exit(
        &verify(&["receipt", path(&missing), "--vkey", &vkey]),
        2,
        "missing",
    );
    assert_exit(
        &verify(&["receipt", path(&file), "--vkey", "nonsense"]),
        2,
        "--vkey",
    );
    assert_exit(
        &verify(&[
            "receipt",
            path(&file),
            "--vkey",
            &vkey,
            "--document",
            path(&not_a_doc),
        ]),
        2,
        "not-doc.json",
    );
    assert_exit(&verify(&["receipt", path(&file)]), 2, "--vkey");
    assert_exit(&verify(&["bogus"]), 2, "bogus");
}

#[test]
fn consistency_of_two_checkpoints_exits_0_and_a_forged_proof_exits_1() {
    let files = Files::new();
    let vkey = files.vkey();
    let old = files.write("old.note", files.note(2));
    let new_json = json!({"origin": ORIGIN, "tree_size": 6, "note": files.note(6)});
    let new = files.write("new.json", new_json.to_string());
    let hashes = prove_consistency(2, 6, &files.tree).unwrap_or_else(|e| panic!("{e}"));
    let hex: Vec<String> = hashes.iter().map(Hash::to_hex).collect();
    let as_json = files.write(
        "p.json",
        json!({"from": 2, "to": 6, "hashes": hex}).to_string(),
    );
    let as_lines = files.write("p.txt", hex.join("\n"));
    for proof in [&as_json, &as_lines] {
        let output = verify(&[
            "consistency",
            path(&old),
            path(&new),
            "--proof",
            path(proof),
            "--vkey",
            &vkey,
        ]);
        assert_exit(&output, 0, "consistency OK");
        assert_exit(&output, 0, "new tree: size 6");
    }
    let mut forged = hex.clone();
    forged[0] = hex[0].replacen(&hex[0][..1], if &hex[0][..1] == "0" { "1" } else { "0" }, 1);
    let forged = files.write("forged.txt", forged.join("\n"));
    assert_exit(
        &verify(&[
            "consistency",
            path(&old),
            path(&new),
            "--proof",
            path(&forged),
            "--vkey",
            &vkey,
        ]),
        1,
        "consistency proof",
    );
    assert_exit(
        &verify(&[
            "consistency",
            path(&new),
            path(&old),
            "--proof",
            path(&as_lines),
            "--vkey",
            &vkey,
        ]),
        1,
        "INVALID",
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
