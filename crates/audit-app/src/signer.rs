//! The signer that remembers: the log's key, and the last checkpoint it signed, kept outside
//! the database, so the log never signs two checkpoints that contradict each other.
//!
//! The database alone cannot promise that: restored from an older copy, or having lost its
//! last unsynced writes, it holds a smaller tree than the one already signed, and growing it
//! again would sign a different root at a size clients hold a checkpoint for. So the signer
//! keeps its own record ([`SignerMemory`], a file beside the key in production) and refuses:
//!
//! - a smaller tree than the last one it signed;
//! - another root at the size it signed;
//! - a larger tree that the caller's consistency proof does not show to extend the last one
//!   (checked here, against the remembered root: the signer does not take the caller's word).
//!
//! The record is the last signed note itself, written durably before the signature leaves
//! [`RememberingSigner::sign_checkpoint`]: a crash after the write and before the checkpoint
//! is stored loses nothing the signer needs, and a crash before it means no one saw the
//! signature. At load the record must verify under the key, so a record of another key or
//! origin is refused rather than trusted.

use std::sync::{Arc, Mutex, PoisonError};

use audit_domain::checkpoint::Checkpoint;
use audit_domain::merkle::{Hash, verify_consistency};
use audit_domain::note::{NoteSigner, NoteVerifier};
use shared_kernel::{Error, ErrorCode};

use crate::ports::LogSigner;

/// Where the signer keeps the last checkpoint note it signed.
pub trait SignerMemory: Send + Sync {
    /// The last note written by [`Self::store`], `None` when there was never one.
    ///
    /// # Errors
    /// `UNAVAILABLE` when it cannot be read.
    fn load(&self) -> Result<Option<String>, Error>;

    /// Replaces the remembered note. MUST be on stable storage when it returns (a power loss
    /// afterwards keeps it), and MUST leave either the old or the new note if it fails.
    ///
    /// # Errors
    /// `UNAVAILABLE` when it cannot be written durably.
    fn store(&self, note: &str) -> Result<(), Error>;

    /// Where the memory lives, for messages to the operator.
    fn describe(&self) -> String;
}

/// The tree of a checkpoint: what the signer compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedTree {
    /// The tree size signed.
    pub size: u64,
    /// The root hash signed.
    pub root: Hash,
}

/// The log's key with its memory of the last signed checkpoint (see the module docs).
pub struct RememberingSigner {
    key: NoteSigner,
    memory: Arc<dyn SignerMemory>,
    last: Mutex<Option<SignedTree>>,
}

impl std::fmt::Debug for RememberingSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RememberingSigner")
            .field("origin", &self.key.name().as_str())
            .field("memory", &self.memory.describe())
            .field("last", &self.last_signed())
            .finish_non_exhaustive()
    }
}

impl RememberingSigner {
    /// The key with what `memory` remembers.
    ///
    /// # Errors
    /// `INVALID_INPUT` when the remembered note is not a checkpoint signed by this key under
    /// its origin (the memory of another log, or of this log under another name);
    /// `UNAVAILABLE` when the memory cannot be read.
    pub fn open(key: NoteSigner, memory: Arc<dyn SignerMemory>) -> Result<Self, Error> {
        let last = match memory.load()? {
            Some(note) => {
                let checkpoint = Checkpoint::open(&note, &key.verifier()).map_err(|e| {
                    Error::invalid_input(format!(
                        "the signer state `{}` holds a checkpoint that does not verify under \
                         the configured key and origin `{}` ({e}): it belongs to another log; \
                         configure that log's key and origin, or point `tlog.signer_state` at \
                         this log's own state",
                        memory.describe(),
                        key.name()
                    ))
                })?;
                Some(SignedTree {
                    size: checkpoint.tree_size(),
                    root: checkpoint.root_hash(),
                })
            }
            None => None,
        };
        Ok(Self {
            key,
            memory,
            last: Mutex::new(last),
        })
    }

    /// The key with an empty memory of its own, in memory: for tests and benchmarks, which
    /// start it over a store whose newest checkpoint it then adopts.
    pub fn in_memory(key: NoteSigner) -> Self {
        Self {
            key,
            memory: Arc::new(InMemorySignerMemory::new()),
            last: Mutex::new(None),
        }
    }

