//! Offline check that one signed checkpoint extends another: both notes verified with the
//! log's key, then the RFC 9162 consistency proof between their signed sizes and roots.
//!
//! The proof comes as the JSON answer of `GET /v1/log/proofs/consistency`
//! (`{"from","to","hashes"}`, whose sizes must be the two signed sizes) or as plain text, one
//! lowercase hex hash per line (blank lines ignored). An old checkpoint of size 0 is
//! consistent with every tree, with an empty proof: every log starts empty, and the server
//! signs that checkpoint first.

use serde_json::Value;
use thiserror::Error;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::merkle::{Hash, ProofError, verify_consistency};
use crate::note::NoteVerifier;
use crate::receipt::MAX_PROOF_HASHES;

/// Why two checkpoints were not shown consistent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConsistencyError {
    /// The proof file does not parse.
    #[error("malformed consistency proof: {0}")]
    Malformed(String),
    /// The old checkpoint did not verify.
    #[error("old checkpoint: {0}")]
    OldCheckpoint(CheckpointError),
    /// The new checkpoint did not verify.
    #[error("new checkpoint: {0}")]
    NewCheckpoint(CheckpointError),
    /// The proof's stated size is not the checkpoint's signed size.
    #[error("the proof is `{field}` = {stated}, but the checkpoint signs size {signed}")]
    Size {
        /// `from` or `to`.
        field: &'static str,
        /// The proof's size.
        stated: u64,
        /// The checkpoint's size.
        signed: u64,
    },
    /// The proof does not link the two signed roots.
    #[error("consistency proof: {0}")]
    Proof(#[from] ProofError),
}

/// A consistency proof read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    sizes: Option<(u64, u64)>,
    hashes: Vec<Hash>,
}

