//! The manager driven through mocks of its ports: which attempts it begins, what it commits,
//! what it waits, and what it answers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shared_kernel::{AuditId, Error, ErrorCode};

use super::*;
use crate::commands::test_support::{CommitFlag, MockTx};
use crate::ports::{MockStorageReader, MockUnitOfWork};

/// A unit of work that hands out `txs` in order, expecting `attempts` (First, then Again…).
fn unit_of_work(txs: Vec<MockTx>) -> MockUnitOfWork {
    let expected: Vec<Attempt> = (0..txs.len())
        .map(|n| {
            if n == 0 {
                Attempt::First
            } else {
                Attempt::Again
            }
        })
        .collect();
    let queue = Mutex::new(VecDeque::from(txs));
    let asked = Mutex::new(VecDeque::from(expected));
    let mut unit_of_work = MockUnitOfWork::new();
    unit_of_work.expect_begin().returning(move |attempt| {
        let wanted = asked.lock().ok().and_then(|mut a| a.pop_front());
        assert_eq!(Some(attempt), wanted, "attempts begin as First, then Again");
        let tx = queue.lock().ok().and_then(|mut q| q.pop_front());
        tx.map(|tx| Box::new(tx) as Box<dyn Transaction>)
            .ok_or_else(|| Error::conflict("no more transactions were expected"))
    });
    unit_of_work
}

fn refusing(refusal: CommitError) -> MockTx {
    MockTx {
        refuse_commit: Some(refusal),
        ..MockTx::default()
    }
}

fn busy(n: u32) -> CommitError {
    CommitError::Retryable(Error::unavailable(format!("busy {n}"), std::fmt::Error))
}

fn lost_answer() -> CommitError {
    CommitError::OutcomeUnknown(Error::unavailable("connection dropped", std::fmt::Error))
}

/// A pause that records what it was asked to wait, and returns at once.
fn recording_pause() -> (MockPause, Arc<Mutex<Vec<Duration>>>) {
    let waited = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&waited);
    let mut pause = MockPause::new();
    pause.expect_pause().returning(move |delay| {
        if let Ok(mut log) = log.lock() {
            log.push(delay);
        }
    });
    (pause, waited)
}

fn manager(
    unit_of_work: MockUnitOfWork,
    outcomes: MockStorageReader,
    pause: MockPause,
) -> TransactionManager {
    TransactionManager::new(
        Arc::new(unit_of_work),
        Arc::new(outcomes),
        Arc::new(pause),
        RetryPolicy {
            max_attempts: 3,
            max_stale_attempts: 3,
            base_delay: Duration::from_millis(4),
            max_delay: Duration::from_millis(40),
            budget: Duration::from_secs(1),
        },
    )
}

/// A unit of work that prepares its transaction with the answer 7, counting its runs.
async fn run_counting(manager: &TransactionManager, change: AuditId) -> (Result<u32, Error>, u32) {
    let runs = Mutex::new(0_u32);
    let result = manager
        .run(change, None, |tx| {
            if let Ok(mut runs) = runs.lock() {
                *runs += 1;
            }
            async move { Ok(Prepared::new(tx, 7)) }
        })
        .await;
    let runs = runs.lock().map(|r| *r).unwrap_or_default();
    (result, runs)
}

fn flags(txs: &[MockTx]) -> Vec<CommitFlag> {
    txs.iter().map(MockTx::commit_flag).collect()
}

#[tokio::test]
async fn a_transient_refusal_is_retried_after_a_jittered_pause_then_succeeds() {
    let txs = vec![refusing(busy(1)), MockTx::default()];
    let committed = flags(&txs);
    let (pause, waited) = recording_pause();
    let mut outcomes = MockStorageReader::new();
    outcomes.expect_audit_entry_stored().never();
    let manager = manager(unit_of_work(txs), outcomes, pause);
    let (result, runs) = run_counting(&manager, AuditId::generate()).await;
    assert_eq!(result.ok(), Some(7));
    assert_eq!(runs, 2);
    assert!(!committed[0].was_committed() && committed[1].was_committed());
    let waited = waited.lock().map(|w| w.clone()).unwrap_or_default();
    assert_eq!(waited.len(), 1);
    assert!(waited[0] >= Duration::from_millis(2) && waited[0] <= Duration::from_millis(4));
}

#[tokio::test]
async fn it_gives_up_after_the_attempt_cap_with_the_last_error() {
    let txs = vec![refusing(busy(1)), refusing(busy(2)), refusing(busy(3))];
    let (pause, waited) = recording_pause();
    let manager = manager(unit_of_work(txs), MockStorageReader::new(), pause);
    let (result, runs) = run_counting(&manager, AuditId::generate()).await;
    let error = result.err();
    assert_eq!(
        error.as_ref().map(Error::code),
        Some(ErrorCode::Unavailable)
    );
    assert_eq!(error.as_ref().map(Error::detail), Some("busy 3"));
    assert_eq!(runs, 3, "three attempts in all");
    let waited = waited.lock().map(|w| w.clone()).unwrap_or_default();
    assert_eq!(waited.len(), 2);
    assert!(
        waited[1] >= Duration::from_millis(4),
        "the pause doubles: {waited:?}"
    );
}

