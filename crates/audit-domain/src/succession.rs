//! The `log.succession` entry: the first entry a successor log writes, naming where its
//! predecessor ended (API.md "Audit entries": a `"v": 2` operator entry whose `target` is the
//! predecessor's last signed checkpoint as `<origin> <size> <root hex>`).
//!
//! A log whose database lost what its key already signed cannot grow again without
//! contradicting itself; a successor log with a new key and origin takes over, and this
//! entry, signed by the new key, links the two: old receipts stay verifiable under the old
//! key, new ones chain to them through it.
//!
//! Pure: the same canonical-bytes discipline as [`crate::entry`].

use serde_json::{Map, Value};
use shared_kernel::{Actor, AuditId, Error, RequestId, Timestamp};

use crate::merkle::{Hash, leaf_hash};
use crate::note::KeyName;

/// The format version of operator entries.
pub const OPERATOR_ENTRY_FORMAT_VERSION: u64 = 2;

/// The operation name of the succession entry.
pub const SUCCESSION_OPERATION: &str = "log.succession";

/// Where a predecessor log ended: its last signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredecessorCheckpoint {
    /// The predecessor's origin.
    pub origin: KeyName,
    /// The size it signed last.
    pub tree_size: u64,
    /// The root it signed at that size.
    pub root: Hash,
}

impl PredecessorCheckpoint {
    /// The `target` text: `<origin> <size> <root hex>`.
    pub fn to_target(&self) -> String {
        format!("{} {} {}", self.origin, self.tree_size, self.root.to_hex())
    }

    /// Parses a `target` text.
    ///
    /// # Errors
    /// `INVALID_INPUT` unless it is an origin, a decimal size and a 64-hex root, separated by
    /// single spaces.
    pub fn parse_target(text: &str) -> Result<Self, Error> {
        let bad = || Error::invalid_input(format!("`{text}` is not `<origin> <size> <root hex>`"));
        let mut parts = text.split(' ');
        let (Some(origin), Some(size), Some(root), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let tree_size: u64 = size.parse().map_err(|_| bad())?;
        if tree_size.to_string() != size {
            return Err(bad());
        }
        // Lowercase hex only: one spelling per root.
        let root = Hash::parse(root).map_err(|_| bad())?;
        Ok(Self {
            origin: KeyName::new(origin).map_err(|_| bad())?,
            tree_size,
            root,
        })
    }
}

/// The fields of a succession entry in RFC 8785 order (see `EntryFields` in `entry.rs`): the
/// v1 fields, null where an operator action has none, plus `target`.
#[derive(serde::Serialize)]
struct SuccessionFields<'a> {
    actor: String,
    at: String,
    collection: Option<()>,
    collection_id: Option<()>,
    document_id: Option<()>,
    hash_after: Option<()>,
    hash_before: Option<()>,
    id: String,
    operation: &'static str,
    patch_sha256: Option<()>,
    request_id: &'a str,
    target: String,
    trace_id: Option<()>,
    v: u64,
    version: Option<()>,
}

/// A `log.succession` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuccessionEntry {
    /// The entry's id.
    pub id: AuditId,
    /// When the successor log was started.
    pub at: Timestamp,
    /// Who started it (`system` for the command line).
    pub actor: Actor,
    /// The request (or run) that started it.
    pub request_id: RequestId,
    /// Where the predecessor ended.
    pub predecessor: PredecessorCheckpoint,
}

