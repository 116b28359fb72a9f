//! The revision pass: every document's revisions in version order, each against its own
//! content hash, against the revision before it (versions without gaps, `hash_before`, the
//! stored patch applied to revision N−1's data giving `hash_after` — never a re-diff, since
//! JSON Patch diffs are not unique) and against its audit entry. Only the previous revision is
//! held in memory.

use audit_domain::{AuditEntry, AuditSubject};
use serde_json::Value;
use shared_kernel::{Error, Sha256Digest};

use super::Findings;
use super::entry_checks::{parse_and_digest, patch_digest};
use super::finding::{Finding, FindingKind, Location};
use super::source::{AuditSource, PAGE, RevisionKey, RevisionRow, for_each_row};

/// The revision just checked, as the next one of the same document needs it.
struct Previous {
    key: RevisionKey,
    /// Its data when it hashes to its stored content hash and that is its audit entry's
    /// `hash_after` (a patch is only replayed from data the log vouches for, so one edit is
    /// reported once).
    intact_data: Option<Value>,
    content_hash: Option<String>,
    /// Whether its audit entry vouches for its content hash: the next revision's
    /// `hash_before` is only compared with a hash the log vouches for.
    vouched: bool,
}

/// Checks every revision; returns how many were read.
pub(crate) fn check_revisions(
    source: &dyn AuditSource,
    findings: &mut Findings<'_>,
) -> Result<u64, Error> {
    let mut previous: Option<Previous> = None;
    let mut read = 0;
    for_each_row(
        |after| source.revisions(after, PAGE),
        |row| row.key.clone(),
        |row| {
            read += 1;
            previous = Some(check_revision(row, previous.take(), findings));
            Ok(())
        },
    )?;
    Ok(read)
}

fn location(key: &RevisionKey) -> Location {
    Location::Revision {
        collection_id: key.collection_id.clone(),
        document_id: key.document_id.clone(),
        version: key.version,
    }
}

/// Parses stored JSON text and hashes it the way content hashes are taken.
pub(super) fn parse_and_hash(text: &str) -> Result<(Value, String), String> {
    parse_and_digest(text).map(|(value, digest)| (value, digest.to_hex()))
}

fn check_revision(
    row: RevisionRow,
    previous: Option<Previous>,
    findings: &mut Findings<'_>,
) -> Previous {
    let here = location(&row.key);
    let mut report =
        |kind, detail: String| findings.report(Finding::new(kind, here.clone(), detail));
    let intact_data = match row.data.as_deref() {
        // The document row's data: the document pass hashes it, so an edit is reported once.
        None if row.data_in_document => None,
        None => {
            if row.content_hash.is_some() {
                report(
                    FindingKind::EditedRevision,
                    "it holds no data but a content hash".into(),
                );
            }
            None
        }
        Some(text) => match parse_and_hash(text) {
            Err(reason) => {
                report(
                    FindingKind::EditedRevision,
                    format!("its data is not JSON ({reason})"),
                );
                None
            }
            Ok((value, hash)) if Some(&hash) == row.content_hash.as_ref() => Some(value),
            Ok((_, hash)) => {
                report(
                    FindingKind::EditedRevision,
                    format!(
                        "its data hashes to {hash}, its stored content hash is {}",
                        row.content_hash.as_deref().unwrap_or("null")
                    ),
                );
                None
            }
        },
    };
    let is_delete = row.operation == "document.delete";
    let holds_data = row.data.is_some() || row.data_in_document;
    if is_delete == holds_data {
        report(
            FindingKind::EditedRevision,
            format!(
                "operation `{}` {} data",
                row.operation,
                if holds_data { "with" } else { "without" }
            ),
        );
    }
    let same_document = previous.as_ref().is_some_and(|p| {
        p.key.collection_id == row.key.collection_id && p.key.document_id == row.key.document_id
    });
    let expected_version = match (&previous, same_document) {
        (Some(p), true) => p.key.version + 1,
        _ => 1,
    };
    if row.key.version > expected_version {
        let missing = RevisionKey {
            version: expected_version,
            ..row.key.clone()
        };
        findings.report(Finding::new(
            FindingKind::RemovedRevision,
            location(&missing),
            format!(
                "versions {expected_version}..{} of this document are not stored",
                row.key.version
            ),
        ));
    }
    let before = previous.filter(|p| same_document && p.key.version + 1 == row.key.version);
    let vouched = check_against_entry(&row, before.as_ref(), findings);
    Previous {
        key: row.key,
        intact_data: intact_data.filter(|_| vouched),
        vouched,
        content_hash: row.content_hash,
    }
}

