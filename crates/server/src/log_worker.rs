//! The verifiable log in the server process: its key, its wiring, and the background task
//! that runs the sequencer.
//!
//! [`wire_log`] loads the signing key (generating `<data_dir>/log-signing.key`, mode 0600, only
//! when no path is configured and the log is empty: one key per log), derives the origin,
//! opens the signer's memory of the last checkpoint it signed (`tlog.signer_state`, by default
//! beside the key) and logs the verifier key. It and the sequencer take the backend's log
//! port ([`LogStore`]), never a backend.
//! [`SequencerTask`] owns the [`Sequencer`]: it sequences batch after batch while a backlog
//! remains, otherwise polls every [`SEQUENCER_POLL_INTERVAL`] and signs checkpoints when due.
//! Asked to stop, it drains what is pending and signs the final head before it returns, so a
//! graceful shutdown leaves nothing waiting and nothing unsigned.
//!
//! When the database is older than what the signer signed (reason `log_rolled_back`: restored from
//! a copy, or writes lost), the task does not sequence: it closes the [`WriteGate`] so writes
//! are refused, tells the operator the two ways out, and the server goes on serving reads and
//! the proofs the store can give.
//!
//! The sequencer runs on a thread of its own: a batch hashes thousands of leaves (a few
//! milliseconds of CPU under a steady write load), and on a serving thread every request of
//! that thread's connections would wait for it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use audit_app::origin::default_origin;
use audit_app::sequencer::SEQUENCER_POLL_INTERVAL;
use audit_app::signer::is_rolled_back;
use audit_app::{LogQueries, LogSigner, LogStore, RememberingSigner, Sequencer, SequencerOptions};
use audit_domain::note::{KeyName, NoteSigner, NoteVerifier};
use infra::embedded::{
    FileSignerMemory, SIGNING_KEY_FILE_NAME, default_signer_state_path,
    load_or_create_signing_seed, successor_key_path,
};
use shared_kernel::{Clock, Error, ErrorCode};
use tokio::sync::{oneshot, watch};

use crate::http::WriteGate;

/// How long the task waits before retrying after a storage failure.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// Settings of the log (the `[tlog]` table of the configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// The signing key file; `None` means `<data_dir>/log-signing.key`, generated if missing.
    pub signing_key: Option<PathBuf>,
    /// The origin; `None` means `offchain-db/` + 16 hex characters of the key's hash.
    pub origin: Option<String>,
    /// The signer's memory of the last checkpoint it signed; `None` means beside the key
    /// file, `<key file>.signer-state`.
    pub signer_state: Option<PathBuf>,
    /// Batch size and checkpoint interval.
    pub sequencer: SequencerOptions,
}

/// The log's parts, wired over the backend's log port.
#[derive(Clone)]
pub struct LogWiring {
    /// The log's storage.
    pub store: Arc<dyn LogStore>,
    /// The signing key, with its memory of the last checkpoint it signed.
    pub signer: Arc<RememberingSigner>,
    /// The read side for the API.
    pub queries: LogQueries,
    /// The sequencer's settings.
    pub sequencer: SequencerOptions,
}

/// Loads (or, for an empty log, creates) the key and wires the log over `store`, the log's
/// port on whichever backend was opened. The key's file I/O runs on the blocking pool.
///
/// # Errors
/// `UNAVAILABLE` when the key file cannot be read or written; `INTERNAL_ERROR` when it is
/// malformed; `INVALID_INPUT` when the configured origin is not a valid key name, when the
/// default key file is missing although the log is not empty, when an interrupted
/// `log succeed` left its successor's key (`<key file>.successor`), or when the signer state
/// belongs to another key or origin; as [`LogStore::is_empty`].
pub async fn wire_log(
    store: Arc<dyn LogStore>,
    data_dir: &Path,
    options: &LogOptions,
) -> Result<LogWiring, Error> {
    let log_is_empty = store.is_empty().await?;
    let sequencer = options.sequencer;
    let (data_dir, options) = (data_dir.to_owned(), options.clone());
    let (signer, verifier) =
        tokio::task::spawn_blocking(move || load_signer(&data_dir, &options, log_is_empty))
            .await
            .map_err(|e| Error::internal("loading the log signing key panicked", e))??;
    Ok(LogWiring {
        queries: LogQueries::new(Arc::clone(&store), verifier),
        store,
        signer,
        sequencer,
    })
}

