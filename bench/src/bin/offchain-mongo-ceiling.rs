//! `offchain-mongo-ceiling`: the MongoDB peer of issue 22's benchmark row. A raw driver loop on
//! the same MongoDB server the server under test uses: `--clients` tasks, each inserting the
//! four records of one logical write (document, revision, audit entry, outbox event) in one
//! multi-document transaction (snapshot read concern, majority write concern, as the store's
//! commits), then the same tasks reading those documents by `_id`. No HTTP, no validation, no
//! hashing, no log: what MongoDB and its driver alone allow here. Two results: the create run
//! and the read run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use loadgen::cli::write_result;
use loadgen::document;
use loadgen::report::{RunResult, Status};
use loadgen::stats::Recorder;
use mongodb::bson::{Document, doc};
use mongodb::options::{ReadConcern, WriteConcern};
use mongodb::{Client, Database};

/// The same allocator as `offchain-db`, so that every program of the suite is measured alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The raw MongoDB ceiling (same records per write, one transaction each).
#[derive(Debug, Parser)]
#[command(name = "offchain-mongo-ceiling", version, about)]
struct Args {
    /// MongoDB connection string.
    #[arg(long)]
    uri: String,
    /// Database to write into; by default a new one per run (`offchain_mongo_ceiling_<pid>_<ms>`:
    /// not every MongoDB-compatible server can drop one).
    #[arg(long)]
    database: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: u64,
    /// Measured seconds of each run (at most 600).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unrecorded warm-up seconds before each run (at most 60).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// What the server is, for the report's note (e.g. "the jongodb stand-in").
    #[arg(long, default_value = "MongoDB")]
    server: String,
    /// The create run's result as JSON.
    #[arg(long)]
    json_create: Option<PathBuf>,
    /// The read run's result as JSON.
    #[arg(long)]
    json_read: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("offchain-mongo-ceiling: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("offchain-mongo-ceiling: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The four records of write `seq`, shaped like the store's.
fn records(seq: u64) -> [(&'static str, Document); 4] {
    let id = format!("doc-{seq}");
    let audit_id = format!("01900000-0000-7000-8000-{seq:012x}");
    let hash = format!("{:064x}", u128::from(seq) * 0x9E37_79B9_7F4A_7C15);
    let data = mongodb::bson::serialize_to_document(&document::data(seq)).unwrap_or_default();
    let now = mongodb::bson::DateTime::now();
    [
        (
            "documents",
            doc! { "_id": &id, "version": 1_i64, "data": data.clone(), "content_hash": &hash,
            "audit_id": &audit_id, "created_at": now, "updated_at": now },
        ),
        (
            "revisions",
            doc! { "_id": { "c": "ceiling", "d": &id, "v": 1_i64 }, "data": data,
            "content_hash": &hash, "audit_id": &audit_id, "at": now },
        ),
        (
            "audit_entries",
            doc! { "_id": &audit_id, "operation": "document.create", "collection": "ceiling",
            "document_id": &id, "version": 1_i64, "hash_after": &hash,
            "leaf_index": mongodb::bson::Bson::Null, "at": now },
        ),
        (
            "outbox",
            doc! { "_id": format!("01900000-0000-7000-9000-{seq:012x}"),
            "event_type": "document.created", "audit_id": &audit_id, "at": now },
        ),
    ]
}

async fn write_one(client: &Client, database: &Database, seq: u64) -> Result<(), String> {
    let mut session = client.start_session().await.map_err(|e| e.to_string())?;
    session
        .start_transaction()
        .read_concern(ReadConcern::snapshot())
        .write_concern(WriteConcern::majority())
        .await
        .map_err(|e| e.to_string())?;
    for (collection, record) in records(seq) {
        database
            .collection::<Document>(collection)
            .insert_one(record)
            .session(&mut session)
            .await
            .map_err(|e| e.to_string())?;
    }
    session
        .commit_transaction()
        .await
        .map_err(|e| e.to_string())
}

async fn read_one(database: &Database, id: &str) -> Result<(), String> {
    let found = database
        .collection::<Document>("documents")
        .find_one(doc! { "_id": id })
        .await
        .map_err(|e| e.to_string())?;
    found.map(drop).ok_or_else(|| format!("{id} not found"))
}

/// Runs `clients` tasks for the warm-up and then the measured time; returns what they recorded
/// and the measured seconds.
async fn phase<F, Fut>(args: &Args, work: F) -> (Recorder, f64)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let work = Arc::new(work);
    let counter = Arc::new(AtomicU64::new(0));
    let measure_from = Instant::now() + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (work, counter) = (Arc::clone(&work), Arc::clone(&counter));
        tasks.push(tokio::spawn(async move {
            let mut recorder = Recorder::default();
            loop {
                let began = Instant::now();
                if began >= end {
                    break;
                }
                let outcome = work(counter.fetch_add(1, Ordering::Relaxed)).await;
                if began >= measure_from {
                    recorder.record(began.elapsed(), outcome);
                }
            }
            recorder
        }));
    }
    let mut all = Recorder::default();
    for task in tasks {
        if let Ok(recorder) = task.await {
            all.merge(recorder);
        }
    }
    (all, args.duration)
}

fn result(args: &Args, label: &str, what: &str, recorder: &Recorder, secs: f64) -> RunResult {
    RunResult {
        label: label.to_owned(),
        scenario: label.to_owned(),
        target: "mongodb".to_owned(),
        status: Status::Ok,
        note: Some(format!(
            "raw mongodb driver on {}: {what}; no HTTP, no hashing, no log",
            args.server
        )),
        mode: "closed".to_owned(),
        clients: Some(args.clients),
        rate: None,
        duration_secs: secs,
        ok: recorder.ok(),
        errors: recorder.errors(),
        first_error: None,
        throughput: recorder.ok() as f64 / secs,
        latency_ms: recorder.summary(),
        delay_ms: None,
        group_size: None,
        cpu: None,
        tail: None,
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.duration > 0.0 && args.duration <= 600.0,
        "--duration must be in (0, 600]"
    );
    anyhow::ensure!(
        (0.0..=60.0).contains(&args.warmup),
        "--warmup must be in [0, 60]"
    );
    anyhow::ensure!(args.clients >= 1, "--clients must be at least 1");
    let client = Client::with_uri_str(&args.uri).await?;
    let name = args.database.clone().unwrap_or_else(|| {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        format!("offchain_mongo_ceiling_{}_{millis}", std::process::id())
    });
    let database = client.database(&name);
    // Created by a first insert outside any transaction (not every MongoDB-compatible server
    // has `create`, and not every one creates a collection inside a transaction).
    for collection in ["documents", "revisions", "audit_entries", "outbox"] {
        let collection = database.collection::<Document>(collection);
        collection.insert_one(doc! { "_id": "created" }).await?;
        collection.delete_one(doc! { "_id": "created" }).await?;
    }
    eprintln!(
        "mongo-ceiling: raw driver, 4 records per write in one transaction, {} clients, {:.0} s",
        args.clients, args.duration
    );
    let writes = {
        let (client, database) = (client.clone(), database.clone());
        phase(&args, move |seq| {
            let (client, database) = (client.clone(), database.clone());
            async move { write_one(&client, &database, seq).await }
        })
        .await
    };
    // The ids the create run stored (the warm-up's among them), to read at random.
    let ids: Arc<Vec<String>> = Arc::new({
        use futures_util::TryStreamExt;
        let stored: Vec<Document> = database
            .collection::<Document>("documents")
            .find(doc! {})
            .projection(doc! { "_id": 1 })
            .limit(100_000)
            .await?
            .try_collect()
            .await?;
        stored
            .iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
            .collect()
    });
    anyhow::ensure!(!ids.is_empty(), "the create run stored nothing");
    let create = result(
        &args,
        "mongo-ceiling-create",
        "4 inserts in one transaction (snapshot, majority) per write",
        &writes.0,
        writes.1,
    );
    write_result(&create, args.json_create.as_deref())?;
    let reads = {
        let (database, ids) = (database.clone(), Arc::clone(&ids));
        phase(&args, move |n| {
            let database = database.clone();
            let ids = Arc::clone(&ids);
            async move {
                let at = usize::try_from(n.wrapping_mul(7919)).unwrap_or_default() % ids.len();
                read_one(&database, &ids[at]).await
            }
        })
        .await
    };
    let read = result(
        &args,
        "mongo-ceiling-read",
        "find_one by _id",
        &reads.0,
        reads.1,
    );
    write_result(&read, args.json_read.as_deref())?;
    Ok(())
}
