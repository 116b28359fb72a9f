//! The auditor over an in-memory store ([`fake_store`]): given a store written
//! normally, when one thing is changed, then exactly that is named, where it is.

mod fake_store;

use audit_domain::checkpoint::Checkpoint;
use audit_domain::merkle::{Hash, MemoryTree};
use serde_json::json;
use shared_kernel::Sha256Digest;

use super::*;
use fake_store::{FakeStore, ORIGIN, signer};

fn kinds(findings: &[Finding]) -> Vec<FindingKind> {
    findings.iter().map(|f| f.kind).collect()
}

#[test]
fn a_store_written_normally_has_no_findings_and_counts_what_it_checked() {
    let store = FakeStore::written();
    let (findings, summary) = store.run(&[]);
    assert_eq!(findings, Vec::new());
    assert_eq!(
        (
            summary.documents,
            summary.revisions,
            summary.entries,
            summary.pending_entries
        ),
        (3, 6, 6, 1)
    );
    assert_eq!((summary.leaves, summary.checkpoints), (6, 2));
    assert_eq!(summary.backend_checks, vec![COMMIT_SEQUENCE.to_owned()]);
}

#[test]
fn two_entries_swapped_in_place_are_reordered_not_edited() {
    let mut store = FakeStore::written();
    let first = store.entry_mut(1).clone();
    let second = store.entry_mut(4).clone();
    let keep = |into: &mut EntryRow, from: &EntryRow| {
        *into = EntryRow {
            position: into.position.clone(),
            leaf_index: into.leaf_index,
            ..from.clone()
        };
    };
    keep(store.entry_mut(1), &second);
    keep(store.entry_mut(4), &first);
    let (findings, _) = store.run(&[]);
    let swapped: Vec<_> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::ReorderedEntry && f.detail.contains("swapped"))
        .collect();
    assert_eq!(swapped.len(), 2, "{findings:#?}");
    assert!(
        !kinds(&findings).contains(&FindingKind::EditedEntry),
        "{findings:#?}"
    );
}

#[test]
fn an_edited_stored_subtree_hash_is_named_by_its_position_and_nothing_else() {
    let mut store = FakeStore::written();
    // Position 2 is the node over leaves 0 and 1.
    store.hashes.insert(2, vec![7; 32]);
    let (findings, _) = store.run(&[]);
    assert_eq!(
        kinds(&findings),
        vec![FindingKind::EditedLog],
        "{findings:#?}"
    );
    assert_eq!(findings[0].location, Location::StoredHash { position: 2 });
}

#[test]
fn entries_removed_from_the_end_under_the_head_are_named_by_leaf_index() {
    let mut store = FakeStore::written();
    store.entries.retain(|e| e.leaf_index != Some(5));
    let (findings, _) = store.run(&[]);
    assert!(
        findings.iter().any(|f| f.kind == FindingKind::RemovedEntry
            && f.location == Location::Leaves { start: 5, end: 6 }),
        "{findings:#?}"
    );
}

#[test]
fn an_entry_that_lost_its_leaf_index_is_named() {
    let mut store = FakeStore::written();
    store.entry_mut(2).leaf_index = None;
    let (findings, _) = store.run(&[]);
    assert!(
        findings
            .iter()
            .any(|f| f.kind == FindingKind::EditedEntry && f.detail.contains("no leaf index")),
        "{findings:#?}"
    );
    assert!(
        kinds(&findings).contains(&FindingKind::RemovedEntry),
        "{findings:#?}"
    );
}

