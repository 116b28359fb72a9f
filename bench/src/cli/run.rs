//! Running one prepared scenario: the closed or the open loop, the CPU window, whatever runs
//! beside the measured requests, and the result as a table row and JSON.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::LoadArgs;
use crate::driver::{self, Load, Window};
use crate::report::{self, RunResult, Status};
use crate::scenarios::contention::Background;
use crate::scenarios::{Prepared, delay};
use crate::stats::{Recorder, Summary};
use crate::ticked::{self, PlainRequest, TickedLoad};
use crate::{cpu, tail};

/// What runs beside a scenario's measured requests, and what to do with it afterwards.
#[derive(Default)]
pub(super) struct Beside {
    /// `integration-delay`: the poller of the log, and how long to wait for the last writes.
    pub(super) probe: Option<delay::DelayProbe>,
    /// `integration-delay`: how long to wait for the last writes to be covered.
    pub(super) delay_timeout: Duration,
    /// Issue 18's rows: the heavy load.
    pub(super) background: Option<Background>,
}

/// Longest wait for a background load's last requests after the measured ones.
const BACKGROUND_PATIENCE: Duration = Duration::from_secs(60);

/// Runs a prepared scenario under `load`, with whatever runs beside it, and emits its result.
pub(super) async fn finish(
    scenario: &str,
    target: &str,
    args: &LoadArgs,
    load: Load,
    window: Window,
    prepared: Result<Prepared, String>,
    beside: Beside,
) -> anyhow::Result<ExitCode> {
    let Beside {
        probe,
        delay_timeout,
        background,
    } = beside;
    let label = args.label.clone().unwrap_or_else(|| scenario.to_owned());
    let (op, note, open) = match prepared {
        Ok(Prepared::Ready { op, note, open }) => (op, note, open),
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
            schedule,
            connections,
        } => ("open", connections, Some(schedule.rate())),
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
    let open_read = open.as_ref().is_some_and(PlainRequest::is_read);
    // The heavy load spans the warm-up too, so it is in full swing when measuring starts.
    let background = background.map(|b| b.start(window.warmup + window.duration));
    let outcome = match (load, open) {
        (Load::Closed { clients }, _) => driver::closed(clients, window, op).await,
        (
            Load::Open {
                schedule,
                connections,
            },
            Some(request),
        ) => {
            let tick = Duration::from_micros(args.tick_us);
            notes.push(format!(
                "ticked open loop, {} µs tick (latency may be overstated by up to two ticks)",
                args.tick_us
            ));
            let load = TickedLoad {
                schedule,
                connections,
                window,
                tick,
            };
            run_ticked(load, request).await
        }
        (Load::Open { .. }, None) => {
            anyhow::bail!("scenario `{scenario}` has no open loop: leave out --rate")
        }
    };
    if let Some(background) = background {
        notes.push(background.finish(BACKGROUND_PATIENCE).await);
    }
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
    let tail = if rate.is_some() && open_read {
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
async fn run_ticked(load: TickedLoad, request: PlainRequest) -> driver::Outcome {
    let joined = tokio::task::spawn_blocking(move || ticked::run(&load, &request)).await;
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
