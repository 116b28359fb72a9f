//! Serving: bind, serve, and shut down gracefully within the shutdown timeout.
//!
//! With [`Serving::PerThread`] the connections are dealt out to serving threads that each
//! run a runtime of their own ([`spread`]); with [`Serving::Shared`] the caller's runtime
//! serves them all. Either way each connection is served by hand with hyper
//! ([`connection`]) under the [`ConnectionLimits`]: timeouts for request heads and idle
//! connections, and a cap on open connections kept on one table across threads ([`table`]).
//! At shutdown the listening socket closes, idle and half-sent connections close at once,
//! and requests in flight get the shutdown timeout to finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shared_kernel::{Error, SystemClock};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tower::util::BoxCloneSyncService;

use crate::config::Config;
use crate::connection_limits::{self, ConnectionLimits};
use crate::http::{self, AppState};
use crate::log_worker::SequencerTask;
use crate::serving::Serving;
use crate::{wiring, workers};

mod accept;
mod connection;
mod incoming;
mod refuse;
mod spread;
mod table;

use self::incoming::{Admitting, Incoming};
use self::table::ConnectionTable;

/// How many tasks a worker polls from its own queue before it looks at the global one.
const GLOBAL_QUEUE_INTERVAL: u32 = 4;

/// The runtime of a serving thread: single-threaded for [`Serving::PerThread`] (the
/// caller's and each one [`start`] adds), multi-threaded for [`Serving::Shared`].
///
/// Tasks woken by the store's writer thread (a statement answered, a group committed) land
/// in the runtime's global queue, which a busy worker checks only every 61 polls by default;
/// while one of them holds the writer, that wait is on every write's path.
///
/// # Errors
/// When the runtime cannot be built (no threads, no timer or I/O driver).
pub fn serving_runtime(serving: Serving) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match serving {
        Serving::PerThread { .. } => tokio::runtime::Builder::new_current_thread(),
        Serving::Shared => tokio::runtime::Builder::new_multi_thread(),
    };
    builder
        .enable_all()
        .global_queue_interval(GLOBAL_QUEUE_INTERVAL)
        .build()
}

/// A server running in the background of this process.
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<watch::Sender<bool>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops gracefully and waits until the store (and its data-folder lock) is released.
    ///
    /// # Errors
    /// When serving failed.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _already_stopping = stop.send(true);
        }
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// Opens the store, binds `config.listen`, and serves in the background.
///
/// # Errors
/// `UNAVAILABLE` when the store cannot be opened or the address cannot be bound.
pub async fn start(config: Config) -> Result<RunningServer, Error> {
    let limits = match connection_limits::raise_open_file_limit() {
        Some(open_files) => config.connections.within_open_files(open_files),
        None => config.connections,
    };
    if limits.max_connections < config.connections.max_connections {
        tracing::warn!(
            max_connections = limits.max_connections,
            configured = config.connections.max_connections,
            "max_connections is above what the open-file limit allows; using the lower cap"
        );
    }
    let (state, log) = wiring::wire(&config).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::unavailable(format!("cannot listen on {}", config.listen), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::unavailable("cannot read the bound address", e))?;
    // Started after the bind, so a failed start leaves no task holding the store; it signs
    // the first checkpoint (size 0 on a new store) before the first request is served.
    let sequencer =
        SequencerTask::start(&log, Arc::new(SystemClock), state.write_gate().clone()).await?;
    drop(log);
    let (stop, stop_requested) = watch::channel(false);
    let context = ServingContext {
        refusal: BoxCloneSyncService::new(http::over_capacity(state.clone())),
        state,
        table: ConnectionTable::new(limits.max_connections),
        limits,
        grace: config.shutdown_timeout,
    };
    let others = match start_serving_threads(config.serving, &context, &stop_requested) {
        Ok(others) => others,
        Err(error) => {
            // Dropping `stop` stops the threads already started.
            sequencer.drain().await;
            return Err(error);
        }
    };
    let purge =
        workers::spawn_idempotency_purge(context.state.storage().clone(), workers::PURGE_INTERVAL);
    let task = tokio::spawn(async move {
        let served = serve_all(listener, others, context, stop_requested).await;
        // Requests are done: sequence what they committed, sign the final head, and let the
        // sequencer (which holds the store) go.
        sequencer.drain().await;
        // Wait for the purge task to be gone: it holds the store, and with it the folder lock.
        purge.abort();
        let _cancelled = purge.await;
        served
    });
    tracing::info!(
        %addr,
        data_dir = %config.data_dir.display(),
        max_connections = limits.max_connections,
        "offchain-db is listening"
    );
    Ok(RunningServer {
        addr,
        stop: Some(stop),
        task,
    })
}

/// Completes once a stop is requested, or when the handle that requests it is gone.
async fn stopped(mut stop_requested: watch::Receiver<bool>) {
    while !*stop_requested.borrow_and_update() {
        if stop_requested.changed().await.is_err() {
            return;
        }
    }
}