#[tokio::test]
async fn a_stale_read_runs_again_at_once_and_gives_up_as_a_conflict() {
    let txs = vec![
        refusing(CommitError::Stale),
        refusing(CommitError::Stale),
        refusing(CommitError::Stale),
    ];
    let (pause, waited) = recording_pause();
    let manager = manager(unit_of_work(txs), MockStorageReader::new(), pause);
    let (result, runs) = run_counting(&manager, AuditId::generate()).await;
    assert_eq!(result.err().map(|e| e.code()), Some(ErrorCode::Conflict));
    assert_eq!(runs, 3);
    let waited = waited.lock().map(|w| w.clone()).unwrap_or_default();
    assert_eq!(
        waited.len(),
        1,
        "the first repeat does not wait: {waited:?}"
    );
}

#[tokio::test]
async fn an_unknown_outcome_that_was_stored_is_answered_without_a_second_write() {
    let change = AuditId::generate();
    let txs = vec![refusing(lost_answer())];
    let mut outcomes = MockStorageReader::new();
    outcomes
        .expect_audit_entry_stored()
        .withf(move |asked| *asked == change)
        .times(1)
        .returning(|_| Ok(true));
    let mut pause = MockPause::new();
    pause.expect_pause().never();
    let manager = manager(unit_of_work(txs), outcomes, pause);
    let (result, runs) = run_counting(&manager, change).await;
    assert_eq!(result.ok(), Some(7), "what was stored is the answer");
    assert_eq!(runs, 1, "no second write");
}

#[tokio::test]
async fn an_unknown_outcome_that_was_not_stored_is_retried() {
    let change = AuditId::generate();
    let txs = vec![refusing(lost_answer()), MockTx::default()];
    let committed = flags(&txs);
    let mut outcomes = MockStorageReader::new();
    outcomes
        .expect_audit_entry_stored()
        .withf(move |asked| *asked == change)
        .times(1)
        .returning(|_| Ok(false));
    let (pause, waited) = recording_pause();
    let manager = manager(unit_of_work(txs), outcomes, pause);
    let (result, runs) = run_counting(&manager, change).await;
    assert_eq!(result.ok(), Some(7));
    assert_eq!(runs, 2);
    assert!(committed[1].was_committed());
    assert_eq!(waited.lock().map(|w| w.len()).unwrap_or_default(), 1);
}

#[tokio::test]
async fn an_unknown_outcome_the_store_cannot_settle_is_never_acknowledged_nor_retried() {
    let txs = vec![refusing(lost_answer())];
    let mut outcomes = MockStorageReader::new();
    outcomes
        .expect_audit_entry_stored()
        .times(1)
        .returning(|_| Err(Error::unavailable("down", std::fmt::Error)));
    let mut pause = MockPause::new();
    pause.expect_pause().never();
    let manager = manager(unit_of_work(txs), outcomes, pause);
    let (result, runs) = run_counting(&manager, AuditId::generate()).await;
    let error = result.err();
    assert_eq!(
        error.as_ref().map(Error::code),
        Some(ErrorCode::Unavailable)
    );
    assert!(
        error.is_some_and(|e| e.detail().contains("may or may not have been stored")),
        "the client is told the outcome is unknown"
    );
    assert_eq!(runs, 1);
}

#[tokio::test]
async fn a_failed_commit_and_an_error_of_the_work_are_answered_as_they_are() {
    let txs = vec![refusing(CommitError::Failed(Error::conflict("taken")))];
    let mut pause = MockPause::new();
    pause.expect_pause().never();
    let manager = manager(unit_of_work(txs), MockStorageReader::new(), pause);
    let (result, runs) = run_counting(&manager, AuditId::generate()).await;
    assert_eq!(
        result.err().map(|e| e.detail().to_owned()).as_deref(),
        Some("taken")
    );
    assert_eq!(runs, 1);

    let tx = MockTx::default();
    let committed = tx.commit_flag();
    let mut pause = MockPause::new();
    pause.expect_pause().never();
    let second = self::manager(unit_of_work(vec![tx]), MockStorageReader::new(), pause);
    let result: Result<u32, Error> = second
        .run(AuditId::generate(), None, |_tx| async {
            Err(Error::not_found("no such thing"))
        })
        .await;
    assert_eq!(result.err().map(|e| e.code()), Some(ErrorCode::NotFound));
    assert!(!committed.was_committed());
}

#[tokio::test]
async fn no_retry_starts_past_the_request_deadline() {
    let txs = vec![refusing(busy(1))];
    let mut pause = MockPause::new();
    pause.expect_pause().never();
    let manager = manager(unit_of_work(txs), MockStorageReader::new(), pause);
    let deadline = Deadline::after(Duration::ZERO);
    let result: Result<u32, Error> = manager
        .run(AuditId::generate(), Some(deadline), |tx| async move {
            Ok(Prepared::new(tx, 7))
        })
        .await;
    assert_eq!(
        result.err().map(|e| e.detail().to_owned()).as_deref(),
        Some("busy 1")
    );
}
