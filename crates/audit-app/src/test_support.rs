//! Test support shared by the sequencer's and the queries' unit tests (so it is a module of
//! its own rather than one module's `tests`): an in-memory [`LogStore`], keeping the same
//! contract as the adapters: one append is all or nothing, a stale head is a `CONFLICT`.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use audit_domain::merkle::{Hash, empty_root, leaf_hash, stored_hash_count};
use shared_kernel::{AuditId, Error};

use crate::ports::{
    AuditLeaf, LogAppend, LogLeaf, LogStore, PendingLeaf, StoredCheckpoint, TreeHead,
};

/// One committed audit entry.
#[derive(Debug, Clone)]
pub(crate) struct FakeEntry {
    pub(crate) id: AuditId,
    pub(crate) leaf: Vec<u8>,
    pub(crate) index: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct FakeState {
    /// Entries in the store's own order (what `pending` walks), sequenced or not.
    pub(crate) entries: Vec<FakeEntry>,
    pub(crate) hashes: Vec<Hash>,
    pub(crate) head: TreeHead,
    pub(crate) checkpoints: BTreeMap<u64, StoredCheckpoint>,
    pub(crate) appends: Vec<usize>,
    pub(crate) fail_next_append: bool,
    /// What an in-memory head would answer when it lags a commit; `None`: the real head.
    pub(crate) lagging_head: Option<TreeHead>,
}

/// The fake store.
#[derive(Debug)]
pub(crate) struct FakeLogStore {
    pub(crate) state: Mutex<FakeState>,
}

impl FakeLogStore {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(FakeState {
                entries: Vec::new(),
                hashes: Vec::new(),
                head: TreeHead {
                    size: 0,
                    root: empty_root(),
                },
                checkpoints: BTreeMap::new(),
                appends: Vec::new(),
                fail_next_append: false,
                lagging_head: None,
            }),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Commits an entry that a concurrent backend would list before entries that committed
    /// earlier (a commit number taken early, committed late): first in the store's order.
    pub(crate) fn commit_late_with_a_low_number(&self, leaf: &str) {
        self.lock().entries.insert(
            0,
            FakeEntry {
                id: AuditId::generate(),
                leaf: leaf.as_bytes().to_vec(),
                index: None,
            },
        );
    }

    /// Commits `count` entries with arbitrary leaf bytes.
    pub(crate) fn commit(&self, count: usize) {
        let mut state = self.lock();
        for _ in 0..count {
            let n = state.entries.len();
            state.entries.push(FakeEntry {
                id: AuditId::generate(),
                leaf: format!("leaf {n}").into_bytes(),
                index: None,
            });
        }
    }
}

#[async_trait]
impl LogStore for FakeLogStore {
    async fn head(&self) -> Result<TreeHead, Error> {
        let state = self.lock();
        Ok(state.lagging_head.unwrap_or(state.head))
    }

    async fn head_from_storage(&self) -> Result<TreeHead, Error> {
        Ok(self.lock().head)
    }

    async fn pending(&self, limit: usize) -> Result<Vec<PendingLeaf>, Error> {
        let state = self.lock();
        Ok(state
            .entries
            .iter()
            .filter(|entry| entry.index.is_none())
            .take(limit)
            .map(|entry| PendingLeaf {
                id: entry.id,
                leaf: entry.leaf.clone(),
            })
            .collect())
    }

    async fn append(&self, batch: LogAppend) -> Result<(), Error> {
        let mut state = self.lock();
        if std::mem::take(&mut state.fail_next_append) {
            return Err(Error::unavailable(
                "injected failure",
                std::io::Error::other("fake"),
            ));
        }
        if state.head != batch.from
            || Some(state.hashes.len() as u64) != stored_hash_count(batch.from.size)
        {
            return Err(Error::conflict("stale head"));
        }
        for (offset, leaf) in batch.leaves.iter().enumerate() {
            let Some(entry) = state.entries.iter_mut().find(|e| e.id == leaf.id) else {
                return Err(Error::conflict("no such entry"));
            };
            if entry.index.is_some() {
                return Err(Error::conflict("already sequenced"));
            }
            entry.index = Some(batch.from.size + offset as u64);
        }
        state.hashes.extend(batch.hashes);
        state.head = batch.to;
        state.appends.push(batch.leaves.len());
        Ok(())
    }

    async fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Error> {
        let state = self.lock();
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| state.hashes.get(i))
                    .copied()
                    .ok_or_else(|| Error::internal("missing hash", std::io::Error::other("fake")))
            })
            .collect()
    }

    async fn save_checkpoint(&self, checkpoint: StoredCheckpoint) -> Result<(), Error> {
        let mut state = self.lock();
        if let Some(existing) = state.checkpoints.get(&checkpoint.tree_size) {
            if existing.root_hash != checkpoint.root_hash {
                return Err(Error::conflict("a different checkpoint of this size"));
            }
            return Ok(());
        }
        state.checkpoints.insert(checkpoint.tree_size, checkpoint);
        Ok(())
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, Error> {
        Ok(self.lock().checkpoints.values().next_back().cloned())
    }

    async fn leaves(&self, start: u64, end: u64) -> Result<Vec<LogLeaf>, Error> {
        let state = self.lock();
        Ok(state
            .entries
            .iter()
            .filter_map(|e| e.index.map(|index| (index, e)))
            .filter(|(index, _)| (start..end).contains(index))
            .map(|(index, e)| LogLeaf {
                index,
                leaf: e.leaf.clone(),
                leaf_hash: leaf_hash(&e.leaf),
            })
            .collect())
    }

    async fn leaf_by_audit_id(&self, id: AuditId) -> Result<Option<AuditLeaf>, Error> {
        let state = self.lock();
        Ok(state
            .entries
            .iter()
            .find(|e| e.id == id)
            .map(|e| AuditLeaf {
                index: e.index,
                leaf: e.leaf.clone(),
                leaf_hash: leaf_hash(&e.leaf),
            }))
    }

    async fn is_empty(&self) -> Result<bool, Error> {
        let state = self.lock();
        Ok(state.checkpoints.is_empty() && state.entries.is_empty() && state.head.size == 0)
    }
}
