//! The C2SP `tlog-proof@v1` text (`c2sp.org/tlog-proof`): a header line, an `extra` line, an
//! `index` line, the inclusion proof one base64 hash per line, an empty line, then the
//! checkpoint note verbatim.
//!
//! The spec makes `extra` optional; here it is required and carries the base64 leaf bytes (the
//! RFC 8785 audit entry), because the format has no leaf hash of its own: without the bytes
//! nothing would say *what* sits at the index. `extra` is not authenticated by itself; the
//! verifier trusts it only once its leaf hash is proven into the signed tree.
//!
//! Parsing is strict so each proof has exactly one spelling: canonical padded base64, decimal
//! without leading zeros, `\n` line ends, no trailing or missing lines.

use crate::canonical_text::{canonical_base64, canonical_decimal};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::MAX_PROOF_HASHES;
use super::error::ReceiptError;
use crate::merkle::Hash;

/// The first line of every tlog-proof, newline included.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1\n";

/// A parsed tlog-proof; nothing in it is trusted until [`super::verify_receipt`] says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    leaf: Vec<u8>,
    index: u64,
    proof: Vec<Hash>,
    checkpoint_note: String,
}

impl TlogProof {
    /// A proof that the leaf with bytes `leaf` is at `index` of the tree signed by
    /// `checkpoint_note`, with `proof` from the leaf's sibling up.
    ///
    /// # Errors
    /// [`ReceiptError::Malformed`] for empty leaf bytes or an over-long proof, which could
    /// not be parsed back.
    pub fn new(
        leaf: Vec<u8>,
        index: u64,
        proof: Vec<Hash>,
        checkpoint_note: String,
    ) -> Result<Self, ReceiptError> {
        if leaf.is_empty() {
            return Err(ReceiptError::malformed("the leaf bytes are empty"));
        }
        if proof.len() > MAX_PROOF_HASHES {
            return Err(ReceiptError::malformed("the inclusion proof is too long"));
        }
        Ok(Self {
            leaf,
            index,
            proof,
            checkpoint_note,
        })
    }

    /// Parses a tlog-proof text.
    ///
    /// # Errors
    /// [`ReceiptError::Malformed`] naming the line that did not parse.
    pub fn parse(text: &str) -> Result<Self, ReceiptError> {
        let rest = text.strip_prefix(TLOG_PROOF_HEADER).ok_or_else(|| {
            ReceiptError::malformed("the first line is not `c2sp.org/tlog-proof@v1`")
        })?;
        let (extra, rest) = next_line(rest, "extra")?;
        let extra = extra.strip_prefix("extra ").ok_or_else(|| {
            ReceiptError::malformed("the `extra` line with the leaf bytes is missing")
        })?;
        let leaf = canonical_base64(extra)
            .filter(|bytes| !bytes.is_empty())
            .ok_or_else(|| ReceiptError::malformed("the `extra` line is not canonical base64"))?;
        let (index, mut rest) = next_line(rest, "index")?;
        let index = index
            .strip_prefix("index ")
            .and_then(canonical_decimal)
            .ok_or_else(|| ReceiptError::malformed("the `index` line is not `index <decimal>`"))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = next_line(rest, "inclusion proof")?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_HASHES {
                return Err(ReceiptError::malformed("the inclusion proof is too long"));
            }
            let hash = canonical_base64(line)
                .and_then(|bytes| Hash::try_from(bytes.as_slice()).ok())
                .ok_or_else(|| {
                    ReceiptError::malformed(format!(
                        "inclusion proof line {} is not a base64 SHA-256 hash",
                        proof.len() + 1
                    ))
                })?;
            proof.push(hash);
        }
        if rest.is_empty() {
            return Err(ReceiptError::malformed("the checkpoint is missing"));
        }
        Self::new(leaf, index, proof, rest.to_owned())
    }

    /// The text form.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut text = String::from(TLOG_PROOF_HEADER);
        text.push_str("extra ");
        text.push_str(&STANDARD.encode(&self.leaf));
        text.push_str(&format!("\nindex {}\n", self.index));
        for hash in &self.proof {
            text.push_str(&STANDARD.encode(hash.as_bytes()));
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&self.checkpoint_note);
        text
    }

    /// The leaf bytes carried in `extra`.
    #[must_use]
    pub fn leaf(&self) -> &[u8] {
        &self.leaf
    }

    /// The stated leaf index.
    #[must_use]
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The inclusion proof hashes, from the leaf's sibling up.
    #[must_use]
    pub fn proof(&self) -> &[Hash] {
        &self.proof
    }

    /// The checkpoint note, verbatim.
    #[must_use]
    pub fn checkpoint_note(&self) -> &str {
        &self.checkpoint_note
    }
}

/// Splits off one `\n`-terminated line.
fn next_line<'a>(text: &'a str, what: &str) -> Result<(&'a str, &'a str), ReceiptError> {
    text.split_once('\n')
        .ok_or_else(|| ReceiptError::malformed(format!("the {what} line is missing")))
}
