//! The log pass: walks the sequenced audit entries in leaf-index order, checks each one
//! ([`super::entry_checks`]), and rebuilds two trees side by side:
//!
//! - the **entry tree**, from the leaf hashes recomputed from the stored entries: what the
//!   store's entries prove today;
//! - the **stored tree**, from the leaf hashes the log stored when it sequenced them: what
//!   the log committed to.
//!
//! Comparing the two per leaf tells an entry changed after sequencing (or two swapped) from a
//! stored tree changed behind the log's back; comparing each with the checkpoints tells which
//! history the signatures vouch for. Missing entries are bridged with the stored leaf hash,
//! so one removal is reported once and does not spoil the rest of the walk. Then the entries
//! not sequenced yet are checked on their own. Whether the log follows the order the entries
//! were committed in is a backend's own check ([`super::BackendChecks`]): only a backend that
//! keeps a commit order can tell (the embedded store's `seq`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use audit_domain::merkle::{HASH_LEN, Hash, empty_root, stored_hash_count};
use shared_kernel::Error;

use super::Findings;
use super::entry_checks::{check_entry, location};
use super::finding::{Finding, FindingKind, Location};
use super::frontier::Frontier;
use super::source::{AuditSource, LogStateRow, for_each_row};
use super::stored_hashes::{Stored, StoredHashes};

/// Leaf mismatches kept for telling swaps from edits; beyond this many, each is reported as an
/// edit straight away (memory stays bounded on a wrecked store).
const MAX_HELD_MISMATCHES: usize = 4096;

/// The roots of both trees at the sizes someone asked about.
#[derive(Debug, Clone, Default)]
pub(crate) struct TreeRoots {
    /// Leaves rebuilt.
    pub(crate) size: u64,
    roots: BTreeMap<u64, SizeRoots>,
}

/// The two roots at one size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SizeRoots {
    /// From the stored entries.
    pub(crate) entries: Hash,
    /// From the leaf hashes the log stored.
    pub(crate) stored: Hash,
}

impl TreeRoots {
    /// The roots at `size`, if it was asked for and is within the log.
    pub(crate) fn at(&self, size: u64) -> Option<SizeRoots> {
        self.roots.get(&size).copied()
    }
}

/// What the pass counted.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LogCounts {
    /// Sequenced entries read.
    pub(crate) sequenced: u64,
    /// Entries without a leaf index.
    pub(crate) pending: u64,
}

/// A leaf whose entry does not hash to what the log stored.
struct Mismatch {
    location: Location,
    index: u64,
    entry: Hash,
    stored: Hash,
}

/// Rebuilds the log; `wanted` are the sizes whose roots the caller needs.
pub(crate) fn rebuild(
    source: &dyn AuditSource,
    state: &LogStateRow,
    wanted: BTreeSet<u64>,
    findings: &mut Findings<'_>,
) -> Result<(TreeRoots, LogCounts), Error> {
    let mut walk = Walk {
        hashes: StoredHashes::new(source),
        entries: Frontier::default(),
        stored: Frontier::default(),
        wanted,
        roots: TreeRoots::default(),
        mismatches: Vec::new(),
        findings,
    };
    walk.record();
    let mut expected = 0_u64;
    let mut counts = LogCounts::default();
    for_each_row(
        |after| source.sequenced_entries(after.copied(), super::source::PAGE),
        |row| row.leaf_index.unwrap_or(u64::MAX),
        |row| {
            counts.sequenced += 1;
            let computed = check_entry(&row, walk.findings);
            let Some(index) = row.leaf_index else {
                return Ok(());
            };
            if index > expected {
                expected = walk.bridge(expected, index)?;
                if expected < index {
                    walk.findings.report(Finding::new(
                        FindingKind::EditedEntry,
                        location(&row),
                        format!("its leaf index is beyond the {expected} leaves the log stored"),
                    ));
                    return Ok(());
                }
            }
            walk.append(index, Some((computed, location(&row))))?;
            expected = index + 1;
            Ok(())
        },
    )?;
    if expected < state.tree_size {
        expected = walk.bridge(expected, state.tree_size)?;
    }
    walk.roots.size = expected;
    walk.check_head(state, expected)?;
    walk.classify_mismatches();
    counts.pending = check_pending(source, walk.findings)?;
    Ok((walk.roots, counts))
}

