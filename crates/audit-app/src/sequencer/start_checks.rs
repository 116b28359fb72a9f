//! What the sequencer checks before it signs anything: the store's newest checkpoint was
//! signed by the configured key under the configured origin (one key per log), and a signer
//! that remembers nothing takes that checkpoint as the last one it signed.

use audit_domain::checkpoint::Checkpoint;
use shared_kernel::Error;

use crate::ports::{LogSigner, StoredCheckpoint};

/// The store's newest checkpoint must verify under the signer's key and origin, and say
/// what its columns say: otherwise the key (or the origin) is not this log's, and signing
/// with it would make every earlier checkpoint look forged.
///
/// # Errors
/// `INVALID_INPUT` naming the checkpoint's origin and the configured origin and key.
pub(super) fn signed_by_this_key(
    checkpoint: &StoredCheckpoint,
    signer: &dyn LogSigner,
) -> Result<(), Error> {
    let verifier = signer.verifier();
    let opened = Checkpoint::open(&checkpoint.note, &verifier);
    let agrees = opened.as_ref().is_ok_and(|c| {
        c.tree_size() == checkpoint.tree_size && c.root_hash() == checkpoint.root_hash
    });
    if agrees {
        return Ok(());
    }
    let why = match opened {
        Err(e) => e.to_string(),
        Ok(_) => "its note and its columns disagree".to_owned(),
    };
    let signed_as = checkpoint.note.lines().next().unwrap_or("");
    Err(Error::invalid_input(format!(
        "the log's newest checkpoint (size {}, origin `{signed_as}`) does not verify under the \
         configured key `{}` and origin `{}` ({why}): this store's log was signed by another key \
         or under another origin. Configure the log's own key (`tlog.signing_key`) and origin \
         (`tlog.origin`); a new key is made only for an empty log or by `offchain-db log succeed`",
        checkpoint.tree_size,
        verifier.to_vkey(),
        verifier.name(),
    )))
}

/// A signer with no memory (a store written before the signer kept one, or restored onto a
/// new machine) takes the store's newest checkpoint, already checked to be its own, as the
/// last one it signed. Loudly: if that checkpoint is older than one signed before the memory
/// was lost, only the operator can know.
///
/// # Errors
/// What [`LogSigner::adopt`] returns.
pub(super) fn adopt(checkpoint: &StoredCheckpoint, signer: &dyn LogSigner) -> Result<(), Error> {
    signer.adopt(&checkpoint.note)?;
    tracing::warn!(
        tree_size = checkpoint.tree_size,
        root = %checkpoint.root_hash,
        "THE LOG SIGNER HAD NO STATE: it adopted the store's newest checkpoint as the last one \
         it signed. If this store was restored from a copy older than a checkpoint this log \
         already published, that checkpoint and the ones the log signs from now on contradict \
         each other: stop the server and put back the newer data or the signer state file"
    );
    Ok(())
}