/// What every serving thread shares.
#[derive(Clone)]
struct ServingContext {
    state: AppState,
    /// Every open connection, on every thread.
    table: Arc<ConnectionTable>,
    limits: ConnectionLimits,
    /// What a connection refused at the cap is answered.
    refusal: refuse::RefusalService,
    /// How long shutdown waits for requests in flight.
    grace: Duration,
}

/// A serving thread beside the caller's, as the caller sees it.
struct ServingThread {
    /// Where the dispatcher hands it connections.
    queue: mpsc::UnboundedSender<spread::HandedOver>,
    /// How its serving ended.
    finished: oneshot::Receiver<std::io::Result<()>>,
}

/// Starts the serving threads `serving` has beside the caller's (none for
/// [`Serving::Shared`]), each on its own single-threaded runtime, serving the connections
/// handed to it until a stop is requested.
///
/// # Errors
/// `UNAVAILABLE` when a thread cannot be started; those already started stop when the
/// sender of `stop_requested` is dropped.
fn start_serving_threads(
    serving: Serving,
    context: &ServingContext,
    stop_requested: &watch::Receiver<bool>,
) -> Result<Vec<ServingThread>, Error> {
    (1..=serving.other_threads())
        .map(|index| {
            let (queue, queued) = mpsc::unbounded_channel();
            let (outcome, finished) = oneshot::channel();
            let context = context.clone();
            let stop_requested = stop_requested.clone();
            std::thread::Builder::new()
                .name(format!("offchain-http-{index}"))
                .spawn(move || {
                    let served = serving_runtime(serving).and_then(|runtime| {
                        let connections = spread::QueuedConnections::new(queued);
                        let shutdown = stopped(stop_requested);
                        runtime.block_on(serve(connections, context, shutdown))
                    });
                    // Nobody listens any more only if the server's task was cancelled.
                    let _ = outcome.send(served);
                })
                .map_err(|e| Error::unavailable("could not start a serving thread", e))?;
            Ok(ServingThread { queue, finished })
        })
        .collect()
}

/// Serves `listener`'s connections here, dealing them out to `others` too when there are
/// any, until a stop is requested; then waits for every thread to finish its requests.
///
/// # Errors
/// The first serving error, here or on another thread (a thread that panicked is one).
async fn serve_all(
    listener: TcpListener,
    others: Vec<ServingThread>,
    context: ServingContext,
    stop_requested: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let shutdown = stopped(stop_requested);
    let listener = Admitting::new(
        accept::Acceptor::new(listener),
        Arc::clone(&context.table),
        context.refusal.clone(),
    );
    if others.is_empty() {
        return serve(listener, context, shutdown).await;
    }
    let (queues, finished): (Vec<_>, Vec<_>) = others
        .into_iter()
        .map(|thread| (thread.queue, thread.finished))
        .unzip();
    // Returning drops the dispatcher and with it the queues: nothing more is handed over.
    let mut served = serve(spread::Dispatcher::new(listener, queues), context, shutdown).await;
    for thread in finished {
        let outcome = thread
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("a serving thread panicked")));
        if served.is_ok() {
            served = outcome;
        }
    }
    served
}

/// Serves `incoming`'s connections until `shutdown` completes; then stops accepting, asks
/// every connection to close (idle and half-sent ones close at once) and lets requests in
/// flight finish for at most the grace time before giving up on them (their uncommitted
/// transactions roll back).
async fn serve(
    mut incoming: impl Incoming,
    context: ServingContext,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = http::router(context.state.clone());
    // Each connection's task holds a receiver: the sender sees them all gone.
    let (all_closed, open) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            (stream, _peer, admitted) = incoming.next() => {
                let app = app.clone();
                let open = open.clone();
                let limits = context.limits;
                tokio::spawn(async move {
                    connection::serve(stream, admitted, app, limits).await;
                    drop(open);
                });
            }
        }
    }
    // Closes the listening socket (or this thread's queue): no new connections.
    drop(incoming);
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    context.state.begin_shutdown();
    context.table.begin_shutdown();
    drop(open);
    if tokio::time::timeout(context.grace, all_closed.closed())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?context.grace, "shutdown timeout reached; abandoning in-flight requests");
    }
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn termination_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// The server refused to start because what it was given does not fit the store: the key
/// or origin is not the log's, or the signer state is another log's (`INVALID_INPUT` from
/// [`start`]). The command exits with the configuration error's code, 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartRefused(pub String);

/// Runs the server until a termination signal.
///
/// # Errors
/// When the server cannot start ([`StartRefused`] when the configuration does not fit the
/// store) or fails while serving.
pub async fn run_until_signal(config: Config) -> anyhow::Result<()> {
    let server = start(config).await.map_err(|e| {
        if e.code() == shared_kernel::ErrorCode::InvalidInput {
            anyhow::Error::new(StartRefused(e.chain()))
        } else {
            anyhow::anyhow!(e.chain())
        }
    })?;
    termination_signal().await;
    server.stop().await?;
    tracing::info!("stopped");
    Ok(())
}
