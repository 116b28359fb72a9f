//! The checks of one stored audit entry on its own: its leaf bytes are a canonical entry,
//! hash to the stored leaf hash, agree with the row's indexed columns, its patch hashes to
//! the entry's `patch_sha256`, and a document entry's revision names it back.

use audit_domain::merkle::{Hash, leaf_hash};
use audit_domain::succession::{SUCCESSION_OPERATION, SuccessionEntry};
use audit_domain::{AuditEntry, AuditSubject};
use serde_json::Value;
use shared_kernel::Sha256Digest;

use super::Findings;
use super::finding::{Finding, FindingKind, Location};
use super::source::EntryRow;

/// The location of an entry row.
pub(crate) fn location(row: &EntryRow) -> Location {
    Location::Entry {
        leaf_index: row.leaf_index,
        id: row.id.clone(),
    }
}

/// Checks `row`, reports what disagrees (one `edited-entry` finding listing every reason) and
/// returns the recomputed leaf hash, the one the tree must be built from.
pub(crate) fn check_entry(row: &EntryRow, findings: &mut Findings<'_>) -> Hash {
    let computed = leaf_hash(&row.leaf);
    let mut problems = Vec::new();
    if row.leaf_hash.as_slice() != computed.as_bytes() {
        problems.push("the stored leaf_hash is not SHA-256(0x00 ‖ leaf)".to_owned());
    }
    match AuditEntry::from_leaf_bytes(&row.leaf) {
        Ok(entry) => {
            problems.extend(column_mismatches(row, &entry));
            problems.extend(patch_problem(row, &entry));
            check_revision_link(row, &entry, findings);
        }
        Err(e) => match SuccessionEntry::from_leaf_bytes(&row.leaf) {
            Ok(entry) => problems.extend(succession_column_mismatches(row, &entry)),
            Err(_) => problems.push(format!(
                "the leaf bytes are not a canonical audit entry ({})",
                e.detail()
            )),
        },
    }
    if !problems.is_empty() {
        findings.report(Finding::new(
            FindingKind::EditedEntry,
            location(row),
            problems.join("; "),
        ));
    }
    computed
}

/// The indexed columns written beside the leaf must say what the leaf says.
fn column_mismatches(row: &EntryRow, entry: &AuditEntry) -> Vec<String> {
    let (document_id, version) = match &entry.subject {
        AuditSubject::Collection => (None, None),
        AuditSubject::Document {
            document_id,
            version,
            ..
        } => (Some(document_id.as_str()), Some(*version)),
    };
    let checks = [
        ("id", row.id == entry.id.to_string()),
        ("at", row.at_millis == entry.at.as_millis()),
        ("actor", row.actor == entry.actor.to_string()),
        ("operation", row.operation == entry.operation.as_str()),
        ("collection", row.collection == entry.collection),
        (
            "collection_id",
            row.collection_id == entry.collection_id.to_string(),
        ),
        ("document_id", row.document_id.as_deref() == document_id),
        ("version", row.version == version),
    ];
    checks
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(column, _)| format!("the `{column}` column disagrees with the leaf"))
        .collect()
}

/// A `log.succession` entry's columns: its id, time, actor and operation; no collection,
/// document or patch.
fn succession_column_mismatches(row: &EntryRow, entry: &SuccessionEntry) -> Vec<String> {
    let checks = [
        ("id", row.id == entry.id.to_string()),
        ("at", row.at_millis == entry.at.as_millis()),
        ("actor", row.actor == entry.actor.to_string()),
        ("operation", row.operation == SUCCESSION_OPERATION),
        (
            "collection",
            row.collection.is_empty() && row.collection_id.is_empty(),
        ),
        (
            "document_id",
            row.document_id.is_none() && row.version.is_none(),
        ),
        ("patch", row.patch.is_none()),
    ];
    checks
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(column, _)| format!("the `{column}` column disagrees with the leaf"))
        .collect()
}

/// The stored patch must hash to the entry's `patch_sha256`, and exist exactly when it does.
fn patch_problem(row: &EntryRow, entry: &AuditEntry) -> Option<String> {
    let expected = match &entry.subject {
        AuditSubject::Document { patch_sha256, .. } => *patch_sha256,
        AuditSubject::Collection => None,
    };
    match (expected, row.patch.as_deref()) {
        (None, None) => None,
        (Some(_), None) => Some("the entry names a patch_sha256 but no patch is stored".into()),
        (None, Some(_)) => Some("a patch is stored but the entry names no patch_sha256".into()),
        (Some(expected), Some(text)) => match patch_digest(text) {
            Ok(actual) if actual == expected => None,
            Ok(actual) => Some(format!(
                "the stored patch hashes to {actual}, the entry's patch_sha256 is {expected}"
            )),
            Err(reason) => Some(format!("the stored patch is not JSON ({reason})")),
        },
    }
}

/// Parses stored JSON text strictly and takes SHA-256 of its JCS, the way content hashes and
/// `patch_sha256` are taken.
pub(crate) fn parse_and_digest(text: &str) -> Result<(Value, Sha256Digest), String> {
    let value =
        shared_kernel::json::parse_strict(text.as_bytes()).map_err(|e| e.detail().to_owned())?;
    let digest = Sha256Digest::of_json(&value);
    Ok((value, digest))
}

/// SHA-256 of the JCS of a stored patch.
pub(crate) fn patch_digest(text: &str) -> Result<Sha256Digest, String> {
    parse_and_digest(text).map(|(_, digest)| digest)
}

/// Every document entry has a revision (same collection id, document id, version) that names
/// it by id.
fn check_revision_link(row: &EntryRow, entry: &AuditEntry, findings: &mut Findings<'_>) {
    let AuditSubject::Document { version, .. } = &entry.subject else {
        return;
    };
    let document_id = row.document_id.as_deref().unwrap_or("?");
    match row.revision_audit_id.as_deref() {
        Some(audit_id) if audit_id == row.id => {}
        Some(other) => findings.report(Finding::new(
            FindingKind::EditedRevision,
            location(row),
            format!(
                "revision {version} of document `{document_id}` names audit entry {other}, not this one"
            ),
        )),
        None => findings.report(Finding::new(
            FindingKind::RemovedRevision,
            location(row),
            format!("revision {version} of document `{document_id}` is not stored"),
        )),
    }
}
