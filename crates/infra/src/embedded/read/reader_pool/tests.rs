//! The lanes of the reader pool: point reads always have a thread, scans take at most all but
//! one and run in the order queued, and a scan stops when its deadline passes or its waiter
//! goes away. Timings here are margins (seconds), never measurements.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use shared_kernel::{Deadline, Error, ErrorCode};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::ReaderPool;
use crate::embedded::error::storage_error;
use crate::embedded::lock::DirLock;

/// Longer than anything here should take on two busy cores; only a hang reaches it.
const HANG: Duration = Duration::from_secs(30);

/// A statement that never ends on its own: counting an endless recursive sequence.
const ENDLESS: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

fn ok<T>(result: Result<T, Error>) -> T {
    result.unwrap_or_else(|e| panic!("{}", e.chain()))
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {HANG:?}"))
}

/// A pool of `threads` readers over a small database in a fresh folder.
fn pool(threads: usize) -> (tempfile::TempDir, Arc<ReaderPool>) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("readers.db");
    let setup = Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
    setup
        .execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3);")
        .unwrap_or_else(|e| panic!("{e}"));
    drop(setup);
    let lock = Arc::new(ok(DirLock::acquire(dir.path())));
    let pool = ok(ReaderPool::new(&path, threads, lock));
    (dir, Arc::new(pool))
}

fn count_rows(connection: &Connection) -> Result<i64, Error> {
    connection
        .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        .map_err(|e| storage_error("counting rows", e))
}

fn endless(connection: &Connection) -> Result<i64, Error> {
    connection
        .query_row(ENDLESS, [], |row| row.get(0))
        .map_err(|e| storage_error("counting for ever", e))
}

/// A scan that holds its thread until the returned sender is used (or dropped); resolves the
/// returned receiver once it runs.
fn hold_a_scan(
    pool: &Arc<ReaderPool>,
) -> (mpsc::Sender<()>, oneshot::Receiver<()>, JoinHandle<()>) {
    let (release, released) = mpsc::channel::<()>();
    let (started, running) = oneshot::channel();
    let pool = Arc::clone(pool);
    let task = tokio::spawn(async move {
        ok(pool
            .scan(None, move |_, _| {
                let _ = started.send(());
                let _ = released.recv();
                Ok(())
            })
            .await);
    });
    (release, running, task)
}

