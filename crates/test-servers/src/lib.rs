//! The servers tests run against: one MongoDB-compatible server per test process (issue 22,
//! docs/mongodb-tests.md).
//!
//! [`mongo()`] hands every test of a process the same server, started on first use. A server per
//! test would cost a start each and, on the Docker path, seconds each; tests keep apart by
//! working in a database of their own ([`MongoServer::database_name`]).
//!
//! Where the server comes from, first match wins:
//! 1. `OFFCHAIN_TEST_MONGO_URI`: a server someone runs (real MongoDB, a replica set so that
//!    transactions work), [`MongoKind::Configured`];
//! 2. with this crate's `docker` feature only, and only when a Docker daemon answers: MongoDB 7
//!    as a single-node replica set through testcontainers, [`MongoKind::Docker`] (compiled in CI
//!    but never run there: these machines cannot pull images);
//! 3. the pinned stand-in, jongodb, a MongoDB-compatible in-memory server:
//!    `OFFCHAIN_TEST_MONGO_BIN`, else `<workspace>/.tools/jongodb-0.1.6/jongodb` where
//!    `scripts/mongo-standin.sh` installs it (checksum verified), [`MongoKind::StandIn`].
//!
//! When none is available, [`mongo()`] panics with what to do: a test never skips silently. The
//! stand-in is not MongoDB: a test whose meaning needs what only real MongoDB does says so with
//! [`MongoKind::lacks_real_mongo_behaviour`].
//!
//! The crate depends on no crate of the project and on no MongoDB driver: it hands out a URI,
//! and each test connects with its own crate's driver. Without the `docker` feature it needs
//! nothing beyond std.

#[cfg(feature = "docker")]
mod docker;
#[cfg(any(feature = "docker", test))]
mod docker_probe;
mod stand_in;
#[cfg(test)]
mod tests;

use std::any::Any;
use std::ffi::OsString;
use std::hash::{BuildHasher, RandomState};
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The variable naming a MongoDB server to test against, used as given.
pub const URI_VAR: &str = "OFFCHAIN_TEST_MONGO_URI";
/// The variable naming the stand-in's binary (what `scripts/mongo-standin.sh` prints).
pub const BIN_VAR: &str = "OFFCHAIN_TEST_MONGO_BIN";

/// Where the tests' server came from, which says what it can be trusted to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MongoKind {
    /// A server named by `OFFCHAIN_TEST_MONGO_URI`: taken to be real MongoDB.
    Configured,
    /// MongoDB 7, a single-node replica set in Docker (the `docker` feature).
    Docker,
    /// The jongodb stand-in: speaks MongoDB's protocol but lacks some of its behaviour
    /// (docs/mongodb-tests.md).
    StandIn,
}

impl MongoKind {
    /// Says, on the stand-in only, that the calling test's meaning needs real MongoDB where the
    /// stand-in `what` (for instance "has no write conflicts between transactions"), and returns
    /// whether it said so, so that a test can leave out what only real MongoDB guarantees.
    ///
    /// A test that passes on the stand-in proves less than its name says; the note keeps that
    /// visible in every run. It is written to the process's stderr directly, not through
    /// `eprintln!`, which the test harness captures and shows only for failing tests.
    pub fn lacks_real_mongo_behaviour(&self, what: &str) -> bool {
        match self {
            MongoKind::StandIn => {
                let test = std::thread::current()
                    .name()
                    .map(|name| format!("{name}: "))
                    .unwrap_or_default();
                note(&format!(
                    "note: {test}running on the jongodb stand-in, which {what}; this test's \
                     meaning needs real MongoDB there (set {URI_VAR}, docs/mongodb-tests.md)"
                ));
                true
            }
            MongoKind::Configured | MongoKind::Docker => false,
        }
    }

    /// What this kind of server is, in a few words.
    pub fn describe(&self) -> &'static str {
        match self {
            MongoKind::Configured => "the MongoDB server named by OFFCHAIN_TEST_MONGO_URI",
            MongoKind::Docker => "MongoDB 7, a single-node replica set in Docker (testcontainers)",
            MongoKind::StandIn => {
                "the jongodb 0.1.6 stand-in, a MongoDB-compatible in-memory server (not MongoDB)"
            }
        }
    }
}

