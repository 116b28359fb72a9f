//! The command line of `offchain-loadgen`: one subcommand per scenario, plus `report` (one
//! table of every run), `free-port` and `wait` (helpers for `scripts/bench-peers.sh`).

mod run;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

pub use self::run::write_result;
use self::run::{Beside, finish};
use crate::driver::{Load, Window};
use crate::lean::LeanClient;
use crate::loopback::{check_base_url, http_client};
use crate::report::{self, RunResult, Status};
use crate::scenarios::contention;
use crate::scenarios::{delay, http, pg};
use crate::schedule::Schedule;

/// Longest measured time a run may ask for, so that every loop stops by itself.
const MAX_DURATION_SECS: f64 = 600.0;

/// Load generator for Offchain DB and its peers (loopback only).
#[derive(Debug, Parser)]
#[command(name = "offchain-loadgen", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// POST ~1 KiB documents into a fresh collection with a JSON Schema.
    Create(HttpRun),
    /// GET documents by id (after seeding `--seed` documents).
    Read(HttpRun),
    /// GET filtered pages (`{"group": g}`, 1 in 10, pages of 20).
    Query(HttpRun),
    /// GET inclusion proofs from the log.
    Proof(HttpRun),
    /// GET `.../documents/{id}/proof` (verified reads).
    VerifiedRead(HttpRun),
    /// Writes, and the delay from each acknowledgement to a checkpoint covering it.
    IntegrationDelay(HttpRun),
    /// GET `/` (the HTTP ceiling peer, `offchain-hello`).
    Hello(HttpRun),
    /// GET documents by version (not served by the document cache), alone or beside
    /// `--heavy-clients` clients of heavy queries (issue 18).
    ReadVersion(ContentionRun),
    /// GET `/healthz`, alone or beside `--heavy-clients` clients of pattern-heavy writes
    /// (issue 18).
    Healthz(ContentionRun),
    /// INSERT ~1 KiB JSONB documents into PostgreSQL with an audit trigger.
    Pg(PgRun),
    /// Reads every run's JSON in `--dir`, prints one table with the targets' ratios, writes it
    /// as JSON.
    Report(ReportArgs),
    /// Prints a free TCP port on 127.0.0.1.
    FreePort,
    /// Waits until `--url` answers 200 (at most `--timeout-secs`).
    Wait(WaitArgs),
}

/// How to offer load, for how long, and where results go.
#[derive(Debug, Args)]
struct LoadArgs {
    /// Closed loop: this many concurrent clients. Open loop: this many connections, which
    /// the requests share (a request due while all of them are busy waits for one, and its
    /// wait counts in its latency), as wrk2's `-c`.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Open loop: this many requests per second (coordinated-omission-correct latency).
    #[arg(long, conflicts_with = "rate_from")]
    rate: Option<f64>,
    /// Open loop at `--rate-fraction` of the throughput in this earlier run's JSON.
    #[arg(long, value_name = "FILE")]
    rate_from: Option<PathBuf>,
    /// Fraction of `--rate-from`'s throughput to offer.
    #[arg(long, default_value_t = 0.5)]
    rate_fraction: f64,
    /// Measured seconds (at most 600).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unrecorded warm-up seconds before the measurement (at most 60).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// The run's name in the report.
    #[arg(long)]
    label: Option<String>,
    /// Write the result as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Open loop: how often its one thread wakes to send what has come due and take what has
    /// arrived, in microseconds (10 to 1000). Latency may be overstated by up to two ticks,
    /// never understated.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(10..=1000))]
    tick_us: u64,
    /// The measured server's process id: its CPU time per request is reported beside the
    /// tool's (that process only, not its children).
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
}

#[derive(Debug, Args)]
struct HttpRun {
    #[command(flatten)]
    load: LoadArgs,
    /// The server, on loopback only.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// Documents to seed before reads, queries and proofs.
    #[arg(long, default_value_t = 1000)]
    seed: u64,
    /// `integration-delay`: longest wait after the run for the last writes to be covered.
    #[arg(long, default_value_t = 30)]
    delay_timeout_secs: u64,
}

