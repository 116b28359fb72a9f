//! The target lines under the runs' table: issue 7's goals with their ratios, and the figures
//! shown beside them to read them by (the machine's floor, stolen time, issue 18's cheap
//! requests beside heavy ones).

use super::{RunResult, Status, TargetCheck, ms};
use crate::stats::Summary;

fn find<'a>(runs: &'a [RunResult], label: &str) -> Option<&'a RunResult> {
    runs.iter().find(|r| r.label == label)
}

fn check(
    name: &str,
    goal: &str,
    value: Option<f64>,
    unit: &str,
    met: impl Fn(f64) -> bool,
    why: &str,
) -> TargetCheck {
    match value {
        Some(v) => TargetCheck {
            name: name.to_owned(),
            measured: format_value(v, unit),
            value: Some(v),
            goal: goal.to_owned(),
            met: if met(v) { "yes" } else { "no" }.to_owned(),
        },
        None => TargetCheck {
            name: name.to_owned(),
            measured: format!("not measured ({why})"),
            value: None,
            goal: goal.to_owned(),
            met: "not measured".to_owned(),
        },
    }
}

/// A figure with no goal of its own, shown beside a target to read it by: what the HTTP
/// ceiling achieves under the same load is the best any server could do on this machine.
fn reference(name: &str, value: Option<f64>, unit: &str, why: &str) -> TargetCheck {
    TargetCheck {
        name: name.to_owned(),
        measured: value.map_or_else(
            || format!("not measured ({why})"),
            |v| format_value(v, unit),
        ),
        value,
        goal: "none (reference)".to_owned(),
        met: "reference".to_owned(),
    }
}

fn format_value(v: f64, unit: &str) -> String {
    match unit {
        "%" => format!("{:.1}%", v * 100.0),
        "x" => format!("{v:.2}×"),
        "/s" => format!("{v:.0}/s"),
        "ms" => format!("{} ms", ms(v)),
        other => format!("{v:.2} {other}"),
    }
}

fn why(runs: &[RunResult], label: &str) -> String {
    match find(runs, label) {
        None => format!("no `{label}` run"),
        Some(r) => match r.status {
            Status::Ok if r.ok == 0 => format!("`{label}` had no successful request"),
            Status::Ok => format!("`{label}` incomplete"),
            Status::Unavailable => format!("`{label}` unavailable"),
            Status::Failed => format!("`{label}` failed"),
        },
    }
}

