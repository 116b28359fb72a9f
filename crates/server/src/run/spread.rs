//! Connections spread over serving threads, each with a runtime of its own.
//!
//! # Why
//!
//! On tokio's multi-threaded runtime the workers share every connection: a task woken on
//! one worker may run on the other, and an idle worker is woken to steal work. On two cores
//! that cross-worker traffic cost about a quarter of a read's server CPU at a steady rate,
//! but one worker alone cannot keep up with a closed loop of 64 clients. Here each serving
//! thread runs a single-threaded runtime and keeps the connections it is given for their
//! whole life, so no wake-up ever crosses threads on a request's path, and every core still
//! serves. Measured against the shared runtime (issue 7, README "Performance"): 25.6–26.1
//! against 34.4–36.7 µs of server CPU per read at 26k reads/s, the closed loop within noise.
//!
//! The price: a connection cannot move off a thread the OS has put aside, so when clients
//! share the cores (the benchmark's load tool does) the closed loop's p99 is higher (about
//! 5 against 3 ms at 64 clients).
//!
//! # How
//!
//! The first thread accepts on the one listening socket ([`Dispatcher`]) and deals accepted
//! connections out in turn: every `n`-th it serves itself, the others it hands to the other
//! threads' queues ([`QueuedConnections`]). A hand-over costs one channel send per
//! connection, not per request, and one socket means a second server cannot quietly share
//! the port (as `SO_REUSEPORT` listeners would let it).

use std::net::SocketAddr;

use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::incoming::{Admitting, Incoming};
use super::table::Admitted;

/// A connection accepted (and admitted on the connection table) by the dispatcher, on its
/// way to another serving thread. It travels as a standard stream because a tokio stream
/// belongs to the runtime it was registered with.
pub(super) type HandedOver = (std::net::TcpStream, SocketAddr, Admitted);

/// The listening socket, on the first serving thread: serves every `n`-th connection and
/// hands the others, in turn, to the other threads.
pub(super) struct Dispatcher {
    listener: Admitting,
    others: Vec<mpsc::UnboundedSender<HandedOver>>,
    /// Whose turn the next connection is: 0 is this thread, `i` is `others[i - 1]`.
    turn: usize,
}

impl Dispatcher {
    pub(super) fn new(listener: Admitting, others: Vec<mpsc::UnboundedSender<HandedOver>>) -> Self {
        Self {
            listener,
            others,
            turn: 0,
        }
    }

    /// Passes `stream` to thread `turn` (1-based into `others`); gives it back when that
    /// thread is gone (it stopped or failed), so that it is served here rather than dropped.
    fn hand_over(
        &self,
        turn: usize,
        stream: TcpStream,
        peer: SocketAddr,
        admitted: Admitted,
    ) -> Option<(TcpStream, Admitted)> {
        let standard = match stream.into_std() {
            Ok(standard) => standard,
            Err(error) => {
                tracing::warn!(%peer, %error, "cannot hand a connection over; dropping it");
                return None;
            }
        };
        match self.others[turn - 1].send((standard, peer, admitted)) {
            Ok(()) => None,
            Err(mpsc::error::SendError((standard, _, admitted))) => {
                tracing::warn!(
                    thread = turn,
                    "a serving thread is gone; serving its connection here"
                );
                TcpStream::from_std(standard)
                    .ok()
                    .map(|stream| (stream, admitted))
            }
        }
    }
}

impl Incoming for Dispatcher {
    async fn next(&mut self) -> (TcpStream, SocketAddr, Admitted) {
        loop {
            // Accept errors are backed off and refusals answered inside (`Admitting`).
            let (stream, peer, admitted) = self.listener.next().await;
            let turn = self.turn;
            self.turn = (self.turn + 1) % (self.others.len() + 1);
            if turn == 0 {
                return (stream, peer, admitted);
            }
            if let Some((stream, admitted)) = self.hand_over(turn, stream, peer, admitted) {
                return (stream, peer, admitted);
            }
        }
    }
}

/// The connections handed to one of the other serving threads.
pub(super) struct QueuedConnections {
    queue: mpsc::UnboundedReceiver<HandedOver>,
}

impl QueuedConnections {
    pub(super) fn new(queue: mpsc::UnboundedReceiver<HandedOver>) -> Self {
        Self { queue }
    }
}

