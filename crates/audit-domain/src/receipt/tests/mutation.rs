//! The verifier refuses every single-bit change of a valid receipt, in both encodings: each
//! bit of every proof hash, the leaf bytes, the leaf hash, the root, the signature and key id,
//! and each of the 64 bits of every index and size, whether stated beside the signed note or
//! inside it. immudb's GHSA-672p-m5jq-mrh8 shipped clients that accepted forged proofs; this
//! suite is the guard against that class of bug.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::fixture::{Fixture, ORIGIN};
use crate::merkle::Hash;
use crate::note::NoteVerifier;
use crate::receipt::{Receipt, TlogProof, verify_receipt};

/// Leaf indexes worth covering in a tree of 13: the first, a middle one, the rightmost (a
/// deletion, whose proof is shortest).
const SIZE: usize = 13;
const INDEXES: [usize; 3] = [0, 6, 12];

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

fn flip_hash(hash: &Hash, bit: usize) -> Hash {
    let mut bytes = hash.into_bytes();
    bytes[bit / 8] ^= 1 << (bit % 8);
    Hash::from_bytes(bytes)
}

/// Asserts the verifier refuses `bytes` as a receipt.
fn assert_refused(bytes: &[u8], verifier: &NoteVerifier, what: &str) {
    let outcome = Receipt::parse(bytes).and_then(|r| verify_receipt(&r, verifier, None));
    assert!(outcome.is_err(), "accepted a receipt with {what}");
}

/// Every single-bit change of the signed parts of a checkpoint note: key id and signature
/// bytes (decoded from the signature line), the size line's 64 bits and the root's 256.
fn note_mutations(note: &str) -> Vec<(String, String)> {
    let (text, signature_line) = note.split_at(note.rfind("\n\n").map_or(0, |i| i + 2));
    let (prefix, encoded) = signature_line
        .trim_end()
        .rsplit_once(' ')
        .unwrap_or_default();
    let signature = STANDARD.decode(encoded).unwrap_or_default();
    assert_eq!(signature.len(), 68, "key id and Ed25519 signature");
    let mut out = Vec::new();
    for bit in 0..signature.len() * 8 {
        let part = if bit < 32 { "key id" } else { "signature" };
        let mutated = STANDARD.encode(flip(&signature, bit));
        out.push((
            format!("{part} bit {bit}"),
            format!("{text}{prefix} {mutated}\n"),
        ));
    }
    let lines: Vec<&str> = text.lines().collect();
    let size: u64 = lines[1].parse().unwrap_or_default();
    let root = Hash::try_from(STANDARD.decode(lines[2]).unwrap_or_default().as_slice())
        .unwrap_or_else(|e| panic!("{e}"));
    for bit in 0..64 {
        let text = format!("{ORIGIN}\n{}\n{}\n\n", size ^ (1 << bit), lines[2]);
        out.push((
            format!("signed size bit {bit}"),
            format!("{text}{signature_line}"),
        ));
    }
    for bit in 0..256 {
        let root = STANDARD.encode(flip_hash(&root, bit).as_bytes());
        out.push((
            format!("signed root bit {bit}"),
            format!("{ORIGIN}\n{size}\n{root}\n\n{signature_line}"),
        ));
    }
    out
}

/// The JSON bundle with one field replaced.
fn with(bundle: &Value, pointer: &str, value: Value) -> Vec<u8> {
    let mut bundle = bundle.clone();
    if let Some(slot) = bundle.pointer_mut(pointer) {
        *slot = value;
    } else {
        panic!("no {pointer} in the bundle");
    }
    bundle.to_string().into_bytes()
}

#[test]
fn every_single_bit_change_of_a_json_bundle_is_refused() {
    let fixture = Fixture::new(SIZE);
    let verifier = fixture.verifier();
    for index in INDEXES {
        let bundle = fixture.bundle(index).to_json();
        let valid = bundle.to_string().into_bytes();
        let verified = Receipt::parse(&valid).and_then(|r| verify_receipt(&r, &verifier, None));
        assert!(verified.is_ok(), "the unmutated bundle: {verified:?}");

        let hex = |pointer: &str| {
            Hash::parse(
                bundle
                    .pointer(pointer)
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            )
            .unwrap_or_else(|e| panic!("{pointer}: {e}"))
        };
        let mut hash_fields = vec!["/leaf_hash".to_owned(), "/checkpoint/root_hash".to_owned()];
        let proof_len = bundle["inclusion_proof"]["hashes"]
            .as_array()
            .map_or(0, Vec::len);
        assert!(proof_len > 0, "index {index} has a proof to tamper with");
        hash_fields.extend((0..proof_len).map(|i| format!("/inclusion_proof/hashes/{i}")));
        for pointer in &hash_fields {
            let original = hex(pointer);
            for bit in 0..256 {
                let forged = with(&bundle, pointer, flip_hash(&original, bit).to_hex().into());
                assert_refused(
                    &forged,
                    &verifier,
                    &format!("{pointer} bit {bit} (index {index})"),
                );
            }
        }

        for pointer in [
            "/leaf_index",
            "/inclusion_proof/leaf_index",
            "/inclusion_proof/tree_size",
            "/checkpoint/tree_size",
        ] {
            let original = bundle
                .pointer(pointer)
                .and_then(Value::as_u64)
                .unwrap_or_default();
            for bit in 0..64 {
                let forged = with(&bundle, pointer, (original ^ (1 << bit)).into());
                assert_refused(
                    &forged,
                    &verifier,
                    &format!("{pointer} bit {bit} (index {index})"),
                );
            }
        }
        // Both indexes moved together: the proof itself must refuse the other position.
        let original = index as u64;
        for bit in 0..64 {
            let moved = original ^ (1 << bit);
            let mut forged = bundle.clone();
            forged["leaf_index"] = moved.into();
            forged["inclusion_proof"]["leaf_index"] = moved.into();
            assert_refused(
                forged.to_string().as_bytes(),
                &verifier,
                &format!("both indexes bit {bit} (index {index})"),
            );
        }

        // The leaf bytes: each bit of the entry's canonical bytes, spliced in as they are.
        let leaf = fixture.entries[index].0.leaf_bytes();
        let template = with(&bundle, "/audit_entry", Value::String("@ENTRY@".into()));
        let template = String::from_utf8(template).unwrap_or_default();
        let (before, after) = template.split_once("\"@ENTRY@\"").unwrap_or_default();
        for bit in 0..leaf.len() * 8 {
            let mut forged = before.as_bytes().to_vec();
            forged.extend(flip(&leaf, bit));
            forged.extend_from_slice(after.as_bytes());
            assert_refused(
                &forged,
                &verifier,
                &format!("leaf byte bit {bit} (index {index})"),
            );
        }

        let note = bundle["checkpoint"]["note"].as_str().unwrap_or_default();
        for (what, forged_note) in note_mutations(note) {
            let forged = with(&bundle, "/checkpoint/note", forged_note.into());
            assert_refused(&forged, &verifier, &format!("{what} (index {index})"));
        }
    }
}