/// Every target line, from the runs found.
pub(super) fn targets(runs: &[RunResult]) -> Vec<TargetCheck> {
    let rate = |label: &str| find(runs, label).and_then(RunResult::measured_throughput);
    let ratio = |a: &str, b: &str| Some(rate(a)? / rate(b).filter(|v| *v > 0.0)?);
    let create = rate("ours-create");
    let group = find(runs, "sqlite-ceiling")
        .and_then(|r| r.group_size)
        .map_or_else(String::new, |g| format!(" (group size {g})"));
    // The p99 of one of a run's summaries, when the run completed.
    let p99 = |label: &str, summary: fn(&RunResult) -> Option<Summary>| {
        find(runs, label)
            .filter(|r| r.status == Status::Ok)
            .and_then(summary)
            .map(|s| s.p99)
    };
    let read_open_p99 = p99("ours-read-open", |r| r.latency_ms);
    let ceiling_open_p99 = p99("hello-open", |r| r.latency_ms);
    let delay_p99 = p99("ours-integration-delay", |r| r.delay_ms);
    let read_open_busy = find(runs, "ours-read-open")
        .filter(|r| r.status == Status::Ok)
        .and_then(|r| r.cpu)
        .map(|cpu| cpu.machine_busy);
    let read_open = find(runs, "ours-read-open").filter(|r| r.status == Status::Ok);
    let read_open_tail = read_open.and_then(|r| Some((r.tail?, r.ok)));
    let slow_near_steal = read_open_tail.and_then(|(tail, ok)| tail.slow_share_near_steal(ok));
    let slow_away_from_steal =
        read_open_tail.and_then(|(tail, ok)| tail.slow_share_away_from_steal(ok));
    let slow_across_loop_gap = read_open_tail.and_then(|(tail, _)| {
        let gaps = tail.loop_gaps?;
        (tail.slow > 0).then(|| gaps.slow_across_gap as f64 / tail.slow as f64)
    });
    vec![
        check(
            "durable audited writes (`full`), closed loop",
            "≥ 8,000/s at 64 clients",
            create,
            "/s",
            |v| v >= 8000.0,
            &why(runs, "ours-create"),
        ),
        check(
            &format!("writes ÷ raw SQLite ceiling{group}"),
            "≥ 50%",
            ratio("ours-create", "sqlite-ceiling"),
            "%",
            |v| v >= 0.5,
            &format!(
                "{}, {}",
                why(runs, "ours-create"),
                why(runs, "sqlite-ceiling")
            ),
        ),
        check(
            "writes ÷ PostgreSQL + audit trigger, same clients",
            "> 1×",
            ratio("ours-create", "pg-create"),
            "x",
            |v| v > 1.0,
            &format!("{}, {}", why(runs, "ours-create"), why(runs, "pg-create")),
        ),
        check(
            "reads by id ÷ hello-world server, closed loop",
            "≥ 40%",
            ratio("ours-read", "hello"),
            "%",
            |v| v >= 0.4,
            &format!("{}, {}", why(runs, "ours-read"), why(runs, "hello")),
        ),
        check(
            "reads by id, open loop at 50% of max, p99",
            "≤ 2 ms",
            read_open_p99,
            "ms",
            |v| v <= 2.0,
            &why(runs, "ours-read-open"),
        ),
        reference(
            "hello-world server, open loop at the same rate, p99 (the machine's floor for the \
             target above)",
            ceiling_open_p99,
            "ms",
            &why(runs, "hello-open"),
        ),
        reference(
            "machine CPU busy during our open-loop read run (server and load tool share the \
             cores; near 100% every request waits for one)",
            read_open_busy,
            "%",
            "`ours-read-open` has no CPU figures",
        ),
        reference(
            "our open-loop read requests over 2 ms, among those due in or just before a 100 ms \
             window in which the hypervisor took time",
            slow_near_steal,
            "%",
            "`ours-read-open` has no stolen-time figures, or no window had stolen time",
        ),
        reference(
            "our open-loop read requests over 2 ms, among the others",
            slow_away_from_steal,
            "%",
            "`ours-read-open` has no stolen-time figures, or every window was near stolen time",
        ),
        reference(
            "of our open-loop read requests over 2 ms, the share in flight across a gap of over \
             1 ms in the load tool's own loop (its thread was not running)",
            slow_across_loop_gap,
            "%",
            "`ours-read-open` did not run the ticked loop, or no request took over 2 ms",
        ),
        check(
            "integration delay p99, open loop at 50% of max write rate",
            "≤ 500 ms",
            delay_p99,
            "ms",
            |v| v <= 500.0,
            &why(runs, "ours-integration-delay"),
        ),
        check(
            "inclusion proofs over HTTP",
            "≥ 20,000/s",
            rate("ours-proof"),
            "/s",
            |v| v >= 20_000.0,
            &why(runs, "ours-proof"),
        ),
        // Issue 18: what one client's heavy work does to everyone else's cheap requests.
        reference(
            "reads by version (not cached), open loop, p99: alone",
            p99("ours-read-version", |r| r.latency_ms),
            "ms",
            &why(runs, "ours-read-version"),
        ),
        reference(
            "reads by version (not cached), open loop, p99: while eight heavy queries run \
             (`$nin` of 1,000 values, sort=-pad,name, limit=1000)",
            p99("ours-read-version-heavy", |r| r.latency_ms),
            "ms",
            &why(runs, "ours-read-version-heavy"),
        ),
        reference(
            "`/healthz`, open loop, p99: alone",
            p99("ours-healthz", |r| r.latency_ms),
            "ms",
            &why(runs, "ours-healthz"),
        ),
        reference(
            "`/healthz`, open loop, p99: while pattern-heavy writes run",
            p99("ours-healthz-patterns", |r| r.latency_ms),
            "ms",
            &why(runs, "ours-healthz-patterns"),
        ),
        // Issue 22: the MongoDB store beside a raw driver loop on the same server.
        check(
            "MongoDB: writes ÷ raw driver loop (4 inserts in one transaction each)",
            "≥ 50%",
            ratio("ours-mongo-create", "mongo-ceiling-create"),
            "%",
            |v| v >= 0.5,
            &format!(
                "{}, {}",
                why(runs, "ours-mongo-create"),
                why(runs, "mongo-ceiling-create")
            ),
        ),
        check(
            "MongoDB: reads by id ÷ raw driver loop (find by _id)",
            "≥ 50%",
            ratio("ours-mongo-read", "mongo-ceiling-read"),
            "%",
            |v| v >= 0.5,
            &format!(
                "{}, {}",
                why(runs, "ours-mongo-read"),
                why(runs, "mongo-ceiling-read")
            ),
        ),
    ]
}
