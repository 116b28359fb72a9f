//! The checks only MongoDB's layout allows ([`audit_app::auditor::BackendChecks`]), up to
//! the audited head. This backend keeps no commit sequence, so instead of the embedded
//! store's it checks what it keeps beside the entries:
//!
//! - **the log's leaf records** (`log_leaves`, which `GET /v1/log/leaves` serves): one for
//!   every leaf index below the head; each names an entry that has that leaf index; each
//!   record's bytes hash to its own `leaf_hash` and to the leaf hash the log stored at the
//!   leaf's position; and every sequenced entry is the one the record of its leaf index
//!   names (an entry that lost or changed its leaf index, or claims another's, is named).
//!   The stored hashes need no check of their own: the log pass reads every position below
//!   the head and names any missing one;
//! - **the order of each document's entries**: the entry of version N+1 waits for the
//!   sequencer after the entry of version N (a larger `order`, `write/ops.rs`) and, once
//!   sequenced, has a larger leaf index, so a document's versions are proven in order.
//!
//! Where the generic passes already name a discrepancy (an entry removed: its leaf is
//! bridged and reported), these checks stay silent about it.

use std::collections::BTreeMap;

use audit_app::auditor::{Finding, FindingKind, Location};
use audit_domain::merkle::{leaf_hash, stored_hash_count};
use mongodb::bson::{Bson, Document as Bson_, doc};
use shared_kernel::Error;

use super::super::super::layout::{AUDIT_ENTRIES, LOG_HASHES, LOG_LEAVES};
use super::super::super::rows::{i64_field, to_i64};
use super::reader::Reader;
use super::rows::{bytes_of, optional_text, optional_unsigned, text, unsigned};
use super::snapshot::{Query, after_keys, any_of};

/// What [`Reader::check_backend`] reports it checked.
pub(super) const CHECKED: [&str; 2] = [
    "the log's leaf records",
    "the order of each document's entries",
];

/// Rows per query.
const PAGE: usize = 1000;

/// An entry as the order check sees it.
struct Version {
    collection_id: String,
    document_id: String,
    version: u64,
    order: i64,
    leaf_index: Option<u64>,
    id: String,
}

impl Reader {
    /// Runs every check; returns the findings (the port's sink stays on the caller's
    /// thread).
    pub(super) async fn check_backend(&self) -> Result<Vec<Finding>, Error> {
        let mut findings = Vec::new();
        self.check_leaf_records(&mut findings).await?;
        self.check_entries_recorded(&mut findings).await?;
        self.check_version_order(&mut findings).await?;
        Ok(findings)
    }

    /// A query of one collection, read outside any snapshot: what these checks compare was
    /// written before the source opened and does not change.
    async fn read(&self, collection: &str, query: Query) -> Result<Vec<Bson_>, Error> {
        let mut snapshot = self.snapshot().await?;
        let found = snapshot.find(&self.database, collection, query).await?;
        snapshot.end().await?;
        Ok(found)
    }

