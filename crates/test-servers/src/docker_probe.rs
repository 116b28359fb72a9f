//! Whether a Docker daemon answers, asked the way testcontainers will find one. std only, so
//! that the default build's tests check it: the rest of the Docker path cannot run here.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the daemon may take to answer.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether a Docker daemon answers where testcontainers will look for one (see [`answers_at`]).
#[cfg(feature = "docker")]
pub(crate) fn daemon_answers() -> bool {
    answers_at(
        crate::env_value("DOCKER_HOST"),
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

/// Whether a daemon answers at `docker_host` (`DOCKER_HOST`; a `tcp://` host answers when it
/// accepts a connection, TLS or not), else at the first of testcontainers' default sockets that
/// exists: `/var/run/docker.sock`, then the rootless and Docker Desktop ones under the runtime
/// folder and the home folder. A socket must answer `GET /_ping` with 200. testcontainers'
/// `~/.testcontainers.properties` is not read (its `properties-config` feature is off).
pub(crate) fn answers_at(
    docker_host: Option<OsString>,
    runtime_dir: Option<PathBuf>,
    home: Option<PathBuf>,
) -> bool {
    if let Some(host) = docker_host {
        let host = host.to_string_lossy();
        if let Some(path) = host.strip_prefix("unix://") {
            return pings(Path::new(path));
        }
        if let Some(address) = host.strip_prefix("tcp://") {
            return accepts(address.trim_end_matches('/'));
        }
        return false;
    }
    let sockets = [
        Some(PathBuf::from("/var/run/docker.sock")),
        runtime_dir.map(|dir| dir.join(".docker/run/docker.sock")),
        home.as_ref().map(|dir| dir.join(".docker/run/docker.sock")),
        home.map(|dir| dir.join(".docker/desktop/docker.sock")),
    ];
    sockets
        .into_iter()
        .flatten()
        .find(|socket| socket.exists())
        .is_some_and(|socket| pings(&socket))
}

/// `GET /_ping` over the Unix socket `path`, answered with 200.
pub(crate) fn pings(path: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(path) else {
        return false;
    };
    let mut answer = String::new();
    stream.set_read_timeout(Some(PING_TIMEOUT)).is_ok()
        && stream
            .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            .is_ok()
        && stream.take(4096).read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.")
        && answer.split_whitespace().nth(1) == Some("200")
}

/// A TCP connection accepted at `address` (`host:port`).
fn accepts(address: &str) -> bool {
    address
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .is_some_and(|address| TcpStream::connect_timeout(&address, PING_TIMEOUT).is_ok())
}
