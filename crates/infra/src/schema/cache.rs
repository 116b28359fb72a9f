//! Compiled schemas kept per collection, within a byte budget.
//!
//! One entry per collection: its newest compiled schema version. Compiling the next version
//! replaces the entry (the old version is never asked for again once a newer one was seen),
//! and [`CompiledCache::forget`] drops a collection's entry when its schema is replaced or it
//! is deleted, so neither leaves memory behind. Past the budget, the least recently used
//! entries are evicted; an entry larger than the whole budget is not kept at all (it is
//! compiled for each use instead).
//!
//! # What an entry is counted as
//!
//! A compiled validator's real size is not observable, so an entry is *estimated* as
//! [`BYTES_PER_SCHEMA_BYTE`] times the schema's canonical JSON length plus
//! [`BYTES_PER_PATTERN`] per regular expression (see [`estimate`]). Measured on this build
//! (`jsonschema` 0.61.2, resident memory grown by compiling five copies, each kind in a fresh
//! process): a 1.2 MB `enum` took 8.9 bytes per schema byte, 5,000 `properties` with string
//! rules 20.3, 500 small patterns 20.5 (about 1.3 KiB per pattern beyond the bytes). The
//! factors below sit above all three. A pattern's lazy DFA grows with use, up to
//! [`MAX_PATTERN_DFA_BYTES`](super::limits::MAX_PATTERN_DFA_BYTES) per thread that matches it,
//! which the estimate does not follow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use shared_kernel::CollectionId;

use super::compile::CompiledSchema;

/// The default budget: 32 MiB.
pub const DEFAULT_SCHEMA_CACHE_BYTES: usize = 32 << 20;
/// Estimated bytes of a compiled validator per byte of the schema's canonical JSON.
pub const BYTES_PER_SCHEMA_BYTE: usize = 24;
/// Estimated bytes of one compiled regular expression beyond its source.
pub const BYTES_PER_PATTERN: usize = 4 * 1024;

/// The estimated memory of a compiled schema (see the module documentation).
pub fn estimate(canonical_bytes: usize, patterns: usize) -> usize {
    canonical_bytes
        .saturating_mul(BYTES_PER_SCHEMA_BYTE)
        .saturating_add(patterns.saturating_mul(BYTES_PER_PATTERN))
}

/// Compiled schemas by collection, bounded by estimated bytes.
pub(super) struct CompiledCache {
    budget: usize,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_collection: HashMap<CollectionId, Entry>,
    /// The sum of the entries' estimates.
    bytes: usize,
    /// Counts uses, so the least recently used entry has the smallest `used`.
    clock: u64,
}

struct Entry {
    version: u64,
    compiled: Arc<CompiledSchema>,
    bytes: usize,
    used: u64,
}

impl CompiledCache {
    /// An empty cache that keeps at most `budget` estimated bytes.
    pub(super) fn new(budget: usize) -> Self {
        Self {
            budget,
            inner: Mutex::new(Entries::default()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The compiled schema of `collection` at `version`, if kept.
    pub(super) fn get(
        &self,
        collection: CollectionId,
        version: u64,
    ) -> Option<Arc<CompiledSchema>> {
        let mut entries = self.entries();
        entries.clock += 1;
        let now = entries.clock;
        let entry = entries.by_collection.get_mut(&collection)?;
        if entry.version != version {
            return None;
        }
        entry.used = now;
        Some(Arc::clone(&entry.compiled))
    }

    /// Keeps `compiled` as `collection`'s schema at `version`, estimated at `bytes`, unless a
    /// newer version is already kept; evicts the least recently used entries to fit.
    pub(super) fn insert(
        &self,
        collection: CollectionId,
        version: u64,
        compiled: Arc<CompiledSchema>,
        bytes: usize,
    ) {
        let mut entries = self.entries();
        if let Some(kept) = entries.by_collection.get(&collection)
            && kept.version > version
        {
            return;
        }
        entries.remove(collection);
        if bytes > self.budget {
            return;
        }
        while entries.bytes.saturating_add(bytes) > self.budget {
            let Some(oldest) = entries
                .by_collection
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(id, _)| *id)
            else {
                break;
            };
            entries.remove(oldest);
        }
        entries.clock += 1;
        let used = entries.clock;
        entries.bytes = entries.bytes.saturating_add(bytes);
        entries.by_collection.insert(
            collection,
            Entry {
                version,
                compiled,
                bytes,
                used,
            },
        );
    }

    /// Drops whatever is kept for `collection`.
    pub(super) fn forget(&self, collection: CollectionId) {
        self.entries().remove(collection);
    }

    /// The estimated bytes kept.
    pub(super) fn bytes(&self) -> usize {
        self.entries().bytes
    }

    /// How many collections have an entry.
    pub(super) fn len(&self) -> usize {
        self.entries().by_collection.len()
    }
}

impl Entries {
    fn remove(&mut self, collection: CollectionId) {
        if let Some(entry) = self.by_collection.remove(&collection) {
            self.bytes = self.bytes.saturating_sub(entry.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn compiled() -> Arc<CompiledSchema> {
        Arc::new(
            CompiledSchema::stored_schema(&json!({"type": "object"}), 17)
                .unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[test]
    fn a_newer_version_replaces_the_entry_and_forget_frees_it() {
        let cache = CompiledCache::new(1_000);
        let people = CollectionId::generate();
        cache.insert(people, 1, compiled(), 300);
        assert!(cache.get(people, 1).is_some());
        cache.insert(people, 2, compiled(), 200);
        assert_eq!((cache.len(), cache.bytes()), (1, 200));
        assert!(cache.get(people, 1).is_none(), "the old version is gone");
        cache.insert(people, 1, compiled(), 300);
        assert_eq!(
            cache.bytes(),
            200,
            "an older version never replaces a newer one"
        );
        assert!(cache.get(people, 2).is_some());
        cache.forget(people);
        assert_eq!((cache.len(), cache.bytes()), (0, 0));
    }

    #[test]
    fn past_the_budget_the_least_recently_used_entry_goes() {
        let cache = CompiledCache::new(250);
        let [a, b, c] = [(); 3].map(|()| CollectionId::generate());
        cache.insert(a, 1, compiled(), 100);
        cache.insert(b, 1, compiled(), 100);
        assert!(cache.get(a, 1).is_some());
        cache.insert(c, 1, compiled(), 100);
        assert_eq!(cache.bytes(), 200);
        assert!(cache.get(b, 1).is_none(), "b was the least recently used");
        assert!(cache.get(a, 1).is_some() && cache.get(c, 1).is_some());
    }

    #[test]
    fn an_entry_larger_than_the_budget_is_not_kept() {
        let cache = CompiledCache::new(250);
        let a = CollectionId::generate();
        cache.insert(a, 1, compiled(), 100);
        cache.insert(a, 2, compiled(), 251);
        assert_eq!((cache.len(), cache.bytes()), (0, 0));
    }

    #[test]
    fn the_estimate_is_linear_in_schema_bytes_and_patterns() {
        assert_eq!(estimate(1_000, 0), 1_000 * BYTES_PER_SCHEMA_BYTE);
        assert_eq!(estimate(0, 3), 3 * BYTES_PER_PATTERN);
        assert_eq!(estimate(usize::MAX, 1), usize::MAX);
    }
}