    /// Every leaf record below the head, against the entry it names and the stored hash.
    async fn check_leaf_records(&self, findings: &mut Vec<Finding>) -> Result<(), Error> {
        let size = self.bounds.head_size();
        let mut expected = 0_u64;
        loop {
            let records = self
                .read(
                    LOG_LEAVES,
                    Query::new(doc! { "_id": {
                        "$gte": to_i64(expected, "leaf index")?,
                        "$lt": to_i64(size, "leaf index")?,
                    } })
                    .sort(doc! { "_id": 1 })
                    .limit(PAGE),
                )
                .await?;
            let named = records
                .iter()
                .map(|r| text(r, "audit_id", "leaf record audit id").map(Bson::String))
                .collect::<Result<Vec<_>, Error>>()?;
            let entries: BTreeMap<String, Option<u64>> = self
                .read(
                    AUDIT_ENTRIES,
                    Query::new(any_of("_id", named)).fields(doc! { "leaf_index": 1 }),
                )
                .await?
                .iter()
                .map(|e| {
                    Ok((
                        text(e, "_id", "audit entry id")?,
                        optional_unsigned(e, "leaf_index", "leaf index")?,
                    ))
                })
                .collect::<Result<_, Error>>()?;
            let hashes = self.leaf_hashes(&records).await?;
            for record in &records {
                let index = unsigned(record, "_id", "leaf index")?;
                if index > expected {
                    findings.push(no_record(expected, index));
                }
                expected = index.saturating_add(1);
                let audit_id = text(record, "audit_id", "leaf record audit id")?;
                if let Some(&has) = entries.get(&audit_id)
                    && has != Some(index)
                {
                    let has = has.map_or_else(|| "none".to_owned(), |i| i.to_string());
                    findings.push(Finding::new(
                        FindingKind::EditedEntry,
                        Location::Entry {
                            leaf_index: entries.get(&audit_id).copied().flatten(),
                            id: audit_id,
                        },
                        format!(
                            "the log recorded it as leaf {index} (`log_leaves`), but its leaf \
                             index is {has}"
                        ),
                    ));
                }
                if let Some(problem) = record_problem(record, index, &hashes)? {
                    findings.push(Finding::new(
                        FindingKind::EditedLog,
                        Location::Leaves {
                            start: index,
                            end: index.saturating_add(1),
                        },
                        format!("the log's record of this leaf (`log_leaves`): {problem}"),
                    ));
                }
            }
            if records.len() < PAGE {
                break;
            }
        }
        if expected < size {
            findings.push(no_record(expected, size));
        }
        Ok(())
    }

