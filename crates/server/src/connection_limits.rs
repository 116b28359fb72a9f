//! How long a connection may idle or dawdle, how many may be open, and the process's
//! open-file limit those connections count against.
//!
//! Every connection holds a file descriptor. With the usual soft limit of 1,024, about a
//! thousand idle connections used to take every descriptor and deny all service, so at start
//! the soft limit is raised to the hard one, and the connection cap is kept below what the
//! descriptors allow (the store, its readers and the logs need some of their own).
//!
//! The configuration reads these limits and [`run`](crate::run) applies them; they sit apart
//! from both so that neither imports the other for them.

use std::time::Duration;

/// Descriptors kept for everything that is not a client connection: the database, its WAL
/// and shared-memory files for the writer and each reader, the lock and key files, the
/// runtime's epoll and event descriptors, the listening socket, the logs.
pub const RESERVED_DESCRIPTORS: u64 = 128;

/// The soft limit tried when the hard limit is "unlimited" (Linux refuses an unlimited
/// number of open files; this is its default ceiling, `fs.nr_open`).
const UNLIMITED_FALLBACK: u64 = 1 << 20;

/// What a connection may do before the server closes it, and how many may be open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Once the first byte of a request head has arrived, the whole head must arrive within
    /// this; otherwise the connection is closed (a client sending one byte a second).
    pub header_read_timeout: Duration,
    /// A connection with no request running and no byte moving either way for this long is
    /// closed (idle keep-alive connections, clients that stopped reading their answer).
    pub keep_alive_timeout: Duration,
    /// Open connections at most; past it the oldest idle one is closed to make room, or, when
    /// none is idle, the new one is answered 503 and closed.
    pub max_connections: usize,
}

/// The default header read timeout.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The default keep-alive (idle) timeout.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// The default cap on open connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ConnectionLimits {
    /// These limits with the cap lowered, when needed, to what `open_files` descriptors allow
    /// beside [`RESERVED_DESCRIPTORS`] (at least one connection).
    pub fn within_open_files(self, open_files: u64) -> Self {
        let allowed = usize::try_from(open_files.saturating_sub(RESERVED_DESCRIPTORS).max(1))
            .unwrap_or(usize::MAX);
        Self {
            max_connections: self.max_connections.min(allowed),
            ..self
        }
    }
}

/// Raises this process's soft limit on open files to its hard limit, and returns the soft
/// limit in force afterwards (`None` when it cannot be read: then it is left alone).
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(UNLIMITED_FALLBACK);
    match limit.current {
        Some(soft) if soft >= hard => return Some(soft),
        None => return None,
        Some(_) => {}
    }
    let raised = Rlimit {
        current: Some(hard),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            tracing::info!(
                from = limit.current,
                to = hard,
                "raised the soft limit on open files to the hard limit"
            );
            Some(hard)
        }
        Err(error) => {
            tracing::warn!(%error, soft = limit.current, hard, "could not raise the open-file limit");
            limit.current
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_the_store_s_own_descriptors() {
        let limits = ConnectionLimits::default();
        assert_eq!(limits.within_open_files(1024).max_connections, 1024 - 128);
        assert_eq!(
            limits.within_open_files(1 << 20).max_connections,
            DEFAULT_MAX_CONNECTIONS,
            "a configured cap below the descriptors stays"
        );
        assert_eq!(limits.within_open_files(10).max_connections, 1);
    }

    #[test]
    fn raising_the_limit_leaves_the_soft_limit_at_the_hard_one() {
        let soft = raise_open_file_limit();
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(soft, limit.current);
        if let (Some(soft), Some(hard)) = (limit.current, limit.maximum) {
            assert_eq!(soft, hard);
        }
    }
}
