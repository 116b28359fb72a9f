//! The log and each document follow the commit sequence: the checks of a backend whose one
//! writer hands out `seq`s in commit order and whose sequencer takes pending entries in that
//! order (the embedded store). A backend whose concurrent transactions commit in no order a
//! number could record cannot make them, which is why they are not in the generic passes:
//!
//! - in leaf order, each entry's `seq` is above every one the log placed before it (else
//!   entries were moved in the commit sequence);
//! - the head records the `seq` of the last entry it sequenced (`last_seq`), and no entry at
//!   or below it waits for a leaf index (one that does lost it);
//! - the entry of a document's version N+1 has a larger `seq` than the entry of version N
//!   (each revision's entry, named by the revision's `audit_id`).

use shared_kernel::Error;

use super::super::finding::{Finding, FindingKind, Location};
use super::super::source::{PAGE, RevisionKey, for_each_row};

/// An audit entry as these checks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqEntry {
    /// Its commit sequence.
    pub seq: u64,
    /// Its leaf index, once sequenced.
    pub leaf_index: Option<u64>,
    /// Its id.
    pub id: String,
}

/// What a backend with a commit sequence lists for [`check_commit_order`]: keyset pages as
/// in [`super::super::AuditSource`] (at most `limit` rows, strictly after the key, in the
/// order named).
///
/// # Errors
/// Every method: `UNAVAILABLE` when the store cannot be read, `INTERNAL_ERROR` when a row
/// cannot be decoded.
pub trait CommitOrderSource {
    /// The stored head's tree size and the `seq` it says it sequenced last; `None` when no
    /// head is stored.
    fn head_last_seq(&self) -> Result<Option<(u64, u64)>, Error>;

    /// Sequenced entries by increasing leaf index.
    fn sequenced_seqs(
        &self,
        after_index: Option<u64>,
        limit: usize,
    ) -> Result<Vec<SeqEntry>, Error>;

