//! MongoDB 7 in Docker through testcontainers, a single-node replica set (transactions need
//! one). Compiled in CI, never run there: these machines have no Docker daemon and cannot pull
//! images, so this path is untested here (docs/mongodb-tests.md).
//!
//! The container lives in a static that is never dropped, and testcontainers removes a
//! container only when its handle is dropped. As for the stand-in, a `sh` watchdog reading a
//! pipe from the test process removes it (`docker rm -f`) when that process ends; without the
//! `docker` command line on `PATH` the container outlives the tests, and a note says how to
//! remove it.

use std::any::Any;
use std::process::{Command, Stdio};

use testcontainers::runners::SyncRunner;
use testcontainers::{Container, ImageExt};
use testcontainers_modules::mongo::Mongo;

/// The MongoDB image tag: the module's default is 5.0.
const TAG: &str = "7.0";

/// Removes the container named by its first argument once stdin ends (see the module docs).
/// `docker` talks to the daemon testcontainers used as long as that came from `DOCKER_HOST` or
/// the default socket, which the watchdog inherits.
const WATCHDOG: &str = r#"while read -r _; do :; done
docker rm -f -v "$1""#;

/// Starts the container and returns the URI for the driver and what keeps the container.
pub(crate) fn start() -> Result<(String, Box<dyn Any + Send + Sync>), String> {
    // testcontainers' blocking runner drives a tokio runtime of its own, which panics when
    // started inside another (a `#[tokio::test]` calling `mongo()`): it runs on a thread of its
    // own instead.
    let container = std::thread::spawn(|| Mongo::repl_set().with_tag(TAG).start())
        .join()
        .map_err(|_| "starting MongoDB in Docker panicked".to_owned())?
        .map_err(|error| {
            format!(
                "a Docker daemon answers but MongoDB {TAG} did not start in it: {error}. Build \
                 without the `docker` feature to use the stand-in, or set {} \
                 (docs/mongodb-tests.md)",
                crate::URI_VAR
            )
        })?;
    let host = container
        .get_host()
        .map_err(|error| format!("the MongoDB container has no host: {error}"))?;
    let port = container
        .get_host_port_ipv4(27017)
        .map_err(|error| format!("the MongoDB container's port 27017 is not mapped: {error}"))?;
    // rs.initiate() names the member by the container's hostname, which the host cannot
    // resolve: the driver must not go looking for the set's members.
    let uri = format!("mongodb://{host}:{port}/?directConnection=true");
    let lifeline = remove_at_exit(&container);
    Ok((uri, Box::new((container, lifeline))))
}

/// The watchdog that removes the container when the test process ends, or `None` (and a
/// note) when it cannot be started.
fn remove_at_exit(container: &Container<Mongo>) -> Option<std::process::ChildStdin> {
    let id = container.id();
    let has_cli = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("docker").is_file()));
    let watchdog = has_cli.then(|| {
        Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("test-servers-docker-watchdog")
            .arg(id)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    });
    match watchdog {
        Some(Ok(mut child)) if child.stdin.is_some() => child.stdin.take(),
        Some(_) | None => {
            crate::note(&format!(
                "test-servers: the MongoDB container {id} will outlive the tests (no `docker` \
                 command to remove it at exit); remove it with `docker rm -f -v {id}`"
            ));
            None
        }
    }
}