/// The signing key with its memory (see [`wire_log`]), and its verifier. A key is created
/// only when no path is configured, none is there and `log_is_empty`. Blocking: file I/O.
fn load_signer(
    data_dir: &Path,
    options: &LogOptions,
    log_is_empty: bool,
) -> Result<(Arc<RememberingSigner>, NoteVerifier), Error> {
    let (path, create) = match &options.signing_key {
        Some(path) => (path.clone(), false),
        None => (data_dir.join(SIGNING_KEY_FILE_NAME), true),
    };
    let successor = successor_key_path(&path);
    if successor.exists() {
        return Err(Error::invalid_input(format!(
            "`{}` is there: an `offchain-db log succeed` was interrupted. Run it again to \
             finish it; no server may sign this log until then",
            successor.display()
        )));
    }
    if create && !path.exists() && !log_is_empty {
        return Err(Error::invalid_input(format!(
            "the log signing key `{}` is missing, but this store's log is not empty: its \
             checkpoints were signed with that key, and a new one would make them all look \
             forged. Put the key file back (or set `tlog.signing_key` to it), or start a \
             successor log with `offchain-db log succeed`",
            path.display()
        )));
    }
    let seed = load_or_create_signing_seed(&path, create)?;
    // The public key does not depend on the name, so derive the default origin from a
    // provisional signer.
    let provisional = NoteSigner::from_seed(
        KeyName::new("offchain-db").map_err(|e| Error::internal("bad key name", e))?,
        &seed,
    );
    let origin = options
        .origin
        .clone()
        .unwrap_or_else(|| default_origin(&provisional.public_key()));
    let name = KeyName::new(origin.clone()).map_err(|_| {
        Error::new(
            ErrorCode::InvalidInput,
            format!("the log origin `{origin}` must be non-empty, without spaces or `+`"),
        )
    })?;
    let state_path = options
        .signer_state
        .clone()
        .unwrap_or_else(|| default_signer_state_path(&path));
    let memory = Arc::new(FileSignerMemory::new(state_path.clone()));
    let signer = Arc::new(RememberingSigner::open(
        NoteSigner::from_seed(name, &seed),
        memory,
    )?);
    let verifier = signer.verifier();
    tracing::info!(
        origin = %origin,
        vkey = %verifier.to_vkey(),
        key_file = %path.display(),
        signer_state = %state_path.display(),
        last_signed_size = signer.last_signed().map(|tree| tree.size),
        "log signing key loaded"
    );
    Ok((signer, verifier))
}

/// The running sequencer, on its own thread.
pub struct SequencerTask {
    stop: watch::Sender<bool>,
    /// Answered when the thread's loop has returned; dropped unanswered if it panicked.
    finished: oneshot::Receiver<()>,
}

