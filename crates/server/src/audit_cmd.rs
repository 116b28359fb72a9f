//! `offchain-db audit`: audits a whole store (see [`audit_app::auditor`]) and prints one line
//! per finding, then a summary.
//!
//! The store is opened by its backend ([`crate::backend::open_audit`]), which hands the
//! auditor its port ([`AuditSource`]) and runs the backend's own checks through it. The
//! embedded store is opened read-only without its folder lock, so a stopped store, a copy of one,
//! or one a server is running on can be audited. The signing key sits in the data folder, so
//! a thorough attacker could rewrite the store and re-sign it: only checkpoints kept outside
//! the store (`--checkpoint`) rule that out, and the summary says when none was given.
//!
//! Exit codes (API.md): 0 nothing found, 1 at least one finding, 2 usage or I/O error.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use audit_app::auditor::{Anchor, AuditSource, Finding, FindingKind, Summary, audit};
use audit_domain::note::NoteVerifier;
use clap::Args;

use crate::backend::{self, AuditPorts, AuditTarget};
use crate::cli_input::{FINDING_EXIT_CODE, USAGE_EXIT_CODE, read_note, read_vkey};
use crate::config::settings::DEFAULT_MONGO_DATABASE;
use crate::config::{MongoConfig, StoreMode};

/// Lines printed per finding kind; the summary still counts every finding.
const MAX_LINES_PER_KIND: u64 = 1000;

/// The flags of `offchain-db audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Which storage backend holds the store: `embedded` (--data-dir) or `mongo`
    /// (--mongo-uri, --mongo-database).
    #[arg(long, value_enum, default_value = "embedded")]
    store: StoreMode,
    /// Folder of the embedded store to audit (read only; it may be in use by a server).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// MongoDB connection string of the store to audit (with `--store mongo`).
    #[arg(long, value_name = "URI")]
    mongo_uri: Option<String>,
    /// MongoDB database of the store to audit (with `--store mongo`).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_MONGO_DATABASE)]
    mongo_database: String,
    /// The log's verifier key (`GET /v1/log/key`'s `vkey`), or a file holding it.
    #[arg(long, value_name = "VKEY")]
    vkey: String,
    /// A checkpoint note kept outside the store, to check the store against (repeatable).
    #[arg(long = "checkpoint", value_name = "NOTE")]
    checkpoints: Vec<PathBuf>,
}

/// Runs the audit and prints its report to stdout.
pub fn run(args: &AuditArgs) -> ExitCode {
    match prepare(args).and_then(|(store, verifier, anchors)| {
        report(&*store.source, &store.location, &verifier, &anchors)
    }) {
        Ok(summary) if summary.is_clean() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(FINDING_EXIT_CODE),
        Err(message) => {
            eprintln!("offchain-db audit: {message}");
            ExitCode::from(USAGE_EXIT_CODE)
        }
    }
}

/// Parses the key and the outside checkpoints, opens the store: anything wrong here is a
/// usage or I/O error, never a finding.
fn prepare(args: &AuditArgs) -> Result<(AuditPorts, NoteVerifier, Vec<Anchor>), String> {
    let verifier = read_vkey(&args.vkey)?;
    let anchors = args
        .checkpoints
        .iter()
        .map(|path| {
            let note = read_note(path)
                .map_err(|e| format!("cannot read checkpoint `{}`: {e}", path.display()))?;
            Anchor::open(path.display().to_string(), &note, &verifier).map_err(|e| {
                format!(
                    "checkpoint `{}` is not a checkpoint signed by the given key: {e}",
                    path.display()
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let store = backend::open_audit(&target(args)?)
        .map_err(|e| format!("cannot open the store: {}", e.chain()))?;
    Ok((store, verifier, anchors))
}

/// The store the flags name.
fn target(args: &AuditArgs) -> Result<AuditTarget, String> {
    match args.store {
        StoreMode::Embedded => args
            .data_dir
            .clone()
            .map(|data_dir| AuditTarget::Embedded { data_dir })
            .ok_or_else(|| "--data-dir is required with --store embedded".to_owned()),
        StoreMode::Mongo => args
            .mongo_uri
            .clone()
            .map(|uri| AuditTarget::Mongo(MongoConfig::new(uri, args.mongo_database.clone())))
            .ok_or_else(|| "--mongo-uri is required with --store mongo".to_owned()),
    }
}

/// Runs the audit, printing findings as they come, then the summary.
fn report(
    source: &dyn AuditSource,
    location: &str,
    verifier: &NoteVerifier,
    anchors: &[Anchor],
) -> Result<Summary, String> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut printed: BTreeMap<FindingKind, u64> = BTreeMap::new();
    let mut sink = |finding: &Finding| {
        let count = printed.entry(finding.kind).or_default();
        *count += 1;
        if *count <= MAX_LINES_PER_KIND {
            // A closed stdout must not hide the exit code: the summary decides it.
            let _ignored = writeln!(out, "{finding}");
        }
    };
    let summary = audit(source, verifier, anchors, &mut sink)
        .map_err(|e| format!("reading the store failed: {}", e.chain()))?;
    let _ignored = write!(out, "{}", summary_text(location, &summary));
    Ok(summary)
}

/// The closing lines: what was checked, whether an outside anchor was given, the verdict.
fn summary_text(location: &str, summary: &Summary) -> String {
    let mut text = format!(
        "audited {}: {} documents, {} revisions, {} audit entries in the log \
         ({} committed but not yet in it), {} leaves, {} stored checkpoints, \
         {} outside checkpoints\n",
        location,
        summary.documents,
        summary.revisions,
        summary.entries,
        summary.pending_entries,
        summary.leaves,
        summary.checkpoints,
        summary.anchors
    );
    text.push_str(&format!(
        "checked against their entries: {} collections, {} outbox events, {} idempotency \
         records\n",
        summary.collections, summary.events, summary.idempotency_records
    ));
    if !summary.backend_checks.is_empty() {
        text.push_str(&format!(
            "checked by the store's own rules: {}\n",
            summary.backend_checks.join(", ")
        ));
    }
    if summary.anchors == 0 {
        text.push_str(
            "warning: no outside checkpoint was given: whoever holds the signing key (in the \
             data folder by default) could rewrite a store rewritten and re-signed with it would pass; pass \
             --checkpoint with a note kept elsewhere\n",
        );
    }
    for (kind, &count) in &summary.findings {
        if count > MAX_LINES_PER_KIND {
            text.push_str(&format!(
                "({} more {kind} findings not shown)\n",
                count - MAX_LINES_PER_KIND
            ));
        }
    }
    if summary.is_clean() {
        text.push_str("result: valid, no findings\n");
    } else {
        let kinds: Vec<String> = summary
            .findings
            .iter()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect();
        text.push_str(&format!(
            "result: {} findings ({})\n",
            summary.finding_count(),
            kinds.join(", ")
        ));
    }
    text
}
