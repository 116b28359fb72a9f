//! Where a serving thread's connections come from: the listening socket itself
//! ([`Admitting`]), through the dispatcher, or a queue of connections handed over
//! (`spread.rs`). Every connection is put on the connection table before it is served;
//! one refused at the cap is answered 503 here and never reaches a serving loop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use super::accept::Acceptor;
use super::refuse::{RefusalService, refuse};
use super::table::{Admission, Admitted, ConnectionTable};

/// A source of admitted connections.
pub(super) trait Incoming: Send + 'static {
    /// The next connection to serve on this thread.
    fn next(&mut self) -> impl Future<Output = (TcpStream, SocketAddr, Admitted)> + Send;
}

/// The listening socket, admitting each connection on the table.
pub(super) struct Admitting {
    acceptor: Acceptor,
    table: Arc<ConnectionTable>,
    refusal: RefusalService,
}

impl Admitting {
    pub(super) fn new(
        acceptor: Acceptor,
        table: Arc<ConnectionTable>,
        refusal: RefusalService,
    ) -> Self {
        Self {
            acceptor,
            table,
            refusal,
        }
    }
}

impl Incoming for Admitting {
    async fn next(&mut self) -> (TcpStream, SocketAddr, Admitted) {
        loop {
            let (stream, peer) = self.acceptor.accept().await;
            match self.table.admit() {
                Admission::Admitted(admitted) => return (stream, peer, admitted),
                Admission::Refused => {
                    tracing::debug!(%peer, "at the connection cap with none idle: refusing");
                    refuse(stream, &self.table, &self.refusal);
                }
            }
        }
    }
}
