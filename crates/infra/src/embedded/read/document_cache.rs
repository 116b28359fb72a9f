//! Committed documents kept in memory, so that most reads by id are answered on the request's
//! own task: no hop to a reader thread and back, no statement, no re-check of stored JSON.
//!
//! A read by id is the store's most common request, and on a small machine its cost was
//! mostly the hop: waking a reader thread, then waking the request's task again, two thread
//! switches for one index lookup. Under a steady rate of reads those wake-ups, not SQLite,
//! decided the tail latency.
//!
//! # Why it is exact
//!
//! The cache never answers what a reader thread would not have answered at the same moment,
//! and it never keeps a version once a newer one is committed. Readers fill it and the writer
//! thread empties it, under these rules (each shard has a *generation* and a set of keys being
//! written, both guarded by the shard's lock):
//!
//! 1. Before the writer runs a statement that changes document `k`, it calls
//!    [`DocumentCache::writing`]: `k`'s entry goes, `k` joins the set, the generation moves.
//!    While `k` is in the set, no entry for it can be made.
//! 2. When the group transaction ends (committed, failed or rolled back), and before any of
//!    its members is answered, the writer calls [`DocumentCache::group_ended`]: the entries of
//!    every key written go again, the set empties, the generation moves.
//! 3. A reader that misses takes a [`FillTicket`] (the shard's generation) *before* its
//!    statement starts, and its answer is kept only if the generation is still the same and
//!    the key is not being written.
//!
//! An answer read from a snapshot older than some commit of `k` was read under a ticket taken
//! before that commit's group ended, so rule 2 moved the generation past it and the fill is
//! refused. An answer kept is therefore the latest committed version, and rule 1 removes it
//! before the next change can commit. A write that fails or is rolled back only costs entries.
//!
//! # Size
//!
//! Each shard holds at most its share of the byte budget (the documents' canonical text plus
//! a fixed overhead per entry); past it, entries are evicted by CLOCK, the second-chance
//! approximation of least-recently-used: a read marks its entry, and the sweeping hand spares
//! a marked entry once, unmarking it.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};

use shared_kernel::CollectionId;
use storage_domain::{Document, DocumentId};

/// Independent locks: readers on different shards never wait for each other.
const SHARDS: usize = 16;

/// What an entry costs beyond its canonical text: the key, the metadata, the map slots.
const ENTRY_OVERHEAD_BYTES: usize = 256;

/// The default budget: 64 MiB of documents.
pub const DEFAULT_DOCUMENT_CACHE_BYTES: usize = 64 << 20;

/// A document's identity: its collection's immutable id and its id in that collection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DocumentKey {
    collection: CollectionId,
    id: DocumentId,
}

impl DocumentKey {
    pub(crate) fn new(collection: CollectionId, id: DocumentId) -> Self {
        Self { collection, id }
    }
}

/// Taken by a reader before its statement starts; its answer may fill the cache only if
/// nothing was written to the key's shard since (rule 3 of the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FillTicket {
    shard: usize,
    generation: u64,
}

