//! The document pass: every document's current state (the `documents` row the API reads)
//! against its own content hash and against its newest revision, which the revision pass has
//! tied to the signed log.

use shared_kernel::Error;

use super::Findings;
use super::finding::{Finding, FindingKind, Location};
use super::revision_pass::parse_and_hash;
use super::source::{AuditSource, DocumentKey, DocumentRow, PAGE, for_each_row};

/// Checks every document's current state against its newest revision; returns how many were
/// read.
pub(crate) fn check_documents(
    source: &dyn AuditSource,
    findings: &mut Findings<'_>,
) -> Result<u64, Error> {
    let mut read = 0;
    for_each_row(
        |after| source.documents(after, PAGE),
        |row| row.key.clone(),
        |row| {
            read += 1;
            check_document(&row, findings);
            Ok(())
        },
    )?;
    Ok(read)
}

fn check_document(row: &DocumentRow, findings: &mut Findings<'_>) {
    let DocumentKey {
        collection_id,
        document_id,
    } = &row.key;
    let here = Location::Document {
        collection_id: collection_id.clone(),
        document_id: document_id.clone(),
    };
    let mut report = |detail: String| {
        findings.report(Finding::new(
            FindingKind::EditedDocument,
            here.clone(),
            detail,
        ));
    };
    match row.data.as_deref().map(parse_and_hash) {
        None if row.content_hash.is_some() => report("it holds no data but a content hash".into()),
        None => {}
        Some(Err(reason)) => report(format!("its data is not JSON ({reason})")),
        Some(Ok((_, hash))) if Some(&hash) != row.content_hash.as_ref() => report(format!(
            "its data hashes to {hash}, its stored content hash is {}",
            row.content_hash.as_deref().unwrap_or("null")
        )),
        Some(Ok(_)) => {}
    }
    let Some(latest) = &row.latest else {
        report("no revision of it is stored".into());
        return;
    };
    if latest.version != row.version {
        report(format!(
            "it is at version {}, its newest revision is {}",
            row.version, latest.version
        ));
        return;
    }
    if latest.content_hash != row.content_hash {
        report(format!(
            "its content hash is {}, revision {}'s is {}",
            row.content_hash.as_deref().unwrap_or("null"),
            latest.version,
            latest.content_hash.as_deref().unwrap_or("null")
        ));
    }
    if latest.audit_id != row.audit_id {
        report(format!(
            "it names audit entry {}, revision {} names {}",
            row.audit_id, latest.version, latest.audit_id
        ));
    }
}
