//! Waiting briefly awake on the path every write waits for (see "The critical section" in the
//! parent module's doc): the writer spins for a session's next message, the task holding the
//! writer spins for a statement's answer.

use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use super::messages::Op;

/// Takes the session's next message, spinning for up to [`SPIN`] before sleeping.
///
/// While a session holds the writer, every hand-off between its task and this thread is on
/// every other write's path. The next message usually arrives within microseconds; sleeping
/// instead costs a futex wake-up on both sides, which on a virtual machine whose CPU went
/// idle meanwhile can take longer than the statements themselves.
pub(super) fn receive(ops: &Receiver<Op>) -> Result<Op, mpsc::RecvError> {
    let started = Instant::now();
    loop {
        for _ in 0..64 {
            match ops.try_recv() {
                Ok(op) => return Ok(op),
                Err(TryRecvError::Disconnected) => return Err(mpsc::RecvError),
                Err(TryRecvError::Empty) => std::hint::spin_loop(),
            }
        }
        if started.elapsed() >= SPIN {
            return ops.recv();
        }
    }
}

/// How long a task holding the writer spins for a statement's answer before it yields.
pub(super) const ANSWER_SPIN: Duration = Duration::from_micros(30);

/// How long the writer spins for a session's next message before it sleeps.
pub(super) const SPIN: Duration = Duration::from_micros(50);
