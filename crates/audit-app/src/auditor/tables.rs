//! The tables beside the log, each checked against the audit entries that explain it:
//!
//! - **collections**: every stored collection has exactly one `collection.create` entry, as
//!   many `collection.schema_change` entries as its version says, a `collection.delete` entry
//!   exactly when it is deleted, and every entry names it by its stored name (two names
//!   swapped, a deleted collection revived, a version moved without an entry: each is named);
//!   a collection entry whose collection is not stored is a removed collection;
//! - **the outbox**: every entry has one event, and every event agrees with the entry it names
//!   (type, ids, version, hashes, request context, time);
//! - **idempotency records**: well-formed, and an answer that names an audit entry names one
//!   that is stored and agrees with it.
//!
//! A schema edited in place (same version) cannot be told from the entries: a
//! `collection.schema_change` entry does not carry the schema (its fields are fixed by the v1
//! format), so that one edit stays out of reach.

use audit_domain::{AuditEntry, AuditOperation, AuditSubject};
use serde_json::Value;
use shared_kernel::Error;

use super::Findings;
use super::finding::{Finding, FindingKind, Location};
use super::source::{PAGE, for_each_row};
use super::table_source::{
    CollectionEntryRow, CollectionRow, IdempotencyRow, OutboxRow, TableSource,
};

/// What the table checks counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TableCounts {
    /// Collections checked.
    pub(crate) collections: u64,
    /// Outbox events checked.
    pub(crate) events: u64,
    /// Idempotency records checked.
    pub(crate) idempotency_records: u64,
}

/// Runs every table check.
pub(crate) fn check_tables(
    source: &dyn TableSource,
    findings: &mut Findings<'_>,
) -> Result<TableCounts, Error> {
    let mut counts = TableCounts::default();
    for_each_row(
        |after: Option<&String>| source.collections(after.map(String::as_str), PAGE),
        |row| row.id.clone(),
        |row| {
            counts.collections += 1;
            check_collection(&row, findings);
            Ok(())
        },
    )?;
    for_each_row(
        |after| source.orphan_collection_entries(after, PAGE),
        |row| row.position.clone(),
        |row| {
            findings.report(Finding::new(
                FindingKind::RemovedCollection,
                entry_location(&row),
                format!(
                    "it records {} of collection `{}` ({}), which is not stored",
                    row.operation, row.collection, row.collection_id
                ),
            ));
            Ok(())
        },
    )?;
    for_each_row(
        |after| source.outbox(after, PAGE),
        |row| row.position.clone(),
        |row| {
            counts.events += 1;
            check_event(&row, findings);
            Ok(())
        },
    )?;
    for_each_row(
        |after| source.entries_without_event(after, PAGE),
        |(position, _)| position.clone(),
        |(_, id)| {
            findings.report(Finding::new(
                FindingKind::RemovedEvent,
                Location::Entry {
                    leaf_index: None,
                    id,
                },
                "no outbox event names this audit entry: every change writes one",
            ));
            Ok(())
        },
    )?;
    for_each_row(
        |after| source.idempotency_records(after, PAGE),
        |row| row.key.clone(),
        |row| {
            counts.idempotency_records += 1;
            check_idempotency_record(source, &row, findings)
        },
    )?;
    Ok(counts)
}

fn entry_location(row: &CollectionEntryRow) -> Location {
    Location::Entry {
        leaf_index: None,
        id: row.id.clone(),
    }
}

