//! Running the real `offchain-db` binary from a test: `serve` on a data folder (the address
//! it bound is read from its first log lines), a stop by SIGTERM or SIGKILL, `audit` with its
//! exit code and report, and copying a stopped store's folder.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_offchain-db");

/// How long `serve` may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// `offchain-db <args>` without any `OFFCHAIN_*` variable of the test's environment.
pub fn offchain_db(args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command.args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OFFCHAIN_") {
            command.env_remove(name);
        }
    }
    command
}

/// A running `offchain-db serve`; killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Server {
    /// Starts `serve` on `data_dir`, on a port the OS picks, and waits until it listens.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    /// [`Self::start`] with more flags.
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Self {
        Self::try_start_with(data_dir, extra).unwrap_or_else(|why| panic!("{why}"))
    }

    /// [`Self::start_with`], trying again every second for up to `within` while the server
    /// exits without listening (on MongoDB, a killed server's sequencer lock refuses a new one
    /// until it goes stale).
    pub fn start_retrying(data_dir: &Path, extra: &[&str], within: Duration) -> Self {
        let deadline = std::time::Instant::now() + within;
        loop {
            match Self::try_start_with(data_dir, extra) {
                Ok(server) => return server,
                Err(why) if std::time::Instant::now() > deadline => {
                    panic!("{why} (tried for {within:?})")
                }
                Err(_) => std::thread::sleep(Duration::from_secs(1)),
            }
        }
    }

    fn try_start_with(data_dir: &Path, extra: &[&str]) -> Result<Self, String> {
        let mut child = serve_command(data_dir, extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {BINARY} serve: {e}"));
        let stdout = child
            .stdout
            .take()
            .unwrap_or_else(|| panic!("serve has no stdout"));
        let (found, address) = mpsc::channel();
        // Reads the log until the listening line, then keeps draining it so the server never
        // blocks on a full pipe.
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("offchain-db is listening")
                    && let Some(sender) = found.take()
                {
                    let _ignored = sender.send(listening_address(&line));
                }
            }
        });
        match address.recv_timeout(START_TIMEOUT) {
            Ok(Some(address)) => Ok(Self {
                child,
                base: format!("http://{address}"),
            }),
            Ok(None) | Err(_) => {
                let _ignored = child.kill();
                let status = child.wait();
                Err(format!(
                    "offchain-db serve did not say where it listens (exit: {status:?})"
                ))
            }
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then reaps the process: a crash, no shutdown code runs.
    pub fn kill(mut self) {
        self.child
            .kill()
            .unwrap_or_else(|e| panic!("kill offchain-db: {e}"));
        let _status = self.child.wait();
    }

    /// SIGTERM and waits for the graceful shutdown to finish.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap_or_else(|e| panic!("run kill -TERM {pid}: {e}"));
        assert!(status.success(), "kill -TERM {pid} failed");
        let exit = self
            .child
            .wait()
            .unwrap_or_else(|e| panic!("wait for offchain-db: {e}"));
        assert!(
            exit.success(),
            "offchain-db exited with {exit} after SIGTERM"
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _already_gone = self.child.kill();
        let _status = self.child.wait();
    }
}

/// `offchain-db serve` on `data_dir` and a port the OS picks, JSON logs at `info`, and `extra`.
fn serve_command(data_dir: &Path, extra: &[&str]) -> Command {
    let data_dir = data_dir.display().to_string();
    let mut args = vec![
        "serve",
        "--data-dir",
        &data_dir,
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--log-level",
        "info",
    ];
    args.extend_from_slice(extra);
    offchain_db(&args)
}

/// Runs `serve` on `data_dir` with `extra` flags, expecting it to refuse to start: waits
/// for it to exit (killing it and failing if it is still running after the start timeout)
/// and returns its exit code and what it wrote (standard output, then standard error).
pub fn serve_refused(data_dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut child = serve_command(data_dir, extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {BINARY} serve: {e}"));
    let deadline = std::time::Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child
            .try_wait()
            .unwrap_or_else(|e| panic!("wait for offchain-db: {e}"))
        {
            let output = child
                .wait_with_output()
                .unwrap_or_else(|e| panic!("read offchain-db's output: {e}"));
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            return (status.code(), said);
        }
        if std::time::Instant::now() > deadline {
            let _ignored = child.kill();
            let _status = child.wait();
            panic!("offchain-db serve did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `addr` field of the JSON "listening" log line.
fn listening_address(line: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields").unwrap_or(&value);
    fields.get("addr")?.as_str().map(str::to_owned)
}

/// What `offchain-db audit` said.
pub struct AuditRun {
    /// Its exit code.
    pub code: Option<i32>,
    /// Its report.
    pub stdout: String,
    /// Its error messages.
    pub stderr: String,
}

impl AuditRun {
    /// The report lines that are findings of `kind`.
    pub fn findings(&self, kind: &str) -> Vec<&str> {
        let prefix = format!("{kind} at ");
        self.stdout
            .lines()
            .filter(|line| line.starts_with(&prefix))
            .collect()
    }
}

impl std::fmt::Display for AuditRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `offchain-db audit --data-dir <data_dir> --vkey <vkey> [--checkpoint <note>]...`.
pub fn audit(data_dir: &Path, vkey: &str, checkpoints: &[&Path]) -> AuditRun {
    let data_dir = data_dir.display().to_string();
    audit_with(&["--data-dir", &data_dir], vkey, checkpoints)
}

/// Runs `offchain-db audit <store> --vkey <vkey> [--checkpoint <note>]...`, `store` being the
/// flags that name the store (`--data-dir DIR`, or `--store mongo --mongo-uri ...`).
pub fn audit_with(store: &[&str], vkey: &str, checkpoints: &[&Path]) -> AuditRun {
    let mut args = vec!["audit"];
    args.extend_from_slice(store);
    args.extend(["--vkey", vkey]);
    let notes: Vec<String> = checkpoints
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    for note in &notes {
        args.extend(["--checkpoint", note]);
    }
    let output: Output = offchain_db(&args)
        .output()
        .unwrap_or_else(|e| panic!("run {BINARY} audit: {e}"));
    AuditRun {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Copies the files of a (stopped) store's folder into a new folder `to`.
pub fn copy_store(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    let entries =
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
    for entry in entries.map_while(Result::ok) {
        let path = entry.path();
        if path.is_file() {
            std::fs::copy(&path, to.join(entry.file_name()))
                .unwrap_or_else(|e| panic!("copy {}: {e}", path.display()));
        }
    }
}

/// An HTTP client with a short timeout, so a killed server fails requests quickly.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("build an HTTP client: {e}"))
}
