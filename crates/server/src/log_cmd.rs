//! `offchain-db log succeed`: ends a log that can no longer grow without contradicting what
//! its key signed, and starts a successor with a new key and origin whose first entry, leaf 0,
//! is `log.succession` (API.md; see `docs/operations-log.md`).
//!
//! With the server stopped (the data folder's lock is taken), it:
//!
//! 1. reads where the old log ended: the last checkpoint its signer remembers (else the
//!    newest stored one, which must verify under the old key);
//! 2. writes the successor's key at `<key file>.successor` (fsynced with its folder);
//! 3. in ONE database transaction, starts the successor log: the old checkpoints move to
//!    `predecessor_checkpoints`, the old tree is cleared, and `log.succession` (whose
//!    `target` is `<old origin> <old size> <old root hex>`) becomes the first entry, the
//!    entries already stored following it in commit order (`infra::embedded::succession`);
//! 4. retires the old signer state and key file (renamed `<file>.predecessor-<millis>`, never
//!    deleted: old receipts verify with the old public key) and renames the successor's key
//!    to the key file;
//! 5. sequences the successor's tree and signs its checkpoints with the new key;
//! 6. prints both verifier keys and what to tell clients.
//!
//! Why this order survives a crash at any point: before step 3 commits, the database is the
//! old log's, and the old key and state are in place (a leftover `.successor` file signed
//! nothing and is replaced by the next run). Once step 3 has committed, the successor's key
//! exists, and nothing can sign with the old key again: `serve` refuses to start while a
//! `.successor` key is there, and the database has no checkpoint the old key could extend.
//! Running `log succeed` again finds the unsigned successor (no checkpoint, and the first
//! entry is `log.succession`) and finishes steps 4 and 5, each of which it can redo.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use audit_app::origin::default_origin;
use audit_app::{
    LogSigner, RememberingSigner, Sequencer, SequencerOptions, SignedTree, SignerMemory,
};
use audit_domain::checkpoint::Checkpoint;
use audit_domain::note::{KeyName, NoteSigner};
use audit_domain::succession::{PredecessorCheckpoint, SuccessionEntry};
use infra::embedded::{
    EmbeddedOptions, EmbeddedStore, EndedCheckpoint, FileSignerMemory, SIGNING_KEY_FILE_NAME,
    create_signing_seed, default_signer_state_path, load_or_create_signing_seed,
    successor_key_path, sync_parent,
};
use shared_kernel::{Actor, AuditId, Clock, Error, RequestId, SystemClock};

use crate::config::{CONFIG_ERROR_EXIT_CODE, Config, Store};

/// Runs `log succeed` on the configured store; exit 0 done, 2 refused or failed.
pub fn succeed(config: &Config, new_origin: Option<&str>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("offchain-db log succeed: cannot start a runtime: {error}");
            return ExitCode::from(CONFIG_ERROR_EXIT_CODE);
        }
    };
    match runtime.block_on(run(config, new_origin, None)) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("offchain-db log succeed: {}", error.chain());
            ExitCode::from(CONFIG_ERROR_EXIT_CODE)
        }
    }
}

/// A step after which a run can stop, as a crash there would stop it: a test seam for what
/// each crash leaves behind (never set by the command line).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// The successor's key is written; the database is the old log's.
    AfterSuccessorKey,
    /// The database holds the unsigned successor log; no file was switched.
    AfterDatabase,
    /// The old signer state is retired; the old key file is still in place.
    AfterRetiringState,
    /// The old key file is retired; the successor's key is not in its place yet.
    AfterRetiringKey,
    /// Every file is switched; the successor is not signed yet.
    BeforeSigning,
}

/// Returns the "crash" when the run is to stop at `point`.
fn crash_at(stop: Option<CrashPoint>, point: CrashPoint) -> Result<(), Error> {
    if stop == Some(point) {
        return Err(Error::internal(
            "log succeed stopped on purpose",
            std::io::Error::other(format!("simulated crash {point:?}")),
        ));
    }
    Ok(())
}