/// A stored collection against its entries, which come in the order the backend committed
/// them: an entry's place in that list is all the order checks compare.
pub(super) fn check_collection(row: &CollectionRow, findings: &mut Findings<'_>) {
    let of = |operation: AuditOperation| {
        row.entries
            .iter()
            .filter(move |e| e.operation == operation.as_str())
    };
    let mut problems = Vec::new();
    let creates: Vec<_> = of(AuditOperation::CollectionCreate).collect();
    match creates.as_slice() {
        [create] => {
            if row.entries.first().map(|e| &e.id) != Some(&create.id) {
                problems.push("an entry of it comes before its collection.create".to_owned());
            }
            if create.at_millis != row.created_at {
                problems.push(format!(
                    "its created_at is {}, its collection.create entry's time is {}",
                    row.created_at, create.at_millis
                ));
            }
        }
        [] => problems.push("no collection.create entry explains it".to_owned()),
        several => problems.push(format!(
            "{} collection.create entries name it",
            several.len()
        )),
    }
    for entry in row.entries.iter().filter(|e| e.collection != row.name) {
        problems.push(format!(
            "its name is `{}`, its entry {} names it `{}`",
            row.name, entry.id, entry.collection
        ));
    }
    let changes = of(AuditOperation::CollectionSchemaChange).count() as u64;
    if row.version != changes + 1 {
        problems.push(format!(
            "its version is {}, its entries record {changes} schema change(s): version {}",
            row.version,
            changes + 1
        ));
    }
    let deletes: Vec<_> = of(AuditOperation::CollectionDelete).collect();
    match (deletes.as_slice(), row.deleted_at) {
        ([], None) => {}
        ([delete], Some(at)) if delete.at_millis == at => {}
        ([delete], Some(at)) => problems.push(format!(
            "its deleted_at is {at}, its collection.delete entry's time is {}",
            delete.at_millis
        )),
        ([delete], None) => problems.push(format!(
            "it is live, but its deletion is logged (entry {}): it was revived",
            delete.id
        )),
        ([], Some(_)) => problems.push("it is deleted, but no deletion is logged".to_owned()),
        (several, _) => problems.push(format!(
            "{} collection.delete entries name it",
            several.len()
        )),
    }
    if let Some(delete) = deletes.first()
        && let Some(after) = row.entries.iter().skip_while(|e| e.id != delete.id).nth(1)
    {
        problems.push(format!(
            "entry {} records {} after its deletion",
            after.id, after.operation
        ));
    }
    if !problems.is_empty() {
        findings.report(Finding::new(
            FindingKind::EditedCollection,
            Location::Collection {
                id: row.id.clone(),
                name: row.name.clone(),
            },
            problems.join("; "),
        ));
    }
}

/// The event type the outbox writes for an operation.
fn event_type(operation: AuditOperation) -> &'static str {
    match operation {
        AuditOperation::CollectionCreate => "collection.created",
        AuditOperation::CollectionSchemaChange => "collection.schema_changed",
        AuditOperation::CollectionDelete => "collection.deleted",
        AuditOperation::DocumentCreate => "document.created",
        AuditOperation::DocumentReplace => "document.replaced",
        AuditOperation::DocumentPatch => "document.patched",
        AuditOperation::DocumentDelete => "document.deleted",
    }
}

/// An outbox event against the audit entry it names.
fn check_event(row: &OutboxRow, findings: &mut Findings<'_>) {
    let here = Location::Event { id: row.id.clone() };
    let Some(leaf) = &row.entry_leaf else {
        findings.report(Finding::new(
            FindingKind::EditedEvent,
            here,
            format!("it names audit entry {}, which is not stored", row.audit_id),
        ));
        return;
    };
    // A leaf that does not parse is the log pass's finding.
    let Ok(entry) = AuditEntry::from_leaf_bytes(leaf) else {
        return;
    };
    let problems = event_mismatches(row, &entry);
    if !problems.is_empty() {
        findings.report(Finding::new(
            FindingKind::EditedEvent,
            here,
            format!(
                "it disagrees with audit entry {}: {}",
                row.audit_id,
                problems.join("; ")
            ),
        ));
    }
}

