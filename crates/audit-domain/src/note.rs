//! C2SP signed notes (`c2sp.org/signed-note`) with Ed25519 signatures: signing, parsing,
//! verification, and the verifier-key (`vkey`) text form.
//!
//! A note is a UTF-8 text ending in a newline, then a blank line, then one or more signature
//! lines `— <key name> base64(key id ‖ signature)`. The key id is the first four bytes of
//! SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key), big-endian; 0x01 names Ed25519.
//!
//! A verifier key is written `<name>+<key id, 8 hex digits>+base64(0x01 ‖ public key)`, the form
//! the Go `note` package and the transparency-log tools exchange.
//!
//! Pure: keys come in as bytes (the caller draws the random seed), nothing here touches a file.

use crate::canonical_text::canonical_base64;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The signature type byte of Ed25519 in key ids and verifier keys.
pub const ED25519_SIGNATURE_TYPE: u8 = 0x01;

/// The dash that opens every signature line (U+2014 EM DASH, then a space).
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// How many signature lines a note may carry; the spec asks verifiers to accept at least 16.
pub const MAX_SIGNATURES: usize = 100;

/// The longest note accepted, so a hostile input cannot make a verifier allocate without bound.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// Length of an Ed25519 public key and of its seed.
pub const ED25519_KEY_LEN: usize = 32;

/// Why a note, key name or verifier key was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoteError {
    /// Key names must be non-empty and contain neither Unicode spaces nor `+`.
    #[error("invalid key name")]
    KeyName,
    /// The text must be non-empty, end in a newline and hold no control character but newline.
    #[error("malformed note text")]
    Text,
    /// The note does not have the shape text, blank line, signature lines.
    #[error("malformed note")]
    Malformed,
    /// Too many signatures or too many bytes.
    #[error("the note is too large")]
    TooLarge,
    /// The verifier key text is not `<name>+<8 hex>+<base64>` of an Ed25519 key with its id.
    #[error("malformed verifier key")]
    VerifierKey,
    /// A signature by the trusted key (same name and id) failed to verify.
    #[error("invalid signature by {name}")]
    BadSignature {
        /// The key name on the failing line.
        name: String,
    },
    /// No signature line was made by the trusted key.
    #[error("no signature by a known key")]
    UnknownKey,
}

/// A key name: non-empty, without Unicode whitespace or `+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyName(String);

impl KeyName {
    /// Checks and wraps a key name.
    ///
    /// # Errors
    /// [`NoteError::KeyName`] when it is empty or holds a space or a `+`.
    pub fn new(name: impl Into<String>) -> Result<Self, NoteError> {
        let name = name.into();
        let bad = name.is_empty()
            || name
                .chars()
                .any(|c| c.is_whitespace() || c == '+' || c.is_control());
        if bad {
            return Err(NoteError::KeyName);
        }
        Ok(Self(name))
    }

    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key id of an Ed25519 key: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4], big-endian.
#[must_use]
pub fn ed25519_key_id(name: &KeyName, public_key: &[u8; ED25519_KEY_LEN]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_str().as_bytes());
    hasher.update([b'\n', ED25519_SIGNATURE_TYPE]);
    hasher.update(public_key);
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// One signature line of a note, undecoded beyond its key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name on the line.
    pub name: String,
    /// The first four bytes of the decoded signature.
    pub key_id: u32,
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
}

/// A parsed (not yet verified) note: its text and its signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// Splits a signed note into its text and signature lines, checking the format only.
    ///
    /// # Errors
    /// [`NoteError::TooLarge`], [`NoteError::Text`] or [`NoteError::Malformed`].
    pub fn parse(note: &str) -> Result<Self, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge);
        }
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(NoteError::Text);
        }
        // The text ends at the last blank line; what follows is signature lines only.
        let split = note.rfind("\n\n").ok_or(NoteError::Malformed)?;
        let (text, rest) = (&note[..=split], &note[split + 2..]);
        check_text(text)?;
        let Some(lines) = rest.strip_suffix('\n') else {
            return Err(NoteError::Malformed);
        };
        let mut signatures = Vec::new();
        for line in lines.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooLarge);
            }
            signatures.push(parse_signature_line(line)?);
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text, final newline included.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    #[must_use]
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }
}

/// Checks the text rule: non-empty, ends with a newline, no control character but newline.
fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') || text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Text);
    }
    Ok(())
}

fn parse_signature_line(line: &str) -> Result<NoteSignature, NoteError> {
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(NoteError::Malformed)?;
    let (name, encoded) = rest.split_once(' ').ok_or(NoteError::Malformed)?;
    let name = KeyName::new(name).map_err(|_| NoteError::Malformed)?;
    // Only canonical base64 is accepted, so a signature line has one spelling.
    let bytes = canonical_base64(encoded).ok_or(NoteError::Malformed)?;
    let Some((id, signature)) = bytes.split_first_chunk::<4>() else {
        return Err(NoteError::Malformed);
    };
    if signature.is_empty() {
        return Err(NoteError::Malformed);
    }
    Ok(NoteSignature {
        name: name.0,
        key_id: u32::from_be_bytes(*id),
        signature: signature.to_vec(),
    })
}

