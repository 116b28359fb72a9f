//! What a store keeps in memory of its committed log, whichever backend holds it: the newest
//! head and checkpoint (`newest.rs`) and the stored hashes proofs share (`hash_cache.rs`).
//! Both are only ever offered committed values, and only one process writes a store's log
//! (the embedded store's folder lock, the MongoDB store's sequencer lock), so neither can
//! hold a value storage no longer has.

mod hash_cache;
mod newest;

pub(crate) use hash_cache::HashCache;
pub(crate) use newest::Newest;