/// The key and state files of the log.
struct LogFiles {
    key: PathBuf,
    state: PathBuf,
    /// The successor's key while the succession is under way.
    successor: PathBuf,
}

impl LogFiles {
    fn of(config: &Config) -> Self {
        let key = config
            .tlog
            .signing_key
            .clone()
            .unwrap_or_else(|| config.data_dir.join(SIGNING_KEY_FILE_NAME));
        let state = config
            .tlog
            .signer_state
            .clone()
            .unwrap_or_else(|| default_signer_state_path(&key));
        let successor = successor_key_path(&key);
        Self {
            key,
            state,
            successor,
        }
    }
}

fn key_name(origin: &str) -> Result<KeyName, Error> {
    KeyName::new(origin).map_err(|_| {
        Error::invalid_input(format!(
            "the origin `{origin}` must be non-empty, without spaces or `+`"
        ))
    })
}

/// A key under its origin: the configured one, else the default one of its public key.
fn named_key(seed: &[u8; 32], origin: Option<&str>) -> Result<NoteSigner, Error> {
    let provisional = NoteSigner::from_seed(key_name("offchain-db")?, seed);
    let origin = origin.map_or_else(|| default_origin(&provisional.public_key()), str::to_owned);
    Ok(NoteSigner::from_seed(key_name(&origin)?, seed))
}

/// Runs `log succeed`, stopping after `stop` when set (a test seam: see [`CrashPoint`]);
/// returns the report to print.
///
/// # Errors
/// `INVALID_INPUT` when refused (nothing to succeed, a key or origin that does not match the
/// log, an origin that does not differ); storage and file errors.
#[doc(hidden)]
pub async fn run(
    config: &Config,
    new_origin: Option<&str>,
    stop: Option<CrashPoint>,
) -> Result<String, Error> {
    if let Store::Mongo(_) = config.store {
        return Err(Error::invalid_input(
            "`log succeed` on the `mongo` store is not built yet: it runs on the embedded \
             store only (docs/operations-log.md)",
        ));
    }
    if config.tlog.origin.is_some() && new_origin.is_none() {
        return Err(Error::invalid_input(
            "`tlog.origin` is configured: name the successor's origin with --new-origin, and \
             set `tlog.origin` to it before the next start",
        ));
    }
    let files = LogFiles::of(config);
    // Taken first: the lock refuses while a server holds the folder.
    let store = EmbeddedStore::open(
        &config.data_dir,
        EmbeddedOptions {
            durability: config.durability,
            ..EmbeddedOptions::default()
        },
    )?;
    if let Some(entry) = store.unsigned_successor()? {
        return finish_interrupted(config, &store, &files, entry, new_origin, stop).await;
    }
    let old_seed = load_or_create_signing_seed(&files.key, false)?;
    let old_key = named_key(&old_seed, config.tlog.origin.as_deref())?;
    let ended = where_the_old_log_ended(&store, &old_key, &files)?;
    // A successor key left by a run that stopped before its database write signed nothing.
    remove_if_present(&files.successor)?;
    let new_seed = create_signing_seed(&files.successor)?;
    let new_key = named_key(&new_seed, new_origin)?;
    if new_key.name() == old_key.name() {
        remove_if_present(&files.successor)?;
        return Err(Error::invalid_input(format!(
            "the successor's origin must differ from the old log's `{}`",
            old_key.name()
        )));
    }
    crash_at(stop, CrashPoint::AfterSuccessorKey)?;
    let now = SystemClock.now();
    let entry = SuccessionEntry {
        id: AuditId::generate(),
        at: now,
        actor: Actor::System,
        request_id: RequestId::generate(),
        predecessor: PredecessorCheckpoint {
            origin: old_key.name().clone(),
            tree_size: ended.tree_size,
            root: ended.root,
        },
    };
    if let Err(error) = store.start_successor_log(&entry, Some(ended)).await {
        // Nothing was written: the old log stands, and a server may start again.
        let _kept_if_not_removable = std::fs::remove_file(&files.successor);
        return Err(error);
    }
    crash_at(stop, CrashPoint::AfterDatabase)?;
    let retired = switch_key_files(&files, now.as_millis(), stop)?;
    crash_at(stop, CrashPoint::BeforeSigning)?;
    let size = sign_successor(&store, &files, new_key.clone()).await?;
    Ok(report(
        config,
        &entry.predecessor,
        Some(&old_key),
        &new_key,
        size,
        &retired,
    ))
}

