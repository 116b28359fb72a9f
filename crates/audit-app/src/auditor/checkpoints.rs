//! Checkpoints: the store's own (each must be signed by the given key and name a tree the
//! store holds, which makes them mutually consistent) and the ones given from outside
//! ([`Anchor`]s), which catch what the store's own cannot: a store rolled back to an older
//! copy, or rewritten and re-signed with the key that sits in its own data folder.

use audit_domain::checkpoint::{Checkpoint, CheckpointError};
use audit_domain::merkle::Hash;
use audit_domain::note::NoteVerifier;
use shared_kernel::Error;

use super::Findings;
use super::finding::{Finding, FindingKind, Location};
use super::log_pass::TreeRoots;
use super::source::{AuditSource, PAGE, for_each_row};

/// A checkpoint kept outside the store, verified with the log's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    label: String,
    tree_size: u64,
    root: Hash,
}

impl Anchor {
    /// Opens a signed checkpoint note; `label` names it in the report (a file name).
    ///
    /// # Errors
    /// As [`Checkpoint::open`]: the note is malformed, not signed by `verifier`'s key, or of
    /// another origin. An anchor the caller cannot vouch for is a usage error, not a finding.
    pub fn open(
        label: impl Into<String>,
        note: &str,
        verifier: &NoteVerifier,
    ) -> Result<Self, CheckpointError> {
        let checkpoint = Checkpoint::open(note, verifier)?;
        Ok(Self {
            label: label.into(),
            tree_size: checkpoint.tree_size(),
            root: checkpoint.root_hash(),
        })
    }

    /// The tree size it signs.
    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }
}

/// A stored checkpoint whose signature verified.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signed {
    tree_size: u64,
    root: Hash,
}

impl Signed {
    pub(crate) fn tree_size(&self) -> u64 {
        self.tree_size
    }
}

/// Verifies every stored checkpoint's signature and columns; returns the verified ones and
/// how many were read.
pub(crate) fn verify_stored(
    source: &dyn AuditSource,
    verifier: &NoteVerifier,
    findings: &mut Findings<'_>,
) -> Result<(Vec<Signed>, u64), Error> {
    let mut signed = Vec::new();
    let mut read = 0;
    for_each_row(
        |after| source.checkpoints(after.copied(), PAGE),
        |row| row.tree_size,
        |row| {
            read += 1;
            let location = Location::Checkpoint {
                tree_size: row.tree_size,
            };
            match Checkpoint::open(&row.note, verifier) {
                Err(e) => findings.report(Finding::new(
                    FindingKind::ForgedCheckpoint,
                    location,
                    format!("its note does not verify with the given key ({e})"),
                )),
                Ok(checkpoint)
                    if checkpoint.tree_size() != row.tree_size
                        || checkpoint.root_hash().as_bytes() != row.root.as_slice() =>
                {
                    findings.report(Finding::new(
                        FindingKind::ForgedCheckpoint,
                        location,
                        format!(
                            "its columns disagree with its note, which signs size {} root {}",
                            checkpoint.tree_size(),
                            checkpoint.root_hash().to_hex()
                        ),
                    ));
                }
                Ok(checkpoint) => signed.push(Signed {
                    tree_size: checkpoint.tree_size(),
                    root: checkpoint.root_hash(),
                }),
            }
            Ok(())
        },
    )?;
    Ok((signed, read))
}

/// Each verified stored checkpoint must name the rebuilt tree at its size. When only the
/// entry tree differs, the per-entry findings already name the changed entries.
pub(crate) fn compare_stored(signed: &[Signed], tree: &TreeRoots, findings: &mut Findings<'_>) {
    for checkpoint in signed {
        let location = Location::Checkpoint {
            tree_size: checkpoint.tree_size,
        };
        match tree.at(checkpoint.tree_size) {
            None => findings.report(Finding::new(
                FindingKind::InconsistentCheckpoint,
                location,
                format!(
                    "it signs {} leaves but the store's log holds {}: entries were removed \
                     from the end, or the log was truncated",
                    checkpoint.tree_size, tree.size
                ),
            )),
            Some(roots) if roots.entries == checkpoint.root || roots.stored == checkpoint.root => {}
            Some(roots) => findings.report(Finding::new(
                FindingKind::InconsistentCheckpoint,
                location,
                format!(
                    "it signs root {}, but the store's tree at that size has root {}",
                    checkpoint.root.to_hex(),
                    roots.entries.to_hex()
                ),
            )),
        }
    }
}

/// Each outside checkpoint must name the rebuilt tree at its size.
pub(crate) fn compare_anchors(anchors: &[Anchor], tree: &TreeRoots, findings: &mut Findings<'_>) {
    for anchor in anchors {
        let location = Location::Anchor {
            label: anchor.label.clone(),
            tree_size: anchor.tree_size,
        };
        match tree.at(anchor.tree_size) {
            None => findings.report(Finding::new(
                FindingKind::Rollback,
                location,
                format!(
                    "it signs {} leaves but the store holds only {}: the store was rolled back \
                     (or truncated) after this checkpoint was published",
                    anchor.tree_size, tree.size
                ),
            )),
            Some(roots) if roots.entries == anchor.root || roots.stored == anchor.root => {}
            Some(roots) => findings.report(Finding::new(
                FindingKind::Fork,
                location,
                format!(
                    "it signs root {}, but the store's tree at that size has root {}: the \
                     store's history was rewritten after this checkpoint was published",
                    anchor.root.to_hex(),
                    roots.entries.to_hex()
                ),
            )),
        }
    }
}