#[test]
fn every_single_bit_change_of_a_tlog_proof_is_refused() {
    let fixture = Fixture::new(SIZE);
    let verifier = fixture.verifier();
    for index in INDEXES {
        let proof = fixture.tlog_proof(index);
        let text = proof.to_text();
        let verified =
            Receipt::parse(text.as_bytes()).and_then(|r| verify_receipt(&r, &verifier, None));
        assert!(verified.is_ok(), "the unmutated proof: {verified:?}");
        let rebuild = |leaf: Vec<u8>, index: u64, hashes: Vec<Hash>, note: String| {
            TlogProof::new(leaf, index, hashes, note)
                .map(|p| p.to_text())
                .unwrap_or_else(|e| panic!("{e}"))
        };

        for (position, hash) in proof.proof().iter().enumerate() {
            for bit in 0..256 {
                let mut hashes = proof.proof().to_vec();
                hashes[position] = flip_hash(hash, bit);
                let forged = rebuild(
                    proof.leaf().to_vec(),
                    proof.index(),
                    hashes,
                    proof.checkpoint_note().into(),
                );
                assert_refused(
                    forged.as_bytes(),
                    &verifier,
                    &format!("proof hash {position} bit {bit}"),
                );
            }
        }
        for bit in 0..proof.leaf().len() * 8 {
            let forged = rebuild(
                flip(proof.leaf(), bit),
                proof.index(),
                proof.proof().to_vec(),
                proof.checkpoint_note().into(),
            );
            assert_refused(
                forged.as_bytes(),
                &verifier,
                &format!("extra (leaf) bit {bit}"),
            );
        }
        for bit in 0..64 {
            let forged = rebuild(
                proof.leaf().to_vec(),
                proof.index() ^ (1 << bit),
                proof.proof().to_vec(),
                proof.checkpoint_note().into(),
            );
            assert_refused(forged.as_bytes(), &verifier, &format!("index bit {bit}"));
        }
        for (what, note) in note_mutations(proof.checkpoint_note()) {
            let forged = rebuild(
                proof.leaf().to_vec(),
                proof.index(),
                proof.proof().to_vec(),
                note,
            );
            assert_refused(forged.as_bytes(), &verifier, &what);
        }
    }
}

#[test]
fn every_single_bit_change_anywhere_in_the_tlog_proof_text_is_refused() {
    let fixture = Fixture::new(SIZE);
    let verifier = fixture.verifier();
    let text = fixture.tlog_proof(6).to_text().into_bytes();
    for bit in 0..text.len() * 8 {
        assert_refused(&flip(&text, bit), &verifier, &format!("text bit {bit}"));
    }
}

#[test]
fn every_single_bit_change_in_the_json_text_is_refused_except_in_the_unsigned_created_at() {
    let fixture = Fixture::new(SIZE);
    let verifier = fixture.verifier();
    let text = fixture.bundle(6).to_json().to_string().into_bytes();
    // `created_at` starts the document's current life: no entry of this revision signs it,
    // so it is the one field a verifier cannot hold to account (the README says so).
    let created_at = fixture.entries[6].1["created_at"]
        .as_str()
        .unwrap_or_default();
    let needle = format!("\"created_at\":\"{created_at}\"");
    let start = String::from_utf8_lossy(&text)
        .find(&needle)
        .unwrap_or_default();
    let unsigned = start..start + needle.len();
    assert!(!unsigned.is_empty());
    for bit in 0..text.len() * 8 {
        if unsigned.contains(&(bit / 8)) {
            continue;
        }
        assert_refused(
            &flip(&text, bit),
            &verifier,
            &format!("JSON text bit {bit}"),
        );
    }
}
