//! Receipts: the verified read bundle of API.md "The log", as JSON or as a C2SP
//! `tlog-proof@v1` text, and the one function that checks either of them offline.
//!
//! A receipt ties a document revision to the signed head of the log in four links: the
//! document's content hash is the audit entry's `hash_after`; the entry's canonical bytes are
//! a leaf; the leaf sits at an index of the tree; that tree's root is signed in a checkpoint.
//! [`verify_receipt`] checks every link and every redundant field against the *signed*
//! checkpoint, never against sizes or roots stated beside it: a proof alone binds neither the
//! index nor the size (the flaw of immudb GHSA-672p-m5jq-mrh8, whose clients accepted forged
//! proofs).
//!
//! - [`document`]: the document a receipt speaks about, as the API shows it.
//! - [`bundle`]: the JSON bundle (`GET .../proof`).
//! - [`tlog_proof`]: the text form (`GET .../proof?format=tlog-proof`), whose `extra` line
//!   carries the leaf bytes.
//! - [`verify`]: [`verify_receipt`] and what it returns.
//! - [`error`]: [`ReceiptError`], why any of them refused a receipt.
//!
//! Pure: parsing and verification only, no I/O, so the offline verifier links this alone.

pub mod bundle;
pub mod document;
pub mod error;
pub mod tlog_proof;
pub mod verify;

#[cfg(test)]
mod tests;

pub use bundle::ReceiptBundle;
pub use document::DocumentClaim;
pub use error::ReceiptError;
pub use tlog_proof::{TLOG_PROOF_HEADER, TlogProof};
pub use verify::{VerifiedReceipt, verify_receipt};

/// The most proof hashes a receipt may carry: a tree of 2^64 leaves needs at most 64.
pub const MAX_PROOF_HASHES: usize = 64;

/// A receipt in either encoding.
#[derive(Debug, Clone, PartialEq)]
pub enum Receipt {
    /// The JSON bundle (boxed: it is much larger than the text form).
    Bundle(Box<ReceiptBundle>),
    /// The C2SP `tlog-proof@v1` text.
    TlogProof(TlogProof),
}

impl Receipt {
    /// Parses either encoding, telling them apart by the tlog-proof header line: a text that
    /// starts with it is a tlog-proof, anything else must be a JSON bundle.
    ///
    /// # Errors
    /// [`ReceiptError::Malformed`] naming what did not parse.
    pub fn parse(bytes: &[u8]) -> Result<Self, ReceiptError> {
        if bytes.starts_with(TLOG_PROOF_HEADER.as_bytes()) {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| ReceiptError::malformed("the tlog-proof is not UTF-8"))?;
            return TlogProof::parse(text).map(Self::TlogProof);
        }
        ReceiptBundle::parse(bytes).map(|b| Self::Bundle(Box::new(b)))
    }

    /// The signed checkpoint note the receipt carries.
    #[must_use]
    pub fn checkpoint_note(&self) -> &str {
        match self {
            Self::Bundle(bundle) => bundle.checkpoint_note(),
            Self::TlogProof(proof) => proof.checkpoint_note(),
        }
    }
}