/// Checks a revision against its audit entry (and, through the entry, against the revision
/// before it); returns whether the entry vouches for the revision's data (its `hash_after`
/// is the revision's content hash). Whether the entries of a document were committed in
/// version order is a backend's own check ([`super::BackendChecks`]): only a backend that
/// keeps a commit order can tell.
fn check_against_entry(
    row: &RevisionRow,
    before: Option<&Previous>,
    findings: &mut Findings<'_>,
) -> bool {
    let here = location(&row.key);
    let Some(linked) = &row.entry else {
        findings.report(Finding::new(
            FindingKind::RemovedEntry,
            here,
            format!("its audit entry {} is not stored", row.audit_id),
        ));
        return false;
    };
    // A leaf that does not parse is reported by the log pass, with its own location.
    let Ok(entry) = AuditEntry::from_leaf_bytes(&linked.leaf) else {
        return false;
    };
    let mut report =
        |kind, detail: String| findings.report(Finding::new(kind, here.clone(), detail));
    let AuditSubject::Document {
        document_id,
        version,
        hash_before,
        hash_after,
        patch_sha256,
    } = &entry.subject
    else {
        report(
            FindingKind::EditedRevision,
            format!("its audit entry {} is a collection entry", row.audit_id),
        );
        return false;
    };
    if entry.collection_id.to_string() != row.key.collection_id
        || *document_id != row.key.document_id
        || *version != row.key.version
        || entry.operation.as_str() != row.operation
    {
        report(
            FindingKind::EditedRevision,
            format!(
                "its audit entry {} records {} of {}/{document_id}@{version}",
                row.audit_id,
                entry.operation.as_str(),
                entry.collection_id
            ),
        );
        return false;
    }
    if entry.at.as_millis() != row.at_millis || entry.actor.to_string() != row.actor {
        report(
            FindingKind::EditedRevision,
            format!(
                "its time or actor differs from its audit entry's ({}, {})",
                entry.at.to_rfc3339(),
                entry.actor
            ),
        );
    }
    let hex = |digest: &Option<Sha256Digest>| digest.map(|d| d.to_hex());
    let vouched = hex(hash_after) == row.content_hash;
    if !vouched {
        report(
            FindingKind::EditedRevision,
            format!(
                "its content hash is {}, its audit entry's hash_after is {}",
                row.content_hash.as_deref().unwrap_or("null"),
                hex(hash_after).as_deref().unwrap_or("null")
            ),
        );
    }
    let is_create = row.operation == "document.create";
    if let Some(before) = before {
        let expected_before = if is_create {
            None
        } else {
            before.content_hash.clone()
        };
        if before.vouched && hex(hash_before) != expected_before {
            report(
                FindingKind::EditedRevision,
                format!(
                    "its audit entry's hash_before is {}, revision {} has content hash {}",
                    hex(hash_before).as_deref().unwrap_or("null"),
                    before.key.version,
                    before.content_hash.as_deref().unwrap_or("null")
                ),
            );
        }
        // Only the patch the entry signs is replayed: another one is already an edited entry.
        if let (Some(data), Some(patch)) = (&before.intact_data, linked.patch.as_deref())
            && patch_sha256.is_some()
            && patch_digest(patch).ok() == *patch_sha256
            && let Some(problem) = replay_patch(data, patch, hash_after.as_ref())
        {
            report(FindingKind::EditedRevision, problem);
        }
    }
    vouched
}

/// Applies the stored RFC 6902 patch to revision N−1's data; the result must hash to the
/// entry's `hash_after`. `None` when it does.
pub(super) fn replay_patch(
    before: &Value,
    patch: &str,
    hash_after: Option<&Sha256Digest>,
) -> Option<String> {
    let operations = match shared_kernel::json::parse_strict(patch.as_bytes())
        .map_err(|e| e.detail().to_owned())
        .and_then(|v| serde_json::from_value::<json_patch::Patch>(v).map_err(|e| e.to_string()))
    {
        Ok(operations) => operations,
        Err(reason) => {
            return Some(format!(
                "its stored patch is not an RFC 6902 patch ({reason})"
            ));
        }
    };
    let mut after = before.clone();
    if let Err(e) = json_patch::patch(&mut after, &operations) {
        return Some(format!(
            "its stored patch does not apply to the previous revision's data ({e})"
        ));
    }
    let replayed = Sha256Digest::of_json(&after);
    (Some(&replayed) != hash_after).then(|| {
        format!(
            "its stored patch applied to the previous revision's data gives hash {replayed}, \
             its audit entry's hash_after is {}",
            hash_after.map_or_else(|| "null".to_owned(), Sha256Digest::to_hex)
        )
    })
}