    /// Entries without a leaf index whose `seq` is at most `at_most`, by increasing `seq`.
    fn unsequenced_up_to(
        &self,
        at_most: u64,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<SeqEntry>, Error>;

    /// Revisions by increasing key, each with the `seq` of the entry its `audit_id` names
    /// (`None` when that entry is not stored: the revision pass reports it).
    fn revision_seqs(
        &self,
        after: Option<&RevisionKey>,
        limit: usize,
    ) -> Result<Vec<(RevisionKey, Option<u64>)>, Error>;
}

/// Runs the three checks of the module over `source`, handing each finding to `report`.
///
/// # Errors
/// Only the source's.
pub fn check_commit_order(
    source: &dyn CommitOrderSource,
    report: &mut dyn FnMut(Finding),
) -> Result<(), Error> {
    let last_seq = check_log_order(source, report)?;
    check_lost_leaf_indexes(source, last_seq, report)?;
    check_version_order(source, report)
}

/// Walks the log in leaf order: `seq`s increase, and the head's `last_seq` is the last
/// sequenced entry's. Returns the head's `last_seq` (0 without a head).
fn check_log_order(
    source: &dyn CommitOrderSource,
    report: &mut dyn FnMut(Finding),
) -> Result<u64, Error> {
    let mut highest_seq: Option<u64> = None;
    let mut last_index: Option<u64> = None;
    for_each_row(
        |after: Option<&u64>| source.sequenced_seqs(after.copied(), PAGE),
        |row| row.leaf_index.unwrap_or(u64::MAX),
        |row| {
            if let Some(previous) = highest_seq.filter(|&p| p >= row.seq) {
                report(Finding::new(
                    FindingKind::ReorderedEntry,
                    entry_location(&row),
                    format!(
                        "its seq {} is not above seq {previous} of an entry the log placed \
                         before it: entries were moved in the commit sequence",
                        row.seq
                    ),
                ));
            }
            highest_seq = Some(highest_seq.map_or(row.seq, |p| p.max(row.seq)));
            last_index = last_index.max(row.leaf_index);
            Ok(())
        },
    )?;
    let Some((tree_size, last_seq)) = source.head_last_seq()? else {
        return Ok(0);
    };
    // Only when the entries reach the head: where the newest were removed, the log pass
    // names the removed leaves, and the head cannot be compared with an entry.
    let sequenced_to = last_index.map_or(0, |index| index.saturating_add(1));
    let highest = highest_seq.unwrap_or(0);
    if sequenced_to == tree_size && last_seq != highest {
        report(Finding::new(
            FindingKind::EditedLog,
            Location::LogState,
            format!(
                "the head's last_seq is {last_seq}, the last sequenced entry has seq {highest}"
            ),
        ));
    }
    Ok(last_seq)
}

/// No entry at or below the head's `last_seq` may wait for a leaf index.
fn check_lost_leaf_indexes(
    source: &dyn CommitOrderSource,
    last_seq: u64,
    report: &mut dyn FnMut(Finding),
) -> Result<(), Error> {
    if last_seq == 0 {
        return Ok(());
    }
    for_each_row(
        |after: Option<&u64>| source.unsequenced_up_to(last_seq, after.copied().unwrap_or(0), PAGE),
        |row| row.seq,
        |row| {
            report(Finding::new(
                FindingKind::EditedEntry,
                entry_location(&row),
                format!(
                    "it has no leaf index, yet the log sequenced every entry up to seq \
                     {last_seq} (its seq is {})",
                    row.seq
                ),
            ));
            Ok(())
        },
    )
}

/// The entries of consecutive versions of a document were committed in version order.
fn check_version_order(
    source: &dyn CommitOrderSource,
    report: &mut dyn FnMut(Finding),
) -> Result<(), Error> {
    let mut previous: Option<(RevisionKey, Option<u64>)> = None;
    for_each_row(
        |after| source.revision_seqs(after, PAGE),
        |(key, _)| key.clone(),
        |(key, seq)| {
            if let Some((before, Some(before_seq))) = &previous
                && let Some(seq) = seq
                && before.collection_id == key.collection_id
                && before.document_id == key.document_id
                && before.version.saturating_add(1) == key.version
                && *before_seq >= seq
            {
                report(Finding::new(
                    FindingKind::ReorderedEntry,
                    Location::Revision {
                        collection_id: key.collection_id.clone(),
                        document_id: key.document_id.clone(),
                        version: key.version,
                    },
                    format!(
                        "its audit entry (seq {seq}) is stored before the entry of version {} \
                         (seq {before_seq})",
                        before.version
                    ),
                ));
            }
            previous = Some((key, seq));
            Ok(())
        },
    )
}

fn entry_location(row: &SeqEntry) -> Location {
    Location::Entry {
        leaf_index: row.leaf_index,
        id: row.id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store as these checks see it.
    #[derive(Default)]
    struct Seqs {
        head: Option<(u64, u64)>,
        entries: Vec<SeqEntry>,
        revisions: Vec<(RevisionKey, Option<u64>)>,
    }

    fn entry(seq: u64, leaf_index: Option<u64>) -> SeqEntry {
        SeqEntry {
            seq,
            leaf_index,
            id: format!("e{seq}"),
        }
    }

    fn revision(version: u64, seq: u64) -> (RevisionKey, Option<u64>) {
        let key = RevisionKey {
            collection_id: "c".into(),
            document_id: "d".into(),
            version,
        };
        (key, Some(seq))
    }

    impl CommitOrderSource for Seqs {
        fn head_last_seq(&self) -> Result<Option<(u64, u64)>, Error> {
            Ok(self.head)
        }

        fn sequenced_seqs(
            &self,
            after_index: Option<u64>,
            limit: usize,
        ) -> Result<Vec<SeqEntry>, Error> {
            let mut rows: Vec<SeqEntry> = self
                .entries
                .iter()
                .filter(|e| {
                    e.leaf_index
                        .is_some_and(|i| after_index.is_none_or(|a| i > a))
                })
                .cloned()
                .collect();
            rows.sort_by_key(|e| e.leaf_index);
            rows.truncate(limit);
            Ok(rows)
        }

        fn unsequenced_up_to(
            &self,
            at_most: u64,
            after_seq: u64,
            limit: usize,
        ) -> Result<Vec<SeqEntry>, Error> {
            let mut rows: Vec<SeqEntry> = self
                .entries
                .iter()
                .filter(|e| e.leaf_index.is_none() && e.seq > after_seq && e.seq <= at_most)
                .cloned()
                .collect();
            rows.sort_by_key(|e| e.seq);
            rows.truncate(limit);
            Ok(rows)
        }

        fn revision_seqs(
            &self,
            after: Option<&RevisionKey>,
            limit: usize,
        ) -> Result<Vec<(RevisionKey, Option<u64>)>, Error> {
            Ok(self
                .revisions
                .iter()
                .filter(|(key, _)| after.is_none_or(|a| key > a))
                .take(limit)
                .cloned()
                .collect())
        }
    }

    fn findings(store: &Seqs) -> Vec<(FindingKind, Location)> {
        let mut found = Vec::new();
        check_commit_order(store, &mut |f: Finding| found.push((f.kind, f.location)))
            .unwrap_or_else(|e| panic!("check: {}", e.chain()));
        found
    }

    fn in_order() -> Seqs {
        Seqs {
            head: Some((2, 2)),
            entries: vec![entry(1, Some(0)), entry(2, Some(1)), entry(3, None)],
            revisions: vec![revision(1, 2), revision(2, 3)],
        }
    }

    #[test]
    fn a_log_and_documents_that_follow_the_commit_sequence_have_no_finding() {
        assert_eq!(findings(&in_order()), Vec::new());
        assert_eq!(findings(&Seqs::default()), Vec::new());
    }

    #[test]
    fn entries_moved_in_the_sequence_a_wrong_last_seq_and_a_lost_index_are_named() {
        let mut moved = in_order();
        moved.entries[0].seq = 5;
        let found = findings(&moved);
        assert!(
            found.contains(&(
                FindingKind::ReorderedEntry,
                Location::Entry {
                    leaf_index: Some(1),
                    id: "e2".into()
                }
            )),
            "{found:?}"
        );
        assert!(found.contains(&(FindingKind::EditedLog, Location::LogState)));

        let mut lost = in_order();
        lost.entries[0].leaf_index = None;
        lost.head = Some((2, 2));
        let found = findings(&lost);
        assert!(
            found.contains(&(
                FindingKind::EditedEntry,
                Location::Entry {
                    leaf_index: None,
                    id: "e1".into()
                }
            )),
            "{found:?}"
        );
    }

    #[test]
    fn a_version_whose_entry_was_committed_before_the_previous_versions_is_named() {
        let mut swapped = in_order();
        swapped.revisions = vec![revision(1, 3), revision(2, 2)];
        assert_eq!(
            findings(&swapped),
            vec![(
                FindingKind::ReorderedEntry,
                Location::Revision {
                    collection_id: "c".into(),
                    document_id: "d".into(),
                    version: 2
                }
            )]
        );
    }
}
