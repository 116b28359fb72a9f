//! Configuration in layers, through the real `offchain-db` binary: `offchain-db config` shows
//! which layer won, a bad value stops the start with exit code 2 and names its source, and
//! `serve` listens where the TOML file says.
//!
//! The binary is the one cargo builds beside this test binary (`target/<profile>/offchain-db`);
//! `cargo test` builds it because the `server` package has integration tests of its own.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long `serve` may take to answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The `offchain-db` binary: `CARGO_BIN_EXE_offchain-db` when set, else the one beside this
/// test binary (`target/<profile>/deps/api-*` → `target/<profile>/offchain-db`).
fn binary() -> PathBuf {
    let candidate = std::env::var_os("CARGO_BIN_EXE_offchain-db")
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.join("offchain-db"))
        })
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/offchain-db")
        });
    assert!(
        candidate.is_file(),
        "the offchain-db binary is not at {}: run `cargo test --workspace` (which builds it), \
         or `cargo build --bin offchain-db` first",
        candidate.display()
    );
    candidate
}

/// `offchain-db <args>` with exactly `env` as its `OFFCHAIN_*` variables.
fn offchain_db(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary());
    command.args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OFFCHAIN_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command
}

fn output(args: &[&str], env: &[(&str, &str)]) -> Output {
    offchain_db(args, env)
        .output()
        .unwrap_or_else(|e| panic!("run offchain-db {args:?}: {e}"))
}

/// Runs `offchain-db config`, expecting success, and returns what it printed.
fn effective(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec!["config"];
    all.extend_from_slice(args);
    let out = output(&all, env);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "offchain-db {all:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A folder holding `offchain.toml` with `text`.
fn toml_file(text: &str) -> (TempDir, String) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let path = dir.path().join("offchain.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    let path = path.display().to_string();
    (dir, path)
}

/// The line of `key` in `offchain-db config`'s output.
fn line_of<'a>(printed: &'a str, key: &str) -> &'a str {
    printed
        .lines()
        .find(|line| line.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no `{key}` in:\n{printed}"))
}

/// One run of the binary: its arguments, its `OFFCHAIN_*` variables, and what it must print.
struct Case<'a> {
    name: &'a str,
    args: Vec<&'a str>,
    env: Vec<(&'a str, &'a str)>,
    expect: Vec<String>,
}

#[test]
fn the_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    let (_dir, file) = toml_file("listen = \"127.0.0.1:7001\"\n");
    let env = vec![("OFFCHAIN_LISTEN", "127.0.0.1:7002")];
    let cases = [
        Case {
            name: "file, env and flag",
            args: vec!["--config", &file, "--listen", "127.0.0.1:7003"],
            env: env.clone(),
            expect: vec!["listen = \"127.0.0.1:7003\"  # from --listen".to_owned()],
        },
        Case {
            name: "file and env",
            args: vec!["--config", &file],
            env,
            expect: vec!["listen = \"127.0.0.1:7002\"  # from OFFCHAIN_LISTEN".to_owned()],
        },
        Case {
            name: "file only",
            args: vec!["--config", &file],
            env: vec![],
            expect: vec![format!("listen = \"127.0.0.1:7001\"  # from file {file}")],
        },
        Case {
            name: "nothing",
            args: vec![],
            env: vec![],
            expect: vec!["listen = \"127.0.0.1:8080\"  # default".to_owned()],
        },
    ];
    for case in cases {
        let printed = effective(&case.args, &case.env);
        assert_eq!(
            [line_of(&printed, "listen").to_owned()].as_slice(),
            case.expect.as_slice(),
            "case {}",
            case.name
        );
    }
}

#[test]
fn the_file_may_be_named_by_offchain_config() {
    let (_dir, file) = toml_file("durability = \"normal\"\n[log]\nformat = \"text\"\n");
    let printed = effective(&[], &[("OFFCHAIN_CONFIG", &file)]);
    assert_eq!(
        line_of(&printed, "durability"),
        format!("durability = \"normal\"  # from file {file}")
    );
    assert_eq!(
        line_of(&printed, "format"),
        format!("format = \"text\"  # from file {file}")
    );
}

#[test]
fn a_bad_value_stops_the_start_with_exit_code_2_naming_the_setting_and_its_source() {
    let (_dir, unknown) = toml_file("lisen = \"127.0.0.1:7001\"\n");
    let (_dir2, bad_value) = toml_file("[log]\nformat = \"yaml\"\n");
    let cases = [
        Case {
            name: "a word for a number in the environment",
            args: vec!["config"],
            env: vec![("OFFCHAIN_REQUEST_TIMEOUT_SECS", "abc")],
            expect: vec![
                "`request_timeout_secs`".to_owned(),
                "environment variable OFFCHAIN_REQUEST_TIMEOUT_SECS".to_owned(),
            ],
        },
        Case {
            name: "an unknown key in the file",
            args: vec!["config", "--config", &unknown],
            env: vec![],
            expect: vec!["unknown setting `lisen`".to_owned(), unknown.clone()],
        },
        Case {
            name: "a bad value in the file's [log] table",
            args: vec!["config", "--config", &bad_value],
            env: vec![],
            expect: vec![
                "`log.format`".to_owned(),
                format!("configuration file {bad_value}"),
            ],
        },
        Case {
            name: "a flag below its minimum",
            args: vec!["config", "--request-timeout-secs", "0"],
            env: vec![],
            expect: vec!["`request_timeout_secs` from flag --request-timeout-secs".to_owned()],
        },
        Case {
            name: "serve refuses too, before opening anything",
            args: vec!["serve", "--config", &unknown],
            env: vec![],
            expect: vec!["unknown setting `lisen`".to_owned()],
        },
    ];
    for case in cases {
        let out = output(&case.args, &case.env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {}: {stderr}", case.name);
        assert!(
            out.stdout.is_empty(),
            "case {}: printed something",
            case.name
        );
        for part in &case.expect {
            assert!(
                stderr.contains(part.as_str()),
                "case {}: `{part}` not in {stderr}",
                case.name
            );
        }
    }
}

/// Kills the server when the test ends, even when it fails.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _already_exited = self.0.kill();
        let _status = self.0.wait();
    }
}

#[tokio::test]
async fn serve_listens_on_the_address_of_the_configuration_file() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("free port: {e}"));
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let (_dir, file) = toml_file(&format!(
        "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n[log]\nformat = \"text\"\n",
        data.path().display()
    ));
    let mut server = Server(
        offchain_db(&["serve", "--config", &file], &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn offchain-db serve: {e}")),
    );

    let url = format!("http://127.0.0.1:{port}/healthz");
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(answer) = client.get(&url).send().await {
            assert_eq!(answer.status(), reqwest::StatusCode::OK);
            break;
        }
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("offchain-db serve exited with {status} before answering on port {port}");
        }
        assert!(
            started.elapsed() < START_TIMEOUT,
            "offchain-db serve did not answer {url} within {START_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        data.path()
            .read_dir()
            .is_ok_and(|mut entries| entries.next().is_some())
    );
}
