//! The JSON receipt of API.md "The log":
//! `{"document","audit_entry","leaf_index","leaf_hash","inclusion_proof":{"leaf_index",
//! "tree_size","hashes"},"checkpoint":{"note","tree_size","root_hash"}}`.
//!
//! Several fields repeat what the signed note or the entry already say (the sizes, the root,
//! the leaf hash, the index twice): they are there for readers, and the verifier checks each
//! of them against the signed values so none can disagree. The leaf bytes are the RFC 8785
//! form of `audit_entry`. Parsing is strict: exactly these fields, no duplicate keys,
//! lowercase hex hashes, integers that fit `u64`.

use serde_json::{Map, Value, json};

use super::MAX_PROOF_HASHES;
use super::document::DocumentClaim;
use super::error::ReceiptError;
use crate::AuditEntry;
use crate::checkpoint::Checkpoint;
use crate::merkle::Hash;
use crate::note::Note;

/// A parsed JSON receipt; nothing in it is trusted until [`super::verify_receipt`] says so.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptBundle {
    document: Value,
    claim: DocumentClaim,
    audit_entry: Value,
    leaf_index: u64,
    leaf_hash: Hash,
    proof_leaf_index: u64,
    proof_tree_size: u64,
    proof: Vec<Hash>,
    checkpoint_note: String,
    checkpoint_tree_size: u64,
    checkpoint_root: Hash,
}

impl ReceiptBundle {
    /// The bundle a log serves: `document` as the API shows it, the entry of that revision at
    /// `leaf_index`, its inclusion proof at the checkpoint's size, and the checkpoint note.
    /// Sizes, root and leaf hash are derived, so a served bundle is consistent by
    /// construction.
    ///
    /// # Errors
    /// [`ReceiptError::Malformed`] when the document object or the note is malformed;
    /// [`ReceiptError::Entry`] when the entry cannot be encoded.
    pub fn new(
        document: Value,
        entry: &AuditEntry,
        leaf_index: u64,
        proof: Vec<Hash>,
        checkpoint_note: String,
    ) -> Result<Self, ReceiptError> {
        let claim = DocumentClaim::from_json(&document)?;
        let leaf_hash = entry.leaf_hash();
        let note = Note::parse(&checkpoint_note)
            .map_err(|e| ReceiptError::malformed(format!("checkpoint note: {e}")))?;
        let checkpoint = Checkpoint::parse_text(note.text())
            .map_err(|e| ReceiptError::malformed(format!("checkpoint note: {e}")))?;
        Ok(Self {
            document,
            claim,
            audit_entry: entry.to_json(),
            leaf_index,
            leaf_hash,
            proof_leaf_index: leaf_index,
            proof_tree_size: checkpoint.tree_size(),
            proof,
            checkpoint_note,
            checkpoint_tree_size: checkpoint.tree_size(),
            checkpoint_root: checkpoint.root_hash(),
        })
    }

    /// Parses the JSON text of a bundle.
    ///
    /// # Errors
    /// [`ReceiptError::Malformed`] naming the first field that is missing, extra or mistyped.
    pub fn parse(bytes: &[u8]) -> Result<Self, ReceiptError> {
        let value = shared_kernel::json::parse_strict(bytes)
            .map_err(|e| ReceiptError::malformed(e.detail().to_owned()))?;
        Self::from_json(&value)
    }

