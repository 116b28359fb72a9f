//! Serving one connection with hyper, under the connection limits.
//!
//! Three small wrappers tell the connection's [`Tracked`] record what happens, with no lock
//! and no extra wake-up on a request's path: [`Watched`] (bytes read and written),
//! [`TrackedService`] (a handler starts and ends) and [`TrackedBody`] (an answer is being
//! sent). The [`Watchdog`], polled in the connection's own task after hyper, turns the
//! record into a verdict:
//!
//! - part of a request head arrived and the rest did not within the header read timeout:
//!   close (a client sending one byte a second);
//! - no handler running and nothing moving for the keep-alive timeout: close (an idle
//!   keep-alive connection, or a client that stopped reading its answer);
//! - asked to close (the server shuts down, or this was the oldest idle connection at the
//!   cap): let hyper finish the request in progress, if any, and close; a half-sent request
//!   head is closed at once.
//!
//! hyper has a `header_read_timeout` of its own, but its clock starts when the connection
//! begins to wait for a request, so it would also close idle keep-alive connections after
//! the same time, and it arms a new timer for every request. The watchdog keeps one timer
//! per connection and moves it only when a head arrives in pieces.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::Response;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::table::{Admitted, Phase, Tracked};
use crate::connection_limits::ConnectionLimits;

/// Serves `stream` until the client or the watchdog ends it. `admitted` keeps it on the
/// connection table until then.
pub(super) async fn serve<S>(
    stream: TcpStream,
    admitted: Admitted,
    app: S,
    limits: ConnectionLimits,
) where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + Unpin + 'static,
{
    let tracked = Arc::clone(admitted.tracked());
    let io = TokioIo::new(Watched {
        stream,
        tracked: Arc::clone(&tracked),
    });
    let service = TrackedService {
        app,
        tracked: Arc::clone(&tracked),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The watchdog keeps the time (see the module's doc).
    builder.header_read_timeout(None::<std::time::Duration>);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut watchdog = Watchdog::new(tracked, limits);
    loop {
        // hyper first: what it reads or writes in this poll is what the watchdog then sees.
        tokio::select! {
            biased;
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, "connection ended with an error");
                }
                break;
            }
            verdict = std::future::poll_fn(|cx| watchdog.poll_verdict(cx)) => match verdict {
                Verdict::Finish => connection.as_mut().graceful_shutdown(),
                Verdict::CloseNow(reason) => {
                    tracing::debug!(reason, "closing a connection");
                    break;
                }
            },
        }
    }
    drop(admitted);
}

/// What the watchdog decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Finish the request in progress, if any, then close (hyper's graceful shutdown).
    Finish,
    /// Close now, dropping the connection.
    CloseNow(&'static str),
}

/// Enforces the connection's timeouts and close requests (see the module's doc).
struct Watchdog {
    tracked: Arc<Tracked>,
    limits: ConnectionLimits,
    sleep: Pin<Box<Sleep>>,
    /// When `sleep` fires.
    armed: Instant,
    /// Whether hyper was already told to finish.
    finishing: bool,
}

impl Watchdog {
    fn new(tracked: Arc<Tracked>, limits: ConnectionLimits) -> Self {
        let armed = Instant::now() + limits.keep_alive_timeout;
        Self {
            tracked,
            limits,
            sleep: Box::pin(tokio::time::sleep_until(armed.into())),
            armed,
            finishing: false,
        }
    }

