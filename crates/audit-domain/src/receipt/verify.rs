//! [`verify_receipt`]: every link of a receipt checked against the signed checkpoint.
//!
//! The order matters only for the message: the signature first (nothing else means anything
//! without it), then the leaf, the index and size, the inclusion proof, and last the document.
//! Each failure is a [`ReceiptError`] that names the link that broke.

use shared_kernel::canonical_json;

use super::document::DocumentClaim;
use super::error::ReceiptError;
use super::{Receipt, ReceiptBundle};
use crate::checkpoint::Checkpoint;
use crate::entry::{AuditEntry, AuditOperation, AuditSubject};
use crate::merkle::{Hash, leaf_hash, verify_inclusion};
use crate::note::NoteVerifier;

/// What a verified receipt proves.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedReceipt {
    /// The signed checkpoint (origin, size, root).
    pub checkpoint: Checkpoint,
    /// The leaf index of the entry.
    pub leaf_index: u64,
    /// The leaf hash.
    pub leaf_hash: Hash,
    /// The audit entry, parsed from the proven leaf bytes.
    pub entry: AuditEntry,
    /// The documents checked against the entry (the bundle's, then the caller's).
    pub documents: Vec<DocumentClaim>,
}

/// Verifies `receipt` with the log's trusted key, and, when given, that `document` is the
/// revision the receipt proves.
///
/// Checks, in order: the checkpoint note's signature by `verifier` (key name = origin, key
/// id); every stated size, root and index against the signed checkpoint; the leaf bytes
/// against the leaf hash and their audit entry against the stated entry; the inclusion proof
/// from the leaf to the signed root (so the index is below the signed size); and every
/// document (the bundle's own and `document`) against the entry: collection, id, version,
/// content hash = `hash_after` (no data exactly when the entry is a `document.delete`),
/// `audit_id` and `updated_at` = the entry's `id` and `at` when stated.
///
/// # Errors
/// The [`ReceiptError`] of the first link that failed.
pub fn verify_receipt(
    receipt: &Receipt,
    verifier: &NoteVerifier,
    document: Option<&DocumentClaim>,
) -> Result<VerifiedReceipt, ReceiptError> {
    let checkpoint = Checkpoint::open(receipt.checkpoint_note(), verifier)?;
    let (leaf, computed_leaf_hash, index, proof, mut documents) = match receipt {
        Receipt::Bundle(bundle) => {
            check_bundle_claims(bundle, &checkpoint)?;
            let leaf = canonical_json(bundle.audit_entry()).into_bytes();
            let computed = leaf_hash(&leaf);
            if computed != bundle.leaf_hash() {
                return Err(ReceiptError::LeafHash {
                    computed,
                    stated: bundle.leaf_hash(),
                });
            }
            (
                leaf,
                computed,
                bundle.leaf_index(),
                bundle.proof(),
                vec![bundle.document().clone()],
            )
        }
        Receipt::TlogProof(proof) => (
            proof.leaf().to_vec(),
            leaf_hash(proof.leaf()),
            proof.index(),
            proof.proof(),
            vec![],
        ),
    };
    let entry = AuditEntry::from_leaf_bytes(&leaf)
        .map_err(|e| ReceiptError::Entry(e.detail().to_owned()))?;
    if let Receipt::Bundle(bundle) = receipt
        && entry.to_json() != *bundle.audit_entry()
    {
        return Err(ReceiptError::Entry(
            "the leaf bytes do not encode the stated audit entry".into(),
        ));
    }
    verify_inclusion(
        &computed_leaf_hash,
        index,
        checkpoint.tree_size(),
        proof,
        &checkpoint.root_hash(),
    )?;
    documents.extend(document.cloned());
    for claim in &documents {
        check_document(claim, &entry)?;
    }
    Ok(VerifiedReceipt {
        checkpoint,
        leaf_index: index,
        leaf_hash: computed_leaf_hash,
        entry,
        documents,
    })
}

/// The bundle's redundant fields must each equal the signed value they restate.
fn check_bundle_claims(
    bundle: &ReceiptBundle,
    checkpoint: &Checkpoint,
) -> Result<(), ReceiptError> {
    let signed = checkpoint.tree_size();
    for (field, stated) in [
        ("checkpoint.tree_size", bundle.checkpoint_tree_size()),
        ("inclusion_proof.tree_size", bundle.proof_tree_size()),
    ] {
        if stated != signed {
            return Err(ReceiptError::TreeSize {
                field,
                stated,
                signed,
            });
        }
    }
    if bundle.checkpoint_root() != checkpoint.root_hash() {
        return Err(ReceiptError::RootHash {
            stated: bundle.checkpoint_root(),
            signed: checkpoint.root_hash(),
        });
    }
    if bundle.leaf_index() != bundle.proof_leaf_index() {
        return Err(ReceiptError::LeafIndex {
            stated: bundle.leaf_index(),
            in_proof: bundle.proof_leaf_index(),
        });
    }
    Ok(())
}

/// A document must be the revision the entry records.
fn check_document(claim: &DocumentClaim, entry: &AuditEntry) -> Result<(), ReceiptError> {
    let mismatch = |field: &str, claimed: &dyn std::fmt::Display, entry: &dyn std::fmt::Display| {
        ReceiptError::Document(format!(
            "`{field}` is {claimed} but the audit entry says {entry}"
        ))
    };
    let AuditSubject::Document {
        document_id,
        version,
        hash_after,
        ..
    } = &entry.subject
    else {
        return Err(ReceiptError::Document(format!(
            "the audit entry is a `{}`, not a document change",
            entry.operation.as_str()
        )));
    };
    if claim.collection() != entry.collection {
        return Err(mismatch(
            "collection",
            &claim.collection(),
            &entry.collection,
        ));
    }
    if claim.id() != document_id {
        return Err(mismatch("id", &claim.id(), document_id));
    }
    if claim.version() != *version {
        return Err(mismatch("version", &claim.version(), version));
    }
    let computed = claim.computed_content_hash();
    let show = |hash: Option<String>| hash.unwrap_or_else(|| "null".to_owned());
    if computed != *hash_after {
        return Err(mismatch(
            "content hash of `data`",
            &show(computed.map(|h| h.to_hex())),
            &format!("hash_after {}", show(hash_after.map(|h| h.to_hex()))),
        ));
    }
    // No data is only right for a deletion (the one change whose `hash_after` is null).
    if computed.is_none() && entry.operation != AuditOperation::DocumentDelete {
        return Err(ReceiptError::Document(
            "`data` is null but the audit entry is not a deletion".into(),
        ));
    }
    if let Some(stated) = claim.content_hash()
        && stated.map(str::to_owned) != computed.map(|h| h.to_hex())
    {
        return Err(ReceiptError::Document(
            "`content_hash` is not the hash of `data`".into(),
        ));
    }
    if let Some(audit_id) = claim.audit_id()
        && audit_id != entry.id.to_string()
    {
        return Err(mismatch("audit_id", &audit_id, &entry.id));
    }
    if let Some(updated_at) = claim.updated_at()
        && updated_at != entry.at.to_rfc3339()
    {
        return Err(mismatch("updated_at", &updated_at, &entry.at.to_rfc3339()));
    }
    Ok(())
}