/// The state of the walk.
struct Walk<'s, 'f, 'g> {
    hashes: StoredHashes<'s>,
    entries: Frontier,
    stored: Frontier,
    wanted: BTreeSet<u64>,
    roots: TreeRoots,
    mismatches: Vec<Mismatch>,
    findings: &'f mut Findings<'g>,
}

impl Walk<'_, '_, '_> {
    /// Where leaf `index`'s own hash sits in the stored sequence.
    fn leaf_position(index: u64) -> Result<u64, Error> {
        stored_hash_count(index).ok_or_else(|| {
            Error::invalid_input(format!("leaf index {index} is too large for a log"))
        })
    }

    /// Bridges leaves `from..to` that have no stored entry with the log's stored leaf hashes,
    /// as far as the log has them; reports them removed and returns where it stopped.
    fn bridge(&mut self, from: u64, to: u64) -> Result<u64, Error> {
        let mut next = from;
        while next < to {
            let position = Self::leaf_position(next)?;
            if self.hashes.at(position)? == Stored::Missing {
                break;
            }
            self.append(next, None)?;
            next += 1;
        }
        if next > from {
            self.findings.report(Finding::new(
                FindingKind::RemovedEntry,
                Location::Leaves {
                    start: from,
                    end: next,
                },
                format!(
                    "the log holds {} leaf hash(es) here but no audit entry is stored for them",
                    next - from
                ),
            ));
        }
        Ok(next)
    }

    /// Appends leaf `index` to both trees: the entry's recomputed hash (if there is an entry)
    /// to the entry tree, the log's stored leaf hash to the stored tree; checks the subtree
    /// hashes the log stored with it.
    fn append(&mut self, index: u64, entry: Option<(Hash, Location)>) -> Result<(), Error> {
        let position = Self::leaf_position(index)?;
        let stored_leaf = match self.hashes.at(position)? {
            Stored::Hash(hash) => Some(hash),
            Stored::Malformed => {
                self.report_stored(position, "it is not a 32-byte hash");
                None
            }
            Stored::Missing => {
                self.report_stored(
                    position,
                    &format!("the leaf hash of index {index} is missing"),
                );
                None
            }
        };
        let zero = Hash::from_bytes([0; HASH_LEN]);
        let entry_hash = entry.as_ref().map(|(hash, _)| *hash);
        if let (Some((entry_hash, location)), Some(stored)) = (entry, stored_leaf)
            && entry_hash != stored
        {
            self.hold_mismatch(Mismatch {
                location,
                index,
                entry: entry_hash,
                stored,
            });
        }
        let entries_leaf = entry_hash.or(stored_leaf).unwrap_or(zero);
        let stored_leaf = stored_leaf.unwrap_or(entries_leaf);
        self.entries.push(entries_leaf);
        let added = self.stored.push(stored_leaf);
        for (offset, expected) in (0_u64..).zip(added).skip(1) {
            let at = position + offset;
            match self.hashes.at(at)? {
                Stored::Hash(hash) if hash == expected => {}
                Stored::Hash(_) => {
                    self.report_stored(at, "it is not the hash of the two subtrees below it");
                }
                Stored::Malformed => self.report_stored(at, "it is not a 32-byte hash"),
                Stored::Missing => self.report_stored(at, "it is missing"),
            }
        }
        self.record();
        Ok(())
    }

    fn report_stored(&mut self, position: u64, why: &str) {
        self.findings.report(Finding::new(
            FindingKind::EditedLog,
            Location::StoredHash { position },
            why.to_owned(),
        ));
    }

    /// Keeps the roots at the current size if they were asked for.
    fn record(&mut self) {
        let size = self.entries.size();
        if self.wanted.contains(&size) {
            self.roots.roots.insert(
                size,
                SizeRoots {
                    entries: self.entries.root(),
                    stored: self.stored.root(),
                },
            );
        }
    }

    fn hold_mismatch(&mut self, mismatch: Mismatch) {
        if self.mismatches.len() < MAX_HELD_MISMATCHES {
            self.mismatches.push(mismatch);
        } else {
            let finding = edited_after_sequencing(&mismatch);
            self.findings.report(finding);
        }
    }

    /// A pair of leaves each holding the other's stored hash is a swap; anything else an edit.
    fn classify_mismatches(&mut self) {
        let by_stored: HashMap<Hash, usize> = self
            .mismatches
            .iter()
            .enumerate()
            .map(|(k, m)| (m.stored, k))
            .collect();
        for mismatch in &self.mismatches {
            let partner = by_stored
                .get(&mismatch.entry)
                .map(|&k| &self.mismatches[k])
                .filter(|p| p.entry == mismatch.stored);
            let finding = match partner {
                Some(partner) => Finding::new(
                    FindingKind::ReorderedEntry,
                    mismatch.location.clone(),
                    format!(
                        "it holds the entry the log placed at leaf index {}, which holds this \
                         one's: the two were swapped",
                        partner.index
                    ),
                ),
                None => edited_after_sequencing(mismatch),
            };
            self.findings.report(finding);
        }
        self.mismatches.clear();
    }

    /// The stored head must name the rebuilt log: its size and its root; no stored hash may
    /// lie beyond it.
    fn check_head(&mut self, state: &LogStateRow, size: u64) -> Result<(), Error> {
        if state.tree_size != size {
            self.findings.report(Finding::new(
                FindingKind::EditedLog,
                Location::LogState,
                format!(
                    "the head says {} leaves, the stored log holds {size}",
                    state.tree_size
                ),
            ));
        } else {
            let stored_root = self.roots.at(size).map_or_else(empty_root, |r| r.stored);
            if state.root.as_slice() != stored_root.as_bytes() {
                self.findings.report(Finding::new(
                    FindingKind::EditedLog,
                    Location::LogState,
                    format!(
                        "the head's root is not {}, the root of the stored tree at {size}",
                        stored_root.to_hex()
                    ),
                ));
            }
        }
        if let Some(position) = self.hashes.first_at_or_after(
            stored_hash_count(size).ok_or_else(|| Error::invalid_input("log too large"))?,
        )? {
            self.report_stored(
                position,
                &format!("it lies beyond the {size} leaves of the log"),
            );
        }
        Ok(())
    }
}

fn edited_after_sequencing(mismatch: &Mismatch) -> Finding {
    Finding::new(
        FindingKind::EditedEntry,
        mismatch.location.clone(),
        format!(
            "its leaf hash {} is not the {} the log stored at leaf index {}: it was changed \
             after it was sequenced",
            mismatch.entry.to_hex(),
            mismatch.stored.to_hex(),
            mismatch.index
        ),
    )
}

/// Entries the sequencer has not reached: each is checked on its own. (One that lost its
/// leaf index leaves a removed leaf behind, which the walk reports; the backend's own checks
/// may name the entry too, from what they keep of the log's order.)
fn check_pending(source: &dyn AuditSource, findings: &mut Findings<'_>) -> Result<u64, Error> {
    let mut pending = 0;
    for_each_row(
        |after| source.pending_entries(after, super::source::PAGE),
        |row| row.position.clone(),
        |row| {
            pending += 1;
            check_entry(&row, findings);
            Ok(())
        },
    )?;
    Ok(pending)
}
