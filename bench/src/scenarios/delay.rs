//! `integration-delay`: how long after a write is acknowledged until a published checkpoint
//! covers its audit entry.
//!
//! Each write's answer names its `audit_id`. One poller (instead of a poll per write, which
//! would load the server more than the writes do) watches `GET /v1/log/checkpoint` every
//! ~2 ms and, whenever the tree grows, reads the new leaves from `GET /v1/log/entries`; a
//! write is covered the moment its entry shows up below the checkpoint's `tree_size`. The
//! delay's resolution is therefore the poll interval plus one poll's round trip.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::Value;
use tokio::task::JoinHandle;

use super::Prepared;
use super::http::{
    checkpoint_size, collection_name, create_collection, expect, post_document, post_documents,
};
use crate::driver::Op;
use crate::lean::LeanClient;
use crate::ticked::AnswerCheck;

#[derive(Default)]
struct State {
    /// Acknowledged writes not yet seen covered: audit id → when the answer arrived.
    pending: HashMap<String, Instant>,
    /// Entries seen covered before their write's answer was processed.
    seen_early: HashMap<String, Instant>,
    /// Delays of covered writes, in nanoseconds.
    delays: Vec<u64>,
    /// Leaves read so far.
    fetched: u64,
    /// The first polling error.
    error: Option<String>,
}

impl State {
    fn acknowledged(&mut self, audit_id: String, at: Instant) {
        match self.seen_early.remove(&audit_id) {
            Some(_) => self.delays.push(0),
            None => {
                self.pending.insert(audit_id, at);
            }
        }
    }

    fn covered(&mut self, audit_id: String, at: Instant) {
        match self.pending.remove(&audit_id) {
            Some(ack) => self.delays.push(
                u64::try_from(at.saturating_duration_since(ack).as_nanos()).unwrap_or(u64::MAX),
            ),
            None => {
                self.seen_early.insert(audit_id, at);
            }
        }
    }
}

/// The running poller; [`DelayProbe::finish`] collects the delays.
pub struct DelayProbe {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    poller: JoinHandle<()>,
}

/// What the probe measured.
#[derive(Debug, Default)]
pub struct Delays {
    /// Delays of covered writes, in nanoseconds.
    pub delays: Vec<u64>,
    /// Acknowledged writes not covered within the timeout.
    pub missing: u64,
    /// The first polling error.
    pub error: Option<String>,
}

impl DelayProbe {
    /// Waits (at most `timeout`) until every acknowledged write is covered, then stops.
    pub async fn finish(self, timeout: Duration) -> Delays {
        let deadline = Instant::now() + timeout;
        loop {
            let pending = lock(&self.state).pending.len();
            if pending == 0 || Instant::now() > deadline || self.poller.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.stop.store(true, Ordering::Release);
        let _stopped = self.poller.await;
        let mut state = lock(&self.state);
        Delays {
            delays: std::mem::take(&mut state.delays),
            missing: u64::try_from(state.pending.len()).unwrap_or(u64::MAX),
            error: state.error.take(),
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Prepares the scenario: checks that the log exists, creates a collection, starts the poller.
///
/// # Errors
/// When setup fails in a way other than the log being absent.
pub async fn prepare(
    client: Client,
    lean: Arc<LeanClient>,
    base: &str,
) -> Result<(Prepared, Option<DelayProbe>), String> {
    let Some(size) = checkpoint_size(&client, base).await? else {
        return Ok((
            Prepared::Unavailable(
                "GET /v1/log/checkpoint answered 404: the verifiable log is not built, so no \
                 write can be covered by a checkpoint"
                    .to_owned(),
            ),
            None,
        ));
    };
    let entries = client
        .get(format!("{base}/v1/log/entries?start=0&end=0"))
        .send()
        .await
        .map_err(|e| format!("entries request failed: {e}"))?;
    if entries.status() == StatusCode::NOT_FOUND {
        return Ok((
            Prepared::Unavailable(
                "GET /v1/log/entries answered 404: the log's entries are not served".to_owned(),
            ),
            None,
        ));
    }
    let collection = collection_name("integration-delay");
    create_collection(&client, base, &collection).await?;
    let state = Arc::new(Mutex::new(State {
        fetched: size,
        ..State::default()
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let poller = tokio::spawn(poll(
        client.clone(),
        base.to_owned(),
        state.clone(),
        stop.clone(),
    ));
    let path: Arc<str> = format!("/v1/collections/{collection}/documents").into();
    let check_state = state.clone();
    let acknowledge: AnswerCheck = Arc::new(move |body| {
        let acknowledged = Instant::now();
        let audit_id = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("audit_id").and_then(Value::as_str).map(str::to_owned))
            .ok_or_else(|| "the answer has no `audit_id`".to_owned())?;
        lock(&check_state).acknowledged(audit_id, acknowledged);
        Ok(())
    });
    let mut open = post_documents(&lean, &path);
    open.check = Some(Arc::clone(&acknowledge));
    let op: Op = Arc::new(move |_client, seq| {
        let (lean, path) = (Arc::clone(&lean), Arc::clone(&path));
        let acknowledge = Arc::clone(&acknowledge);
        Box::pin(async move { acknowledge(&post_document(&lean, &path, seq).await?) })
    });
    let probe = DelayProbe {
        state,
        stop,
        poller,
    };
    Ok((
        Prepared::Ready {
            op,
            note: Some("latency columns are the writes'; delay polled every ~2 ms".to_owned()),
            open: Some(open),
        },
        Some(probe),
    ))
}

async fn poll(client: Client, base: String, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Acquire) {
        if let Err(e) = poll_once(&client, &base, &state).await {
            let mut state = lock(&state);
            if state.error.is_none() {
                state.error = Some(e);
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn poll_once(client: &Client, base: &str, state: &Mutex<State>) -> Result<(), String> {
    let size = checkpoint_size(client, base)
        .await?
        .ok_or_else(|| "the checkpoint endpoint disappeared".to_owned())?;
    loop {
        let fetched = lock(state).fetched;
        if fetched >= size {
            return Ok(());
        }
        let end = size.min(fetched + 1000);
        let answer = client
            .get(format!("{base}/v1/log/entries?start={fetched}&end={end}"))
            .send()
            .await;
        let body = expect(answer, StatusCode::OK).await?;
        let seen = Instant::now();
        let items = body
            .json()
            .and_then(|v| v.get("items").and_then(Value::as_array).cloned())
            .ok_or_else(|| "the entries answer has no `items` array".to_owned())?;
        if items.is_empty() {
            return Err(format!(
                "the log returned no entries for [{fetched}, {end})"
            ));
        }
        let mut state = lock(state);
        state.fetched += u64::try_from(items.len()).unwrap_or(u64::MAX);
        for item in items {
            if let Some(id) = item.pointer("/entry/id").and_then(Value::as_str) {
                state.covered(id.to_owned(), seen);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delay_runs_from_the_acknowledgement_to_the_covering_checkpoint() {
        let start = Instant::now();
        let mut state = State::default();
        state.acknowledged("a".to_owned(), start);
        state.covered("a".to_owned(), start + Duration::from_millis(30));
        assert_eq!(state.delays, vec![30_000_000]);
        assert!(state.pending.is_empty());
    }

    #[test]
    fn an_entry_seen_before_its_answer_counts_as_no_delay() {
        let start = Instant::now();
        let mut state = State::default();
        state.covered("b".to_owned(), start);
        state.acknowledged("b".to_owned(), start + Duration::from_millis(1));
        assert_eq!(state.delays, vec![0]);
        assert!(state.seen_early.is_empty());
    }
}