/// The cache; one per store, shared by its reader and its writer.
#[derive(Debug)]
pub(crate) struct DocumentCache {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

impl DocumentCache {
    /// A cache of at most `budget_bytes` (0 keeps nothing).
    pub(crate) fn new(budget_bytes: usize) -> Self {
        let shard_budget = budget_bytes / SHARDS;
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard::new(shard_budget)))
                .collect(),
            hasher: RandomState::new(),
        }
    }

    /// The committed document `key`, if the cache holds it.
    pub(crate) fn get(&self, key: &DocumentKey) -> Option<Document> {
        self.lock(self.shard_of(key)).entries.get(key)
    }

    /// What a reader about to read `key` from the database must hold to fill the cache.
    pub(crate) fn ticket(&self, key: &DocumentKey) -> FillTicket {
        let shard = self.shard_of(key);
        FillTicket {
            shard,
            generation: self.lock(shard).generation,
        }
    }

    /// Keeps `document`, read as `key` under `ticket`, unless the key's shard was written
    /// since the ticket was taken or the key is being written.
    pub(crate) fn fill(&self, key: DocumentKey, ticket: FillTicket, document: &Document) {
        let mut shard = self.lock(ticket.shard);
        if shard.generation == ticket.generation && !shard.writing.contains(&key) {
            let bytes = cost_of(document);
            shard.entries.insert(key, document.clone(), bytes);
        }
    }

    /// Called by the writer thread before it runs a statement that changes `key`.
    pub(crate) fn writing(&self, key: &DocumentKey) {
        let mut shard = self.lock(self.shard_of(key));
        shard.entries.remove(key);
        shard.writing.insert(key.clone());
        shard.generation += 1;
    }

    /// Called by the writer thread once its group transaction has ended, whatever the
    /// outcome, before it answers any member.
    pub(crate) fn group_ended(&self) {
        for index in 0..self.shards.len() {
            let mut shard = self.lock(index);
            if shard.writing.is_empty() {
                continue;
            }
            let written = std::mem::take(&mut shard.writing);
            for key in &written {
                shard.entries.remove(key);
            }
            shard.generation += 1;
        }
    }

    fn shard_of(&self, key: &DocumentKey) -> usize {
        // The low bits of a SipHash are as good as any: the shard count is a power of two.
        (self.hasher.hash_one(key) as usize) % self.shards.len()
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding a shard cannot leave it inconsistent for a reader: every
        // change of its map completes before the guard is dropped, or did not start.
        self.shards[shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The bytes a document is charged.
fn cost_of(document: &Document) -> usize {
    ENTRY_OVERHEAD_BYTES
        + document.id().as_str().len()
        + document.data().map_or(0, |data| data.canonical().len())
}

/// One lock's worth of the cache.
#[derive(Debug)]
struct Shard {
    generation: u64,
    /// Keys the writer's open group has written.
    writing: HashSet<DocumentKey>,
    entries: Clock,
}

impl Shard {
    fn new(budget: usize) -> Self {
        Self {
            generation: 0,
            writing: HashSet::new(),
            entries: Clock::new(budget),
        }
    }
}

/// Entries within a byte budget, evicted by CLOCK (second chance).
#[derive(Debug)]
struct Clock {
    budget: usize,
    bytes: usize,
    index: HashMap<DocumentKey, usize>,
    slots: Vec<Option<Slot>>,
    /// Empty positions in `slots`, reused before `slots` grows.
    free: Vec<usize>,
    /// The next position the eviction sweep looks at.
    hand: usize,
}

#[derive(Debug)]
struct Slot {
    key: DocumentKey,
    document: Document,
    bytes: usize,
    /// Read since the hand last passed.
    referenced: bool,
}

impl Clock {
    fn new(budget: usize) -> Self {
        Self {
            budget,
            bytes: 0,
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            hand: 0,
        }
    }

    fn get(&mut self, key: &DocumentKey) -> Option<Document> {
        let position = *self.index.get(key)?;
        let slot = self.slots[position].as_mut()?;
        slot.referenced = true;
        Some(slot.document.clone())
    }

    /// Keeps `document` as `key`'s entry (replacing any), evicting others to stay within the
    /// budget; a document larger than the whole budget is not kept.
    fn insert(&mut self, key: DocumentKey, document: Document, bytes: usize) {
        if bytes > self.budget {
            return;
        }
        self.remove(&key);
        while self.bytes + bytes > self.budget {
            self.evict_one();
        }
        let slot = Slot {
            key: key.clone(),
            document,
            bytes,
            referenced: false,
        };
        let position = match self.free.pop() {
            Some(position) => {
                self.slots[position] = Some(slot);
                position
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.index.insert(key, position);
        self.bytes += bytes;
    }

    fn remove(&mut self, key: &DocumentKey) {
        if let Some(position) = self.index.remove(key) {
            self.vacate(position);
        }
    }

    /// Sweeps to the first entry not read since the hand last passed, and evicts it.
    /// Called only while `bytes` is positive, so some slot is occupied and two sweeps end it.
    fn evict_one(&mut self) {
        loop {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let position = self.hand;
            self.hand += 1;
            match &mut self.slots[position] {
                Some(slot) if slot.referenced => slot.referenced = false,
                Some(slot) => {
                    let key = slot.key.clone();
                    self.index.remove(&key);
                    self.vacate(position);
                    return;
                }
                None => {}
            }
        }
    }

    fn vacate(&mut self, position: usize) {
        if let Some(slot) = self.slots[position].take() {
            self.bytes -= slot.bytes;
            self.free.push(position);
        }
    }
}

#[cfg(test)]
mod tests {
    use shared_kernel::{Actor, AuditId, Timestamp};
    use storage_domain::document::ChangeStamp;
    use storage_domain::{DocumentData, DocumentLimits};

    use super::*;

    fn document(collection: CollectionId, id: &str, text: &str) -> Document {
        let value = serde_json::json!({ "text": text });
        let data = DocumentData::parse(value, &DocumentLimits::default())
            .unwrap_or_else(|e| panic!("{e}"));
        Document::create(
            collection,
            DocumentId::parse(id).unwrap_or_else(|e| panic!("{e}")),
            data,
            ChangeStamp {
                at: Timestamp::from_millis(1),
                actor: Actor::System,
                audit_id: AuditId::generate(),
            },
        )
    }

    fn key(collection: CollectionId, id: &str) -> DocumentKey {
        DocumentKey::new(
            collection,
            DocumentId::parse(id).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    /// Offers `alice`'s document with `text` to the cache under `ticket`.
    fn fill_alice(cache: &DocumentCache, ticket: FillTicket, collection: CollectionId, text: &str) {
        let alice = key(collection, "alice");
        cache.fill(alice, ticket, &document(collection, "alice", text));
    }

    /// Inserts document `id` (data `"x"`) into `clock`, charged `bytes`.
    fn insert(clock: &mut Clock, collection: CollectionId, id: &str, bytes: usize) {
        clock.insert(key(collection, id), document(collection, id, "x"), bytes);
    }

    fn text_of(document: &Document) -> String {
        document
            .data()
            .map(|data| data.canonical().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn a_fill_under_a_current_ticket_is_answered() {
        let cache = DocumentCache::new(1 << 20);
        let collection = CollectionId::generate();
        let alice = key(collection, "alice");
        assert!(cache.get(&alice).is_none());
        let ticket = cache.ticket(&alice);
        fill_alice(&cache, ticket, collection, "v1");
        let cached = cache.get(&alice).unwrap_or_else(|| panic!("not kept"));
        assert_eq!(text_of(&cached), r#"{"text":"v1"}"#);
        assert!(cache.get(&key(collection, "bob")).is_none());
    }

    #[test]
    fn a_write_removes_the_entry_and_refuses_fills_until_its_group_ends() {
        let cache = DocumentCache::new(1 << 20);
        let collection = CollectionId::generate();
        let alice = key(collection, "alice");
        fill_alice(&cache, cache.ticket(&alice), collection, "v1");

        cache.writing(&alice);
        assert!(cache.get(&alice).is_none(), "the old version is gone");
        // A reader that starts while the write is in its group must not fill.
        let during = cache.ticket(&alice);
        fill_alice(&cache, during, collection, "v1");
        assert!(
            cache.get(&alice).is_none(),
            "a key being written is not filled"
        );

        cache.group_ended();
        // Its answer may come from before the commit: refused even after the group ended.
        fill_alice(&cache, during, collection, "v1");
        assert!(cache.get(&alice).is_none(), "a ticket from before the end");

        let after = cache.ticket(&alice);
        fill_alice(&cache, after, collection, "v2");
        let cached = cache.get(&alice).unwrap_or_else(|| panic!("not kept"));
        assert_eq!(text_of(&cached), r#"{"text":"v2"}"#);
    }

    #[test]
    fn a_ticket_taken_before_a_write_cannot_fill_after_it() {
        let cache = DocumentCache::new(1 << 20);
        let collection = CollectionId::generate();
        let alice = key(collection, "alice");
        let before = cache.ticket(&alice);
        cache.writing(&alice);
        cache.group_ended();
        fill_alice(&cache, before, collection, "v1");
        assert!(cache.get(&alice).is_none());
    }

    #[test]
    fn the_budget_holds_and_recently_read_entries_survive_eviction() {
        let per_entry = cost_of(&document(CollectionId::generate(), "d00", "x"));
        // One shard's share holds exactly four entries; keep every key in the same shard by
        // testing the shard's clock directly.
        let mut clock = Clock::new(per_entry * 4);
        let collection = CollectionId::generate();
        for n in 0..4 {
            let id = format!("d{n:02}");
            insert(&mut clock, collection, &id, per_entry);
        }
        assert!(clock.get(&key(collection, "d00")).is_some(), "marks d00");
        insert(&mut clock, collection, "d04", per_entry);
        assert_eq!(clock.bytes, per_entry * 4, "still within the budget");
        assert!(clock.get(&key(collection, "d00")).is_some(), "read: spared");
        assert!(
            clock.get(&key(collection, "d01")).is_none(),
            "unread: evicted"
        );
        assert!(clock.get(&key(collection, "d04")).is_some());

        insert(&mut clock, collection, "huge", per_entry * 5);
        assert!(clock.get(&key(collection, "huge")).is_none(), "over budget");
        assert_eq!(clock.index.len(), 4);
    }

    #[test]
    fn a_zero_budget_keeps_nothing() {
        let cache = DocumentCache::new(0);
        let collection = CollectionId::generate();
        let alice = key(collection, "alice");
        fill_alice(&cache, cache.ticket(&alice), collection, "v1");
        assert!(cache.get(&alice).is_none());
    }
}