impl SequencerTask {
    /// Starts the sequencer (which signs a checkpoint if the head has none, e.g. the size-0
    /// one at first start) on a new thread, and runs its loop there. When the store is older
    /// than what the signer signed, closes `gate` instead and sequences nothing.
    ///
    /// # Errors
    /// As [`Sequencer::start`] (but a `log_rolled_back` refusal, which closes the gate); `UNAVAILABLE`
    /// when the thread or its runtime cannot start.
    pub async fn start(
        wiring: &LogWiring,
        clock: Arc<dyn Clock>,
        gate: WriteGate,
    ) -> Result<Self, Error> {
        let store = Arc::clone(&wiring.store);
        let signer = Arc::clone(&wiring.signer) as Arc<dyn LogSigner>;
        let options = wiring.sequencer;
        let (stop, stopped) = watch::channel(false);
        let (started, start_outcome) = oneshot::channel::<Result<(), Error>>();
        let (done, finished) = oneshot::channel();
        std::thread::Builder::new()
            .name("offchain-sequencer".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let refused =
                            Error::unavailable("cannot start the sequencer's runtime", error);
                        let _ = started.send(Err(refused));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match Sequencer::start(store, signer, clock, options).await {
                        Ok(sequencer) => {
                            let _ = started.send(Ok(()));
                            run(sequencer, options.batch_size, stopped, &gate).await;
                        }
                        Err(error) if is_rolled_back(&error) => {
                            refuse_writes(&gate, &error);
                            let _ = started.send(Ok(()));
                        }
                        Err(error) => {
                            let _ = started.send(Err(error));
                        }
                    }
                });
                let _ = done.send(());
            })
            .map_err(|e| Error::unavailable("could not start the sequencer thread", e))?;
        start_outcome
            .await
            .map_err(|e| Error::internal("the sequencer thread panicked while starting", e))??;
        Ok(Self { stop, finished })
    }

    /// Asks the task to drain what is pending, sign the final head and stop; waits for it.
    pub async fn drain(self) {
        let _receiver_gone = self.stop.send(true);
        if self.finished.await.is_err() {
            tracing::error!("the log sequencer thread panicked");
        }
    }
}

/// Closes the gate and tells the operator why and what to do: the log must not grow.
fn refuse_writes(gate: &WriteGate, error: &Error) {
    gate.close(error);
    tracing::error!(
        error = %error.chain(),
        "THE LOG REFUSES TO SIGN: this store's database is older than the last checkpoint the \
         log signed. Writes are refused (503 UNAVAILABLE, reason log_rolled_back); reads and proofs are served. \
         Two ways out: put back the missing data (the newer database files) and restart, or \
         stop the server and start a successor log with `offchain-db log succeed` (a new key \
         and origin whose first entry records where this log ended). See \
         docs/operations-log.md"
    );
}

/// The loop: batches back to back while a backlog remains, else a short poll; checkpoints
/// when due; on stop, drain and sign. A refusal of the signer stops it and closes the gate.
async fn run(
    mut sequencer: Sequencer,
    batch_size: usize,
    mut stopped: watch::Receiver<bool>,
    gate: &WriteGate,
) {
    loop {
        // A dropped handle counts as a stop request, so the loop can never spin.
        let stopping = *stopped.borrow() || stopped.has_changed().is_err();
        let backlog = match sequencer.sequence_batch().await {
            Ok(added) => added >= batch_size,
            Err(error) if is_rolled_back(&error) => {
                refuse_writes(gate, &error);
                return;
            }
            Err(error) => {
                tracing::warn!(error = %error.chain(), "sequencing failed; retrying");
                if stopping {
                    return;
                }
                wait(&mut stopped, RETRY_DELAY).await;
                continue;
            }
        };
        match sequencer.checkpoint_if_due().await {
            Err(error) if is_rolled_back(&error) => {
                refuse_writes(gate, &error);
                return;
            }
            Err(error) => tracing::error!(error = %error.chain(), "signing a checkpoint failed"),
            Ok(_) => {}
        }
        if backlog {
            continue;
        }
        if stopping {
            // Drained: sign the final head once the rate limit allows, then stop.
            if let Some(due_in) = sequencer.checkpoint_due_in() {
                tokio::time::sleep(due_in).await;
                if let Err(error) = sequencer.checkpoint_if_due().await {
                    tracing::error!(error = %error.chain(), "signing the final checkpoint failed");
                }
            }
            tracing::info!(tree_size = sequencer.head().size, "log sequencer stopped");
            return;
        }
        let pause = sequencer
            .checkpoint_due_in()
            .map_or(SEQUENCER_POLL_INTERVAL, |due| {
                due.min(SEQUENCER_POLL_INTERVAL)
            });
        wait(&mut stopped, pause).await;
    }
}

/// Sleeps for `pause`, or less when a stop is requested.
async fn wait(stopped: &mut watch::Receiver<bool>, pause: Duration) {
    if *stopped.borrow() || stopped.has_changed().is_err() {
        return;
    }
    tokio::select! {
        () = tokio::time::sleep(pause) => {}
        _ = stopped.changed() => {}
    }
}
