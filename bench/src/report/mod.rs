//! Results as JSON (one file per run) and as tables: one row per run, then the targets of
//! issue 7 with the measured values and their ratios.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

mod targets;

use self::targets::targets;
use crate::cpu::CpuUse;
use crate::stats::Summary;
use crate::tail::TailCauses;

/// Whether a run measured something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It ran and measured.
    Ok,
    /// The server does not offer what the scenario needs (an endpoint answered 404): nothing
    /// was measured, which is not the same as zero.
    Unavailable,
    /// It could not run (setup failed).
    Failed,
}

/// The result of one run, as written to `--json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The name the report looks the run up by (`ours-create`, `hello`, ...).
    pub label: String,
    /// The scenario (`create`, `read`, `pg`, `sqlite-ceiling`, ...).
    pub scenario: String,
    /// What was measured (`offchain-db`, `hello`, `sqlite`, `postgresql`).
    pub target: String,
    /// Whether it measured.
    pub status: Status,
    /// Why not, or what to know about the figures.
    pub note: Option<String>,
    /// `closed` or `open`.
    pub mode: String,
    /// Concurrent clients (closed loop) or connections (open loop).
    pub clients: Option<u64>,
    /// Offered rate (open loop), per second.
    pub rate: Option<f64>,
    /// Measured seconds.
    pub duration_secs: f64,
    /// Successful requests (writes for the ceiling).
    pub ok: u64,
    /// Failed requests.
    pub errors: u64,
    /// The first error, if any.
    pub first_error: Option<String>,
    /// Successful requests per second.
    pub throughput: f64,
    /// Latency of successful requests (ms).
    pub latency_ms: Option<Summary>,
    /// Integration delay (ms), for the `integration-delay` scenario.
    pub delay_ms: Option<Summary>,
    /// Writes per commit (the SQLite ceiling).
    pub group_size: Option<u64>,
    /// CPU per request of the tool (and the server, when its process id was given), and how
    /// busy the machine was, over the measured window. Absent from older results.
    #[serde(default)]
    pub cpu: Option<CpuUse>,
    /// Open loop: the slow requests against the hypervisor's stolen time. Absent from older
    /// results.
    #[serde(default)]
    pub tail: Option<TailCauses>,
}

impl RunResult {
    /// A result that measured nothing, with the reason.
    pub fn not_measured(
        label: &str,
        scenario: &str,
        target: &str,
        status: Status,
        note: String,
    ) -> Self {
        Self {
            label: label.to_owned(),
            scenario: scenario.to_owned(),
            target: target.to_owned(),
            status,
            note: Some(note),
            mode: "-".to_owned(),
            clients: None,
            rate: None,
            duration_secs: 0.0,
            ok: 0,
            errors: 0,
            first_error: None,
            throughput: 0.0,
            latency_ms: None,
            delay_ms: None,
            group_size: None,
            cpu: None,
            tail: None,
        }
    }

    /// Throughput when the run measured.
    fn measured_throughput(&self) -> Option<f64> {
        (self.status == Status::Ok && self.ok > 0).then_some(self.throughput)
    }
}

/// The table header for [`row`].
pub fn header() -> String {
    "| run | scenario | target | load | ok/s | p50 ms | p99 ms | p99.9 ms | ok | errors | notes |\n\
     |---|---|---|---|---:|---:|---:|---:|---:|---:|---|\n"
        .to_owned()
}

