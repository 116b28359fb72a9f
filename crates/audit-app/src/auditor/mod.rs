//! The auditor: walks every stored fact of a store and names each discrepancy.
//!
//! It also checks the tables beside the log against the entries that explain them
//! (collections, the outbox, idempotency records: [`tables`]), and runs the checks only the
//! store's backend can make ([`BackendChecks`]: the embedded store's commit sequence has no
//! gaps and the log follows it, [`check_gap_free_sequence`] and [`check_commit_order`]).
//!
//! It recomputes every content hash from the stored revisions, replays every stored patch on
//! the revision before it, recomputes every leaf and the whole tree (checking the stored
//! subtree hashes and head on the way), verifies every stored checkpoint's signature and that
//! each names the recomputed tree (so they are mutually consistent), and compares the tree
//! with checkpoints kept outside the store ([`Anchor`]s).
//!
//! Pure: the store is read through [`AuditSource`], the port every backend implements (pages
//! in a fixed order, bounded memory),
//! findings go to a caller's sink as they are found, and the caller decides how to print them.
//! No runtime, no driver.

mod backend_checks;
mod checkpoints;
mod document_pass;
mod entry_checks;
mod finding;
mod frontier;
mod log_pass;
mod revision_pass;
mod source;
mod stored_hashes;
mod table_source;
mod tables;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use audit_domain::merkle::empty_root;
use audit_domain::note::NoteVerifier;
use shared_kernel::Error;

pub use self::backend_checks::{
    BackendChecks, COMMIT_SEQUENCE, CommitOrderSource, SeqEntry, check_commit_order,
    check_gap_free_sequence,
};
pub use self::checkpoints::Anchor;
pub use self::finding::{Finding, FindingKind, Location};
pub use self::source::{
    AuditSource, CheckpointRow, DocumentKey, DocumentRow, EntryRow, LatestRevision, LinkedEntry,
    LogStateRow, RevisionKey, RevisionRow,
};
pub use self::table_source::{
    CollectionEntryRow, CollectionRow, IdempotencyRecordKey, IdempotencyRow, OutboxRow, TableSource,
};

/// What an audit looked at, and what it found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Documents (current states) checked.
    pub documents: u64,
    /// Revisions checked.
    pub revisions: u64,
    /// Audit entries in the log checked.
    pub entries: u64,
    /// Audit entries committed but not in the log yet (the sequencer had not reached them).
    pub pending_entries: u64,
    /// Leaves of the rebuilt log.
    pub leaves: u64,
    /// Stored checkpoints checked.
    pub checkpoints: u64,
    /// Outside checkpoints the store was checked against.
    pub anchors: u64,
    /// Collections checked against their entries.
    pub collections: u64,
    /// Outbox events checked against their entries.
    pub events: u64,
    /// Idempotency records checked.
    pub idempotency_records: u64,
    /// What the backend's own checks looked at, in words (`"the commit sequence"`).
    pub backend_checks: Vec<String>,
    /// Findings by kind.
    pub findings: BTreeMap<FindingKind, u64>,
}

impl Summary {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// How many findings in all.
    pub fn finding_count(&self) -> u64 {
        self.findings.values().sum()
    }
}

/// Hands findings to the caller's sink and counts them by kind.
pub(crate) struct Findings<'a> {
    sink: &'a mut dyn FnMut(&Finding),
    counts: BTreeMap<FindingKind, u64>,
}

impl<'a> Findings<'a> {
    fn new(sink: &'a mut dyn FnMut(&Finding)) -> Self {
        Self {
            sink,
            counts: BTreeMap::new(),
        }
    }

    pub(crate) fn report(&mut self, finding: Finding) {
        *self.counts.entry(finding.kind).or_default() += 1;
        (self.sink)(&finding);
    }
}

/// Audits the store behind `source` with the log's key and the outside checkpoints; each
/// finding goes to `sink` as it is found.
///
/// # Errors
/// Only the source's errors (the store could not be read). Everything the store holds that
/// is wrong is a finding, never an error.
pub fn audit(
    source: &dyn AuditSource,
    verifier: &NoteVerifier,
    anchors: &[Anchor],
    sink: &mut dyn FnMut(&Finding),
) -> Result<Summary, Error> {
    let mut findings = Findings::new(sink);
    let state = match source.log_state()? {
        Some(state) => state,
        None => {
            findings.report(Finding::new(
                FindingKind::EditedLog,
                Location::LogState,
                "the store has no log head",
            ));
            LogStateRow {
                tree_size: 0,
                root: empty_root().as_bytes().to_vec(),
            }
        }
    };
    let (signed, checkpoints) = checkpoints::verify_stored(source, verifier, &mut findings)?;
    let wanted: BTreeSet<u64> = signed
        .iter()
        .map(checkpoints::Signed::tree_size)
        .chain(anchors.iter().map(Anchor::tree_size))
        .chain([state.tree_size])
        .collect();
    let (tree, counts) = log_pass::rebuild(source, &state, wanted, &mut findings)?;
    checkpoints::compare_stored(&signed, &tree, &mut findings);
    checkpoints::compare_anchors(anchors, &tree, &mut findings);
    let revisions = revision_pass::check_revisions(source, &mut findings)?;
    let documents = document_pass::check_documents(source, &mut findings)?;
    let tables = tables::check_tables(source, &mut findings)?;
    let backend_checks = source.check_backend(&mut |finding| findings.report(finding))?;
    Ok(Summary {
        backend_checks,
        collections: tables.collections,
        events: tables.events,
        idempotency_records: tables.idempotency_records,
        documents,
        revisions,
        entries: counts.sequenced,
        pending_entries: counts.pending,
        leaves: tree.size,
        checkpoints,
        anchors: u64::try_from(anchors.len()).unwrap_or(u64::MAX),
        findings: findings.counts,
    })
}
