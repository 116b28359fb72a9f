//! Accepting connections without spinning when accepting fails.
//!
//! `accept(2)` fails for two kinds of reasons. A connection that was reset or aborted while
//! it waited in the backlog is that connection's problem: the next one is taken at once.
//! Anything else (out of file descriptors, `EMFILE`/`ENFILE`, out of memory or buffers)
//! fails again at once if retried, so the acceptor sleeps, longer each time up to
//! [`MAX_BACKOFF`], and logs once per burst of failures (when it starts, and how many there
//! were when it ends) instead of a line per attempt.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

/// The first pause after a failed accept.
const MIN_BACKOFF: Duration = Duration::from_millis(10);
/// The longest pause between two attempts.
pub(super) const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// The listening socket, accepting with a back-off on errors.
pub(super) struct Acceptor {
    listener: TcpListener,
    backoff: Backoff,
}

impl Acceptor {
    pub(super) fn new(listener: TcpListener) -> Self {
        Self {
            listener,
            backoff: Backoff::default(),
        }
    }

    /// The next connection; errors are handled here (see the module's doc).
    pub(super) async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            match self.listener.accept().await {
                Ok(accepted) => {
                    if let Some(burst) = self.backoff.succeeded() {
                        tracing::info!(
                            failed_attempts = burst.failures,
                            lasted_ms = burst.lasted.as_millis(),
                            "accepting connections again"
                        );
                    }
                    return accepted;
                }
                Err(error) if is_about_one_connection(&error) => {}
                Err(error) => {
                    let pause = self.backoff.failed();
                    if pause.starts_burst {
                        tracing::error!(
                            %error,
                            "cannot accept connections; retrying with a pause of up to {} ms \
                             (logged once until it recovers)",
                            MAX_BACKOFF.as_millis()
                        );
                    }
                    tokio::time::sleep(pause.wait).await;
                }
            }
        }
    }
}

/// Errors that concern only the connection being accepted.
fn is_about_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// The pause after each failure of a burst, doubling up to [`MAX_BACKOFF`].
#[derive(Debug, Default)]
pub(super) struct Backoff {
    burst: Option<Burst>,
}

#[derive(Debug)]
struct Burst {
    started: Instant,
    failures: u64,
    next_wait: Duration,
}

/// What to do after a failure.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Pause {
    /// How long to sleep before the next attempt.
    pub(super) wait: Duration,
    /// Whether this failure starts a burst (log it).
    pub(super) starts_burst: bool,
}

/// A burst of failures that ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct EndedBurst {
    pub(super) failures: u64,
    pub(super) lasted: Duration,
}

impl Backoff {
    pub(super) fn failed(&mut self) -> Pause {
        match &mut self.burst {
            Some(burst) => {
                burst.failures += 1;
                let wait = burst.next_wait;
                burst.next_wait = (wait * 2).min(MAX_BACKOFF);
                Pause {
                    wait,
                    starts_burst: false,
                }
            }
            None => {
                self.burst = Some(Burst {
                    started: Instant::now(),
                    failures: 1,
                    next_wait: (MIN_BACKOFF * 2).min(MAX_BACKOFF),
                });
                Pause {
                    wait: MIN_BACKOFF,
                    starts_burst: true,
                }
            }
        }
    }

    pub(super) fn succeeded(&mut self) -> Option<EndedBurst> {
        self.burst.take().map(|burst| EndedBurst {
            failures: burst.failures,
            lasted: burst.started.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_logged_once_and_its_pauses_double_up_to_the_ceiling() {
        let mut backoff = Backoff::default();
        let pauses: Vec<Pause> = (0..10).map(|_| backoff.failed()).collect();
        assert!(pauses[0].starts_burst);
        assert!(pauses[1..].iter().all(|pause| !pause.starts_burst));
        assert_eq!(pauses[0].wait, MIN_BACKOFF);
        assert_eq!(pauses[1].wait, MIN_BACKOFF * 2);
        assert_eq!(pauses[2].wait, MIN_BACKOFF * 4);
        assert_eq!(pauses[9].wait, MAX_BACKOFF);
        let total: Duration = pauses.iter().map(|pause| pause.wait).sum();
        assert!(total >= Duration::from_secs(2), "no hot loop: {total:?}");

        let ended = backoff.succeeded().expect("a burst ended");
        assert_eq!(ended.failures, 10);
        assert_eq!(backoff.succeeded(), None, "the next success ends nothing");
        assert!(backoff.failed().starts_burst, "a new burst is logged again");
    }
}