/// Finishes a run that stopped after the database switched to the successor log: switches
/// the files that are not switched yet, then signs.
async fn finish_interrupted(
    config: &Config,
    store: &EmbeddedStore,
    files: &LogFiles,
    entry: SuccessionEntry,
    new_origin: Option<&str>,
    stop: Option<CrashPoint>,
) -> Result<String, Error> {
    let predecessor = &entry.predecessor;
    let mut old_key = None;
    let retired = if files.successor.exists() {
        if files.key.exists() {
            let seed = load_or_create_signing_seed(&files.key, false)?;
            old_key = Some(NoteSigner::from_seed(predecessor.origin.clone(), &seed));
        }
        switch_key_files(files, SystemClock.now().as_millis(), stop)?
    } else {
        Retired::default()
    };
    let new_seed = load_or_create_signing_seed(&files.key, false)?;
    let new_key = named_key(&new_seed, new_origin)?;
    if new_key.name() == &predecessor.origin {
        return Err(Error::invalid_input(format!(
            "the successor log's key file `{}` is named `{}`, the origin its predecessor \
             ended under: put the successor's key there (or name its origin with \
             --new-origin)",
            files.key.display(),
            predecessor.origin
        )));
    }
    crash_at(stop, CrashPoint::BeforeSigning)?;
    let size = sign_successor(store, files, new_key.clone()).await?;
    let mut said = String::from(
        "an interrupted `offchain-db log succeed` was finished (its database write had \
         committed)\n",
    );
    said.push_str(&report(
        config,
        predecessor,
        old_key.as_ref(),
        &new_key,
        size,
        &retired,
    ));
    Ok(said)
}

/// The old files, where they were kept.
#[derive(Debug, Default)]
struct Retired {
    key: Option<PathBuf>,
    state: Option<PathBuf>,
}

/// Retires the old signer state and key file (when still there) and puts the successor's
/// key in the key file's place. Each step can be redone after a crash.
fn switch_key_files(
    files: &LogFiles,
    millis: i64,
    stop: Option<CrashPoint>,
) -> Result<Retired, Error> {
    let mut retired = Retired::default();
    if files.state.exists() {
        retired.state = Some(retire(&files.state, millis)?);
    }
    crash_at(stop, CrashPoint::AfterRetiringState)?;
    if files.key.exists() {
        retired.key = Some(retire(&files.key, millis)?);
    }
    crash_at(stop, CrashPoint::AfterRetiringKey)?;
    std::fs::rename(&files.successor, &files.key)
        .and_then(|()| sync_parent(&files.key))
        .map_err(|e| {
            Error::unavailable(
                format!(
                    "could not put the successor's key `{}` in place of `{}`",
                    files.successor.display(),
                    files.key.display()
                ),
                e,
            )
        })?;
    Ok(retired)
}

/// Sequences the successor's tree (leaf 0 first) and signs it with `key`, whose memory is
/// the configured signer state; returns the size signed.
async fn sign_successor(
    store: &EmbeddedStore,
    files: &LogFiles,
    key: NoteSigner,
) -> Result<u64, Error> {
    let signer = Arc::new(RememberingSigner::open(
        key,
        Arc::new(FileSignerMemory::new(files.state.clone())),
    )?);
    let options = SequencerOptions {
        checkpoint_interval: Duration::ZERO,
        ..SequencerOptions::default()
    };
    let mut sequencer = Sequencer::start(
        store.log(),
        signer as Arc<dyn LogSigner>,
        Arc::new(SystemClock),
        options,
    )
    .await?;
    while sequencer.sequence_batch().await? >= options.batch_size {}
    sequencer.checkpoint_if_due().await?;
    Ok(sequencer.head().size)
}

