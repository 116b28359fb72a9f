//! `offchain-db audit` through the real binary, on real stores written by the real server:
//! the untouched store is valid (exit 0); each kind of tampering, done with SQLite on a copy of
//! the stopped store, is named with its location (exit 1); bad input is a usage error (exit 2).
//!
//! An embedded-store test by nature (it tampers with the SQLite file);
//! the backend-neutral suite is `tests/tests/api`.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use audit_domain::checkpoint::Checkpoint;
use audit_domain::merkle::{Hash, leaf_hash};
use audit_domain::note::{KeyName, NoteSigner};
use serde_json::{Value, json};
use tempfile::TempDir;

use support::{AuditRun, Server, audit, client, copy_store};

/// A store written through the server and stopped, with what an auditor is given.
struct Store {
    dir: TempDir,
    /// The data folder.
    data: PathBuf,
    /// The log's verifier key.
    vkey: String,
    /// The newest checkpoint, saved outside the store.
    note: PathBuf,
}

impl Store {
    /// A copy of the stopped store, to tamper with.
    fn copy(&self, name: &str) -> PathBuf {
        let to = self.dir.path().join(name);
        copy_store(&self.data, &to);
        to
    }
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> Value {
    let response = http
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST: {e}"));
    assert_eq!(response.status().as_u16(), 201, "POST {body}");
    response.json().await.unwrap_or_else(|e| panic!("{e}"))
}

async fn send(request: reqwest::RequestBuilder, expected: u16) {
    let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), expected);
}

