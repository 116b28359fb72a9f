//! Crash safety through the real binary: `offchain-db serve` is killed with SIGKILL in the
//! middle of a concurrent write burst, twenty times (`CRASH_ROUNDS`) on the same data folder. After every
//! restart, every write that was acknowledged (201) is there, its audit entry is in the log
//! exactly once, the stopped store audits clean, and the new checkpoint is consistent with
//! every checkpoint served before the kill.
//!
//! The audit runs on the stopped store, between the kill and the restart: that is the state
//! the crash left, entries committed but not yet sequenced included.
//!
//! It runs on both backends: the embedded store (20 rounds) and MongoDB (fewer rounds: after
//! a kill, the dead server's sequencer lock must go stale, 6 s, before the next one starts;
//! MongoDB from `test_servers::mongo()`, a database of its own, a configured key).

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit_domain::checkpoint::Checkpoint;
use audit_domain::merkle::{Hash, verify_consistency};
use audit_domain::note::NoteVerifier;
use serde_json::{Value, json};

use support::{Server, audit_with, client};

/// Which store the rounds run on, and the flags that say so to `serve` and `audit`.
struct Backend {
    /// Flags of `serve` (besides `--data-dir` and the address).
    serve: Vec<String>,
    /// Flags of `audit` that name the store.
    audit: Vec<String>,
    /// How long a restart may be refused before it counts as a failure.
    restart_within: Duration,
}

impl Backend {
    fn embedded(data: &Path) -> Self {
        Self {
            serve: Vec::new(),
            audit: vec!["--data-dir".to_owned(), data.display().to_string()],
            restart_within: Duration::ZERO,
        }
    }