/// An Ed25519 note signer: a key name and a private key.
#[derive(Clone)]
pub struct NoteSigner {
    name: KeyName,
    key: SigningKey,
    key_id: u32,
}

impl NoteSigner {
    /// A signer from a 32-byte Ed25519 seed (RFC 8032 private key); the caller draws it from a
    /// secure random source.
    #[must_use]
    pub fn from_seed(name: KeyName, seed: &[u8; ED25519_KEY_LEN]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let key_id = ed25519_key_id(&name, key.verifying_key().as_bytes());
        Self { name, key, key_id }
    }

    /// The key name, written on every signature line.
    #[must_use]
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> [u8; ED25519_KEY_LEN] {
        self.key.verifying_key().to_bytes()
    }

    /// The matching verifier.
    #[must_use]
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            key_id: self.key_id,
        }
    }

    /// Signs `text` and returns the whole signed note (text, blank line, one signature line).
    ///
    /// # Errors
    /// [`NoteError::Text`] when the text is empty, lacks its final newline or holds a control
    /// character other than newline.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let signature: Signature = self.key.sign(text.as_bytes());
        let mut bytes = Vec::with_capacity(4 + 64);
        bytes.extend_from_slice(&self.key_id.to_be_bytes());
        bytes.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{text}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(bytes)
        ))
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

/// An Ed25519 note verifier: a trusted key name, key id and public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: KeyName,
    key: VerifyingKey,
    key_id: u32,
}

impl NoteVerifier {
    /// A verifier for `public_key` under `name`.
    ///
    /// # Errors
    /// [`NoteError::VerifierKey`] when the bytes are not an Ed25519 public key.
    pub fn new(name: KeyName, public_key: &[u8; ED25519_KEY_LEN]) -> Result<Self, NoteError> {
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| NoteError::VerifierKey)?;
        let key_id = ed25519_key_id(&name, public_key);
        Ok(Self { name, key, key_id })
    }

    /// Parses `<name>+<8 hex key id>+base64(0x01 ‖ public key)`, checking that the id is the one
    /// the name and key give.
    ///
    /// # Errors
    /// [`NoteError::VerifierKey`] for anything else.
    pub fn parse_vkey(vkey: &str) -> Result<Self, NoteError> {
        // The base64 key may itself contain `+`: only the first two `+` separate fields.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(encoded)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::VerifierKey);
        };
        let name = KeyName::new(name).map_err(|_| NoteError::VerifierKey)?;
        let id_ok = id.len() == 8 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let id = u32::from_str_radix(id, 16)
            .ok()
            .filter(|_| id_ok)
            .ok_or(NoteError::VerifierKey)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| NoteError::VerifierKey)?;
        let Some((&ED25519_SIGNATURE_TYPE, key)) = bytes.split_first() else {
            return Err(NoteError::VerifierKey);
        };
        let key: &[u8; ED25519_KEY_LEN] = key.try_into().map_err(|_| NoteError::VerifierKey)?;
        let verifier = Self::new(name, key)?;
        if verifier.key_id != id {
            return Err(NoteError::VerifierKey);
        }
        Ok(verifier)
    }

    /// The verifier key text, `<name>+<8 hex key id>+base64(0x01 ‖ public key)`.
    #[must_use]
    pub fn to_vkey(&self) -> String {
        let mut bytes = Vec::with_capacity(1 + ED25519_KEY_LEN);
        bytes.push(ED25519_SIGNATURE_TYPE);
        bytes.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(bytes)
        )
    }

    /// The trusted key name.
    #[must_use]
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key id.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> [u8; ED25519_KEY_LEN] {
        self.key.to_bytes()
    }

    /// Verifies a signed note and returns its text. Signatures by other keys are ignored; a
    /// signature by this key (same name and id) that fails rejects the whole note.
    ///
    /// # Errors
    /// Parse errors of [`Note::parse`]; [`NoteError::BadSignature`];
    /// [`NoteError::UnknownKey`] when no line was made by this key.
    pub fn verify(&self, note: &str) -> Result<Note, NoteError> {
        let parsed = Note::parse(note)?;
        let mut verified = false;
        for line in parsed.signatures() {
            if line.name != self.name.as_str() || line.key_id != self.key_id {
                continue;
            }
            let bad = || NoteError::BadSignature {
                name: line.name.clone(),
            };
            let signature = Signature::from_slice(&line.signature).map_err(|_| bad())?;
            self.key
                .verify_strict(parsed.text().as_bytes(), &signature)
                .map_err(|_| bad())?;
            verified = true;
        }
        if verified {
            Ok(parsed)
        } else {
            Err(NoteError::UnknownKey)
        }
    }
}

#[cfg(test)]
mod tests;