    /// When the connection should be closed if nothing changes, and why.
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        match self.tracked.phase() {
            Phase::Serving => None,
            Phase::Answering { quiet_since } => Some((
                self.tracked.instant(quiet_since) + self.limits.keep_alive_timeout,
                "the client read nothing of its answer for the keep-alive timeout",
            )),
            Phase::ReadingHead { started } => Some((
                self.tracked.instant(started) + self.limits.header_read_timeout,
                "the request head did not arrive within the header read timeout",
            )),
            Phase::Idle { quiet_since } => Some((
                self.tracked.instant(quiet_since) + self.limits.keep_alive_timeout,
                "idle for the keep-alive timeout",
            )),
        }
    }

    fn arm(&mut self, at: Instant) {
        self.armed = at;
        self.sleep.as_mut().reset(at.into());
    }

    fn poll_verdict(&mut self, cx: &mut Context<'_>) -> Poll<Verdict> {
        self.tracked.waker.register(cx.waker());
        if self.tracked.asked_to_close() {
            if matches!(self.tracked.phase(), Phase::ReadingHead { .. }) {
                return Poll::Ready(Verdict::CloseNow(
                    "asked to close with a request head half sent",
                ));
            }
            if !self.finishing {
                self.finishing = true;
                return Poll::Ready(Verdict::Finish);
            }
        }
        // A deadline earlier than the timer (a head began to arrive) moves the timer now;
        // a later one is found when the timer fires, so a request costs no timer update.
        if let Some((deadline, _)) = self.deadline()
            && deadline < self.armed
        {
            self.arm(deadline);
        }
        loop {
            ready!(self.sleep.as_mut().poll(cx));
            let now = Instant::now();
            match self.deadline() {
                Some((deadline, reason)) if deadline <= now => {
                    return Poll::Ready(Verdict::CloseNow(reason));
                }
                Some((deadline, _)) => self.arm(deadline),
                // A handler runs: the request timeout bounds it; look again later.
                None => self.arm(now + self.limits.keep_alive_timeout),
            }
        }
    }
}

/// The socket, telling the connection's record when bytes move.
struct Watched {
    stream: TcpStream,
    tracked: Arc<Tracked>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.stream).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.tracked.on_read();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.stream).poll_write(cx, buf))?;
        if written > 0 {
            self.tracked.on_write();
        }
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.stream).poll_write_vectored(cx, bufs))?;
        if written > 0 {
            self.tracked.on_write();
        }
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The application, telling the connection's record when a handler runs.
#[derive(Clone)]
struct TrackedService<S> {
    app: S,
    tracked: Arc<Tracked>,
}

impl<S> hyper::service::Service<hyper::Request<Incoming>> for TrackedService<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + Unpin + 'static,
{
    type Response = hyper::Response<TrackedBody>;
    type Error = Infallible;
    type Future = Handling<S::Future>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        self.tracked.handler_started();
        let handler = HandlerRunning(Arc::clone(&self.tracked));
        // The app is always ready (see `Pipeline::poll_ready`), so no `poll_ready` first.
        let mut app = self.app.clone();
        let future = tower::Service::call(&mut app, request.map(Body::new));
        Handling {
            future,
            handler: Some(handler),
        }
    }
}

/// A handler's future; its end (answer or drop) is told to the record.
struct Handling<F> {
    future: F,
    handler: Option<HandlerRunning>,
}

impl<F> Future for Handling<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<hyper::Response<TrackedBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Ok(response) = ready!(Pin::new(&mut self.future).poll(cx));
        let tracked = match self.handler.take() {
            Some(handler) => Arc::clone(&handler.0),
            None => return Poll::Pending,
        };
        // Counted as an answer before the handler ends, so it never looks idle in between.
        tracked.answer_started();
        let answer = AnswerSending(tracked);
        Poll::Ready(Ok(response.map(|body| TrackedBody {
            body,
            _answer: answer,
        })))
    }
}

/// While it lives, a handler runs.
struct HandlerRunning(Arc<Tracked>);

impl Drop for HandlerRunning {
    fn drop(&mut self) {
        self.0.handler_ended();
    }
}

/// While it lives, an answer's body is being handed to the connection.
struct AnswerSending(Arc<Tracked>);

impl Drop for AnswerSending {
    fn drop(&mut self) {
        self.0.answer_ended();
    }
}

/// An answer's body; hyper drops it once it is all handed over.
struct TrackedBody {
    body: Body,
    _answer: AnswerSending,
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
