//! `offchain-db log succeed`: ends a log that can no longer grow without contradicting what
//! its key signed, and starts a successor with a new key and origin (see
//! `docs/operations-log.md`).
//!
//! With the server stopped (the data folder's lock is taken), it:
//!
//! 1. reads where the old log ended: the last checkpoint its signer remembers (else the
//!    newest stored one, which must verify under the old key);
//! 2. retires the old key file and signer state (renamed `<file>.predecessor-<millis>`,
//!    never deleted: old receipts verify with the old public key);
//! 3. writes a new key (fsynced with its folder) where the old one was;
//! 4. moves the old checkpoints to `predecessor_checkpoints` and commits a `log.succession`
//!    entry whose `target` is the old log's last checkpoint, `<origin> <size> <root hex>`;
//! 5. sequences it and signs the successor's checkpoints with the new key;
//! 6. prints both verifier keys and what to tell clients.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use audit_app::origin::default_origin;
use audit_app::{LogSigner, RememberingSigner, Sequencer, SequencerOptions, SignedTree};
use audit_domain::checkpoint::Checkpoint;
use audit_domain::note::{KeyName, NoteSigner};
use audit_domain::succession::{PredecessorCheckpoint, SuccessionEntry};
use infra::embedded::{
    EmbeddedOptions, EmbeddedStore, FileSignerMemory, SIGNING_KEY_FILE_NAME, create_signing_seed,
    default_signer_state_path, load_or_create_signing_seed, sync_parent,
};
use shared_kernel::{Actor, AuditId, Clock, Error, RequestId, SystemClock};

use crate::config::{CONFIG_ERROR_EXIT_CODE, Config};

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
    match runtime.block_on(run(config, new_origin)) {
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

/// The key and state files of the log.
struct LogFiles {
    key: PathBuf,
    state: PathBuf,
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
        Self { key, state }
    }
}

fn key_name(origin: &str) -> Result<KeyName, Error> {
    KeyName::new(origin).map_err(|_| {
        Error::invalid_input(format!(
            "the origin `{origin}` must be non-empty, without spaces or `+`"
        ))
    })
}

async fn run(config: &Config, new_origin: Option<&str>) -> Result<String, Error> {
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
    let old_seed = load_or_create_signing_seed(&files.key, false)?;
    let provisional = NoteSigner::from_seed(key_name("offchain-db")?, &old_seed);
    let old_origin = config
        .tlog
        .origin
        .clone()
        .unwrap_or_else(|| default_origin(&provisional.public_key()));
    let old_key = NoteSigner::from_seed(key_name(&old_origin)?, &old_seed);
    let ended = where_the_old_log_ended(&store, &old_key, &files)?;
    let now = SystemClock.now();
    let retired_key = retire(&files.key, now.as_millis())?;
    let retired_state = files
        .state
        .exists()
        .then(|| retire(&files.state, now.as_millis()))
        .transpose()?;
    let new_seed = create_signing_seed(&files.key)?;
    let provisional = NoteSigner::from_seed(key_name("offchain-db")?, &new_seed);
    let new_origin =
        new_origin.map_or_else(|| default_origin(&provisional.public_key()), str::to_owned);
    if new_origin == old_origin {
        return Err(Error::invalid_input(format!(
            "the successor's origin must differ from the old log's `{old_origin}`"
        )));
    }
    let entry = SuccessionEntry {
        id: AuditId::generate(),
        at: now,
        actor: Actor::System,
        request_id: RequestId::generate(),
        predecessor: PredecessorCheckpoint {
            origin: old_key.name().clone(),
            tree_size: ended.size,
            root: ended.root,
        },
    };
    store.start_successor_log(&entry).await?;
    let new_signer = Arc::new(RememberingSigner::open(
        NoteSigner::from_seed(key_name(&new_origin)?, &new_seed),
        Arc::new(FileSignerMemory::new(files.state.clone())),
    )?);
    let options = SequencerOptions {
        checkpoint_interval: Duration::ZERO,
        ..SequencerOptions::default()
    };
    let mut sequencer = Sequencer::start(
        store.log(),
        Arc::clone(&new_signer) as Arc<dyn LogSigner>,
        Arc::new(SystemClock),
        options,
    )
    .await?;
    while sequencer.sequence_batch().await? >= options.batch_size {}
    sequencer.checkpoint_if_due().await?;
    let size = sequencer.head().size;
    drop(sequencer);
    drop(store);
    let old_vkey = old_key.verifier().to_vkey();
    let new_vkey = new_signer.verifier().to_vkey();
    let mut report = format!(
        "the log `{old_origin}` ended at size {} (root {}); its successor `{new_origin}` \
         continues it, with `log.succession` as its first own entry, and has signed size {size}\n\
         old verifier key (keep publishing it: old receipts verify with it): {old_vkey}\n\
         new verifier key (give it to your clients): {new_vkey}\n\
         the old key was kept as {}\n",
        ended.size,
        ended.root,
        retired_key.display()
    );
    if let Some(state) = retired_state {
        report.push_str(&format!(
            "the old signer state was kept as {}\n",
            state.display()
        ));
    }
    if config.tlog.origin.is_some() {
        report.push_str(&format!(
            "set `tlog.origin = \"{new_origin}\"` in the configuration before the next start\n"
        ));
    }
    Ok(report)
}

/// The last checkpoint the old key signed: what its signer remembers, else the newest
/// stored checkpoint, which must verify under the old key.
fn where_the_old_log_ended(
    store: &EmbeddedStore,
    old_key: &NoteSigner,
    files: &LogFiles,
) -> Result<SignedTree, Error> {
    let old_signer = RememberingSigner::open(
        old_key.clone(),
        Arc::new(FileSignerMemory::new(files.state.clone())),
    )?;
    if let Some(last) = old_signer.last_signed() {
        return Ok(last);
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
    Ok(SignedTree {
        size: checkpoint.tree_size(),
        root: checkpoint.root_hash(),
    })
}

/// Renames `path` to `<path>.predecessor-<millis>` (fsynced); returns the new name.
fn retire(path: &Path, millis: i64) -> Result<PathBuf, Error> {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".predecessor-{millis}"));
    let retired = PathBuf::from(name);
    std::fs::rename(path, &retired)
        .and_then(|()| sync_parent(&retired))
        .map_err(|e| Error::unavailable(format!("could not retire `{}`", path.display()), e))?;
    Ok(retired)
}