/// The server the tests of this process share: a URI for the driver and what it is.
pub struct MongoServer {
    /// A connection string the `mongodb` driver accepts as it is.
    pub uri: String,
    /// Where the server came from.
    pub kind: MongoKind,
    /// What keeps the server alive for as long as the process: the stand-in's watchdog or the
    /// Docker container. Never read, and never dropped either (the server lives in a static).
    _keep: Option<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for MongoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URI of a configured server can hold a password: not printed.
        let uri = match self.kind {
            MongoKind::Configured => "(from OFFCHAIN_TEST_MONGO_URI)",
            MongoKind::Docker | MongoKind::StandIn => self.uri.as_str(),
        };
        f.debug_struct("MongoServer")
            .field("uri", &uri)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl MongoServer {
    /// A database name no other call returns, in this process or (short of a collision of the
    /// random part) in another run on the same server: `<prefix>_<pid>_<counter>_<random>`.
    ///
    /// The tests of a process, and the test binaries of a run against one configured server,
    /// share the server; a database each keeps them apart without cleaning up between them.
    ///
    /// # Panics
    ///
    /// When `prefix` is empty, longer than 32 bytes or holds anything but ASCII letters, digits,
    /// `_` and `-` (MongoDB refuses some characters in database names and their length is
    /// limited): a mistake in the calling test, answered where it is made.
    pub fn database_name(&self, prefix: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        assert!(
            !prefix.is_empty()
                && prefix.len() <= 32
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "test-servers: the database prefix {prefix:?} must be 1 to 32 ASCII letters, digits, \
             `_` or `-`"
        );
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default();
        // std's RandomState is seeded from the OS once per thread and varies per instance: a
        // random part without a dependency.
        let random = RandomState::new().hash_one((count, nanos)) & 0xff_ffff;
        format!("{prefix}_{}_{count}_{random:06x}", std::process::id())
    }

    /// What the server is, in a few words (for a test's own messages).
    pub fn describe(&self) -> &'static str {
        self.kind.describe()
    }
}

/// The process's server, started on the first call and shared by every later one.
///
/// # Panics
///
/// When no server can be had (none configured, no Docker, no stand-in installed) or the one
/// chosen does not start: the harness's answer, since a test that cannot reach its server must
/// fail rather than pass without running. The panic says what to do, and every later call
/// panics with the same message at once instead of trying again.
pub fn mongo() -> &'static MongoServer {
    static SERVER: OnceLock<Result<MongoServer, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(why) => panic!("test-servers: no MongoDB server for the tests: {why}"),
    }
}

/// Chooses and starts the server, in the order the module documentation gives.
fn start() -> Result<MongoServer, String> {
    let server = if let Some(uri) = env_value(URI_VAR) {
        let uri = uri
            .into_string()
            .map_err(|_| format!("{URI_VAR} is not valid UTF-8"))?;
        MongoServer {
            uri,
            kind: MongoKind::Configured,
            _keep: None,
        }
    } else if let Some(server) = start_docker()? {
        server
    } else {
        let binary = stand_in::binary(env_value(BIN_VAR), workspace_root())?;
        let stand_in = stand_in::start(&binary, stand_in::READY_TIMEOUT)?;
        MongoServer {
            uri: stand_in.uri.clone(),
            kind: MongoKind::StandIn,
            _keep: Some(Box::new(stand_in)),
        }
    };
    let at = match server.kind {
        MongoKind::Configured => String::new(),
        MongoKind::Docker | MongoKind::StandIn => format!(" at {}", server.uri),
    };
    note(&format!(
        "test-servers: process {} tests against {}{at}",
        std::process::id(),
        server.describe()
    ));
    Ok(server)
}

/// MongoDB in Docker when the daemon answers; `None` sends the choice on to the stand-in.
#[cfg(feature = "docker")]
fn start_docker() -> Result<Option<MongoServer>, String> {
    if !docker_probe::daemon_answers() {
        return Ok(None);
    }
    let (uri, container) = docker::start()?;
    Ok(Some(MongoServer {
        uri,
        kind: MongoKind::Docker,
        _keep: Some(container),
    }))
}

/// Without the `docker` feature the choice goes straight on to the stand-in.
#[cfg(not(feature = "docker"))]
fn start_docker() -> Result<Option<MongoServer>, String> {
    Ok(None)
}

/// An environment variable's value, an empty one counting as unset (`VAR= cargo test`).
fn env_value(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|value| !value.is_empty())
}

/// The folder holding the workspace's `Cargo.lock`, above this crate's manifest: where
/// `scripts/mongo-standin.sh` installs the stand-in by default.
fn workspace_root() -> Option<PathBuf> {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .map(PathBuf::from)
}

/// A line on the process's stderr that the test harness does not capture: `eprintln!` output
/// is shown for failing tests only, and these lines say what a passing run ran against.
fn note(line: &str) {
    // Nothing better to do when stderr is gone.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