impl SuccessionEntry {
    fn fields(&self) -> SuccessionFields<'_> {
        SuccessionFields {
            actor: self.actor.to_string(),
            at: self.at.to_rfc3339(),
            collection: None,
            collection_id: None,
            document_id: None,
            hash_after: None,
            hash_before: None,
            id: self.id.to_string(),
            operation: SUCCESSION_OPERATION,
            patch_sha256: None,
            request_id: self.request_id.as_str(),
            target: self.predecessor.to_target(),
            trace_id: None,
            v: OPERATOR_ENTRY_FORMAT_VERSION,
            version: None,
        }
    }

    /// The entry as its JSON object.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.fields()).expect("a succession entry's fields serialise")
    }

    /// The leaf bytes: the RFC 8785 canonical JSON of [`Self::to_json`].
    pub fn leaf_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.fields()).expect("a succession entry's fields serialise")
    }

    /// SHA-256(0x00 ‖ leaf bytes).
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.leaf_bytes())
    }

    /// Parses leaf bytes back, insisting they are exactly canonical.
    ///
    /// # Errors
    /// `INVALID_INPUT` when the bytes are not the canonical form of a succession entry.
    pub fn from_leaf_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let value = shared_kernel::json::parse_strict(bytes)?;
        let Value::Object(object) = value else {
            return Err(Error::invalid_input("an audit entry must be a JSON object"));
        };
        let entry = Self::from_object(&object)?;
        if entry.leaf_bytes() != bytes {
            return Err(Error::invalid_input(
                "audit entry bytes are not in canonical form",
            ));
        }
        Ok(entry)
    }

    fn from_object(object: &Map<String, Value>) -> Result<Self, Error> {
        let text = |name: &str| {
            object
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| Error::invalid_input(format!("field `{name}` is malformed")))
        };
        if object.get("v").and_then(Value::as_u64) != Some(OPERATOR_ENTRY_FORMAT_VERSION)
            || text("operation")? != SUCCESSION_OPERATION
        {
            return Err(Error::invalid_input("not a log.succession entry"));
        }
        Ok(Self {
            id: AuditId::parse(text("id")?)?,
            at: Timestamp::parse_rfc3339(text("at")?)?,
            actor: Actor::parse(text("actor")?)?,
            request_id: RequestId::parse(text("request_id")?)?,
            predecessor: PredecessorCheckpoint::parse_target(text("target")?)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> SuccessionEntry {
        SuccessionEntry {
            id: AuditId::generate(),
            at: Timestamp::from_millis(1_764_063_000_123),
            actor: Actor::System,
            request_id: RequestId::parse("log-succeed").unwrap_or_else(|e| panic!("{e}")),
            predecessor: PredecessorCheckpoint {
                origin: KeyName::new("offchain-db/0123456789abcdef")
                    .unwrap_or_else(|e| panic!("{e}")),
                tree_size: 104,
                root: leaf_hash(b"root"),
            },
        }
    }

    #[test]
    fn a_succession_entry_is_a_v2_entry_naming_the_predecessors_last_checkpoint() {
        let entry = entry();
        let json = entry.to_json();
        assert_eq!(json["v"], 2);
        assert_eq!(json["operation"], "log.succession");
        assert_eq!(
            json["target"],
            format!(
                "offchain-db/0123456789abcdef 104 {}",
                leaf_hash(b"root").to_hex()
            )
        );
        for field in [
            "collection",
            "collection_id",
            "document_id",
            "version",
            "trace_id",
        ] {
            assert_eq!(json[field], Value::Null, "{field}");
        }
        assert_eq!(
            String::from_utf8_lossy(&entry.leaf_bytes()),
            shared_kernel::canonical_json(&json),
            "the leaf bytes are the canonical JSON"
        );
        assert_eq!(
            SuccessionEntry::from_leaf_bytes(&entry.leaf_bytes()).ok(),
            Some(entry)
        );
    }

    #[test]
    fn a_malformed_target_or_non_canonical_bytes_are_refused() {
        for target in ["origin 12", "origin 012 ab", "a b c d", "origin 1 zz"] {
            assert!(
                PredecessorCheckpoint::parse_target(target).is_err(),
                "{target}"
            );
        }
        let bytes = entry().leaf_bytes();
        let spaced = String::from_utf8_lossy(&bytes).replace(",", ", ");
        assert!(SuccessionEntry::from_leaf_bytes(spaced.as_bytes()).is_err());
    }
}

/// Any entry a log leaf may hold: a data entry (v1) or a `log.succession` entry (v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    /// A change to a collection or a document.
    Data(crate::entry::AuditEntry),
    /// The first entry of a successor log.
    Succession(SuccessionEntry),
}

impl LogEntry {
    /// Parses leaf bytes as either kind, insisting they are canonical.
    ///
    /// # Errors
    /// `INVALID_INPUT` when they are neither (the data entry's reason is kept: it is by far
    /// the more common kind).
    pub fn from_leaf_bytes(bytes: &[u8]) -> Result<Self, Error> {
        match crate::entry::AuditEntry::from_leaf_bytes(bytes) {
            Ok(entry) => Ok(Self::Data(entry)),
            Err(error) => SuccessionEntry::from_leaf_bytes(bytes)
                .map(Self::Succession)
                .map_err(|_| error),
        }
    }

    /// The entry as its JSON object.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Data(entry) => entry.to_json(),
            Self::Succession(entry) => entry.to_json(),
        }
    }

    /// SHA-256(0x00 ‖ leaf bytes).
    pub fn leaf_hash(&self) -> Hash {
        match self {
            Self::Data(entry) => entry.leaf_hash(),
            Self::Succession(entry) => entry.leaf_hash(),
        }
    }

    /// The entry's id.
    pub fn id(&self) -> AuditId {
        match self {
            Self::Data(entry) => entry.id,
            Self::Succession(entry) => entry.id,
        }
    }

    /// The data entry, if it is one.
    pub fn as_data(&self) -> Option<&crate::entry::AuditEntry> {
        match self {
            Self::Data(entry) => Some(entry),
            Self::Succession(_) => None,
        }
    }
}
