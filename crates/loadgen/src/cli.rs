//! The command line of `offchain-loadgen`: one subcommand per scenario, plus `report` (one
//! table of every run), `free-port` and `wait` (helpers for `scripts/bench-peers.sh`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::driver::{self, Load, Window};
use crate::lean::LeanClient;
use crate::loopback::{check_base_url, http_client};
use crate::report::{self, RunResult, Status};
use crate::scenarios::{Prepared, delay, http, pg};
use crate::schedule::Schedule;
use crate::stats::{Recorder, Summary};
use crate::ticked::{self, PlainGet, TickedLoad};
use crate::{cpu, tail};

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
    /// Open loop: cap on outstanding requests; by default `--clients`, one per connection.
    /// A larger cap lets the tool open a new connection whenever the server falls behind,
    /// so the run measures connection set-up under overload rather than the operation.
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// The run's name in the report.
    #[arg(long)]
    label: Option<String>,
    /// Write the result as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Open loop: how a plain GET scenario (read, query, proof, verified-read, hello) sends
    /// its requests. `ticked`: one thread that wakes on a fixed tick (`--tick-us`) and sends
    /// what has come due and takes what has arrived, so the tool costs the shared machine one
    /// wake-up per tick (latency may be overstated by up to two ticks, never understated).
    /// `async`: the runtime's lanes, a wake-up for every send and every answer. Scenarios
    /// that are not plain GETs (create, integration-delay) always use `async`.
    #[arg(long, value_enum, default_value_t = OpenClient::Ticked)]
    open_client: OpenClient,
    /// `--open-client ticked`: the tick, in microseconds (10 to 1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(10..=1000))]
    tick_us: u64,
    /// The measured server's process id: its CPU time per request is reported beside the
    /// tool's (that process only, not its children).
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
}

/// How the open loop sends a plain GET scenario's requests (see `--open-client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OpenClient {
    /// One thread waking on a fixed tick.
    Ticked,
    /// The runtime's lanes, woken by every send and answer.
    Async,
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
            max_in_flight: args.max_in_flight.unwrap_or(args.clients).max(1),
            clients: args.clients,
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
    let pool = match load {
        Load::Closed { clients } => clients,
        Load::Open { max_in_flight, .. } => max_in_flight,
    };
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
    let delay_timeout = Duration::from_secs(args.delay_timeout_secs.min(600));
    finish(
        scenario,
        target,
        &args.load,
        load,
        window,
        prepared,
        probe,
        delay_timeout,
    )
    .await
}

