//! Contracts of the Storage context's ports: `UnitOfWork`, `Transaction` and the
//! repositories it hands out (`CollectionRepository`, `DocumentRepository`, `AuditLogger`,
//! `EventOutbox`, `IdempotencyStore`), and `StorageReader`.
//!
//! Each contract is a `pub async fn name<B: Backend>(backend: &B)` in a module of this folder,
//! re-exported here, and listed in [`storage_contracts!`](crate::storage_contracts); its name
//! says the promise it checks. They state what any backend must keep, never how one store
//! keeps it: a write a store defers may be refused by the call or at the latest by its commit
//! (`build::refused_with`), and the order of entries not yet sequenced is the store's own.
//!
//! # Which `# Errors` clause is checked where
//!
//! - `UnitOfWork::begin`, `UNAVAILABLE` when storage cannot start a transaction: **not
//!   covered**. [`Backend::fail_commits`](crate::Backend::fail_commits) fails commits, and a
//!   store need not touch storage at `begin` (the embedded store does not for a first
//!   attempt), so no generic hook makes `begin` fail.
//! - `Transaction::commit` → `CommitError`: [`a_commit_while_storage_fails_stores_nothing_and_works_once_healed`]
//!   (a storage failure, nothing stored), the `guards` contracts (`Stale`, nothing stored),
//!   and every `CONFLICT` below, which a store may answer at commit.
//! - `CollectionRepository::insert` `CONFLICT`: [`inserting_a_second_live_collection_of_a_name_is_a_conflict`]
//!   (and [`a_deleted_collections_name_may_be_taken_again`] for "live");
//!   `update` `NOT_FOUND`: [`updating_a_collection_never_stored_is_not_found`].
//! - `DocumentRepository::save` `CONFLICT`: [`saving_version_one_of_a_stored_document_is_a_conflict`],
//!   [`saving_a_version_already_stored_is_a_conflict`], [`saving_a_version_that_skips_one_is_a_conflict`].
//! - `AuditLogger::append` `CONFLICT`: [`appending_an_entry_whose_id_is_stored_is_a_conflict`],
//!   [`appending_one_id_twice_in_a_transaction_is_a_conflict`]; its storage failure:
//!   [`an_audit_append_while_storage_fails_is_a_storage_error`].
//! - `EventOutbox::append` storage failure: [`an_outbox_append_while_storage_fails_is_a_storage_error`].
//! - `IdempotencyStore::record` `CONFLICT`: [`recording_a_scope_twice_is_a_conflict`]; the
//!   storage failures of `record`, `purge_scope_if_expired`, `purge_before`:
//!   [`idempotency_writes_while_storage_fails_are_storage_errors`].
//! - `StorageReader::audit_entries` and `document_audit_trail`, `INVALID_INPUT` at `/cursor`:
//!   [`an_audit_listing_refuses_a_position_it_did_not_make_at_the_cursor`],
//!   [`a_document_trail_refuses_a_position_it_did_not_make_at_the_cursor`].
//!
//! **Not covered**, because no generic hook provokes them on a healthy store:
//!
//! - every read's "`UNAVAILABLE` or `INTERNAL_ERROR` when storage fails"
//!   (`CollectionRepository::find_by_name` and `count_live_documents`,
//!   `DocumentRepository::find`, and every `StorageReader` method): the hook fails commits,
//!   and reads keep answering then, by design (readiness relies on it);
//! - `INTERNAL_ERROR` for a damaged stored entry (`audit_entries`, `document_audit_trail`):
//!   damaging a store is the backend's own test (the embedded one edits its SQLite file);
//! - `UNAVAILABLE` when a listing or query is stopped at its deadline (`audit_entries`,
//!   `query_documents`): whether a small store finishes before a deadline is timing, not
//!   behaviour, so a contract would assert nothing reliably;
//! - `query_documents`' "exactly the documents `Filter::is_satisfied_by` accepts" belongs
//!   to a query suite of its own (filters, sorts, cursors), not written yet.
//!
//! The outbox has no reading port, so "a refused or failed commit stored no outbox event"
//! is not observable here; the contracts check what the reader shows (collections,
//! documents, revisions, audit entries, idempotency records).

mod audit;
mod build;
mod collections;
mod documents;
mod failures;
mod guards;
mod idempotency;
mod listing;
mod reader;
mod sequence;
mod transactions;

pub use audit::*;
pub use collections::*;
pub use documents::*;
pub use failures::*;
pub use guards::*;
pub use idempotency::*;
pub use listing::*;
pub use reader::*;
pub use transactions::*;

/// Expands every storage contract into a `#[tokio::test]` (in a module `storage_contracts`)
/// over the backend type `$backend`, each on a fresh store.
#[macro_export]
macro_rules! storage_contracts {
    ($backend:ty) => {
        $crate::contract_tests!($backend, storage_contracts, storage: [
            // transactions
            what_a_transaction_commits_is_visible_to_the_reader,
            a_transaction_dropped_without_commit_stores_nothing,
            an_audit_id_never_committed_is_not_stored,
            // guards
            a_create_into_a_collection_deleted_before_its_commit_is_stale,
            a_write_validated_under_a_replaced_schema_is_stale,
            a_guard_that_still_holds_commits,
            a_create_after_another_writer_created_the_document_is_stale,
            a_change_after_another_writer_moved_the_document_is_stale,
            // collections
            inserting_a_second_live_collection_of_a_name_is_a_conflict,
            a_deleted_collections_name_may_be_taken_again,
            updating_a_collection_never_stored_is_not_found,
            an_updated_collection_reads_back_changed_and_a_deleted_one_is_gone,
            live_documents_are_counted_without_tombstones_or_other_collections,
            // documents
            saving_version_one_of_a_stored_document_is_a_conflict,
            saving_a_version_already_stored_is_a_conflict,
            saving_a_version_that_skips_one_is_a_conflict,
            a_saved_document_and_its_tombstone_read_back,
            each_version_reads_back_as_it_was,
            revisions_list_oldest_first_after_a_version_up_to_a_limit,
            // audit logger
            appending_an_entry_whose_id_is_stored_is_a_conflict,
            appending_one_id_twice_in_a_transaction_is_a_conflict,
            // idempotency
            a_recorded_key_reads_back_with_the_same_kept_answer,
            recording_a_scope_twice_is_a_conflict,
            the_same_key_under_another_scope_is_another_record,
            an_expired_scope_is_purged_and_a_fresh_one_is_kept,
            purging_before_a_cutoff_deletes_exactly_the_older_records,
            // reader
            a_fresh_store_has_no_collections,
            collections_list_by_name_after_a_name_up_to_a_limit,
            // audit listing
            an_audit_listing_refuses_a_position_it_did_not_make_at_the_cursor,
            a_document_trail_refuses_a_position_it_did_not_make_at_the_cursor,
            the_audit_listing_gives_the_log_by_leaf_index_then_the_pending_entries,
            a_walk_never_skips_entries_sequenced_all_at_once_during_it,
            a_walk_never_skips_entries_sequenced_batch_by_batch_during_it,
            a_document_trail_lists_its_entries_in_version_order_across_pages,
            a_filtered_listing_gives_exactly_the_matching_entries,
            // storage failures
            a_commit_while_storage_fails_stores_nothing_and_works_once_healed,
            an_audit_append_while_storage_fails_is_a_storage_error,
            an_outbox_append_while_storage_fails_is_a_storage_error,
            idempotency_writes_while_storage_fails_are_storage_errors,
        ]);
    };
}