fn event_mismatches(row: &OutboxRow, entry: &AuditEntry) -> Vec<String> {
    let Ok(payload) = serde_json::from_str::<Value>(&row.payload) else {
        return vec!["its payload is not JSON".to_owned()];
    };
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let mut expected: Vec<(&str, Value)> = vec![
        ("audit_id", entry.id.to_string().into()),
        ("collection", entry.collection.clone().into()),
        ("collection_id", entry.collection_id.to_string().into()),
    ];
    match &entry.subject {
        AuditSubject::Document {
            document_id,
            version,
            hash_before,
            hash_after,
            ..
        } => {
            let hex = |h: &Option<shared_kernel::Sha256Digest>| {
                h.map_or(Value::Null, |h| h.to_hex().into())
            };
            expected.push(("document_id", document_id.clone().into()));
            expected.push(("version", (*version).into()));
            expected.push(("hash_before", hex(hash_before)));
            expected.push(("hash_after", hex(hash_after)));
        }
        AuditSubject::Collection => {}
    }
    let mut problems: Vec<String> = expected
        .into_iter()
        .filter(|(field, value)| payload.get(*field) != Some(value))
        .map(|(field, _)| format!("its `{field}`"))
        .collect();
    let context = payload.get("context").cloned().unwrap_or(Value::Null);
    let request = [
        ("actor", Some(entry.actor.to_string())),
        ("request_id", Some(entry.request_id.as_str().to_owned())),
        (
            "trace_id",
            entry.trace_id.as_ref().map(|t| t.as_str().to_owned()),
        ),
    ];
    for (field, value) in request {
        if context.get(field).and_then(text) != value {
            problems.push(format!("its context's `{field}`"));
        }
    }
    if row.event_type != event_type(entry.operation) {
        problems.push(format!("its type `{}`", row.event_type));
    }
    if row.audit_id != entry.id.to_string() {
        problems.push("its audit_id column".to_owned());
    }
    if row.occurred_at != entry.at.as_millis() {
        problems.push("its time".to_owned());
    }
    problems
}

/// A recorded answer: well-formed, and the audit entry it names (if any) is stored and agrees.
fn check_idempotency_record(
    source: &dyn TableSource,
    row: &IdempotencyRow,
    findings: &mut Findings<'_>,
) -> Result<(), Error> {
    let mut problems = Vec::new();
    let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(&row.request_hash) {
        problems.push("its request hash is not a SHA-256 in hex".to_owned());
    }
    if row.status != 0 && !(100..=599).contains(&row.status) {
        problems.push(format!("its status {} is not an HTTP status", row.status));
    }
    let named = serde_json::from_slice::<Value>(&row.body)
        .ok()
        .and_then(|body| {
            let id = body.get("audit_id").and_then(Value::as_str)?.to_owned();
            Some((id, body))
        });
    if let Some((audit_id, body)) = named {
        match source.entry_leaf(&audit_id)? {
            None => problems.push(format!(
                "its answer names audit entry {audit_id}, which is not stored"
            )),
            Some(leaf) => {
                if let Ok(entry) = AuditEntry::from_leaf_bytes(&leaf) {
                    problems.extend(answer_mismatches(row, &body, &entry));
                }
            }
        }
    }
    if !problems.is_empty() {
        findings.report(Finding::new(
            FindingKind::EditedIdempotencyRecord,
            Location::IdempotencyRecord {
                actor: row.key.actor.clone(),
                method: row.key.method.clone(),
                path: row.key.path.clone(),
                key: row.key.key.clone(),
            },
            problems.join("; "),
        ));
    }
    Ok(())
}

/// A recorded document answer against the entry it names.
fn answer_mismatches(row: &IdempotencyRow, body: &Value, entry: &AuditEntry) -> Vec<String> {
    let mut problems = Vec::new();
    if entry.actor.to_string() != row.key.actor {
        problems.push(format!(
            "it was recorded for actor `{}`, its audit entry's actor is `{}`",
            row.key.actor, entry.actor
        ));
    }
    if let AuditSubject::Document {
        document_id,
        version,
        hash_after,
        ..
    } = &entry.subject
    {
        let agrees = body.get("id").and_then(Value::as_str) == Some(document_id.as_str())
            && body.get("version").and_then(Value::as_u64) == Some(*version)
            && body
                .get("content_hash")
                .and_then(Value::as_str)
                .map(str::to_owned)
                == hash_after.map(|h| h.to_hex())
            && body.get("collection").and_then(Value::as_str) == Some(entry.collection.as_str());
        if !agrees {
            problems.push(format!(
                "its answer disagrees with audit entry {} ({} of {document_id}@{version})",
                entry.id,
                entry.operation.as_str()
            ));
        }
    }
    problems
}