    /// A database of its own on the test process's MongoDB, and a key file in `dir`.
    fn mongo(dir: &Path) -> Self {
        let server = test_servers::mongo();
        let database = server.database_name("crash");
        let key = dir.join("log-signing.key");
        std::fs::write(&key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")
            .unwrap_or_else(|e| panic!("{e}"));
        #[cfg(unix)]
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap_or_else(|e| panic!("{e}"));
        let store = vec![
            "--store".to_owned(),
            "mongo".to_owned(),
            "--mongo-uri".to_owned(),
            server.uri.clone(),
            "--mongo-database".to_owned(),
            database,
        ];
        let mut serve = store.clone();
        serve.extend(["--tlog-signing-key".to_owned(), key.display().to_string()]);
        Self {
            serve,
            audit: store,
            restart_within: Duration::from_secs(30),
        }
    }

    fn start(&self, data: &Path) -> Server {
        let flags: Vec<&str> = self.serve.iter().map(String::as_str).collect();
        Server::start_retrying(data, &flags, self.restart_within)
    }

    fn audit(&self, vkey: &str, checkpoints: &[&Path]) -> support::AuditRun {
        let flags: Vec<&str> = self.audit.iter().map(String::as_str).collect();
        audit_with(&flags, vkey, checkpoints)
    }
}

/// Kill-and-restart rounds on one data folder, by default: enough for CI. Set `CRASH_ROUNDS`
/// for a longer run (`CRASH_ROUNDS=100 cargo test -p server --test crash`).
const DEFAULT_ROUNDS: u64 = 20;
/// The same on MongoDB, where each restart waits for the dead server's lock to go stale.
const DEFAULT_MONGO_ROUNDS: u64 = 4;

/// The rounds to run: `CRASH_ROUNDS` when set, else `default`.
fn rounds(default: u64) -> u64 {
    std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(default)
}
/// Concurrent writers in each burst.
const WRITERS: usize = 12;
/// The log's page size (API.md: at most 1000 entries per call).
const LOG_PAGE: u64 = 1000;

/// A write the server acknowledged with 201.
#[derive(Debug, Clone)]
struct Ack {
    id: String,
    audit_id: String,
    content_hash: String,
}

async fn get_json(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// One writer of the burst: creates documents until the server stops answering.
async fn writer(http: reqwest::Client, base: String, name: String, acks: Arc<Mutex<Vec<Ack>>>) {
    let url = format!("{base}/v1/collections/crash/documents");
    for n in 0_u64.. {
        let id = format!("{name}-{n}");
        let body = json!({"id": id, "data": {"writer": name, "n": n, "pad": "x".repeat(64)}});
        let Ok(response) = http.post(&url).json(&body).send().await else {
            return;
        };
        if response.status().as_u16() != 201 {
            return;
        }
        let Ok(document) = response.json::<Value>().await else {
            return;
        };
        let field = |name: &str| document[name].as_str().unwrap_or_default().to_owned();
        let ack = Ack {
            id,
            audit_id: field("audit_id"),
            content_hash: field("content_hash"),
        };
        acks.lock().unwrap_or_else(|e| e.into_inner()).push(ack);
    }
}

/// Collects every checkpoint the server serves until it stops answering.
async fn checkpoint_collector(http: reqwest::Client, base: String, notes: Arc<Mutex<Vec<String>>>) {
    loop {
        let Ok(response) = http.get(format!("{base}/v1/log/checkpoint")).send().await else {
            return;
        };
        if !response.status().is_success() {
            return;
        }
        let Ok(note) = response.text().await else {
            return;
        };
        notes.lock().unwrap_or_else(|e| e.into_inner()).push(note);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every acknowledged write is stored with the data and audit entry it was acknowledged with.
async fn check_documents(http: &reqwest::Client, base: &str, acks: &[Ack], recent: &[Ack]) {
    let mut listed: HashMap<String, (String, String)> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/collections/crash/documents?limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = get_json(http, &url).await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().into_iter().flatten() {
            let text = |f: &str| item[f].as_str().unwrap_or_default().to_owned();
            listed.insert(text("id"), (text("audit_id"), text("content_hash")));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    for ack in acks {
        assert_eq!(
            listed.get(&ack.id),
            Some(&(ack.audit_id.clone(), ack.content_hash.clone())),
            "acknowledged document {} is missing or changed",
            ack.id
        );
    }
    for ack in recent {
        let url = format!("{base}/v1/collections/crash/documents/{}", ack.id);
        let (status, document) = get_json(http, &url).await;
        assert_eq!(status, 200, "GET {}: {document}", ack.id);
        assert_eq!(document["audit_id"].as_str(), Some(ack.audit_id.as_str()));
    }
}

/// Waits until each recent write's audit entry is sequenced; returns the log size that
/// covers them all.
async fn wait_sequenced(http: &reqwest::Client, base: &str, recent: &[Ack]) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut covering = 0;
    for ack in recent {
        let url = format!("{base}/v1/log/entries/by-audit-id/{}", ack.audit_id);
        loop {
            let (status, body) = get_json(http, &url).await;
            if status == 200 {
                let index = body["index"].as_u64().unwrap_or_else(|| panic!("{body}"));
                covering = covering.max(index + 1);
                break;
            }
            assert_eq!(body["code"].as_str(), Some("NOT_YET_SEQUENCED"), "{body}");
            assert!(
                Instant::now() < deadline,
                "{} never sequenced",
                ack.audit_id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    covering
}

/// Every acknowledged write's entry is in the log exactly once (read the whole log).
async fn check_log_once(http: &reqwest::Client, base: &str, size: u64, acks: &[Ack]) {
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut start = 0;
    while start < size {
        let end = (start + LOG_PAGE).min(size);
        let (status, page) = get_json(
            http,
            &format!("{base}/v1/log/entries?start={start}&end={end}"),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().into_iter().flatten() {
            let id = item["entry"]["id"].as_str().unwrap_or_default().to_owned();
            *seen.entry(id).or_default() += 1;
        }
        start = end;
    }
    assert!(
        seen.values().all(|&n| n == 1),
        "an audit entry is in the log twice"
    );
    for ack in acks {
        assert_eq!(seen.get(&ack.audit_id), Some(&1), "entry of {}", ack.id);
    }
}

/// The first checkpoint of at least `size` leaves verifies and is consistent with every
/// checkpoint seen before; returns its size.
async fn check_consistent(
    http: &reqwest::Client,
    base: &str,
    verifier: &NoteVerifier,
    earlier: &BTreeMap<u64, Hash>,
    size: u64,
) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let new = loop {
        let (status, latest) = get_json(http, &format!("{base}/v1/log/checkpoint")).await;
        assert_eq!(status, 200, "{latest}");
        let note = latest["note"].as_str().unwrap_or_default();
        let new = Checkpoint::open(note, verifier).unwrap_or_else(|e| panic!("latest: {e}"));
        if new.tree_size() >= size {
            break new;
        }
        assert!(Instant::now() < deadline, "no checkpoint reached {size}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for (&size, old_root) in earlier {
        assert!(
            size <= new.tree_size(),
            "checkpoint {size} was lost (now {})",
            new.tree_size()
        );
        if size == 0 {
            continue;
        }
        if size == new.tree_size() {
            assert_eq!(*old_root, new.root_hash(), "two roots at size {size}");
            continue;
        }
        let url = format!(
            "{base}/v1/log/proofs/consistency?from={size}&to={}",
            new.tree_size()
        );
        let (status, proof) = get_json(http, &url).await;
        assert_eq!(status, 200, "{proof}");
        let hashes: Vec<Hash> = proof["hashes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| Hash::parse(h.as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        verify_consistency(size, new.tree_size(), &hashes, old_root, &new.root_hash())
            .unwrap_or_else(|e| panic!("{size} → {}: {e}", new.tree_size()));
    }
    new.tree_size()
}

/// Everything checked after a restart.
async fn check_after_restart(
    http: &reqwest::Client,
    base: &str,
    verifier: &NoteVerifier,
    acks: &[Ack],
    recent: &[Ack],
    earlier: &BTreeMap<u64, Hash>,
) {
    check_documents(http, base, acks, recent).await;
    let covering = wait_sequenced(http, base, recent).await;
    let size = check_consistent(http, base, verifier, earlier, covering).await;
    check_log_once(http, base, size, acks).await;
}

/// Audits the stopped store, anchored by the newest checkpoint served before the kill;
/// returns how many entries the crash left committed but not yet in the log.
fn audit_stopped(
    backend: &Backend,
    data: &Path,
    vkey: &str,
    newest: Option<&String>,
    round: u64,
) -> u64 {
    let anchor = data.with_file_name(format!("anchor-{round}.note"));
    let mut anchors = Vec::new();
    if let Some(note) = newest {
        std::fs::write(&anchor, note).unwrap_or_else(|e| panic!("{e}"));
        anchors.push(anchor.as_path());
    }
    let run = backend.audit(vkey, &anchors);
    assert_eq!(run.code, Some(0), "round {round}: {run}");
    let pending = run
        .stdout
        .split(" committed but not yet in it")
        .next()
        .and_then(|head| head.rsplit('(').next())
        .and_then(|n| n.trim().parse().ok());
    pending.unwrap_or_else(|| panic!("no pending count in the report: {run}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_and_the_log_stays_consistent() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    let backend = Backend::embedded(&data);
    kill_rounds(&backend, &data, rounds(DEFAULT_ROUNDS)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_mongodb_acknowledged_writes_survive_sigkill_and_the_log_stays_consistent() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    let backend = Backend::mongo(dir.path());
    kill_rounds(&backend, &data, rounds(DEFAULT_MONGO_ROUNDS)).await;
}

/// `rounds` bursts each ended by SIGKILL, on `backend`, with the checks after each restart.
async fn kill_rounds(backend: &Backend, data: &Path, rounds: u64) {
    let http = client();
    let started = Instant::now();
    let mut acks: Vec<Ack> = Vec::new();
    let mut recent: Vec<Ack> = Vec::new();
    let mut earlier: BTreeMap<u64, Hash> = BTreeMap::new();
    let mut key: Option<(String, NoteVerifier)> = None;
    let mut pending_after_kills = 0;
    for round in 0..=rounds {
        let server = backend.start(data);
        let base = server.base.clone();
        let (vkey, verifier) = match &key {
            Some(key) => key.clone(),
            None => {
                let (status, created) = {
                    let response = http
                        .post(format!("{base}/v1/collections"))
                        .json(&json!({"name": "crash"}))
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    (response.status().as_u16(), ())
                };
                assert_eq!((status, created), (201, ()));
                let (_, body) = get_json(&http, &format!("{base}/v1/log/key")).await;
                let vkey = body["vkey"].as_str().unwrap_or_default().to_owned();
                let verifier = NoteVerifier::parse_vkey(&vkey).unwrap_or_else(|e| panic!("{e}"));
                key.insert((vkey, verifier)).clone()
            }
        };
        check_after_restart(&http, &base, &verifier, &acks, &recent, &earlier).await;
        if round == rounds {
            server.stop();
            break;
        }

        let burst_acks = Arc::new(Mutex::new(Vec::new()));
        let notes = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let name = format!("r{round}w{w}");
            tasks.push(tokio::spawn(writer(
                http.clone(),
                base.clone(),
                name,
                Arc::clone(&burst_acks),
            )));
        }
        tasks.push(tokio::spawn(checkpoint_collector(
            http.clone(),
            base.clone(),
            Arc::clone(&notes),
        )));
        // The kill lands mid-burst: after the first acknowledgement (a busy machine may take
        // a while to answer a debug build's first write), then at a moment that varies from
        // round to round.
        let first_ack = Instant::now() + Duration::from_secs(60);
        while burst_acks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
            && Instant::now() < first_ack
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(150 + (round * 53) % 300)).await;
        server.kill();
        for task in tasks {
            task.await
                .unwrap_or_else(|e| panic!("a burst task panicked: {e}"));
        }

        recent = std::mem::take(&mut *burst_acks.lock().unwrap_or_else(|e| e.into_inner()));
        assert!(
            !recent.is_empty(),
            "round {round}: no write was acknowledged before the kill"
        );
        acks.extend(recent.iter().cloned());
        let notes = std::mem::take(&mut *notes.lock().unwrap_or_else(|e| e.into_inner()));
        for note in &notes {
            let checkpoint = Checkpoint::open(note, &verifier).unwrap_or_else(|e| panic!("{e}"));
            let previous = earlier.insert(checkpoint.tree_size(), checkpoint.root_hash());
            assert!(
                previous.is_none_or(|root| root == checkpoint.root_hash()),
                "two checkpoints of size {} with different roots",
                checkpoint.tree_size()
            );
        }
        pending_after_kills += audit_stopped(backend, data, &vkey, notes.last(), round);
    }
    assert!(
        acks.len() as u64 >= rounds,
        "too few writes to mean anything"
    );
    eprintln!(
        "{rounds} kills, {} acknowledged writes, {} distinct checkpoints, \
         {pending_after_kills} entries left unsequenced by the kills, {:?}",
        acks.len(),
        earlier.len(),
        started.elapsed()
    );
}
