//! The `offchain-db` binary itself, run as a process.
//!
//! Besides checking the binary, this file is why `cargo test` builds it: cargo builds a
//! package's binaries (into `target/<profile>/`) only for that package's integration tests, and
//! it builds everything before it runs any test. The end-to-end tests in `tests/tests/api/`
//! (another package) start that same binary.

mod support;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_offchain-db");

#[test]
fn config_prints_the_defaults_as_toml_and_exits_0() {
    let mut command = Command::new(BINARY);
    command.arg("config");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OFFCHAIN_") {
            command.env_remove(name);
        }
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {BINARY}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("listen = \"127.0.0.1:8080\"  # default\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\n[log]\n"), "{stdout}");
}

#[test]
fn a_bad_flag_is_refused_with_exit_code_2() {
    let output = Command::new(BINARY)
        .args(["config", "--max-document-bytes", "10"])
        .output()
        .unwrap_or_else(|e| panic!("run {BINARY}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`max_document_bytes` from flag --max-document-bytes"),
        "{stderr}"
    );
}

#[test]
fn sigterm_with_a_half_sent_request_open_stops_well_within_the_shutdown_timeout() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let server = support::Server::start(dir.path());
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut half_sent =
        std::net::TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    half_sent
        .write_all(b"POST /v1/collections HTTP/1.1\r\nHost: test\r\nContent-Ty")
        .unwrap_or_else(|e| panic!("write: {e}"));
    let _silent =
        std::net::TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    std::thread::sleep(Duration::from_millis(300));

    let started = Instant::now();
    server.stop();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "the shutdown timeout is 30 s; SIGTERM took {took:?}"
    );
}
