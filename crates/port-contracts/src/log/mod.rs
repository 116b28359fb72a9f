//! Contracts of the Audit context's storage ports: `LogStore` and the auditor's
//! `AuditSource`.
//!
//! Each contract is a `pub async fn name<B: Backend>(backend: &B)` in a module of this folder,
//! re-exported here, and listed in [`log_contracts!`](crate::log_contracts); its name says the
//! promise it checks. `fixture` fills a store through the storage ports, as commands do.

mod append;
mod auditor;
mod checkpoints;
mod fixture;
mod reads;
mod store;

pub use append::*;
pub use auditor::*;
pub use checkpoints::*;
pub use reads::*;
pub use store::*;

/// Expands every log contract into a `#[tokio::test]` (in a module `log_contracts`) over the
/// backend type `$backend`, each on a fresh store.
#[macro_export]
macro_rules! log_contracts {
    ($backend:ty) => {
        $crate::contract_tests!($backend, log_contracts, log: [
            a_fresh_log_is_empty,
            an_audit_entry_or_a_checkpoint_makes_the_log_non_empty,
            pending_hands_only_unsequenced_entries_and_at_most_the_limit,
            a_pending_entry_keeps_coming_before_entries_committed_after_it,
            a_documents_entries_are_pending_in_version_order,
            append_gives_each_leaf_the_next_index_and_records_hashes_and_head,
            append_from_a_stale_head_is_a_conflict_and_writes_nothing,
            append_of_an_entry_already_sequenced_is_a_conflict_and_writes_nothing,
            read_hashes_answers_in_the_order_asked,
            read_hashes_of_a_position_not_stored_is_an_internal_error,
            leaves_are_the_sequenced_entries_of_the_range_by_index,
            leaf_by_audit_id_finds_pending_and_sequenced_entries_only,
            the_latest_checkpoint_is_the_one_of_the_largest_size,
            a_different_checkpoint_of_a_kept_size_is_a_conflict,
            the_sequencer_keeps_signed_checkpoints_of_the_head,
            audit_source_listings_page_strictly_after_the_key_in_order,
            a_position_the_backend_did_not_make_is_invalid_input,
            table_source_listings_page_strictly_after_the_key_in_order,
            backend_checks_find_nothing_on_a_clean_store,
        ]);
    };
}