    /// Reads a bundle from a JSON value.
    ///
    /// # Errors
    /// As [`ReceiptBundle::parse`].
    pub fn from_json(value: &Value) -> Result<Self, ReceiptError> {
        let top = object(value, "the receipt", &TOP_FIELDS)?;
        let proof = object(
            field(top, "inclusion_proof")?,
            "`inclusion_proof`",
            &PROOF_FIELDS,
        )?;
        let checkpoint = object(
            field(top, "checkpoint")?,
            "`checkpoint`",
            &CHECKPOINT_FIELDS,
        )?;
        let document = field(top, "document")?.clone();
        let claim = DocumentClaim::from_json(&document)?;
        let audit_entry = field(top, "audit_entry")?;
        if !audit_entry.is_object() {
            return Err(ReceiptError::malformed("`audit_entry` must be an object"));
        }
        let hashes = field(proof, "hashes")?
            .as_array()
            .ok_or_else(|| ReceiptError::malformed("`inclusion_proof.hashes` must be an array"))?;
        if hashes.len() > MAX_PROOF_HASHES {
            return Err(ReceiptError::malformed("the inclusion proof is too long"));
        }
        let proof_hashes = hashes
            .iter()
            .enumerate()
            .map(|(i, h)| hash(h, &format!("inclusion_proof.hashes[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            document,
            claim,
            audit_entry: audit_entry.clone(),
            leaf_index: integer(top, "leaf_index", "leaf_index")?,
            leaf_hash: hash(field(top, "leaf_hash")?, "leaf_hash")?,
            proof_leaf_index: integer(proof, "leaf_index", "inclusion_proof.leaf_index")?,
            proof_tree_size: integer(proof, "tree_size", "inclusion_proof.tree_size")?,
            proof: proof_hashes,
            checkpoint_note: field(checkpoint, "note")?
                .as_str()
                .ok_or_else(|| ReceiptError::malformed("`checkpoint.note` must be text"))?
                .to_owned(),
            checkpoint_tree_size: integer(checkpoint, "tree_size", "checkpoint.tree_size")?,
            checkpoint_root: hash(field(checkpoint, "root_hash")?, "checkpoint.root_hash")?,
        })
    }

    /// The bundle as the JSON of API.md.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "document": self.document,
            "audit_entry": self.audit_entry,
            "leaf_index": self.leaf_index,
            "leaf_hash": self.leaf_hash.to_hex(),
            "inclusion_proof": {
                "leaf_index": self.proof_leaf_index,
                "tree_size": self.proof_tree_size,
                "hashes": self.proof.iter().map(Hash::to_hex).collect::<Vec<_>>(),
            },
            "checkpoint": {
                "note": self.checkpoint_note,
                "tree_size": self.checkpoint_tree_size,
                "root_hash": self.checkpoint_root.to_hex(),
            },
        })
    }

    /// The document object as given.
    #[must_use]
    pub fn document(&self) -> &DocumentClaim {
        &self.claim
    }

    /// The audit entry object as given.
    #[must_use]
    pub fn audit_entry(&self) -> &Value {
        &self.audit_entry
    }

    /// The stated leaf index.
    #[must_use]
    pub fn leaf_index(&self) -> u64 {
        self.leaf_index
    }

    /// The stated leaf hash.
    #[must_use]
    pub fn leaf_hash(&self) -> Hash {
        self.leaf_hash
    }

    /// The index stated inside the inclusion proof.
    #[must_use]
    pub fn proof_leaf_index(&self) -> u64 {
        self.proof_leaf_index
    }

    /// The tree size stated inside the inclusion proof.
    #[must_use]
    pub fn proof_tree_size(&self) -> u64 {
        self.proof_tree_size
    }

    /// The inclusion proof hashes, from the leaf's sibling up.
    #[must_use]
    pub fn proof(&self) -> &[Hash] {
        &self.proof
    }

    /// The signed checkpoint note.
    #[must_use]
    pub fn checkpoint_note(&self) -> &str {
        &self.checkpoint_note
    }

    /// The tree size stated beside the note.
    #[must_use]
    pub fn checkpoint_tree_size(&self) -> u64 {
        self.checkpoint_tree_size
    }

    /// The root stated beside the note.
    #[must_use]
    pub fn checkpoint_root(&self) -> Hash {
        self.checkpoint_root
    }
}

const TOP_FIELDS: [&str; 6] = [
    "document",
    "audit_entry",
    "leaf_index",
    "leaf_hash",
    "inclusion_proof",
    "checkpoint",
];
const PROOF_FIELDS: [&str; 3] = ["leaf_index", "tree_size", "hashes"];
const CHECKPOINT_FIELDS: [&str; 3] = ["note", "tree_size", "root_hash"];

/// The object `value`, which must have exactly `fields`.
fn object<'a>(
    value: &'a Value,
    what: &str,
    fields: &[&str],
) -> Result<&'a Map<String, Value>, ReceiptError> {
    let Value::Object(map) = value else {
        return Err(ReceiptError::malformed(format!(
            "{what} must be a JSON object"
        )));
    };
    if let Some(extra) = map.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(ReceiptError::malformed(format!(
            "unknown field `{extra}` in {what}"
        )));
    }
    if let Some(missing) = fields.iter().find(|f| !map.contains_key(**f)) {
        return Err(ReceiptError::malformed(format!(
            "field `{missing}` is missing in {what}"
        )));
    }
    Ok(map)
}

fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Result<&'a Value, ReceiptError> {
    map.get(name)
        .ok_or_else(|| ReceiptError::malformed(format!("field `{name}` is missing")))
}

fn integer(map: &Map<String, Value>, name: &str, path: &str) -> Result<u64, ReceiptError> {
    field(map, name)?
        .as_u64()
        .ok_or_else(|| ReceiptError::malformed(format!("`{path}` must be an unsigned integer")))
}

fn hash(value: &Value, path: &str) -> Result<Hash, ReceiptError> {
    value
        .as_str()
        .and_then(|text| Hash::parse(text).ok())
        .ok_or_else(|| ReceiptError::malformed(format!("`{path}` must be 64 lowercase hex digits")))
}