    /// The stored leaf hash of each record's leaf, by position.
    async fn leaf_hashes(&self, records: &[Bson_]) -> Result<BTreeMap<u64, Vec<u8>>, Error> {
        let positions = records
            .iter()
            .map(|r| {
                let index = unsigned(r, "_id", "leaf index")?;
                let position = stored_hash_count(index)
                    .ok_or_else(|| Error::invalid_input("a leaf index too large for a log"))?;
                Ok(Bson::Int64(to_i64(position, "stored hash position")?))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        self.read(LOG_HASHES, Query::new(any_of("_id", positions)))
            .await?
            .iter()
            .map(|h| {
                Ok((
                    unsigned(h, "_id", "stored hash position")?,
                    bytes_of(h, "hash"),
                ))
            })
            .collect()
    }

    /// Every sequenced entry below the head is the one its leaf's record names.
    async fn check_entries_recorded(&self, findings: &mut Vec<Finding>) -> Result<(), Error> {
        let size = to_i64(self.bounds.head_size(), "leaf index")?;
        let mut after: Option<(i64, String)> = None;
        loop {
            let range = doc! { "leaf_index": { "$gte": 0_i64, "$lt": size } };
            let filter = match &after {
                None => range,
                Some((index, id)) => doc! { "$and": [range, after_keys(&[
                    ("leaf_index", Bson::Int64(*index)),
                    ("_id", Bson::String(id.clone())),
                ])] },
            };
            let entries = self
                .read(
                    AUDIT_ENTRIES,
                    Query::new(filter)
                        .sort(doc! { "leaf_index": 1, "_id": 1 })
                        .fields(doc! { "leaf_index": 1 })
                        .limit(PAGE),
                )
                .await?;
            let indexes = entries
                .iter()
                .map(|e| i64_field(e, "leaf_index", "leaf index").map(Bson::Int64))
                .collect::<Result<Vec<_>, Error>>()?;
            let records: BTreeMap<u64, String> = self
                .read(
                    LOG_LEAVES,
                    Query::new(any_of("_id", indexes)).fields(doc! { "audit_id": 1 }),
                )
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        unsigned(r, "_id", "leaf index")?,
                        text(r, "audit_id", "leaf record audit id")?,
                    ))
                })
                .collect::<Result<_, Error>>()?;
            for entry in &entries {
                let index = unsigned(entry, "leaf_index", "leaf index")?;
                let id = text(entry, "_id", "audit entry id")?;
                // A missing record is `check_leaf_records`' finding.
                if let Some(recorded) = records.get(&index)
                    && *recorded != id
                {
                    findings.push(Finding::new(
                        FindingKind::EditedEntry,
                        Location::Entry {
                            leaf_index: Some(index),
                            id: id.clone(),
                        },
                        format!(
                            "it has leaf index {index}, but the log recorded entry {recorded} \
                             as that leaf (`log_leaves`)"
                        ),
                    ));
                }
                after = Some((to_i64(index, "leaf index")?, id));
            }
            if entries.len() < PAGE {
                return Ok(());
            }
        }
    }

    /// A document's entries wait, and are sequenced, in version order.
    async fn check_version_order(&self, findings: &mut Vec<Finding>) -> Result<(), Error> {
        let mut previous: Option<Version> = None;
        loop {
            let documents = doc! { "document_id": { "$ne": Bson::Null } };
            let filter = match &previous {
                None => documents,
                Some(p) => doc! { "$and": [documents, after_keys(&[
                    ("collection_id", Bson::String(p.collection_id.clone())),
                    ("document_id", Bson::String(p.document_id.clone())),
                    ("version", Bson::Int64(to_i64(p.version, "version")?)),
                    ("_id", Bson::String(p.id.clone())),
                ])] },
            };
            let entries = self
                .read(
                    AUDIT_ENTRIES,
                    Query::new(filter)
                        .sort(doc! { "collection_id": 1, "document_id": 1, "version": 1, "_id": 1 })
                        .fields(doc! {
                            "collection_id": 1, "document_id": 1, "version": 1, "order": 1,
                            "leaf_index": 1,
                        })
                        .limit(PAGE),
                )
                .await?;
            for entry in &entries {
                let current = Version {
                    collection_id: text(entry, "collection_id", "audit entry collection id")?,
                    document_id: optional_text(entry, "document_id", "audit entry document id")?
                        .unwrap_or_default(),
                    version: unsigned(entry, "version", "audit entry version")?,
                    order: i64_field(entry, "order", "audit entry order")?,
                    leaf_index: optional_unsigned(entry, "leaf_index", "leaf index")?
                        .filter(|index| *index < self.bounds.leaves),
                    id: text(entry, "_id", "audit entry id")?,
                };
                if let Some(before) = &previous
                    && let Some(finding) = out_of_order(before, &current)
                {
                    findings.push(finding);
                }
                previous = Some(current);
            }
            if entries.len() < PAGE {
                return Ok(());
            }
        }
    }
}

/// Leaves `start..end` have no record.
fn no_record(start: u64, end: u64) -> Finding {
    Finding::new(
        FindingKind::EditedLog,
        Location::Leaves { start, end },
        "the log keeps no record of these leaves (`log_leaves`): they cannot be served",
    )
}

/// What is wrong with a leaf record's bytes, if anything.
fn record_problem(
    record: &Bson_,
    index: u64,
    hashes: &BTreeMap<u64, Vec<u8>>,
) -> Result<Option<String>, Error> {
    let computed = leaf_hash(&bytes_of(record, "leaf"));
    let mut problems = Vec::new();
    if bytes_of(record, "leaf_hash") != computed.as_bytes() {
        problems.push("its leaf_hash is not SHA-256(0x00 ‖ leaf)".to_owned());
    }
    let position = stored_hash_count(index)
        .ok_or_else(|| Error::invalid_input("a leaf index too large for a log"))?;
    // A missing stored hash is the log pass's finding.
    if let Some(stored) = hashes.get(&position)
        && stored.as_slice() != computed.as_bytes()
    {
        problems.push(format!(
            "its leaf does not hash to the leaf hash the log stored at position {position}"
        ));
    }
    Ok((!problems.is_empty()).then(|| problems.join("; ")))
}

