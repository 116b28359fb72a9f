//! Serving: bind, serve, and shut down gracefully within the shutdown timeout.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::ServiceExt;
use axum::extract::Request;
use shared_kernel::{Error, SystemClock};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::http::{self, AppState};
use crate::log_worker::SequencerTask;
use crate::{wiring, workers};

/// A server running in the background of this process.
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
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
            let _already_stopping = stop.send(());
        }
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// Opens the store, binds `config.listen`, and serves in the background.
///
/// # Errors
/// `UNAVAILABLE` when the store cannot be opened or the address cannot be bound.
pub async fn start(config: Config) -> Result<RunningServer, Error> {
    let (state, log) = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || wiring::embedded(&config))
            .await
            .map_err(|e| Error::internal("opening the store panicked", e))??
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::unavailable(format!("cannot listen on {}", config.listen), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::unavailable("cannot read the bound address", e))?;
    // Started after the bind, so a failed start leaves no task holding the store; it signs
    // the first checkpoint (size 0 on a new store) before the first request is served.
    let sequencer = SequencerTask::start(&log, Arc::new(SystemClock)).await?;
    drop(log);
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _stop_requested_or_handle_dropped = stopped.await;
    };
    let purge = workers::spawn_idempotency_purge(state.storage().clone(), workers::PURGE_INTERVAL);
    let task = tokio::spawn(async move {
        let served = serve(listener, state, shutdown, config.shutdown_timeout).await;
        // Requests are done: sequence what they committed, sign the final head, and let the
        // sequencer (which holds the store) go.
        sequencer.drain().await;
        // Wait for the purge task to be gone: it holds the store, and with it the folder lock.
        purge.abort();
        let _cancelled = purge.await;
        served
    });
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "offchain-db is listening");
    Ok(RunningServer {
        addr,
        stop: Some(stop),
        task,
    })
}

/// Serves until `shutdown` completes, then lets in-flight requests finish for at most
/// `grace` before giving up on them (their uncommitted transactions roll back).
async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let app = http::router(state.clone());
    let (begun, begun_rx) = oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        state.begin_shutdown();
        let _ = begun.send(());
    };
    let server = axum::serve(listener, ServiceExt::<Request>::into_make_service(app))
        .with_graceful_shutdown(signal)
        .into_future();
    tokio::pin!(server);
    let deadline = async move {
        if begun_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = &mut server => result,
        () = deadline => {
            tracing::warn!(?grace, "shutdown timeout reached; abandoning in-flight requests");
            Ok(())
        }
    }
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

/// Runs the server until a termination signal.
///
/// # Errors
/// When the server cannot start or fails while serving.
pub async fn run_until_signal(config: Config) -> anyhow::Result<()> {
    let server = start(config)
        .await
        .map_err(|e| anyhow::anyhow!(e.chain()))?;
    termination_signal().await;
    server.stop().await?;
    tracing::info!("stopped");
    Ok(())
}
