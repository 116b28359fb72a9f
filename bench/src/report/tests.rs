//! The report's ratios, target verdicts and notes, on hand-made runs.

use super::*;
use crate::tail::LoopGaps;

fn run(label: &str, throughput: f64) -> RunResult {
    RunResult {
        label: label.to_owned(),
        scenario: "s".to_owned(),
        target: "t".to_owned(),
        status: Status::Ok,
        note: None,
        mode: "closed".to_owned(),
        clients: Some(64),
        rate: None,
        duration_secs: 10.0,
        ok: 100,
        errors: 0,
        first_error: None,
        throughput,
        latency_ms: None,
        delay_ms: None,
        group_size: None,
        cpu: None,
        tail: None,
    }
}

/// An open-loop run (the report's open-loop lines only read such runs' figures).
fn open_run(label: &str, throughput: f64) -> RunResult {
    RunResult {
        mode: "open".to_owned(),
        ..run(label, throughput)
    }
}

/// The report's target whose name starts with `prefix`.
fn target<'a>(report: &'a Report, prefix: &str) -> &'a TargetCheck {
    report
        .targets
        .iter()
        .find(|t| t.name.starts_with(prefix))
        .unwrap_or_else(|| panic!("no target named {prefix}…"))
}

#[test]
fn the_mongodb_rows_are_divided_by_the_raw_driver_loop() {
    let report = build(
        "m".to_owned(),
        vec![
            run("ours-mongo-create", 300.0),
            run("mongo-ceiling-create", 1000.0),
            run("ours-mongo-read", 800.0),
            run("mongo-ceiling-read", 1000.0),
        ],
    );
    let writes = target(&report, "MongoDB: writes");
    assert_eq!((writes.value, writes.met.as_str()), (Some(0.3), "no"));
    let reads = target(&report, "MongoDB: reads");
    assert_eq!((reads.value, reads.met.as_str()), (Some(0.8), "yes"));
}

#[test]
fn ratios_divide_our_figure_by_the_peers() {
    let report = build(
        "m".to_owned(),
        vec![
            run("ours-create", 500.0),
            run("sqlite-ceiling", 1000.0),
            run("pg-create", 250.0),
        ],
    );
    let by_name = |prefix: &str| target(&report, prefix);
    assert_eq!(by_name("writes ÷ raw SQLite").value, Some(0.5));
    assert_eq!(by_name("writes ÷ raw SQLite").met, "yes");
    assert_eq!(by_name("writes ÷ PostgreSQL").value, Some(2.0));
    assert_eq!(by_name("durable audited").met, "no");
    assert_eq!(by_name("MongoDB: writes").met, "not measured");
}

#[test]
fn a_runs_cpu_use_is_in_its_notes_and_the_open_loop_busy_share_beside_the_target() {
    let mut open = open_run("ours-read-open", 30_000.0);
    open.cpu = Some(CpuUse {
        tool_us_per_request: 31.96,
        server_us_per_request: Some(29.04),
        machine_busy: 0.923,
        machine_steal: 0.012,
    });
    let line = row(&open);
    assert!(
        line.contains(
            "CPU per request: server 29.0 µs, tool 32.0 µs; machine 92% busy (1% stolen)"
        ),
        "{line}"
    );
    let mut no_server = open.clone();
    no_server.cpu = Some(CpuUse {
        server_us_per_request: None,
        machine_steal: 0.0,
        ..open.cpu.expect("set above")
    });
    assert!(row(&no_server).contains("CPU per request: tool 32.0 µs; machine 92% busy |"));
    let report = build("m".to_owned(), vec![open]);
    let busy = target(&report, "machine CPU busy");
    assert_eq!(busy.value, Some(0.923));
    assert_eq!(busy.measured, "92.3%");
    assert_eq!(busy.met, "reference");
}

#[test]
fn the_open_loop_tail_against_stolen_time_is_a_reference_beside_the_target() {
    let mut open = open_run("ours-read-open", 30_000.0);
    open.tail = Some(TailCauses {
        slow: 400,
        slow_near_steal: 300,
        windows: 80,
        windows_near_steal: 0.125,
        loop_gaps: Some(LoopGaps {
            count: 9,
            total_ms: 30.0,
            slow_across_gap: 100,
        }),
    });
    open.ok = 80_000;
    let report = build("m".to_owned(), vec![open.clone()]);
    // 10,000 requests near stolen time (300 slow), 70,000 away from it (100 slow).
    let near = target(
        &report,
        "our open-loop read requests over 2 ms, among those",
    );
    assert_eq!((near.value, near.measured.as_str()), (Some(0.03), "3.0%"));
    assert_eq!(near.met, "reference");
    let away = target(
        &report,
        "our open-loop read requests over 2 ms, among the others",
    );
    assert_eq!(away.measured, "0.1%");
    let across = target(
        &report,
        "of our open-loop read requests over 2 ms, the share",
    );
    assert_eq!(across.value, Some(0.25));

    open.tail = None;
    let report = build("m".to_owned(), vec![open]);
    let slow = target(
        &report,
        "our open-loop read requests over 2 ms, among those",
    );
    assert_eq!(slow.value, None);
    assert!(
        slow.measured.starts_with("not measured"),
        "{}",
        slow.measured
    );
}

#[test]
fn the_ceilings_open_loop_tail_is_a_reference_beside_ours_not_a_target() {
    let with_p99 = |label: &str, p99: f64| RunResult {
        latency_ms: Some(Summary {
            count: 100,
            mean: 0.3,
            p50: 0.2,
            p99,
            p999: 2.0 * p99,
            max: 3.0 * p99,
        }),
        ..open_run(label, 30_000.0)
    };
    let report = build(
        "m".to_owned(),
        vec![with_p99("hello-open", 1.5), with_p99("ours-read-open", 2.5)],
    );
    let ours = report
        .targets
        .iter()
        .position(|t| t.name.starts_with("reads by id, open loop"))
        .expect("open-loop read target");
    let floor = &report.targets[ours + 1];
    assert!(floor.name.starts_with("hello-world server, open loop"));
    let busy = &report.targets[ours + 2];
    assert!(busy.name.starts_with("machine CPU busy"));
    assert_eq!((busy.value, busy.met.as_str()), (None, "reference"));
    assert_eq!(floor.value, Some(1.5));
    assert_eq!(floor.met, "reference");
    assert_eq!(report.targets[ours].met, "no");
    let labels: Vec<&str> = report.runs.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["ours-read-open", "hello-open"]);
}

#[test]
fn an_unavailable_scenario_is_not_measured_rather_than_zero() {
    let proof = RunResult::not_measured(
        "ours-proof",
        "proof",
        "offchain-db",
        Status::Unavailable,
        "404".to_owned(),
    );
    let report = build("m".to_owned(), vec![proof]);
    let proofs = target(&report, "inclusion");
    assert_eq!(proofs.value, None);
    assert_eq!(proofs.met, "not measured");
    assert!(render(&report).contains("**UNAVAILABLE**"));
}
