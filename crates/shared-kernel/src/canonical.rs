//! Canonical JSON (RFC 8785, JCS) and SHA-256 digests: the bytes every hash is taken over.
//!
//! Hashes are only ever taken over canonical bytes, never over a storage engine's encoding,
//! so the same data hashes the same on every backend and in every verifier.

use std::fmt;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::Error;

/// The RFC 8785 canonical text of a JSON value (see `jcs.rs` for the rules). It cannot fail:
/// a `Value` holds only finite numbers and valid strings.
pub fn canonical_json(value: &Value) -> String {
    crate::jcs::to_string(value)
}

/// A SHA-256 digest, shown as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// The digest of the canonical JSON of `value`.
    pub fn of_json(value: &Value) -> Self {
        Self::of(canonical_json(value).as_bytes())
    }

    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 64 hex characters.
    ///
    /// # Errors
    /// `INVALID_INPUT` when the text is not 64 hex characters.
    pub fn parse_hex(text: &str) -> Result<Self, Error> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|_| Error::invalid_input(format!("`{text}` is not a hex SHA-256 digest")))?;
        Ok(Self(bytes))
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        // By table rather than `hex::encode`, which collects a `char` iterator: a write
        // renders four or five digests, and that showed in its profile.
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = String::with_capacity(64);
        for byte in self.0 {
            text.push(char::from(DIGITS[usize::from(byte >> 4)]));
            text.push(char::from(DIGITS[usize::from(byte & 0x0F)]));
        }
        text
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_and_normalises_numbers() {
        let value = json!({"b": 1, "a": [1.5, "x", null, true], "c": {"z": 0, "y": 1e2}});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":[1.5,"x",null,true],"b":1,"c":{"y":100,"z":0}}"#
        );
    }

    #[test]
    fn the_digest_of_nothing_is_the_known_sha256() {
        assert_eq!(
            Sha256Digest::of(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hex_digests_round_trip() {
        let digest = Sha256Digest::of(b"abc");
        assert_eq!(Sha256Digest::parse_hex(&digest.to_hex()).ok(), Some(digest));
        assert!(Sha256Digest::parse_hex("abc").is_err());
    }
}
