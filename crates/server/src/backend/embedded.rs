//! The embedded store as a backend: one SQLite file in `data_dir`, locked while served
//! (`infra::embedded`). The only module of the server that names `EmbeddedStore`.

use std::sync::Arc;

use infra::embedded::{AuditReader, CommitHealth, EmbeddedOptions, EmbeddedStore};
use shared_kernel::Error;

use super::{AuditPorts, StorePorts};
use crate::config::Config;
use crate::http::CommitState;

/// Opens (creating when missing) the store in `config.data_dir` and hands out its ports;
/// they hold the store, and its folder lock, until the last of them is dropped.
///
/// # Errors
/// As [`EmbeddedStore::open`].
pub(super) fn open(config: &Config) -> Result<StorePorts, Error> {
    let store = EmbeddedStore::open(
        &config.data_dir,
        EmbeddedOptions {
            durability: config.durability,
            document_cache_bytes: config.document_cache_bytes,
            commit_faults: config.commit_faults.clone(),
            ..EmbeddedOptions::default()
        },
    )?;
    Ok(StorePorts {
        unit_of_work: store.unit_of_work(),
        reader: store.reader(),
        log: store.log(),
        commits: Arc::new(StoreCommits(store.commit_health())),
    })
}

/// Opens the store in `data_dir` read-only, without its folder lock (a running server's
/// store can be audited).
///
/// # Errors
/// As [`AuditReader::open`].
pub(super) fn open_audit(data_dir: &std::path::Path) -> Result<AuditPorts, Error> {
    let reader = AuditReader::open(data_dir)?;
    Ok(AuditPorts {
        location: reader.path().display().to_string(),
        source: Box::new(reader),
    })
}

/// The embedded store's commit health, as `/readyz` reads it.
struct StoreCommits(CommitHealth);

impl CommitState for StoreCommits {
    fn failing(&self) -> Option<String> {
        self.0.last_failure().map(|failure| {
            format!(
                "{} ({} failed attempts over {} s)",
                failure.reason,
                failure.attempts,
                failure.since.elapsed().as_secs()
            )
        })
    }
}
