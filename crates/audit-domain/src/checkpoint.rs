//! C2SP checkpoints (`c2sp.org/tlog-checkpoint`): the signed head of the Merkle log.
//!
//! The note text is three lines: the origin (the log's identity, also its key name), the tree
//! size in decimal without leading zeros, and the base64 RFC 9162 root hash. Optional
//! extension lines follow; this log writes none but a parser accepts non-empty ones.
//!
//! Pure: signing and verification go through [`crate::note`].

use crate::canonical_text::{canonical_base64, canonical_decimal};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use thiserror::Error;

use crate::merkle::Hash;
use crate::note::{KeyName, NoteError, NoteSigner, NoteVerifier};

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckpointError {
    /// The signed-note layer refused it (format or signature).
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The origin is empty or not a valid key name.
    #[error("invalid checkpoint origin")]
    Origin,
    /// The text lacks a line, has an empty one, or a size or root that does not parse.
    #[error("malformed checkpoint text")]
    Malformed,
    /// The checkpoint names a different origin than the key that verified it.
    #[error("checkpoint origin `{found}` is not the expected `{expected}`")]
    WrongOrigin {
        /// The origin of the verifying key.
        expected: String,
        /// The origin written in the checkpoint.
        found: String,
    },
}

/// The head of a log: origin, tree size and root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: KeyName,
    tree_size: u64,
    root_hash: Hash,
}

impl Checkpoint {
    /// A checkpoint for `origin` at `tree_size` with `root_hash`.
    ///
    /// # Errors
    /// [`CheckpointError::Origin`] when the origin is not a valid key name (the log's key
    /// name is its origin, so it must be one).
    pub fn new(origin: &str, tree_size: u64, root_hash: Hash) -> Result<Self, CheckpointError> {
        let origin = KeyName::new(origin).map_err(|_| CheckpointError::Origin)?;
        Ok(Self {
            origin,
            tree_size,
            root_hash,
        })
    }

    /// The origin line.
    #[must_use]
    pub fn origin(&self) -> &str {
        self.origin.as_str()
    }

    /// The number of leaves.
    #[must_use]
    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }

    /// The RFC 9162 root hash at that size.
    #[must_use]
    pub fn root_hash(&self) -> Hash {
        self.root_hash
    }

    /// The note text: origin, size and base64 root, each ending in a newline.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.tree_size,
            STANDARD.encode(self.root_hash.as_bytes())
        )
    }

    /// Parses note text; extension lines after the third are accepted when non-empty and
    /// ignored.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`] or [`CheckpointError::Origin`].
    pub fn parse_text(text: &str) -> Result<Self, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::Malformed)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::Malformed);
        };
        if lines.any(str::is_empty) {
            return Err(CheckpointError::Malformed);
        }
        let tree_size = canonical_decimal(size).ok_or(CheckpointError::Malformed)?;
        let root_bytes = canonical_base64(root).ok_or(CheckpointError::Malformed)?;
        let root_hash =
            Hash::try_from(root_bytes.as_slice()).map_err(|_| CheckpointError::Malformed)?;
        Self::new(origin, tree_size, root_hash)
    }

    /// Signs the checkpoint and returns the signed note.
    ///
    /// # Errors
    /// [`CheckpointError::WrongOrigin`] when the signer's key name is not the origin.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, CheckpointError> {
        if signer.name() != &self.origin {
            return Err(CheckpointError::WrongOrigin {
                expected: signer.name().to_string(),
                found: self.origin.to_string(),
            });
        }
        Ok(signer.sign(&self.to_text())?)
    }

    /// Verifies a signed checkpoint note with the log's key and parses it. The origin must be
    /// the key's name.
    ///
    /// # Errors
    /// Note errors (format, signature, unknown key), then the checkpoint text's errors.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Self, CheckpointError> {
        let opened = verifier.verify(note)?;
        let checkpoint = Self::parse_text(opened.text())?;
        if checkpoint.origin != *verifier.name() {
            return Err(CheckpointError::WrongOrigin {
                expected: verifier.name().to_string(),
                found: checkpoint.origin.to_string(),
            });
        }
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::leaf_hash;

    fn signer(name: &str) -> NoteSigner {
        NoteSigner::from_seed(
            KeyName::new(name).unwrap_or_else(|e| panic!("{e}")),
            &[1; 32],
        )
    }

    #[test]
    fn a_checkpoint_round_trips_through_a_signed_note() {
        let signer = signer("offchain-db/abc");
        let checkpoint = Checkpoint::new("offchain-db/abc", 20_852_163, leaf_hash(b"x"))
            .unwrap_or_else(|e| panic!("{e}"));
        let note = checkpoint.sign(&signer).unwrap_or_default();
        let text = checkpoint.to_text();
        assert!(note.starts_with(&text));
        assert_eq!(text.lines().count(), 3);
        assert_eq!(Checkpoint::open(&note, &signer.verifier()), Ok(checkpoint));
    }

    #[test]
    fn the_empty_tree_has_size_zero() {
        let root = crate::merkle::empty_root();
        let checkpoint = Checkpoint::new("log", 0, root).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            checkpoint.to_text(),
            "log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
        );
        assert_eq!(
            Checkpoint::parse_text(&checkpoint.to_text()),
            Ok(checkpoint)
        );
    }

    #[test]
    fn malformed_texts_are_rejected() {
        let root = STANDARD.encode([0_u8; 32]);
        for bad in [
            format!("log\n01\n{root}\n"),
            format!("log\n-1\n{root}\n"),
            format!("log\n1\n{root}"),
            "log\n1\n\n".to_owned(),
            format!("\n1\n{root}\n"),
            format!("log\n1\n{root}\n\n"),
            "log\n1\nAAAA\n".to_owned(),
            format!("log\n18446744073709551616\n{root}\n"),
        ] {
            assert!(Checkpoint::parse_text(&bad).is_err(), "{bad:?}");
        }
        assert!(Checkpoint::parse_text(&format!("log\n1\n{root}\next\n")).is_ok());
    }

    #[test]
    fn a_checkpoint_for_another_origin_is_refused() {
        let signer = signer("log-a");
        let other = Checkpoint::new("log-b", 1, leaf_hash(b"")).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            other.sign(&signer),
            Err(CheckpointError::WrongOrigin { .. })
        ));
        // Signed as a plain note by the right key, the wrong origin is still refused.
        let note = signer.sign(&other.to_text()).unwrap_or_default();
        assert!(matches!(
            Checkpoint::open(&note, &signer.verifier()),
            Err(CheckpointError::WrongOrigin { .. })
        ));
    }
}