#[tokio::test]
async fn a_point_read_is_served_while_scans_hold_every_thread_they_may_use() {
    let (_dir, pool) = pool(2);
    let (release, running, held) = hold_a_scan(&pool);
    within("the held scan's start", running)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let rows = within("a point read", pool.read(count_rows)).await;
    assert_eq!(ok(rows), 3);

    // A second scan waits: of two threads, scans may use one.
    let ran = Arc::new(AtomicBool::new(false));
    let second = {
        let (pool, ran) = (Arc::clone(&pool), Arc::clone(&ran));
        tokio::spawn(async move {
            pool.scan(None, move |c, _| {
                ran.store(true, Ordering::SeqCst);
                count_rows(c)
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !ran.load(Ordering::SeqCst),
        "a second scan ran on the point lane's thread"
    );
    // Point reads still pass while that scan waits.
    assert_eq!(ok(within("a point read", pool.read(count_rows)).await), 3);

    drop(release);
    within("the held scan", held)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let second = within("the second scan", second)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok(second), 3);
}

#[tokio::test]
async fn one_reader_asked_for_still_gets_a_thread_for_point_reads() {
    let (_dir, pool) = pool(1);
    let (release, running, held) = hold_a_scan(&pool);
    within("the held scan's start", running)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok(within("a point read", pool.read(count_rows)).await), 3);
    drop(release);
    within("the held scan", held)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn queued_scans_run_in_the_order_they_were_queued() {
    let (_dir, pool) = pool(2);
    let (release, running, held) = hold_a_scan(&pool);
    within("the held scan's start", running)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut scans = Vec::new();
    for index in 0..6 {
        let (pool, order) = (Arc::clone(&pool), Arc::clone(&order));
        scans.push(tokio::spawn(async move {
            pool.scan(None, move |_, _| {
                order
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(index);
                Ok(())
            })
            .await
        }));
        // Let this scan be queued before the next one is.
        tokio::task::yield_now().await;
    }
    drop(release);
    within("the held scan", held)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for scan in scans {
        ok(within("a queued scan", scan)
            .await
            .unwrap_or_else(|e| panic!("{e}")));
    }
    let order = order
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert_eq!(order, [0, 1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn a_scan_past_its_deadline_is_interrupted_and_its_thread_serves_the_next_read() {
    let (_dir, pool) = pool(2);
    let started = Instant::now();
    let deadline = Deadline::after(Duration::from_millis(300));
    // A statement that never ends, inside a transaction the work leaves open.
    let stopped = within(
        "an endless scan with a deadline",
        pool.scan(Some(deadline), |connection, _| {
            connection
                .execute_batch("BEGIN")
                .map_err(|e| storage_error("beginning", e))?;
            endless(connection)
        }),
    )
    .await;
    let error = stopped
        .err()
        .unwrap_or_else(|| panic!("an endless scan ended"));
    assert_eq!(error.code(), ErrorCode::Unavailable, "{}", error.chain());
    assert!(error.detail().contains("deadline"), "{}", error.detail());
    assert!(started.elapsed() >= Duration::from_millis(300));

    // The same (only) scan thread is free, out of the interrupted transaction, and reads.
    let next = within(
        "the next scan",
        pool.scan(None, |connection, _| {
            Ok((connection.is_autocommit(), count_rows(connection)?))
        }),
    )
    .await;
    assert_eq!(ok(next), (true, 3));
}

#[tokio::test]
async fn a_scan_whose_waiter_gives_up_is_interrupted() {
    let (_dir, pool) = pool(2);
    let (started, running) = oneshot::channel();
    let endless_scan = {
        let pool = Arc::clone(&pool);
        tokio::spawn(async move {
            pool.scan(None, move |connection, _| {
                let _ = started.send(());
                endless(connection)
            })
            .await
        })
    };
    within("the endless scan's start", running)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The request's future is dropped (its timeout fired, or its client went away).
    endless_scan.abort();
    let _ = endless_scan.await;

    // Without the interruption this would wait for ever behind the endless statement.
    let next = within("the next scan", pool.scan(None, |c, _| count_rows(c))).await;
    assert_eq!(ok(next), 3);
}

#[tokio::test]
async fn a_queued_scan_whose_waiter_is_gone_or_whose_deadline_passed_never_runs() {
    let (_dir, pool) = pool(2);
    let (release, running, held) = hold_a_scan(&pool);
    within("the held scan's start", running)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ran = Arc::new(AtomicBool::new(false));
    let abandoned = {
        let (pool, ran) = (Arc::clone(&pool), Arc::clone(&ran));
        tokio::spawn(async move {
            pool.scan(None, move |_, _| {
                ran.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await
        })
    };
    tokio::task::yield_now().await;
    abandoned.abort();
    let _ = abandoned.await;
    let late = {
        let (pool, ran) = (Arc::clone(&pool), Arc::clone(&ran));
        let deadline = Deadline::after(Duration::from_millis(50));
        tokio::spawn(async move {
            pool.scan(Some(deadline), move |_, _| {
                ran.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(release);
    within("the held scan", held)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let late = within("the late scan", late)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let error = late
        .err()
        .unwrap_or_else(|| panic!("a scan past its deadline was run"));
    assert_eq!(error.code(), ErrorCode::Unavailable);
    assert!(error.detail().contains("deadline"), "{}", error.detail());
    assert!(
        !ran.load(Ordering::SeqCst),
        "work nobody waited for was run"
    );
}

#[tokio::test]
async fn a_queued_point_read_whose_waiter_is_gone_never_runs() {
    let (_dir, pool) = pool(2);
    // Hold both threads: the other with a scan (first: a point read may take any thread),
    // then the point lane's own with a point read.
    let (release_scan, running, held_scan) = hold_a_scan(&pool);
    within("the held scan's start", running)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (release_point, point_released) = mpsc::channel::<()>();
    let (point_started, point_running) = oneshot::channel();
    let held_point = {
        let pool = Arc::clone(&pool);
        tokio::spawn(async move {
            pool.read(move |_| {
                let _ = point_started.send(());
                let _ = point_released.recv();
                Ok(())
            })
            .await
        })
    };
    within("the held point read's start", point_running)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let ran = Arc::new(AtomicBool::new(false));
    let abandoned = {
        let (pool, ran) = (Arc::clone(&pool), Arc::clone(&ran));
        tokio::spawn(async move {
            pool.read(move |_| {
                ran.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await
        })
    };
    tokio::task::yield_now().await;
    abandoned.abort();
    let _ = abandoned.await;
    drop(release_point);
    drop(release_scan);
    ok(within("the held point read", held_point)
        .await
        .unwrap_or_else(|e| panic!("{e}")));
    within("the held scan", held_scan)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A read queued after the abandoned one has run, so the abandoned one was taken first.
    assert_eq!(ok(within("a point read", pool.read(count_rows)).await), 3);
    assert!(
        !ran.load(Ordering::SeqCst),
        "work nobody waited for was run"
    );
}

#[tokio::test]
async fn work_between_statements_sees_the_stop_signal() {
    let (_dir, pool) = pool(2);
    let deadline = Deadline::after(Duration::from_millis(200));
    let stopped = within(
        "work that checks its signal",
        pool.scan(Some(deadline), |_, stop| -> Result<(), Error> {
            loop {
                stop.check("spinning")?;
                std::thread::sleep(Duration::from_millis(1));
            }
        }),
    )
    .await;
    let error = stopped
        .err()
        .unwrap_or_else(|| panic!("endless work ended"));
    assert_eq!(error.code(), ErrorCode::Unavailable);
    assert!(
        error.detail().starts_with("stopped while spinning"),
        "{}",
        error.detail()
    );
}