/// A cheap request measured beside a heavy load (see `scenarios::contention`).
#[derive(Debug, Args)]
struct ContentionRun {
    #[command(flatten)]
    http: HttpRun,
    /// Clients running the heavy request back to back beside the measured ones (0: the
    /// measured requests alone).
    #[arg(long, default_value_t = 0)]
    heavy_clients: usize,
    /// `read-version`: the collection to read and query, seeded with `--seed` documents
    /// unless it holds them already (so runs alone and beside the load share it).
    #[arg(long)]
    collection: Option<String>,
    /// `healthz`: patterns in the heavy writes' schema.
    #[arg(long, default_value_t = 100)]
    patterns: usize,
    /// `healthz`: KiB of the string each heavy write sends.
    #[arg(long, default_value_t = 256)]
    string_kib: usize,
}

#[derive(Debug, Args)]
struct PgRun {
    #[command(flatten)]
    load: LoadArgs,
    /// PostgreSQL connection string (`host=127.0.0.1 port=5433 user=bench dbname=bench`),
    /// on loopback only.
    #[arg(long)]
    pg: String,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// Folder of run results (`*.json`).
    #[arg(long)]
    dir: PathBuf,
    /// Where to write the combined report as JSON.
    #[arg(long)]
    out: PathBuf,
    /// Also write the Markdown table here.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct WaitArgs {
    /// URL that must answer 200 (loopback only).
    #[arg(long)]
    url: String,
    /// Longest wait.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
}

impl Cli {
    /// Runs the command.
    ///
    /// # Errors
    /// On bad arguments or when a run cannot start; an unavailable scenario is not an error.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Create(args) => http_scenario("create", args).await,
            Command::Read(args) => http_scenario("read", args).await,
            Command::Query(args) => http_scenario("query", args).await,
            Command::Proof(args) => http_scenario("proof", args).await,
            Command::VerifiedRead(args) => http_scenario("verified-read", args).await,
            Command::IntegrationDelay(args) => http_scenario("integration-delay", args).await,
            Command::Hello(args) => http_scenario("hello", args).await,
            Command::ReadVersion(args) => contention_scenario("read-version", args).await,
            Command::Healthz(args) => contention_scenario("healthz", args).await,
            Command::Pg(args) => pg_scenario(args).await,
            Command::Report(args) => report_command(&args),
            Command::FreePort => {
                let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
                println!("{}", listener.local_addr()?.port());
                Ok(ExitCode::SUCCESS)
            }
            Command::Wait(args) => wait(&args).await,
        }
    }
}

/// The load and window the arguments ask for.
fn load_of(args: &LoadArgs) -> anyhow::Result<(Load, Window)> {
    if !(args.duration > 0.0 && args.duration <= MAX_DURATION_SECS) {
        anyhow::bail!("--duration must be in (0, {MAX_DURATION_SECS}] seconds");
    }
    if !(0.0..=60.0).contains(&args.warmup) {
        anyhow::bail!("--warmup must be in [0, 60] seconds");
    }
    let window = Window {
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
    };
    let rate = match (&args.rate, &args.rate_from) {
        (Some(rate), _) => Some(*rate),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)?;
            let earlier: RunResult = serde_json::from_str(&text)?;
            if earlier.status != Status::Ok || earlier.throughput <= 0.0 {
                anyhow::bail!(
                    "--rate-from {}: that run measured no throughput ({:?})",
                    file.display(),
                    earlier.status
                );
            }
            Some(earlier.throughput * args.rate_fraction)
        }
        (None, None) => None,
    };
    let load = match rate {
        Some(rate) => Load::Open {
            schedule: Schedule::new(rate).map_err(anyhow::Error::msg)?,
            connections: args.clients.max(1),
        },
        None => Load::Closed {
            clients: args.clients.max(1),
        },
    };
    Ok((load, window))
}

