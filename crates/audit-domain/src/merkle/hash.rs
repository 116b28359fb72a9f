//! SHA-256 hashes and the two RFC 9162 §2.1.1 hashing rules.
//!
//! The leaf and node prefixes (0x00 and 0x01) are what keep a leaf from being passed off as an
//! interior node (a second-preimage attack), so every hash in the tree must go through
//! [`leaf_hash`] or [`node_hash`] and nowhere else.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use thiserror::Error;

/// Number of bytes in a SHA-256 hash; every leaf, node and root hash of the log has this length.
pub const HASH_LEN: usize = 32;

/// The prefix of a leaf hash input (RFC 9162 §2.1.1), kept apart from [`NODE_PREFIX`] so a leaf
/// can never collide with an interior node.
const LEAF_PREFIX: u8 = 0x00;

/// The prefix of an interior node hash input (RFC 9162 §2.1.1).
const NODE_PREFIX: u8 = 0x01;

/// A SHA-256 hash of a leaf, an interior node or a whole tree.
///
/// A newtype rather than a bare `[u8; 32]` so a hash cannot be confused with other 32-byte
/// values (keys, ids), and so it always prints as the lowercase hex the API uses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash([u8; HASH_LEN]);

impl Hash {
    /// Wraps 32 raw bytes; any 32 bytes are a valid hash, so this cannot fail.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; HASH_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes, for hashing, storing or encoding in another form (base64 in notes).
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Takes ownership of the raw bytes, e.g. to store them in a database column.
    #[must_use]
    pub const fn into_bytes(self) -> [u8; HASH_LEN] {
        self.0
    }

    /// Parses 64 lowercase hex characters, the only form the API emits, so every hash has one
    /// spelling and string comparison of hashes is sound.
    ///
    /// # Errors
    /// [`HashParseError::Length`] when the text is not 64 characters long,
    /// [`HashParseError::NotLowercaseHex`] when a character is not in `[0-9a-f]`.
    pub fn parse(text: &str) -> Result<Self, HashParseError> {
        if text.len() != 2 * HASH_LEN {
            return Err(HashParseError::Length { len: text.len() });
        }
        if !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(HashParseError::NotLowercaseHex);
        }
        let mut bytes = [0_u8; HASH_LEN];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| HashParseError::NotLowercaseHex)?;
        Ok(Self(bytes))
    }

    /// The lowercase hex form, the same text [`fmt::Display`] writes.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0_u8; 2 * HASH_LEN];
        // Cannot fail: the buffer has exactly twice the input length.
        hex::encode_to_slice(self.0, &mut buf).map_err(|_| fmt::Error)?;
        // Hex digits are ASCII, so this is valid UTF-8.
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl FromStr for Hash {
    type Err = HashParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<[u8; HASH_LEN]> for Hash {
    fn from(bytes: [u8; HASH_LEN]) -> Self {
        Self(bytes)
    }
}

impl TryFrom<&[u8]> for Hash {
    type Error = HashParseError;

    /// Accepts exactly 32 bytes, so a truncated or padded value from the wire is refused
    /// instead of silently producing a different hash.
    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        <[u8; HASH_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| HashParseError::Length { len: bytes.len() })
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Why a text or byte string is not a [`Hash`](struct@Hash).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HashParseError {
    /// Hex text must have 64 characters and raw bytes 32; `len` is what was given.
    #[error("a hash must be 32 bytes (64 hex characters), got length {len}")]
    Length {
        /// The length of the rejected input, in characters for text and bytes for raw input.
        len: usize,
    },
    /// Only `[0-9a-f]` is accepted, so each hash has a single spelling.
    #[error("a hash must be lowercase hex")]
    NotLowercaseHex,
}

/// The root of the empty tree, SHA-256 of no bytes (RFC 9162 §2.1.1: `MTH({}) = HASH()`).
#[must_use]
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// The hash of a leaf: SHA-256(0x00 ‖ `leaf_bytes`) (RFC 9162 §2.1.1).
///
/// For an audit entry, `leaf_bytes` are the JCS bytes of the entry object.
#[must_use]
pub fn leaf_hash(leaf_bytes: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(leaf_bytes);
    Hash(hasher.finalize().into())
}

/// The hash of an interior node: SHA-256(0x01 ‖ `left` ‖ `right`) (RFC 9162 §2.1.1).
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Hash(node_digest(&left.0, &right.0))
}

/// [`node_hash`] on raw arrays, for the verifiers, which work on untrusted bytes.
pub(crate) fn node_digest(left: &[u8; HASH_LEN], right: &[u8; HASH_LEN]) -> [u8; HASH_LEN] {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hashers_match_the_reference_values() {
        assert_eq!(
            leaf_hash(b"").to_string(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(
            leaf_hash(b"L123456").to_string(),
            "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
        );
        // The reference node check hashes raw strings, so build the input by hand.
        let mut input = vec![NODE_PREFIX];
        input.extend_from_slice(b"N123N456");
        assert_eq!(
            hex::encode(Sha256::digest(&input)),
            "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
        );
        assert_eq!(
            empty_root().to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_hash_round_trips_through_lowercase_hex() {
        let hash = leaf_hash(b"x");
        assert_eq!(Hash::parse(&hash.to_string()), Ok(hash));
        assert_eq!(hash.to_hex(), hash.to_string());
        assert_eq!(format!("{hash:?}"), format!("Hash({hash})"));
    }

    #[test]
    fn hex_that_is_not_64_lowercase_characters_is_rejected() {
        let upper = leaf_hash(b"x").to_string().to_uppercase();
        assert_eq!(Hash::parse(&upper), Err(HashParseError::NotLowercaseHex));
        assert_eq!(Hash::parse("abc"), Err(HashParseError::Length { len: 3 }));
        let non_hex = "g".repeat(64);
        assert_eq!(Hash::parse(&non_hex), Err(HashParseError::NotLowercaseHex));
        // Multi-byte characters must not be mistaken for hex digits or cause a panic.
        let multibyte = "é".repeat(32);
        assert_eq!(
            Hash::parse(&multibyte),
            Err(HashParseError::NotLowercaseHex)
        );
    }

    #[test]
    fn raw_bytes_must_be_exactly_32_long() {
        assert_eq!(
            Hash::try_from(&[0_u8; 31][..]),
            Err(HashParseError::Length { len: 31 })
        );
        assert_eq!(
            Hash::try_from(&[7_u8; 32][..]),
            Ok(Hash::from_bytes([7; 32]))
        );
    }
}