/// Waits until the log has `size` leaves and returns the checkpoint note then.
async fn checkpoint_at(http: &reqwest::Client, base: &str, size: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let latest: Value = http
            .get(format!("{base}/v1/log/checkpoint"))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if latest["tree_size"].as_u64() == Some(size) {
            return latest["note"].as_str().unwrap_or_default().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the log never reached {size}: {latest}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates, patches, replaces, deletes and re-creates documents (8 audit entries), waits until
/// all are in the log, saves the checkpoint and stops the server.
async fn written_store() -> Store {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let http = client();
    let base = server.base.clone();
    let documents = format!("{base}/v1/collections/people/documents");
    post(
        &http,
        format!("{base}/v1/collections"),
        json!({"name": "people"}),
    )
    .await;
    for (id, age) in [("alice", 30), ("bob", 41), ("carol", 25)] {
        let body = json!({"id": id, "data": {"name": id, "age": age, "tags": ["a", "b"]}});
        post(&http, documents.clone(), body).await;
    }
    send(
        http.patch(format!("{documents}/alice"))
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"age":31,"tags":null,"address":{"city":"Oslo"}}"#),
        200,
    )
    .await;
    send(
        http.put(format!("{documents}/bob"))
            .json(&json!({"data": {"name": "Bob", "age": 42}})),
        200,
    )
    .await;
    send(http.delete(format!("{documents}/carol")), 204).await;
    post(
        &http,
        documents,
        json!({"id": "carol", "data": {"name": "Carol"}}),
    )
    .await;
    let note = checkpoint_at(&http, &base, 8).await;
    let key: Value = http
        .get(format!("{base}/v1/log/key"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    server.stop();
    let note_path = dir.path().join("checkpoint-8.note");
    std::fs::write(&note_path, note).unwrap_or_else(|e| panic!("{e}"));
    Store {
        data,
        vkey: key["vkey"].as_str().unwrap_or_default().to_owned(),
        note: note_path,
        dir,
    }
}

/// Runs SQL on a stopped store's file, as a tamperer would.
fn tamper(data: &Path, sql: &str) {
    let connection = rusqlite::Connection::open(data.join("offchain.db"))
        .unwrap_or_else(|e| panic!("open the copy: {e}"));
    connection
        .execute_batch(sql)
        .unwrap_or_else(|e| panic!("tamper with `{sql}`: {e}"));
}

/// One text column of the first row `sql` selects from the copy.
fn select_text(data: &Path, sql: &str) -> String {
    rusqlite::Connection::open(data.join("offchain.db"))
        .and_then(|c| c.query_row(sql, [], |row| row.get(0)))
        .unwrap_or_else(|e| panic!("`{sql}`: {e}"))
}

fn assert_finding(run: &AuditRun, kind: &str, location: &str) {
    assert_eq!(run.code, Some(1), "{run}");
    assert!(
        run.findings(kind)
            .iter()
            .any(|line| line.contains(location)),
        "no {kind} finding at `{location}`:\n{run}"
    );
}

#[tokio::test]
async fn an_untouched_store_is_valid_and_exits_0() {
    let store = written_store().await;
    let anchored = audit(&store.data, &store.vkey, &[&store.note]);
    assert_eq!(anchored.code, Some(0), "{anchored}");
    assert!(
        anchored.stdout.contains("result: valid, no findings"),
        "{anchored}"
    );
    assert!(
        anchored
            .stdout
            .contains("3 documents, 7 revisions, 8 audit entries in the log"),
        "{anchored}"
    );
    assert!(
        !anchored.stdout.contains("no outside checkpoint"),
        "{anchored}"
    );

    // The key may also be given as a file; without an outside checkpoint the report warns.
    let key_file = store.dir.path().join("log.vkey");
    std::fs::write(&key_file, format!("{}\n", store.vkey)).unwrap_or_else(|e| panic!("{e}"));
    let unanchored = audit(&store.data, &key_file.display().to_string(), &[]);
    assert_eq!(unanchored.code, Some(0), "{unanchored}");
    assert!(
        unanchored
            .stdout
            .contains("warning: no outside checkpoint was given"),
        "{unanchored}"
    );
}

#[tokio::test]
async fn a_store_can_be_audited_beside_the_server_that_holds_it() {
    let store = written_store().await;
    let server = Server::start(&store.data);
    let http = client();
    let url = format!("{}/v1/collections/people/documents", server.base);
    post(&http, url, json!({"id": "dave", "data": {"name": "dave"}})).await;
    let run = audit(&store.data, &store.vkey, &[&store.note]);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(run.stdout.contains("4 documents, 8 revisions"), "{run}");
    // The server still owns and writes its folder: the audit took no lock.
    let url = format!("{}/v1/collections/people/documents", server.base);
    post(&http, url, json!({"id": "erin", "data": {"name": "erin"}})).await;
    server.stop();
}

#[tokio::test]
async fn an_edited_revision_body_is_named_with_its_revision() {
    let store = written_store().await;
    let copy = store.copy("edited-revision");
    tamper(
        &copy,
        r#"UPDATE revisions SET data = '{"age":30,"name":"mallory","tags":["a","b"]}'
           WHERE document_id = 'alice' AND version = 1"#,
    );
    let run = audit(&copy, &store.vkey, &[&store.note]);
    assert_finding(&run, "edited-revision", "/alice@1");
}

#[tokio::test]
async fn a_superseded_revision_emptied_of_its_data_is_named_with_its_revision() {
    // The current revision shares its document's data; a superseded one must hold its own.
    let store = written_store().await;
    let copy = store.copy("emptied-revision");
    tamper(
        &copy,
        "UPDATE revisions SET data = NULL WHERE document_id = 'alice' AND version = 1",
    );
    let run = audit(&copy, &store.vkey, &[&store.note]);
    assert_finding(&run, "edited-revision", "/alice@1");
    assert!(
        run.stdout.contains("it holds no data but a content hash"),
        "{run}"
    );
}

#[tokio::test]
async fn an_edited_current_document_and_an_edited_stored_patch_are_named() {
    let store = written_store().await;
    let copy = store.copy("edited-document");
    tamper(
        &copy,
        r#"UPDATE documents SET data = '{"age":99,"name":"Bob"}' WHERE id = 'bob';
           UPDATE audit_entries SET patch = '[{"op":"replace","path":"/age","value":99}]'
           WHERE document_id = 'alice' AND version = 2"#,
    );
    let run = audit(&copy, &store.vkey, &[&store.note]);
    assert_finding(&run, "edited-document", "/bob");
    assert_finding(&run, "edited-entry", "leaf_index=4 ");
    assert!(run.stdout.contains("the stored patch hashes to"), "{run}");
    assert_eq!(
        run.findings("edited-revision"),
        Vec::<&str>::new(),
        "reported once: {run}"
    );
}

#[tokio::test]
async fn an_edited_audit_row_is_named_even_with_its_hashes_recomputed() {
    let store = written_store().await;
    let copy = store.copy("edited-entry");
    let connection =
        rusqlite::Connection::open(copy.join("offchain.db")).unwrap_or_else(|e| panic!("{e}"));
    let (seq, id, leaf): (i64, String, Vec<u8>) = connection
        .query_row(
            "SELECT seq, id, leaf FROM audit_entries WHERE document_id = 'bob' AND version = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    // A thorough edit: the actor changes in the leaf, its column, and its leaf hash.
    let forged = String::from_utf8_lossy(&leaf).replace("\"anonymous\"", "\"system\"");
    assert_ne!(forged.as_bytes(), leaf.as_slice());
    let forged_hash = leaf_hash(forged.as_bytes());
    connection
        .execute(
            "UPDATE audit_entries SET leaf = ?1, leaf_hash = ?2, actor = 'system' WHERE seq = ?3",
            rusqlite::params![forged.as_bytes(), forged_hash.as_bytes().as_slice(), seq],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    drop(connection);
    let run = audit(&copy, &store.vkey, &[&store.note]);
    assert_finding(&run, "edited-entry", &format!("id={id}"));
    assert!(
        run.stdout.contains("changed after it was sequenced"),
        "{run}"
    );
}

#[tokio::test]
async fn a_deleted_audit_row_is_named_by_its_leaf_index_and_its_revision() {
    let store = written_store().await;
    let copy = store.copy("removed-entry");
    tamper(
        &copy,
        "DELETE FROM audit_entries WHERE document_id = 'bob' AND version = 2",
    );
    let run = audit(&copy, &store.vkey, &[&store.note]);
    assert_finding(&run, "removed-entry", "leaf indexes 5..6");
    assert_finding(&run, "removed-entry", "/bob@2");
}

#[tokio::test]
async fn two_swapped_audit_rows_are_named_as_reordered() {
    let store = written_store().await;
    // Swapped in the commit sequence.
    let by_seq = store.copy("swapped-seq");
    tamper(
        &by_seq,
        "UPDATE audit_entries SET seq = -1 WHERE seq = 3;
         UPDATE audit_entries SET seq = 3 WHERE seq = 5;
         UPDATE audit_entries SET seq = 5 WHERE seq = -1;",
    );
    let run = audit(&by_seq, &store.vkey, &[&store.note]);
    assert_finding(&run, "reordered-entry", "leaf_index=4 ");
    assert!(
        run.stdout.contains("its seq 3 is not above seq 5"),
        "named by the commit sequence check: {run}"
    );

    // Swapped in the log: each row now claims the other's leaf index.
    let by_index = store.copy("swapped-index");
    tamper(
        &by_index,
        "UPDATE audit_entries SET leaf_index = NULL WHERE leaf_index = 2;
         UPDATE audit_entries SET leaf_index = 2 WHERE leaf_index = 6;
         UPDATE audit_entries SET leaf_index = 6 WHERE leaf_index IS NULL;",
    );
    let run = audit(&by_index, &store.vkey, &[&store.note]);
    assert_finding(&run, "reordered-entry", "leaf_index=2");
    assert!(
        run.stdout.contains("the two were swapped"),
        "the swap is recognised as one: {run}"
    );
}

#[tokio::test]
async fn a_checkpoint_signed_by_another_key_is_named_as_forged() {
    let store = written_store().await;
    let copy = store.copy("forged-checkpoint");
    let connection =
        rusqlite::Connection::open(copy.join("offchain.db")).unwrap_or_else(|e| panic!("{e}"));
    let (size, root, note): (i64, Vec<u8>, String) = connection
        .query_row(
            "SELECT tree_size, root, note FROM checkpoints ORDER BY tree_size DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let origin = note.lines().next().unwrap_or_default();
    let other_key = NoteSigner::from_seed(
        KeyName::new(origin).unwrap_or_else(|e| panic!("{e}")),
        &[9; 32],
    );
    let root = Hash::try_from(root.as_slice()).unwrap_or_else(|e| panic!("{e}"));
    let forged = Checkpoint::new(origin, u64::try_from(size).unwrap_or(0), root)
        .and_then(|c| c.sign(&other_key))
        .unwrap_or_else(|e| panic!("{e}"));
    connection
        .execute(
            "UPDATE checkpoints SET note = ?1 WHERE tree_size = ?2",
            rusqlite::params![forged, size],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    drop(connection);
    let run = audit(&copy, &store.vkey, &[]);
    assert_finding(&run, "forged-checkpoint", &format!("size={size}"));
}

#[tokio::test]
async fn a_store_rolled_back_or_forked_under_a_newer_outside_checkpoint_is_named() {
    let store = written_store().await;
    let older = store.copy("older");

    // The store goes on: two more documents, and a newer checkpoint kept outside.
    let server = Server::start(&store.data);
    let http = client();
    for id in ["dave", "erin"] {
        let url = format!("{}/v1/collections/people/documents", server.base);
        post(&http, url, json!({"id": id, "data": {"name": id}})).await;
    }
    let newer_note = checkpoint_at(&http, &server.base, 10).await;
    server.stop();
    let newer = store.dir.path().join("checkpoint-10.note");
    std::fs::write(&newer, newer_note).unwrap_or_else(|e| panic!("{e}"));
    let current = audit(&store.data, &store.vkey, &[&store.note, &newer]);
    assert_eq!(current.code, Some(0), "{current}");

    // Rolled back to the older copy: consistent in itself, and with the older checkpoint.
    let older_alone = audit(&older, &store.vkey, &[&store.note]);
    assert_eq!(older_alone.code, Some(0), "{older_alone}");
    let run = audit(&older, &store.vkey, &[&newer]);
    assert_finding(&run, "rollback", "size=10");

    // The older copy, written on differently with the same key: a fork at size 10.
    let server = Server::start(&older);
    for id in ["mallory", "trent"] {
        let url = format!("{}/v1/collections/people/documents", server.base);
        post(&http, url, json!({"id": id, "data": {"name": id}})).await;
    }
    checkpoint_at(&http, &server.base, 10).await;
    server.stop();
    let run = audit(&older, &store.vkey, &[&store.note, &newer]);
    assert_finding(&run, "fork", "size=10");
    assert!(
        run.findings("fork").iter().all(|l| !l.contains("size=8")),
        "{run}"
    );
}

/// Rewrites bob's first entry (actor `system`), its revision, the whole stored tree, the head
/// and every checkpoint, re-signed with the key the data folder holds: a thorough forgery.
fn rewrite_and_resign(data: &Path) {
    use base64::Engine;
    let connection =
        rusqlite::Connection::open(data.join("offchain.db")).unwrap_or_else(|e| panic!("{e}"));
    let sql = |sql: &str, params: &[&dyn rusqlite::ToSql]| {
        connection
            .execute(sql, params)
            .unwrap_or_else(|e| panic!("`{sql}`: {e}"));
    };
    let (seq, leaf): (i64, Vec<u8>) = connection
        .query_row(
            "SELECT seq, leaf FROM audit_entries WHERE document_id = 'bob' AND version = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let forged = String::from_utf8_lossy(&leaf).replace("\"anonymous\"", "\"system\"");
    let forged_hash = leaf_hash(forged.as_bytes()).as_bytes().to_vec();
    sql(
        "UPDATE audit_entries SET leaf = ?1, leaf_hash = ?2, actor = 'system' WHERE seq = ?3",
        &[&forged.as_bytes(), &forged_hash, &seq],
    );
    sql(
        "UPDATE revisions SET actor = 'system' WHERE document_id = 'bob' AND version = 1",
        &[],
    );
    // The outbox witnesses the entry too: a thorough forger rewrites its event.
    sql(
        "UPDATE outbox SET payload = replace(payload, '\"actor\":\"anonymous\"', '\"actor\":\"system\"') \
         WHERE audit_id = (SELECT id FROM audit_entries WHERE seq = ?1)",
        &[&seq],
    );
    let mut statement = connection
        .prepare("SELECT leaf_hash FROM audit_entries ORDER BY leaf_index")
        .unwrap_or_else(|e| panic!("{e}"));
    let leaves: Vec<Hash> = statement
        .query_map([], |row| row.get::<_, Vec<u8>>(0))
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|h| Hash::try_from(h.unwrap_or_default().as_slice()).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    drop(statement);
    let tree = audit_domain::merkle::MemoryTree::from_leaf_hashes(leaves)
        .unwrap_or_else(|e| panic!("{e}"));
    let root = tree.root().unwrap_or_else(|e| panic!("{e}"));
    sql("DELETE FROM log_hashes", &[]);
    for (idx, hash) in (0_i64..).zip(tree.stored_hashes()) {
        sql(
            "INSERT INTO log_hashes (idx, hash) VALUES (?1, ?2)",
            &[&idx, &hash.as_bytes().as_slice()],
        );
    }
    sql(
        "UPDATE log_state SET root = ?1",
        &[&root.as_bytes().as_slice()],
    );
    let old_note: String = connection
        .query_row("SELECT note FROM checkpoints LIMIT 1", [], |row| row.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    let origin = old_note.lines().next().unwrap_or_default().to_owned();
    let seed_text =
        std::fs::read_to_string(data.join("log-signing.key")).unwrap_or_else(|e| panic!("{e}"));
    let seed: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(seed_text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .unwrap_or_else(|| panic!("the key file holds no seed"));
    let key = NoteSigner::from_seed(
        KeyName::new(&origin).unwrap_or_else(|e| panic!("{e}")),
        &seed,
    );
    let size = i64::try_from(tree.size()).unwrap_or_default();
    let note = Checkpoint::new(&origin, tree.size(), root)
        .and_then(|c| c.sign(&key))
        .unwrap_or_else(|e| panic!("{e}"));
    sql("DELETE FROM checkpoints", &[]);
    sql(
        "INSERT INTO checkpoints (tree_size, root, note, signed_at) VALUES (?1, ?2, ?3, 0)",
        &[&size, &root.as_bytes().as_slice(), &note],
    );
}

#[tokio::test]
async fn a_store_rewritten_and_re_signed_with_its_own_key_is_caught_only_by_an_outside_checkpoint()
{
    let store = written_store().await;
    let copy = store.copy("re-signed");
    rewrite_and_resign(&copy);

    // Consistent in itself: nothing the store holds can tell, and the report says so.
    let alone = audit(&copy, &store.vkey, &[]);
    assert_eq!(alone.code, Some(0), "{alone}");
    assert!(
        alone.stdout.contains("warning: no outside checkpoint"),
        "{alone}"
    );

    // The checkpoint a client kept from before the rewrite shows the fork.
    let anchored = audit(&copy, &store.vkey, &[&store.note]);
    assert_finding(&anchored, "fork", "size=8");
}

#[tokio::test]
async fn bad_input_is_a_usage_error_with_exit_code_2() {
    let store = written_store().await;
    let bad_key = audit(&store.data, "not-a-key", &[]);
    assert_eq!(bad_key.code, Some(2), "{bad_key}");

    let missing = audit(&store.dir.path().join("nowhere"), &store.vkey, &[]);
    assert_eq!(missing.code, Some(2), "{missing}");

    let other_key = NoteSigner::from_seed(
        KeyName::new("offchain-db/elsewhere").unwrap_or_else(|e| panic!("{e}")),
        &[3; 32],
    );
    let stranger = store.dir.path().join("stranger.note");
    let note = Checkpoint::new(
        "offchain-db/elsewhere",
        0,
        audit_domain::merkle::empty_root(),
    )
    .and_then(|c| c.sign(&other_key))
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&stranger, note).unwrap_or_else(|e| panic!("{e}"));
    let unverifiable = audit(&store.data, &store.vkey, &[&stranger]);
    assert_eq!(unverifiable.code, Some(2), "{unverifiable}");
    assert!(
        unverifiable.stderr.contains("stranger.note"),
        "{unverifiable}"
    );
}

/// The written store, grown by a second collection `orders` (created with an
/// `Idempotency-Key`, holding one document created with one too) and a collection `gone`
/// that was deleted.
async fn store_with_more_tables() -> Store {
    let store = written_store().await;
    let server = Server::start(&store.data);
    let http = client();
    let base = server.base.clone();
    for (name, key) in [("orders", Some("orders-key")), ("gone", None)] {
        let mut request = http
            .post(format!("{base}/v1/collections"))
            .json(&json!({"name": name}));
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        send(request, 201).await;
    }
    send(
        http.post(format!("{base}/v1/collections/orders/documents"))
            .header("idempotency-key", "order-1")
            .json(&json!({"id": "o-1", "data": {"total": 5}})),
        201,
    )
    .await;
    send(http.delete(format!("{base}/v1/collections/gone")), 204).await;
    checkpoint_at(&http, &base, 12).await;
    server.stop();
    store
}

#[tokio::test]
async fn edits_to_the_collections_table_are_named_against_the_collection_entries() {
    let store = store_with_more_tables().await;
    let clean = audit(&store.data, &store.vkey, &[]);
    assert_eq!(clean.code, Some(0), "{clean}");
    assert!(
        clean
            .stdout
            .contains("3 collections, 12 outbox events, 2 idempotency records"),
        "{clean}"
    );

    let swapped = store.copy("swapped-names");
    tamper(
        &swapped,
        "UPDATE collections SET name = 'tmp' WHERE name = 'people';
         UPDATE collections SET name = 'people' WHERE name = 'orders';
         UPDATE collections SET name = 'orders' WHERE name = 'tmp';",
    );
    let run = audit(&swapped, &store.vkey, &[]);
    assert_finding(&run, "edited-collection", "`people`");
    assert_finding(&run, "edited-collection", "`orders`");

    let revived = store.copy("revived");
    tamper(
        &revived,
        "UPDATE collections SET deleted_at = NULL WHERE name = 'gone'",
    );
    let run = audit(&revived, &store.vkey, &[]);
    assert_finding(&run, "edited-collection", "`gone`");
    assert!(run.stdout.contains("it was revived"), "{run}");

    let schema = store.copy("schema-outside-the-api");
    tamper(
        &schema,
        r#"UPDATE collections SET schema = '{"type":"object"}', version = version + 1
           WHERE name = 'people'"#,
    );
    let run = audit(&schema, &store.vkey, &[]);
    assert_finding(&run, "edited-collection", "`people`");
    assert!(run.stdout.contains("schema change"), "{run}");
}

#[tokio::test]
async fn edits_to_the_outbox_idempotency_records_and_commit_sequence_are_named() {
    let store = store_with_more_tables().await;

    let outbox = store.copy("outbox");
    let unexplained = select_text(&outbox, "SELECT audit_id FROM outbox WHERE seq = 2");
    let edited = select_text(&outbox, "SELECT id FROM outbox WHERE seq = 3");
    tamper(
        &outbox,
        "DELETE FROM outbox WHERE seq = 2;
         UPDATE outbox SET payload = replace(payload, '\"version\":1', '\"version\":9')
         WHERE event_type = 'document.created' AND seq = 3;",
    );
    let run = audit(&outbox, &store.vkey, &[]);
    assert_finding(&run, "removed-event", &format!("id={unexplained}"));
    assert_finding(&run, "edited-event", &format!("outbox event id={edited}"));

    let record = store.copy("idempotency");
    tamper(
        &record,
        "UPDATE idempotency_keys SET body = replace(CAST(body AS TEXT), '\"version\":1', '\"version\":7')
         WHERE key = 'order-1'",
    );
    let run = audit(&record, &store.vkey, &[]);
    assert_finding(&run, "edited-idempotency-record", "key=\"order-1\"");

    // The newest entry deleted with everything that names it: only the commit sequence
    // (and the log, which had sequenced it) still tell.
    let deleted = store.copy("deleted-entry");
    tamper(
        &deleted,
        "DELETE FROM outbox WHERE audit_id = (SELECT id FROM audit_entries ORDER BY seq DESC LIMIT 1);
         DELETE FROM audit_entries WHERE seq = (SELECT MAX(seq) FROM audit_entries);",
    );
    let run = audit(&deleted, &store.vkey, &[]);
    assert_finding(&run, "removed-entry", "commit sequence 12..13");
}