/// The finding when `current` does not follow `before`, its document's previous version.
fn out_of_order(before: &Version, current: &Version) -> Option<Finding> {
    let next_version = before.collection_id == current.collection_id
        && before.document_id == current.document_id
        && before.version.saturating_add(1) == current.version;
    if !next_version {
        return None;
    }
    let mut problems = Vec::new();
    if current.order <= before.order {
        problems.push(format!(
            "its order {} is not above the order {} of the entry of version {}: the \
             sequencer would take it first",
            current.order, before.order, before.version
        ));
    }
    match (before.leaf_index, current.leaf_index) {
        (None, Some(index)) => problems.push(format!(
            "it is leaf {index}, while the entry of version {} waits for the sequencer",
            before.version
        )),
        (Some(earlier), Some(index)) if index < earlier => problems.push(format!(
            "its leaf index {index} is below leaf index {earlier} of the entry of version {}",
            before.version
        )),
        (None | Some(_), None) | (Some(_), Some(_)) => {}
    }
    (!problems.is_empty()).then(|| {
        Finding::new(
            FindingKind::ReorderedEntry,
            Location::Entry {
                leaf_index: current.leaf_index,
                id: current.id.clone(),
            },
            problems.join("; "),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(version: u64, order: i64, leaf_index: Option<u64>) -> Version {
        Version {
            collection_id: "c".into(),
            document_id: "d".into(),
            version,
            order,
            leaf_index,
            id: format!("e{version}"),
        }
    }

    #[test]
    fn a_documents_next_version_must_wait_and_be_sequenced_after_the_one_before() {
        let kinds = |before: &Version, current: &Version| {
            out_of_order(before, current).map(|f| (f.kind, f.detail))
        };
        assert!(kinds(&version(1, 10, Some(0)), &version(2, 11, Some(1))).is_none());
        assert!(kinds(&version(1, 10, Some(0)), &version(2, 11, None)).is_none());
        assert!(kinds(&version(1, 10, None), &version(2, 11, None)).is_none());
        // Not consecutive versions, or another document: nothing to compare.
        assert!(kinds(&version(1, 10, None), &version(3, 1, Some(0))).is_none());
        let reordered = kinds(&version(1, 10, None), &version(2, 10, Some(4)));
        assert!(
            reordered.as_ref().is_some_and(|(kind, detail)| {
                *kind == FindingKind::ReorderedEntry
                    && detail.contains("order 10 is not above")
                    && detail.contains("waits for the sequencer")
            }),
            "{reordered:?}"
        );
        let below = kinds(&version(1, 10, Some(5)), &version(2, 11, Some(4)));
        assert!(
            below.is_some_and(|(_, detail)| detail.contains("below leaf index 5")),
            "leaf index below the previous version's"
        );
    }

    #[test]
    fn a_leaf_record_must_hash_to_itself_and_to_the_stored_leaf_hash() {
        let leaf = b"leaf bytes".to_vec();
        let hash = leaf_hash(&leaf).as_bytes().to_vec();
        let record = doc! {
            "_id": 3_i64,
            "leaf": super::super::super::super::rows::binary(leaf),
            "leaf_hash": super::super::super::super::rows::binary(hash.clone()),
        };
        let position = stored_hash_count(3).unwrap_or_else(|| panic!("a position"));
        let intact = BTreeMap::from([(position, hash)]);
        assert_eq!(record_problem(&record, 3, &intact).ok(), Some(None));
        let other = BTreeMap::from([(position, vec![0; 32])]);
        let problem = record_problem(&record, 3, &other).ok().flatten();
        assert!(
            problem.is_some_and(|p| p.contains("stored at position")),
            "a record that disagrees with the stored leaf hash"
        );
    }
}