impl ConsistencyProof {
    /// Reads the JSON answer of the API (when the text starts with `{`) or hex lines.
    ///
    /// # Errors
    /// [`ConsistencyError::Malformed`] naming what did not parse.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConsistencyError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| ConsistencyError::Malformed("the proof is not UTF-8".into()))?;
        if text.trim_start().starts_with('{') {
            return Self::from_json(bytes);
        }
        let hashes = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .enumerate()
            .map(|(i, line)| {
                Hash::parse(line).map_err(|_| {
                    ConsistencyError::Malformed(format!(
                        "hash {} is not 64 lowercase hex digits",
                        i + 1
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::checked(None, hashes)
    }

    fn from_json(bytes: &[u8]) -> Result<Self, ConsistencyError> {
        let malformed = |text: &str| ConsistencyError::Malformed(text.to_owned());
        let value = shared_kernel::json::parse_strict(bytes)
            .map_err(|e| ConsistencyError::Malformed(e.detail().to_owned()))?;
        let Value::Object(map) = value else {
            return Err(malformed("the proof must be a JSON object"));
        };
        if let Some(extra) = map
            .keys()
            .find(|k| !["from", "to", "hashes"].contains(&k.as_str()))
        {
            return Err(ConsistencyError::Malformed(format!(
                "unknown field `{extra}`"
            )));
        }
        let size = |name: &str| {
            map.get(name).and_then(Value::as_u64).ok_or_else(|| {
                ConsistencyError::Malformed(format!("`{name}` must be an unsigned integer"))
            })
        };
        let hashes = map
            .get("hashes")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("`hashes` must be an array"))?
            .iter()
            .map(|h| {
                h.as_str()
                    .and_then(|t| Hash::parse(t).ok())
                    .ok_or_else(|| malformed("`hashes` must hold 64 lowercase hex digits each"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::checked(Some((size("from")?, size("to")?)), hashes)
    }

    fn checked(sizes: Option<(u64, u64)>, hashes: Vec<Hash>) -> Result<Self, ConsistencyError> {
        // Two paths of at most 64 levels each bound any consistency proof.
        if hashes.len() > 2 * MAX_PROOF_HASHES {
            return Err(ConsistencyError::Malformed("the proof is too long".into()));
        }
        Ok(Self { sizes, hashes })
    }

    /// The proof hashes.
    #[must_use]
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }
}

/// Verifies both notes with `verifier`, then that the new tree extends the old one.
///
/// # Errors
/// The [`ConsistencyError`] of the first check that failed.
pub fn verify_checkpoint_consistency(
    old_note: &str,
    new_note: &str,
    proof: &ConsistencyProof,
    verifier: &NoteVerifier,
) -> Result<(Checkpoint, Checkpoint), ConsistencyError> {
    let old = Checkpoint::open(old_note, verifier).map_err(ConsistencyError::OldCheckpoint)?;
    let new = Checkpoint::open(new_note, verifier).map_err(ConsistencyError::NewCheckpoint)?;
    if let Some((from, to)) = proof.sizes {
        for (field, stated, signed) in
            [("from", from, old.tree_size()), ("to", to, new.tree_size())]
        {
            if stated != signed {
                return Err(ConsistencyError::Size {
                    field,
                    stated,
                    signed,
                });
            }
        }
    }
    if old.tree_size() == 0 {
        if !proof.hashes.is_empty() {
            return Err(ProofError::ProofNotEmpty {
                len: proof.hashes.len(),
            }
            .into());
        }
        return Ok((old, new));
    }
    verify_consistency(
        old.tree_size(),
        new.tree_size(),
        &proof.hashes,
        &old.root_hash(),
        &new.root_hash(),
    )?;
    Ok((old, new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{MemoryTree, leaf_hash, prove_consistency};
    use crate::note::{KeyName, NoteSigner};

    fn signed_tree(size: u64) -> (NoteSigner, MemoryTree) {
        let signer = NoteSigner::from_seed(
            KeyName::new("log").unwrap_or_else(|e| panic!("{e}")),
            &[2; 32],
        );
        let tree = MemoryTree::from_leaf_hashes((0..size).map(|i| leaf_hash(&i.to_be_bytes())))
            .unwrap_or_else(|e| panic!("{e}"));
        (signer, tree)
    }

    fn note_at(signer: &NoteSigner, tree: &MemoryTree, size: u64) -> String {
        let root = crate::merkle::tree_hash(size, tree).unwrap_or_else(|e| panic!("{e}"));
        Checkpoint::new("log", size, root)
            .and_then(|c| c.sign(signer))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_proof_in_either_file_form_links_two_signed_checkpoints_and_a_bit_flip_does_not() {
        let (signer, tree) = signed_tree(21);
        let (old, new) = (note_at(&signer, &tree, 6), note_at(&signer, &tree, 21));
        let hashes = prove_consistency(6, 21, &tree).unwrap_or_else(|e| panic!("{e}"));
        let lines: String = hashes.iter().map(|h| format!("{h}\n")).collect();
        let json = serde_json::json!({"from": 6, "to": 21, "hashes": hashes.iter().map(Hash::to_hex).collect::<Vec<_>>()});
        let verifier = signer.verifier();
        for file in [lines.clone().into_bytes(), json.to_string().into_bytes()] {
            let proof = ConsistencyProof::parse(&file).unwrap_or_else(|e| panic!("{e}"));
            let checked = verify_checkpoint_consistency(&old, &new, &proof, &verifier);
            assert!(checked.is_ok(), "{checked:?}");
        }
        for (i, hash) in hashes.iter().enumerate() {
            for bit in 0..256 {
                let mut bytes = hash.into_bytes();
                bytes[bit / 8] ^= 1 << (bit % 8);
                let mut forged = hashes.clone();
                forged[i] = Hash::from_bytes(bytes);
                let proof = ConsistencyProof {
                    sizes: None,
                    hashes: forged,
                };
                assert!(
                    verify_checkpoint_consistency(&old, &new, &proof, &verifier).is_err(),
                    "hash {i} bit {bit}"
                );
            }
        }
        // Swapped notes, or sizes in the JSON that are not the signed ones, are refused.
        let proof = ConsistencyProof::parse(lines.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert!(verify_checkpoint_consistency(&new, &old, &proof, &verifier).is_err());
        let wrong = serde_json::json!({"from": 5, "to": 21, "hashes": hashes.iter().map(Hash::to_hex).collect::<Vec<_>>()});
        let proof =
            ConsistencyProof::parse(wrong.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            verify_checkpoint_consistency(&old, &new, &proof, &verifier),
            Err(ConsistencyError::Size { field: "from", .. })
        ));
    }

    #[test]
    fn the_empty_tree_is_consistent_with_any_tree_only_with_an_empty_proof() {
        let (signer, tree) = signed_tree(3);
        let (empty, new) = (note_at(&signer, &tree, 0), note_at(&signer, &tree, 3));
        let verifier = signer.verifier();
        let none = ConsistencyProof::parse(b"").unwrap_or_else(|e| panic!("{e}"));
        assert!(verify_checkpoint_consistency(&empty, &new, &none, &verifier).is_ok());
        let some = ConsistencyProof::parse(format!("{}\n", leaf_hash(b"x")).as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(verify_checkpoint_consistency(&empty, &new, &some, &verifier).is_err());
    }

    #[test]
    fn malformed_proof_files_are_refused() {
        for bad in [
            "ABCD\n".to_owned(),
            format!("{}\n", leaf_hash(b"x").to_hex().to_uppercase()),
            r#"{"from":1,"to":2}"#.to_owned(),
            r#"{"from":1,"to":2,"hashes":[],"x":1}"#.to_owned(),
            r#"{"from":1,"from":1,"to":2,"hashes":[]}"#.to_owned(),
        ] {
            assert!(ConsistencyProof::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