    /// Where the memory lives.
    pub fn memory_location(&self) -> String {
        self.memory.describe()
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, Option<SignedTree>> {
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether signing `tree` (shown by `proof` to extend the last signed tree) would
    /// contradict a checkpoint already signed.
    fn check_extends(
        &self,
        last: SignedTree,
        tree: SignedTree,
        proof: &[Hash],
    ) -> Result<(), Error> {
        if tree.size < last.size {
            return Err(rolled_back(last.size, tree.size));
        }
        if tree.size == last.size {
            return if tree.root == last.root {
                Ok(())
            } else {
                Err(forked(last.size, tree.size))
            };
        }
        if last.size == 0 {
            return Ok(());
        }
        verify_consistency(last.size, tree.size, proof, &last.root, &tree.root)
            .map_err(|_| forked(last.size, tree.size))
    }
}

impl LogSigner for RememberingSigner {
    fn origin(&self) -> &str {
        self.key.name().as_str()
    }

    fn verifier(&self) -> NoteVerifier {
        self.key.verifier()
    }

    fn last_signed(&self) -> Option<SignedTree> {
        *self.remembered()
    }

    fn sign_checkpoint(&self, checkpoint: &Checkpoint, proof: &[Hash]) -> Result<String, Error> {
        let tree = SignedTree {
            size: checkpoint.tree_size(),
            root: checkpoint.root_hash(),
        };
        // Held across the check, the write and the signature: two signatures never race.
        let mut last = self.remembered();
        if let Some(last) = *last {
            self.check_extends(last, tree, proof)?;
        }
        let note = checkpoint
            .sign(&self.key)
            .map_err(|e| Error::internal("could not sign a checkpoint", e))?;
        // Durable before the signature leaves: after a crash the memory is never behind a
        // checkpoint someone may hold.
        self.memory.store(&note)?;
        *last = Some(tree);
        Ok(note)
    }

    fn adopt(&self, note: &str) -> Result<SignedTree, Error> {
        let checkpoint = Checkpoint::open(note, &self.key.verifier()).map_err(|e| {
            Error::invalid_input(format!(
                "cannot adopt a checkpoint that does not verify under the key and origin `{}`: {e}",
                self.key.name()
            ))
        })?;
        let tree = SignedTree {
            size: checkpoint.tree_size(),
            root: checkpoint.root_hash(),
        };
        let mut last = self.remembered();
        if last.is_some() {
            return Err(Error::new(
                ErrorCode::Conflict,
                "the signer already remembers a checkpoint; it adopts one only when it has none",
            ));
        }
        self.memory.store(note)?;
        *last = Some(tree);
        Ok(tree)
    }
}

/// The `reason` extension member of a refusal because the database is older than what the
/// signer signed. The error is `UNAVAILABLE`, the contract's code for storage that cannot
/// serve (API.md "Errors"): clients branch on `code`, and this one needs an operator. Its
/// extension members `reason`, `last_signed_size` and `database_size` tell the rest.
pub const LOG_ROLLED_BACK: &str = "log_rolled_back";

/// Whether `error` is a refusal to sign because the database is older than what was signed.
pub fn is_rolled_back(error: &Error) -> bool {
    error.code() == ErrorCode::Unavailable
        && error
            .extensions()
            .get("reason")
            .and_then(serde_json::Value::as_str)
            == Some(LOG_ROLLED_BACK)
}

/// A refusal: `UNAVAILABLE`, reason [`LOG_ROLLED_BACK`], naming both sizes.
fn refusal(detail: String, signed: u64, stored: u64) -> Error {
    Error::new(ErrorCode::Unavailable, detail)
        .with_extension("reason", LOG_ROLLED_BACK)
        .with_extension("last_signed_size", signed)
        .with_extension("database_size", stored)
}

/// The signer has signed a larger tree than the one it is asked to sign.
pub fn rolled_back(signed: u64, stored: u64) -> Error {
    refusal(
        format!(
            "the log's signer has signed a tree of size {signed}, but this store's log holds \
             {stored} leaves: the database is older than what was signed (restored from a \
             copy, or writes lost). Writes are refused so the log never signs a fork; put back \
             the missing data, or start a successor log with `offchain-db log succeed`"
        ),
        signed,
        stored,
    )
}

/// The signer has signed a tree this store's tree does not extend.
pub fn forked(signed: u64, stored: u64) -> Error {
    refusal(
        format!(
            "the log's signer has signed a tree of size {signed} that this store's log (of \
             {stored} leaves) does not extend: the database was restored from a copy and \
             written on. Writes are refused so the log never signs a fork; put back the \
             missing data, or start a successor log with `offchain-db log succeed`"
        ),
        signed,
        stored,
    )
}

/// A [`SignerMemory`] in memory, for tests and for tools that sign nothing durable.
#[derive(Debug, Default)]
pub struct InMemorySignerMemory {
    note: Mutex<Option<String>>,
}

impl InMemorySignerMemory {
    /// An empty memory.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SignerMemory for InMemorySignerMemory {
    fn load(&self) -> Result<Option<String>, Error> {
        Ok(self
            .note
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    fn store(&self, note: &str) -> Result<(), Error> {
        *self.note.lock().unwrap_or_else(PoisonError::into_inner) = Some(note.to_owned());
        Ok(())
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use audit_domain::merkle::{MemoryTree, leaf_hash, prove_consistency};
    use audit_domain::note::KeyName;

    use super::*;

    fn key() -> NoteSigner {
        NoteSigner::from_seed(
            KeyName::new("test.example/log").unwrap_or_else(|e| panic!("{e}")),
            &[7; 32],
        )
    }

    fn tree(leaves: &[&str]) -> MemoryTree {
        MemoryTree::from_leaf_hashes(leaves.iter().map(|l| leaf_hash(l.as_bytes())))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn checkpoint(tree: &MemoryTree) -> Checkpoint {
        let root = tree.root().unwrap_or_else(|e| panic!("{e}"));
        Checkpoint::new("test.example/log", tree.size(), root).unwrap_or_else(|e| panic!("{e}"))
    }

    fn proof(old: &MemoryTree, new: &MemoryTree) -> Vec<Hash> {
        prove_consistency(old.size(), new.size(), new).unwrap_or_else(|e| panic!("{e}"))
    }

    fn signer(memory: &Arc<InMemorySignerMemory>) -> RememberingSigner {
        RememberingSigner::open(key(), memory.clone()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_signature_is_remembered_durably_before_it_is_returned_and_survives_a_reopen() {
        let memory = Arc::new(InMemorySignerMemory::new());
        let first = signer(&memory);
        let three = tree(&["a", "b", "c"]);
        let note = first
            .sign_checkpoint(&checkpoint(&three), &[])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(memory.load().ok().flatten(), Some(note));
        let reopened = signer(&memory);
        assert_eq!(reopened.last_signed().map(|t| t.size), Some(3));
    }

    #[test]
    fn a_tree_extending_the_last_signed_one_is_signed() {
        let memory = Arc::new(InMemorySignerMemory::new());
        let signer = signer(&memory);
        let three = tree(&["a", "b", "c"]);
        let five = tree(&["a", "b", "c", "d", "e"]);
        assert!(signer.sign_checkpoint(&checkpoint(&three), &[]).is_ok());
        let signed = signer.sign_checkpoint(&checkpoint(&five), &proof(&three, &five));
        assert!(signed.is_ok(), "{signed:?}");
        assert_eq!(signer.last_signed().map(|t| t.size), Some(5));
        // The same tree again contradicts nothing.
        assert!(signer.sign_checkpoint(&checkpoint(&five), &[]).is_ok());
    }

    #[test]
    fn a_smaller_tree_another_root_or_a_tree_that_does_not_extend_is_refused() {
        let memory = Arc::new(InMemorySignerMemory::new());
        let signer = signer(&memory);
        let three = tree(&["a", "b", "c"]);
        let note = signer
            .sign_checkpoint(&checkpoint(&three), &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let two = tree(&["a", "b"]);
        let other_three = tree(&["a", "b", "x"]);
        let fork = tree(&["a", "b", "x", "d"]);
        let cases = [
            ("smaller", signer.sign_checkpoint(&checkpoint(&two), &[])),
            (
                "other root",
                signer.sign_checkpoint(&checkpoint(&other_three), &[]),
            ),
            (
                "not extending",
                signer.sign_checkpoint(&checkpoint(&fork), &proof(&other_three, &fork)),
            ),
        ];
        for (case, result) in cases {
            let refused = result.err();
            assert!(
                refused.as_ref().is_some_and(is_rolled_back),
                "{case}: {refused:?}"
            );
        }
        assert_eq!(
            memory.load().ok().flatten(),
            Some(note),
            "nothing refused is remembered"
        );
    }

    #[test]
    fn a_remembered_note_of_another_key_is_refused_at_open() {
        let memory = Arc::new(InMemorySignerMemory::new());
        let other = NoteSigner::from_seed(
            KeyName::new("test.example/log").unwrap_or_else(|e| panic!("{e}")),
            &[8; 32],
        );
        let note = checkpoint(&tree(&["a"]))
            .sign(&other)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(memory.store(&note).is_ok());
        let refused = RememberingSigner::open(key(), memory.clone());
        assert_eq!(
            refused.err().map(|e| e.code()),
            Some(ErrorCode::InvalidInput)
        );
    }

    #[test]
    fn a_signer_with_no_memory_adopts_a_checkpoint_of_its_own_key_once() {
        let memory = Arc::new(InMemorySignerMemory::new());
        let signer = signer(&memory);
        let note = checkpoint(&tree(&["a", "b"]))
            .sign(&key())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(signer.adopt(&note).ok().map(|t| t.size), Some(2));
        assert_eq!(memory.load().ok().flatten(), Some(note.clone()));
        assert_eq!(
            signer.adopt(&note).err().map(|e| e.code()),
            Some(ErrorCode::Conflict)
        );
    }
}