#[test]
fn a_truncated_log_under_a_stored_checkpoint_is_inconsistent() {
    let mut store = FakeStore::new();
    store.write("a", Some(json!({"n": 1})));
    store.sequence();
    store.checkpoint();
    // Cut the log back to one leaf, head, stored hashes, outbox and sequence included.
    store.entries.retain(|e| e.leaf_index != Some(1));
    store.events.truncate(1);
    store.allocated = 1;
    store.revisions.clear();
    store.documents.clear();
    let one = MemoryTree::from_leaf_hashes([
        Hash::try_from(store.entries[0].leaf_hash.as_slice()).unwrap_or_else(|e| panic!("{e}"))
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    store.hashes = (0_u64..)
        .zip(one.stored_hashes().iter().map(|h| h.as_bytes().to_vec()))
        .collect();
    store.state = LogStateRow {
        tree_size: 1,
        root: one
            .root()
            .unwrap_or_else(|e| panic!("{e}"))
            .as_bytes()
            .to_vec(),
    };
    store.last_seq = 1;
    let (findings, _) = store.run(&[]);
    assert_eq!(
        kinds(&findings),
        vec![FindingKind::InconsistentCheckpoint],
        "{findings:#?}"
    );
}

#[test]
fn outside_checkpoints_catch_a_rollback_and_a_fork() {
    let mut store = FakeStore::written();
    let verifier = signer(1).verifier();
    let current =
        Anchor::open("now", &store.checkpoint(), &verifier).unwrap_or_else(|e| panic!("{e}"));
    let (findings, summary) = store.run(&[current]);
    assert_eq!((findings.len(), summary.anchors), (0, 1));

    let ahead = Checkpoint::new(ORIGIN, 99, Hash::from_bytes([1; 32]))
        .and_then(|c| c.sign(&signer(1)))
        .unwrap_or_else(|e| panic!("{e}"));
    let other_root = Checkpoint::new(ORIGIN, 3, Hash::from_bytes([2; 32]))
        .and_then(|c| c.sign(&signer(1)))
        .unwrap_or_else(|e| panic!("{e}"));
    let anchors = [
        Anchor::open("ahead", &ahead, &verifier).unwrap_or_else(|e| panic!("{e}")),
        Anchor::open("other", &other_root, &verifier).unwrap_or_else(|e| panic!("{e}")),
    ];
    let (findings, _) = store.run(&anchors);
    assert_eq!(
        kinds(&findings),
        vec![FindingKind::Rollback, FindingKind::Fork]
    );
    assert!(Anchor::open("stranger", &ahead, &signer(2).verifier()).is_err());
}

#[test]
fn a_stored_patch_is_replayed_on_the_previous_revision_never_re_diffed() {
    let before = json!({"a": 1, "list": [1, 2]});
    let after = json!({"a": 2, "list": [1, 2, 3]});
    let hash = Sha256Digest::of_json(&after);
    let patch =
        r#"[{"op":"replace","path":"/a","value":2},{"op":"add","path":"/list/-","value":3}]"#;
    assert_eq!(
        revision_pass::replay_patch(&before, patch, Some(&hash)),
        None
    );
    let wrong =
        r#"[{"op":"replace","path":"/a","value":3},{"op":"add","path":"/list/-","value":3}]"#;
    assert!(
        revision_pass::replay_patch(&before, wrong, Some(&hash))
            .is_some_and(|m| m.contains("gives hash"))
    );
    let broken = r#"[{"op":"remove","path":"/missing"}]"#;
    assert!(
        revision_pass::replay_patch(&before, broken, Some(&hash))
            .is_some_and(|m| m.contains("does not apply"))
    );
}

#[test]
fn an_edited_revision_and_an_edited_document_are_named_where_they_are() {
    let mut store = FakeStore::written();
    store.revisions[0].data = Some(r#"{"age":30,"name":"Mallory"}"#.into());
    if let Some(bob) = store.documents.get_mut("bob") {
        bob.data = Some(r#"{"name":"Eve"}"#.into());
    }
    let (findings, _) = store.run(&[]);
    assert_eq!(
        kinds(&findings),
        vec![FindingKind::EditedRevision, FindingKind::EditedDocument],
        "{findings:#?}"
    );
    assert!(
        matches!(&findings[0].location, Location::Revision { document_id, version: 1, .. } if document_id == "alice")
    );
}

#[test]
fn a_revision_rewritten_with_its_own_hash_is_named_once_not_again_at_the_next_version() {
    let mut store = FakeStore::written();
    // Alice's version 1, data and content hash both rewritten; version 2 follows it.
    let forged = json!({"name": "Alice", "age": 3});
    store.revisions[0].content_hash = Some(Sha256Digest::of_json(&forged).to_hex());
    store.revisions[0].data = Some(forged.to_string());
    let (findings, _) = store.run(&[]);
    assert_eq!(
        kinds(&findings),
        vec![FindingKind::EditedRevision],
        "{findings:#?}"
    );
    assert!(findings[0].detail.contains("hash_after"), "{findings:#?}");
}

#[test]
fn a_deleted_pending_entry_leaves_a_gap_in_the_commit_sequence_that_is_named() {
    let mut store = FakeStore::written();
    let last = store
        .entries
        .last()
        .map(fake_store::seq_of)
        .unwrap_or_default();
    // The pending entry and its revision go: nothing else points at it any more.
    let removed = store.entries.pop().map(|e| e.id).unwrap_or_default();
    store.revisions.retain(|r| r.audit_id != removed);
    store.documents.remove("carol");
    let (findings, summary) = store.run(&[]);
    // The backend's own check found it, and the summary counts it like any other.
    assert!(
        summary.findings.get(&FindingKind::RemovedEntry) >= Some(&1),
        "{summary:#?}"
    );
    let gap = findings.iter().find(|f| {
        f.location
            == Location::CommitSequence {
                start: last,
                end: last + 1,
            }
    });
    assert_eq!(
        gap.map(|f| f.kind),
        Some(FindingKind::RemovedEntry),
        "{findings:#?}"
    );
}

#[test]
fn a_collection_whose_name_version_or_deletion_disagrees_with_its_entries_is_named() {
    let store = FakeStore::written();
    let mut rows = store
        .collections(None, 10)
        .unwrap_or_else(|e| panic!("{e}"));
    let intact = rows.pop().unwrap_or_else(|| panic!("one collection"));
    let cases = [
        (
            "renamed",
            CollectionRow {
                name: "orders".into(),
                ..intact.clone()
            },
            "names it `people`",
        ),
        (
            "schema changed outside the API",
            CollectionRow {
                version: 2,
                ..intact.clone()
            },
            "schema change",
        ),
        (
            "deleted without an entry",
            CollectionRow {
                deleted_at: Some(1),
                ..intact.clone()
            },
            "no deletion is logged",
        ),
    ];
    for (case, row, said) in cases {
        let mut found = Vec::new();
        let mut sink = |f: &Finding| found.push(f.clone());
        let mut findings = Findings::new(&mut sink);
        tables::check_collection(&row, &mut findings);
        drop(findings);
        assert_eq!(kinds(&found), [FindingKind::EditedCollection], "{case}");
        assert!(found[0].detail.contains(said), "{case}: {found:#?}");
    }
}

#[test]
fn a_pending_entry_rewritten_whole_is_named_by_its_outbox_event() {
    let mut store = FakeStore::written();
    let pending = store
        .entries
        .last_mut()
        .unwrap_or_else(|| panic!("an entry"));
    assert_eq!(
        pending.leaf_index, None,
        "the last entry waits for the sequencer"
    );
    let forged = String::from_utf8_lossy(&pending.leaf).replace("\"anonymous\"", "\"system\"");
    pending.leaf = forged.into_bytes();
    pending.leaf_hash = audit_domain::merkle::leaf_hash(&pending.leaf)
        .as_bytes()
        .to_vec();
    pending.actor = "system".into();
    let (findings, _) = store.run(&[]);
    assert!(
        findings
            .iter()
            .any(|f| f.kind == FindingKind::EditedEvent && f.detail.contains("context's `actor`")),
        "{findings:#?}"
    );
}

#[test]
fn an_entry_without_its_outbox_event_is_named() {
    let mut store = FakeStore::written();
    let removed = store.events.remove(2);
    let (findings, _) = store.run(&[]);
    let named: Vec<_> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::RemovedEvent)
        .collect();
    assert_eq!(named.len(), 1, "{findings:#?}");
    assert!(named[0].location.to_string().contains(&removed.audit_id));
}
