//! The live collections as the writer last saw them, so that a write does not ask the writer
//! thread for its collection every time. The readers keep a second instance of their own,
//! of committed collections only (see `reader.rs`), so that a read needs no hop to look up
//! its collection.
//!
//! Every write starts by loading its collection inside its transaction. With group commit,
//! the writer's critical section is made of hand-offs between a request's task and the
//! writer thread, one per statement batch; answering the collection lookup from memory
//! removes one of them from every document write.
//!
//! It is exact, not merely "fresh enough": an entry is used only by a write that holds the
//! writer (nobody else can change a collection meanwhile), and only while nothing could have
//! made it stale since it was filled. Three things bump the generation that entries carry:
//! a write that changes a collection row (before its statement runs); the end of any
//! transaction that changed one (committed or not: a rollback restores the old row); and a
//! lost group (its released members' changes vanish), counted by the writer. An entry filled
//! from a group's uncommitted state is therefore dropped if that group does not commit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use storage_domain::Collection;

/// How many names are kept at most; past it the cache starts over (collections are few).
const MAX_ENTRIES: usize = 1024;

/// What an entry was filled under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    generation: u64,
    lost_groups: u64,
}

/// The cache; one per store.
#[derive(Debug, Default)]
pub(crate) struct CollectionCache {
    generation: AtomicU64,
    entries: Mutex<HashMap<String, (Stamp, Collection)>>,
}

impl CollectionCache {
    /// The current stamp, given how many groups the writer lost so far.
    pub(crate) fn stamp(&self, lost_groups: u64) -> Stamp {
        Stamp {
            generation: self.generation.load(Ordering::Acquire),
            lost_groups,
        }
    }

    /// The live collection `name`, if an entry filled under `stamp` holds it.
    pub(crate) fn get(&self, name: &str, stamp: Stamp) -> Option<Collection> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(name)
            .filter(|(filled, _)| *filled == stamp)
            .map(|(_, collection)| collection.clone())
    }

    /// Keeps what the writer answered for `name` under `stamp`.
    pub(crate) fn put(&self, name: &str, stamp: Stamp, collection: &Collection) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(name.to_owned(), (stamp, collection.clone()));
    }

    /// Makes every entry stale.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use shared_kernel::Timestamp;
    use storage_domain::CollectionName;

    use super::*;

    fn people() -> Collection {
        Collection::create(
            CollectionName::parse("people").unwrap_or_else(|e| panic!("{e}")),
            None,
            Timestamp::from_millis(1),
        )
    }

    #[test]
    fn an_entry_is_used_only_under_the_stamp_it_was_filled_with() {
        let cache = CollectionCache::default();
        let stamp = cache.stamp(0);
        assert!(cache.get("people", stamp).is_none());
        cache.put("people", stamp, &people());
        assert!(cache.get("people", stamp).is_some());
        assert!(
            cache.get("people", cache.stamp(1)).is_none(),
            "a group was lost"
        );
        cache.invalidate();
        assert!(
            cache.get("people", cache.stamp(0)).is_none(),
            "a collection changed"
        );
    }
}