async fn pg_scenario(args: PgRun) -> anyhow::Result<ExitCode> {
    let (load, window) = load_of(&args.load)?;
    let clients = match load {
        Load::Closed { clients } | Load::Open { clients, .. } => clients,
    };
    let prepared = pg::prepare(&args.pg, clients).await;
    finish(
        "pg",
        "postgresql",
        &args.load,
        load,
        window,
        prepared,
        None,
        Duration::ZERO,
    )
    .await
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site per kind of scenario"
)]
async fn finish(
    scenario: &str,
    target: &str,
    args: &LoadArgs,
    load: Load,
    window: Window,
    prepared: Result<Prepared, String>,
    probe: Option<delay::DelayProbe>,
    delay_timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let label = args.label.clone().unwrap_or_else(|| scenario.to_owned());
    let (op, note, plain) = match prepared {
        Ok(Prepared::Ready { op, note, plain }) => (op, note, plain),
        Ok(Prepared::Unavailable(why)) => {
            eprintln!("\n*** {label}: scenario `{scenario}` is UNAVAILABLE: {why} ***\n");
            let result =
                RunResult::not_measured(&label, scenario, target, Status::Unavailable, why);
            emit(&result, args)?;
            return Ok(ExitCode::SUCCESS);
        }
        Err(why) => {
            eprintln!("\n*** {label}: scenario `{scenario}` FAILED to start: {why} ***\n");
            let result = RunResult::not_measured(&label, scenario, target, Status::Failed, why);
            emit(&result, args)?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let (mode, clients, rate) = match load {
        Load::Closed { clients } => ("closed", clients, None),
        Load::Open {
            schedule, clients, ..
        } => ("open", clients, Some(schedule.rate())),
    };
    eprintln!(
        "{label}: {scenario} against {target}, {mode} loop ({}), {:.0} s after {:.0} s warm-up",
        rate.map_or_else(|| format!("{clients} clients"), |r| format!("{r:.0}/s")),
        window.duration.as_secs_f64(),
        window.warmup.as_secs_f64()
    );
    let started = Instant::now();
    let cpu_window = tokio::spawn(cpu::sample_window(
        args.server_pid,
        window.warmup,
        window.duration,
    ));
    let mut notes: Vec<String> = note.into_iter().collect();
    let plain_get = plain.is_some();
    let outcome = match (load, plain) {
        (
            Load::Open {
                schedule,
                max_in_flight,
                ..
            },
            Some(get),
        ) if args.open_client == OpenClient::Ticked => {
            let tick = Duration::from_micros(args.tick_us);
            notes.push(format!(
                "ticked open loop, {} µs tick (latency may be overstated by up to two ticks)",
                args.tick_us
            ));
            let load = TickedLoad {
                schedule,
                connections: max_in_flight,
                window,
                tick,
            };
            run_ticked(load, get).await
        }
        _ => driver::run(load, window, op).await,
    };
    let (cpu, steal) = match cpu_window.await {
        Ok(Ok(sampled)) => (
            sampled.first.until(&sampled.last, outcome.throughput()),
            sampled.steal,
        ),
        Ok(Err(why)) => {
            notes.push(format!("CPU use not measured: {why}"));
            (None, Vec::new())
        }
        Err(e) => {
            notes.push(format!("CPU use not measured: its sampler failed: {e}"));
            (None, Vec::new())
        }
    };
    // The 2 ms threshold is the read target's: a write's latency is mostly its fsync.
    let tail = if rate.is_some() && plain_get {
        let gaps = outcome.loop_gaps.as_deref();
        tail::causes(outcome.recorder.slow(), &steal, gaps)
    } else {
        None
    };
    if let Some(tail) = &tail {
        notes.push(tail.note(outcome.recorder.ok()));
    }
    if outcome.waited_for_slot > 0 {
        notes.push(format!(
            "{} sends waited for a free connection (all were busy; the wait counts in latency)",
            outcome.waited_for_slot
        ));
    }
    if rate.is_some() {
        notes.push(format!(
            "tool send lag max {:.2} ms",
            outcome.max_send_lag_ms
        ));
    }
    let mut delay_ms = None;
    let mut recorder: Recorder = outcome.recorder.clone();
    if let Some(probe) = probe {
        let delays = probe.finish(delay_timeout).await;
        delay_ms = Summary::of(&delays.delays);
        if delays.missing > 0 {
            notes.push(format!(
                "{} writes NOT covered within {} s (the delay percentiles exclude them: a lower bound)",
                delays.missing,
                delay_timeout.as_secs()
            ));
        }
        if let Some(error) = delays.error {
            recorder.record_error(format!("polling the log: {error}"));
        }
    }
    let result = RunResult {
        label: label.clone(),
        scenario: scenario.to_owned(),
        target: target.to_owned(),
        status: Status::Ok,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        mode: mode.to_owned(),
        clients: u64::try_from(clients).ok(),
        rate,
        duration_secs: outcome.elapsed.as_secs_f64(),
        ok: recorder.ok(),
        errors: recorder.errors(),
        first_error: recorder.first_error().map(str::to_owned),
        throughput: outcome.throughput(),
        latency_ms: recorder.summary(),
        delay_ms,
        group_size: None,
        cpu,
        tail,
    };
    eprintln!("{label}: done in {:.1} s", started.elapsed().as_secs_f64());
    emit(&result, args)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the ticked open loop on a thread of its own; a loop that could not start is a run
/// with that error.
async fn run_ticked(load: TickedLoad, get: PlainGet) -> driver::Outcome {
    let joined = tokio::task::spawn_blocking(move || ticked::run(&load, &get)).await;
    match joined {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(why)) => failed_outcome(why),
        Err(e) => failed_outcome(format!("the ticked open loop failed: {e}")),
    }
}

fn failed_outcome(why: String) -> driver::Outcome {
    let mut outcome = driver::Outcome::default();
    outcome.recorder.record_error(why);
    outcome
}

/// Prints the result as a table row and writes its JSON.
fn emit(result: &RunResult, args: &LoadArgs) -> anyhow::Result<()> {
    write_result(result, args.json.as_deref())
}

/// Prints a run result as a one-row table and writes its JSON to `json`, if given.
///
/// # Errors
/// When the file cannot be written.
pub fn write_result(result: &RunResult, json: Option<&std::path::Path>) -> anyhow::Result<()> {
    print!("{}{}", report::header(), report::row(result));
    if let Some(path) = json {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(result)?)?;
    }
    Ok(())
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
