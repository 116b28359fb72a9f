//! MongoDB as a backend (`infra::mongo`): the ports of one database, and the database's
//! sequencer lock, held by the ports so that a second server on the same database refuses to
//! start while this one runs (until issue 24's lease lets several servers share the work).

use std::sync::Arc;

use infra::mongo::{MongoAuditSource, MongoOptions, MongoStore, SequencerLock};
use shared_kernel::Error;

use super::{AuditPorts, StorePorts};
use crate::config::MongoConfig;
use crate::http::CommitState;

/// Connects to `config`'s database (checking that it runs transactions, creating the
/// indexes), takes its sequencer lock and hands out its ports.
///
/// # Errors
/// As [`MongoStore::open_blocking`] and [`MongoStore::lock_sequencer_blocking`]: among them
/// `UNAVAILABLE` when another server holds the lock, naming it.
pub(super) fn open(config: &MongoConfig) -> Result<StorePorts, Error> {
    let store = MongoStore::open_blocking(options(config))?;
    let lock = store.lock_sequencer_blocking(&lock_owner())?;
    Ok(StorePorts {
        unit_of_work: store.unit_of_work(),
        reader: store.reader(),
        log: store.log(),
        commits: Arc::new(MongoCommits { store, lock }),
    })
}

/// Opens the auditor's source over `config`'s database: the log up to the head stored now.
///
/// # Errors
/// As [`MongoAuditSource::open_blocking`].
pub(super) fn open_audit(config: &MongoConfig) -> Result<AuditPorts, Error> {
    let source = MongoAuditSource::open_blocking(options(config))?;
    Ok(AuditPorts {
        location: format!(
            "MongoDB database `{}` at {}",
            config.database,
            config.uri.masked()
        ),
        source: Box::new(source),
    })
}

fn options(config: &MongoConfig) -> MongoOptions {
    MongoOptions {
        faults: config.faults.clone(),
        ..MongoOptions::new(config.uri.expose(), config.database.clone())
    }
}

/// Who holds the lock, for the refusal a second server prints: host and process.
fn lock_owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_owned());
    format!("{host} pid {}", std::process::id())
}

/// `/readyz` on MongoDB: commits reach it, and this server still holds the sequencer lock.
/// It also keeps the store and the lock alive as long as the server's ports.
struct MongoCommits {
    store: MongoStore,
    lock: SequencerLock,
}

impl CommitState for MongoCommits {
    fn failing(&self) -> Option<String> {
        if !self.lock.is_held() {
            return Some(
                "MongoDB: another server took over this database's sequencer lock (this one \
                 missed its heartbeats); restart this server"
                    .to_owned(),
            );
        }
        self.store.commits_failing()
    }
}