/// What the operator is told.
fn report(
    config: &Config,
    predecessor: &PredecessorCheckpoint,
    old_key: Option<&NoteSigner>,
    new_key: &NoteSigner,
    size: u64,
    retired: &Retired,
) -> String {
    let mut report = format!(
        "the log `{}` ended at size {} (root {}); its successor `{}` starts with \
         `log.succession` as leaf 0, followed by the {} entries the database held, and has \
         signed size {size}\n",
        predecessor.origin,
        predecessor.tree_size,
        predecessor.root,
        new_key.name(),
        size.saturating_sub(1),
    );
    if let Some(old_key) = old_key {
        report.push_str(&format!(
            "old verifier key (keep publishing it: old receipts verify with it): {}\n",
            old_key.verifier().to_vkey()
        ));
    }
    report.push_str(&format!(
        "new verifier key (give it to your clients): {}\n",
        new_key.verifier().to_vkey()
    ));
    if let Some(key) = &retired.key {
        report.push_str(&format!("the old key was kept as {}\n", key.display()));
    }
    if let Some(state) = &retired.state {
        report.push_str(&format!(
            "the old signer state was kept as {}\n",
            state.display()
        ));
    }
    if config.tlog.origin.is_some() {
        report.push_str(&format!(
            "set `tlog.origin = \"{}\"` in the configuration before the next start\n",
            new_key.name()
        ));
    }
    report
}

/// The last checkpoint the old key signed: what its signer remembers, else the newest
/// stored checkpoint, which must verify under the old key.
fn where_the_old_log_ended(
    store: &EmbeddedStore,
    old_key: &NoteSigner,
    files: &LogFiles,
) -> Result<EndedCheckpoint, Error> {
    let memory = Arc::new(FileSignerMemory::new(files.state.clone()));
    let old_signer = RememberingSigner::open(old_key.clone(), Arc::clone(&memory) as _)?;
    if let Some(SignedTree { size, root }) = old_signer.last_signed()
        && let Some(note) = memory.load()?
    {
        return Ok(EndedCheckpoint {
            tree_size: size,
            root,
            note,
        });
    }
    let Some(note) = store.newest_checkpoint_note()? else {
        return Err(Error::invalid_input(
            "the log never signed a checkpoint: there is nothing to succeed",
        ));
    };
    let checkpoint = Checkpoint::open(&note, &old_key.verifier()).map_err(|e| {
        Error::invalid_input(format!(
            "the newest stored checkpoint does not verify under the configured key and origin \
             `{}` ({e}): configure the old log's key and origin",
            old_key.name()
        ))
    })?;
    Ok(EndedCheckpoint {
        tree_size: checkpoint.tree_size(),
        root: checkpoint.root_hash(),
        note,
    })
}

/// Removes `path` when it exists.
fn remove_if_present(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::unavailable(
            format!("could not remove `{}`", path.display()),
            e,
        )),
    }
}

/// Renames `path` to `<path>.predecessor-<millis>` (fsynced; never over an existing file);
/// returns the new name.
fn retire(path: &Path, millis: i64) -> Result<PathBuf, Error> {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".predecessor-{millis}"));
    let retired = PathBuf::from(name);
    if retired.exists() {
        return Err(Error::invalid_input(format!(
            "`{}` exists already: it is not overwritten",
            retired.display()
        )));
    }
    std::fs::rename(path, &retired)
        .and_then(|()| sync_parent(&retired))
        .map_err(|e| Error::unavailable(format!("could not retire `{}`", path.display()), e))?;
    Ok(retired)
}
