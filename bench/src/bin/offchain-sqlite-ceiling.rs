//! `offchain-sqlite-ceiling`: the storage ceiling peer. A raw SQLite program on the embedded
//! store's own schema (its migrations, applied through `infra::embedded::apply_migrations`,
//! so the tables and indexes are the store's and cannot drift from them) and its durability
//! (`journal_mode=WAL`, `synchronous=FULL`), writing the same four rows per logical write
//! (document, revision, audit entry, outbox event) from one writer, committing every
//! `--group-size` writes. No HTTP, no validation, no hashing, no JSON work beyond formatting:
//! what SQLite alone allows on this disk.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use loadgen::cli::write_result;
use loadgen::document;
use loadgen::report::{RunResult, Status};
use loadgen::stats::Recorder;
use rusqlite::{Connection, params};

/// The same allocator as `offchain-db`, so that every program of the suite is measured alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const COLLECTION_ID: &str = "01900000-0000-7000-8000-000000000001";

/// The raw SQLite write ceiling (same rows, same durability as the embedded store).
#[derive(Debug, Parser)]
#[command(name = "offchain-sqlite-ceiling", version, about)]
struct Args {
    /// Folder for the database file (created if missing; the file is replaced).
    #[arg(long)]
    dir: PathBuf,
    /// Logical writes (four rows each) per commit.
    #[arg(long, default_value_t = 1)]
    group_size: u64,
    /// Where the group size comes from (shown in the report's note), e.g. what the server's
    /// writer logged during the create run.
    #[arg(long)]
    group_size_from: Option<String>,
    /// `full` (fsync every commit, like `--durability full`) or `normal`.
    #[arg(long, default_value = "full")]
    synchronous: String,
    /// Measured seconds (at most 600).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unrecorded warm-up seconds (at most 60).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// The run's name in the report.
    #[arg(long, default_value = "sqlite-ceiling")]
    label: String,
    /// Write the result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("offchain-sqlite-ceiling: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn open(args: &Args) -> anyhow::Result<Connection> {
    std::fs::create_dir_all(&args.dir)?;
    let path = args.dir.join("ceiling.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        if file.exists() {
            std::fs::remove_file(file)?;
        }
    }
    let mut connection = Connection::open(&path)?;
    let mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    anyhow::ensure!(
        mode.eq_ignore_ascii_case("wal"),
        "SQLite refused WAL (mode {mode})"
    );
    let synchronous = match args.synchronous.as_str() {
        "full" => "FULL",
        "normal" => "NORMAL",
        other => anyhow::bail!("--synchronous must be full or normal, not {other}"),
    };
    connection.pragma_update(None, "synchronous", synchronous)?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    infra::embedded::apply_migrations(&mut connection)
        .map_err(|e| anyhow::anyhow!("applying the store's migrations: {e}"))?;
    connection.execute(
        "INSERT INTO collections (id, name, schema, version, created_at, updated_at) \
         VALUES (?1, 'ceiling', ?2, 1, 0, 0)",
        params![COLLECTION_ID, document::schema().to_string()],
    )?;
    Ok(connection)
}