impl Incoming for QueuedConnections {
    async fn next(&mut self) -> (TcpStream, SocketAddr, Admitted) {
        loop {
            let Some((standard, peer, admitted)) = self.queue.recv().await else {
                // The dispatcher stopped accepting (shutdown): nothing more will come, and
                // the serving loop ends on its shutdown signal.
                return std::future::pending().await;
            };
            // Registers the stream with this thread's runtime (this runs on it).
            match TcpStream::from_std(standard) {
                Ok(stream) => return (stream, peer, admitted),
                Err(error) => {
                    tracing::warn!(%peer, %error, "cannot take a handed-over connection; dropping it");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use axum::body::Body;
    use axum::response::Response;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;
    use tower::util::BoxCloneSyncService;

    use super::super::accept::Acceptor;
    use super::super::table::{Admission, ConnectionTable};
    use super::*;

    /// The listener, admitting on a roomy table.
    fn admitting(listener: TcpListener) -> Admitting {
        let refusal =
            BoxCloneSyncService::new(tower::service_fn(|_: axum::extract::Request| async {
                Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
            }));
        Admitting::new(Acceptor::new(listener), ConnectionTable::new(100), refusal)
    }

    fn admitted() -> Admitted {
        match ConnectionTable::new(1).admit() {
            Admission::Admitted(admitted) => admitted,
            Admission::Refused => panic!("refused"),
        }
    }

    /// A listener on a free loopback port.
    async fn loopback_listener() -> TcpListener {
        TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"))
    }

    /// Opens `count` connections to `listener`, in order (the kernel queues them until
    /// accepted), and gives back their local addresses, which the server sees as peers.
    fn connect(
        listener: &TcpListener,
        count: usize,
    ) -> (Vec<std::net::TcpStream>, Vec<SocketAddr>) {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        let clients: Vec<_> = (0..count)
            .map(|_| std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}")))
            .collect();
        let peers = clients
            .iter()
            .map(|client| {
                client
                    .local_addr()
                    .unwrap_or_else(|e| panic!("local addr: {e}"))
            })
            .collect();
        (clients, peers)
    }

    fn drain(queue: &mut mpsc::UnboundedReceiver<HandedOver>) -> Vec<SocketAddr> {
        std::iter::from_fn(|| queue.try_recv().ok())
            .map(|(_, peer, _)| peer)
            .collect()
    }

    #[tokio::test]
    async fn connections_are_dealt_out_in_turn_starting_with_the_dispatching_thread() {
        let listener = loopback_listener().await;
        let (_clients, peers) = connect(&listener, 7);
        let (second, mut second_queue) = mpsc::unbounded_channel();
        let (third, mut third_queue) = mpsc::unbounded_channel();
        let mut dispatcher = Dispatcher::new(admitting(listener), vec![second, third]);

        let mut kept = Vec::new();
        for _ in 0..3 {
            kept.push(dispatcher.next().await.1);
        }

        assert_eq!(kept, [peers[0], peers[3], peers[6]]);
        assert_eq!(drain(&mut second_queue), [peers[1], peers[4]]);
        assert_eq!(drain(&mut third_queue), [peers[2], peers[5]]);
    }

    #[tokio::test]
    async fn a_connection_whose_thread_is_gone_is_served_by_the_dispatcher() {
        let listener = loopback_listener().await;
        let (_clients, peers) = connect(&listener, 3);
        let (gone, gone_queue) = mpsc::unbounded_channel();
        drop(gone_queue);
        let mut dispatcher = Dispatcher::new(admitting(listener), vec![gone]);

        let mut served_here = Vec::new();
        for _ in 0..3 {
            served_here.push(dispatcher.next().await.1);
        }

        assert_eq!(served_here, peers, "none dropped, none out of order");
    }

    #[tokio::test]
    async fn a_handed_over_connection_carries_what_its_client_sent() {
        let listener = loopback_listener().await;
        let (mut clients, peers) = connect(&listener, 1);
        let (accepted, _) = listener
            .accept()
            .await
            .unwrap_or_else(|e| panic!("accept: {e}"));
        let standard = accepted
            .into_std()
            .unwrap_or_else(|e| panic!("into_std: {e}"));
        let (queue, queued) = mpsc::unbounded_channel();
        queue
            .send((standard, peers[0], admitted()))
            .unwrap_or_else(|_| panic!("queue closed"));
        let mut connections = QueuedConnections::new(queued);
        clients[0]
            .write_all(b"ping")
            .unwrap_or_else(|e| panic!("write: {e}"));

        let (mut stream, peer, _admitted) = connections.next().await;
        let mut received = [0_u8; 4];
        stream
            .read_exact(&mut received)
            .await
            .unwrap_or_else(|e| panic!("read: {e}"));

        assert_eq!(peer, peers[0]);
        assert_eq!(&received, b"ping");
    }
}
