//! The jongodb stand-in: found, started on a free loopback port, and tied to the test process.
//!
//! jongodb is started as `jongodb --host=127.0.0.1 --port=0`: it binds a port the system picks
//! (no window in which another process can take a port chosen beforehand) and prints
//! `JONGODB_URI=mongodb://127.0.0.1:<port>/test` on stdout once it accepts connections, within
//! milliseconds. When it cannot start it prints `JONGODB_START_FAILURE=...` and a Java stack
//! trace on stderr and exits.
//!
//! The server lives in a static that is never dropped, so nothing in the test process can stop
//! it at exit. It is started through a small `sh` watchdog instead: the watchdog reads its stdin,
//! a pipe whose only writer is the test process, and that pipe ends when the test process does,
//! however it ends (normal exit, panic, SIGKILL): the watchdog then stops the server. No polling
//! and no pid that could be reused.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::BIN_VAR;

/// Where `scripts/mongo-standin.sh` installs the binary, under the workspace root.
pub(crate) const INSTALLED: &str = ".tools/jongodb-0.1.6/jongodb";

/// How long the stand-in may take to say it is ready. It takes milliseconds; the margin is for
/// a machine busy with a parallel build.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The stderr lines kept to explain a server that did not start.
const STDERR_TAIL: usize = 30;

/// Starts the server named by its arguments (`"$@"`), then waits for the end of stdin and stops
/// the server. Once the server runs, the shell's own stdout and stderr go to /dev/null, so that
/// the server is the only writer of the pipes the harness reads: their end means the server
/// exited.
const WATCHDOG: &str = r#""$@" </dev/null &
server=$!
exec >/dev/null 2>&1
while read -r _; do :; done
kill "$server""#;

/// A running stand-in. Dropping it stops the server (the watchdog's stdin ends), but the shared
/// one is never dropped: it stops when the test process exits.
pub(crate) struct StandIn {
    /// The URI the server printed, with what the driver needs to use it as is.
    pub(crate) uri: String,
    /// The watchdog's stdin: the test process's hold on the server.
    _lifeline: ChildStdin,
    /// The watchdog, kept so that it is not forgotten half-started; never waited for.
    _watchdog: Child,
}

/// The stand-in's binary: `OFFCHAIN_TEST_MONGO_BIN` when set (it must then exist: a wrong
/// setting is an error, not a reason to run something else), else the installed one under
/// `workspace_root`.
pub(crate) fn binary(
    from_env: Option<OsString>,
    workspace_root: Option<PathBuf>,
) -> Result<PathBuf, String> {
    if let Some(path) = from_env {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{BIN_VAR} is {}, which is not a file; set it to the path \
                 scripts/mongo-standin.sh prints",
                path.display()
            ))
        };
    }
    let installed = workspace_root.map(|root| root.join(INSTALLED));
    match installed {
        Some(path) if path.is_file() => Ok(path),
        _ => Err(format!(
            "none is configured and the jongodb stand-in is not installed{}. Run \
             scripts/mongo-standin.sh (needs npm; the README's test command runs it), or set \
             {BIN_VAR} to a jongodb binary, or set {} to a MongoDB server (a replica set); see \
             docs/mongodb-tests.md",
            installed
                .map(|path| format!(" (looked for {})", path.display()))
                .unwrap_or_default(),
            crate::URI_VAR,
        )),
    }
}

/// Starts `binary` on a loopback port the system picks and waits, up to `timeout`, for the
/// line saying it is ready.
pub(crate) fn start(binary: &Path, timeout: Duration) -> Result<StandIn, String> {
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("test-servers-watchdog")
        .arg(binary)
        .args(["--host=127.0.0.1", "--port=0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start sh to run {}: {error}", binary.display()))?;
    let (Some(lifeline), Some(stdout), Some(stderr)) = (
        watchdog.stdin.take(),
        watchdog.stdout.take(),
        watchdog.stderr.take(),
    ) else {
        return Err("the stand-in's pipes were not set up".to_owned());
    };

    // Both pipes are read for as long as the server runs: a server blocked on a full pipe
    // would stop answering the tests.
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let tail_writer = Arc::clone(&tail);
    std::thread::Builder::new()
        .name("jongodb-stderr".to_owned())
        .spawn(move || keep_tail(stderr, &tail_writer))
        .map_err(|error| format!("cannot start a thread to read the stand-in's stderr: {error}"))?;
    let (lines, ready) = mpsc::channel();
    std::thread::Builder::new()
        .name("jongodb-stdout".to_owned())
        .spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The receiver is gone once the server is ready: the rest is only drained.
                let _ = lines.send(line);
            }
        })
        .map_err(|error| format!("cannot start a thread to read the stand-in's stdout: {error}"))?;

    let deadline = Instant::now() + timeout;
    let mut printed = Vec::new();
    let failure = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ready.recv_timeout(left) {
            Ok(line) => match line.strip_prefix("JONGODB_URI=") {
                Some(uri) => {
                    return Ok(StandIn {
                        uri: with_direct_connection(uri.trim()),
                        _lifeline: lifeline,
                        _watchdog: watchdog,
                    });
                }
                None => printed.push(line),
            },
            Err(RecvTimeoutError::Timeout) => {
                break format!("it did not print JONGODB_URI= within {timeout:?}");
            }
            Err(RecvTimeoutError::Disconnected) => {
                break "it exited before printing JONGODB_URI=".to_owned();
            }
        }
    };
    // Ends the watchdog's stdin: it stops the server if it still runs.
    drop(lifeline);
    // The stderr reader may still be taking in the last lines of a server that just exited.
    std::thread::sleep(Duration::from_millis(200));
    let stderr = tail
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n");
    Err(format!(
        "the jongodb stand-in {} did not start: {failure}; its stdout: {printed:?}; the end of \
         its stderr:\n{stderr}",
        binary.display()
    ))
}

/// Reads `stream` to its end, keeping its last lines in `tail`.
fn keep_tail(stream: impl Read, tail: &Mutex<VecDeque<String>>) {
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
        if tail.len() == STDERR_TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// The printed URI with `directConnection=true`: the driver then talks to that one server
/// rather than discovering a topology from it. jongodb's `hello` describes a standalone
/// server, which the driver would connect to directly anyway; the option says so and keeps it
/// so should a later version answer like a replica set member naming other hosts.
pub(crate) fn with_direct_connection(uri: &str) -> String {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    if after_scheme.contains('?') {
        format!("{uri}&directConnection=true")
    } else if after_scheme.contains('/') {
        format!("{uri}?directConnection=true")
    } else {
        format!("{uri}/?directConnection=true")
    }
}