/// One Markdown table row for a run.
pub fn row(r: &RunResult) -> String {
    let load = match (r.mode.as_str(), r.clients, r.rate) {
        ("open", _, Some(rate)) => format!("open {rate:.0}/s"),
        (_, Some(clients), _) => format!("{} {clients}", r.mode),
        (mode, _, _) => mode.to_owned(),
    };
    let (p50, p99, p999) = r.latency_ms.map_or_else(
        || ("-".to_owned(), "-".to_owned(), "-".to_owned()),
        |s| (ms(s.p50), ms(s.p99), ms(s.p999)),
    );
    let mut notes = match r.status {
        Status::Ok => String::new(),
        Status::Unavailable => "**UNAVAILABLE**: ".to_owned(),
        Status::Failed => "**FAILED**: ".to_owned(),
    };
    if let Some(delay) = r.delay_ms {
        let _ = write!(
            notes,
            "integration delay p50 {} / p99 {} / p99.9 {} ms ({} writes); ",
            ms(delay.p50),
            ms(delay.p99),
            ms(delay.p999),
            delay.count
        );
    }
    if let Some(group) = r.group_size {
        let _ = write!(notes, "group size {group}; ");
    }
    if let Some(cpu) = r.cpu {
        notes.push_str("CPU per request: ");
        if let Some(server) = cpu.server_us_per_request {
            let _ = write!(notes, "server {server:.1} µs, ");
        }
        let _ = write!(
            notes,
            "tool {:.1} µs; machine {:.0}% busy",
            cpu.tool_us_per_request,
            cpu.machine_busy * 100.0
        );
        if cpu.machine_steal >= 0.005 {
            let _ = write!(notes, " ({:.0}% stolen)", cpu.machine_steal * 100.0);
        }
        notes.push_str("; ");
    }
    if let Some(note) = &r.note {
        notes.push_str(note);
        notes.push_str("; ");
    }
    if let Some(error) = &r.first_error {
        let _ = write!(notes, "first error: {}", error.replace('|', "/"));
    }
    let throughput = if r.status == Status::Ok {
        format!("{:.0}", r.throughput)
    } else {
        "-".to_owned()
    };
    format!(
        "| {} | {} | {} | {load} | {throughput} | {p50} | {p99} | {p999} | {} | {} | {} |\n",
        r.label,
        r.scenario,
        r.target,
        r.ok,
        r.errors,
        notes.trim_end_matches("; ")
    )
}

pub(crate) fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// One target of issue 7, measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetCheck {
    /// What is measured.
    pub name: String,
    /// The measured value, with its unit, or why there is none.
    pub measured: String,
    /// The value as a number, when measured.
    pub value: Option<f64>,
    /// The goal.
    pub goal: String,
    /// `yes`, `no`, or `not measured`; `reference` for a figure shown beside a target to
    /// read it by, which has no goal of its own.
    pub met: String,
}

/// Every run and every target, as written to `target/bench/latest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The machine the figures come from.
    pub machine: String,
    /// Every run, in label order.
    pub runs: Vec<RunResult>,
    /// The targets with their ratios.
    pub targets: Vec<TargetCheck>,
}

/// Builds the report of all runs.
pub fn build(machine: String, mut runs: Vec<RunResult>) -> Report {
    runs.sort_by(|a, b| {
        order(&a.label)
            .cmp(&order(&b.label))
            .then(a.label.cmp(&b.label))
    });
    let targets = targets(&runs);
    Report {
        machine,
        runs,
        targets,
    }
}

/// The labels the script gives its runs, in the order the table shows them.
const LABELS: &[&str] = &[
    "ours-create",
    "sqlite-ceiling",
    "pg-create",
    "ours-read",
    "ours-read-open",
    "hello-open",
    "ours-read-uncached",
    "hello",
    "ours-query",
    "ours-proof",
    "ours-verified-read",
    "ours-integration-delay",
    "ours-read-version",
    "ours-read-version-heavy",
    "ours-healthz",
    "ours-healthz-patterns",
];

fn order(label: &str) -> usize {
    LABELS
        .iter()
        .position(|l| *l == label)
        .unwrap_or(LABELS.len())
}

/// The whole report as Markdown: the machine, every run, then the targets.
pub fn render(report: &Report) -> String {
    let mut out = format!("Machine: {}\n\n", report.machine);
    out.push_str(&header());
    for r in &report.runs {
        out.push_str(&row(r));
    }
    out.push_str("\n| target | measured | goal | met |\n|---|---:|---|---|\n");
    for t in &report.targets {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            t.name, t.measured, t.goal, t.met
        );
    }
    out
}

/// Reads every `*.json` run result in `dir`.
///
/// # Errors
/// When the folder cannot be read or a file is not a run result.
pub fn read_runs(dir: &Path) -> Result<Vec<RunResult>, String> {
    let mut runs = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let run = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not a run result: {e}", path.display()))?;
            runs.push(run);
        }
    }
    Ok(runs)
}

/// A one-line description of this machine: cores and CPU model (from `/proc/cpuinfo`).
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or_else(String::new, |kb| {
            format!(", {} GiB RAM", (kb + 512 * 1024) / (1024 * 1024))
        });
    format!(
        "{cores} cores ({model}){memory}, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

#[cfg(test)]
mod tests;