async fn http_scenario(scenario: &str, args: HttpRun) -> anyhow::Result<ExitCode> {
    let (load, window) = load_of(&args.load)?;
    let base = check_base_url(&args.base_url).map_err(anyhow::Error::msg)?;
    let pool = pool_of(load);
    let client = http_client(pool).map_err(anyhow::Error::msg)?;
    let lean = LeanClient::new(&base, pool).map_err(anyhow::Error::msg)?;
    let target = if scenario == "hello" {
        "hello"
    } else {
        "offchain-db"
    };
    let mut probe = None;
    let prepared = match scenario {
        "create" => http::create(client, lean, &base).await,
        "read" => http::read(client, lean, &base, args.seed.max(1)).await,
        "query" => http::query(client, lean, &base, args.seed.max(1)).await,
        "proof" => http::proof(client, lean, &base, args.seed.max(1)).await,
        "verified-read" => http::verified_read(client, lean, &base, args.seed.max(1)).await,
        "integration-delay" => delay::prepare(client, lean, &base)
            .await
            .map(|(prepared, p)| {
                probe = p;
                prepared
            }),
        _ => Ok(http::hello(lean)),
    };
    let beside = Beside {
        probe,
        delay_timeout: Duration::from_secs(args.delay_timeout_secs.min(600)),
        background: None,
    };
    finish(scenario, target, &args.load, load, window, prepared, beside).await
}

/// Connections the measured requests need.
fn pool_of(load: Load) -> usize {
    match load {
        Load::Closed { clients } => clients,
        Load::Open { connections, .. } => connections,
    }
}

async fn contention_scenario(scenario: &str, args: ContentionRun) -> anyhow::Result<ExitCode> {
    let http = &args.http;
    let (load, window) = load_of(&http.load)?;
    let base = check_base_url(&http.base_url).map_err(anyhow::Error::msg)?;
    let pool = pool_of(load).max(args.heavy_clients);
    let client = http_client(pool).map_err(anyhow::Error::msg)?;
    let lean = LeanClient::new(&base, pool).map_err(anyhow::Error::msg)?;
    let prepared = if scenario == "read-version" {
        let seeded = http.seed.max(1);
        let collection = args.collection.clone();
        contention::read_version(client, lean, &base, seeded, collection, args.heavy_clients).await
    } else {
        let (patterns, kib) = (args.patterns.max(1), args.string_kib.max(1));
        contention::healthz(client, lean, &base, args.heavy_clients, patterns, kib).await
    };
    let (prepared, background) = match prepared {
        Ok((prepared, background)) => (Ok(prepared), background),
        Err(why) => (Err(why), None),
    };
    let beside = Beside {
        background,
        ..Beside::default()
    };
    finish(
        scenario,
        "offchain-db",
        &http.load,
        load,
        window,
        prepared,
        beside,
    )
    .await
}

async fn pg_scenario(args: PgRun) -> anyhow::Result<ExitCode> {
    let (load, window) = load_of(&args.load)?;
    let clients = match load {
        Load::Closed { clients } => clients,
        Load::Open { connections, .. } => connections,
    };
    let prepared = pg::prepare(&args.pg, clients).await;
    finish(
        "pg",
        "postgresql",
        &args.load,
        load,
        window,
        prepared,
        Beside::default(),
    )
    .await
}

fn report_command(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let runs = report::read_runs(&args.dir).map_err(anyhow::Error::msg)?;
    let built = report::build(report::machine(), runs);
    let markdown = report::render(&built);
    print!("{markdown}");
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, serde_json::to_vec_pretty(&built)?)?;
    if let Some(path) = &args.markdown {
        std::fs::write(path, markdown)?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait(args: &WaitArgs) -> anyhow::Result<ExitCode> {
    let url = check_base_url(&args.url).map_err(anyhow::Error::msg)?;
    let client = http_client(1).map_err(anyhow::Error::msg)?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs.min(600));
    while Instant::now() < deadline {
        if let Ok(answer) = client
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            && answer.status().is_success()
        {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("{url} did not answer 200 within {} s", args.timeout_secs);
    Ok(ExitCode::FAILURE)
}