/// Writes one logical change: document, revision, audit entry, outbox event.
fn write_one(transaction: &rusqlite::Transaction<'_>, seq: u64) -> rusqlite::Result<()> {
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
    )
    .unwrap_or(0);
    let id = format!("doc-{seq}");
    let audit_id = format!("01900000-0000-7000-8000-{seq:012x}");
    let event_id = format!("01900000-0000-7000-9000-{seq:012x}");
    let data = document::data(seq).to_string();
    let hash = format!("{:064x}", u128::from(seq) * 0x9E37_79B9_7F4A_7C15);
    let leaf = format!(
        "{{\"actor\":\"anonymous\",\"at\":\"2026-11-25T09:30:00.123Z\",\"collection\":\"ceiling\",\
         \"collection_id\":\"{COLLECTION_ID}\",\"document_id\":\"{id}\",\"hash_after\":\"{hash}\",\
         \"hash_before\":null,\"id\":\"{audit_id}\",\"operation\":\"document.create\",\
         \"patch_sha256\":null,\"request_id\":\"req-{seq}\",\"trace_id\":null,\"v\":1,\"version\":1}}"
    );
    let leaf_hash = hash.as_bytes().get(..32).unwrap_or_default().to_vec();
    let payload = format!(
        "{{\"collection\":\"ceiling\",\"collection_id\":\"{COLLECTION_ID}\",\"document_id\":\"{id}\",\
         \"version\":1,\"hash_before\":null,\"hash_after\":\"{hash}\",\"audit_id\":\"{audit_id}\",\
         \"context\":{{\"actor\":\"anonymous\",\"request_id\":\"req-{seq}\",\"trace_id\":null}}}}"
    );
    transaction
        .prepare_cached(
            "INSERT INTO documents (collection_id, id, version, data, content_hash, created_at, \
             updated_at, audit_id) VALUES (?1, ?2, 1, ?3, ?4, ?5, ?5, ?6)",
        )?
        .execute(params![COLLECTION_ID, id, data, hash, now, audit_id])?;
    // As the server stores it: the current revision shares the document row's data.
    transaction
        .prepare_cached(
            "INSERT INTO revisions (collection_id, document_id, version, operation, data, \
             content_hash, at, actor, audit_id) VALUES (?1, ?2, 1, 'create', NULL, ?3, ?4, \
             'anonymous', ?5)",
        )?
        .execute(params![COLLECTION_ID, id, hash, now, audit_id])?;
    transaction
        .prepare_cached(
            "INSERT INTO audit_entries (id, at, actor, operation, collection, collection_id, \
             document_id, version, leaf, leaf_hash, patch) VALUES (?1, ?2, 'anonymous', \
             'document.create', 'ceiling', ?3, ?4, 1, ?5, ?6, NULL)",
        )?
        .execute(params![
            audit_id,
            now,
            COLLECTION_ID,
            id,
            leaf.into_bytes(),
            leaf_hash
        ])?;
    transaction
        .prepare_cached(
            "INSERT INTO outbox (id, event_type, audit_id, occurred_at, payload) \
             VALUES (?1, 'document.created', ?2, ?3, ?4)",
        )?
        .execute(params![event_id, audit_id, now, payload])?;
    Ok(())
}

fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.duration > 0.0 && args.duration <= 600.0,
        "--duration must be in (0, 600]"
    );
    anyhow::ensure!(
        (0.0..=60.0).contains(&args.warmup),
        "--warmup must be in [0, 60]"
    );
    anyhow::ensure!(args.group_size >= 1, "--group-size must be at least 1");
    let mut connection = open(&args)?;
    eprintln!(
        "{}: raw SQLite, 4 rows per write, {} writes per commit, synchronous={}, {:.0} s",
        args.label, args.group_size, args.synchronous, args.duration
    );
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let mut recorder = Recorder::default();
    let mut seq = 0u64;
    let mut last = measure_from;
    loop {
        let began = Instant::now();
        if began >= end {
            break;
        }
        let transaction = connection.transaction()?;
        for _ in 0..args.group_size {
            write_one(&transaction, seq)?;
            seq += 1;
        }
        transaction.commit()?;
        let committed = Instant::now();
        if began >= measure_from {
            // Every write of a group waits for the group's commit.
            for _ in 0..args.group_size {
                recorder.record_latency(committed - began);
            }
            last = committed;
        }
    }
    let elapsed = last.saturating_duration_since(measure_from);
    let throughput = if elapsed.is_zero() {
        0.0
    } else {
        recorder.ok() as f64 / elapsed.as_secs_f64()
    };
    let result = RunResult {
        label: args.label.clone(),
        scenario: "sqlite-ceiling".to_owned(),
        target: "sqlite".to_owned(),
        status: Status::Ok,
        note: Some(format!(
            "raw SQLite {}, synchronous={}, WAL, 1 writer; latency = the group's transaction{}",
            rusqlite::version(),
            args.synchronous,
            args.group_size_from
                .as_deref()
                .map_or_else(String::new, |from| format!("; group size {from}"))
        )),
        mode: "closed".to_owned(),
        clients: Some(1),
        rate: None,
        duration_secs: elapsed.as_secs_f64(),
        ok: recorder.ok(),
        errors: recorder.errors(),
        first_error: None,
        throughput,
        latency_ms: recorder.summary(),
        delay_ms: None,
        group_size: Some(args.group_size),
        cpu: None,
        tail: None,
    };
    write_result(&result, args.json.as_deref())
}
