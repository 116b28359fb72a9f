//! The embedded schema and its migrations, tracked with `PRAGMA user_version`.
//!
//! Migration `n` (1-based) brings `user_version` from `n - 1` to `n`. They run in one
//! immediate transaction at open, so a crash mid-way leaves the previous version intact.
//! Migrations are append-only: a released one is never edited, since files in the field
//! already ran it. Table and column names are part of the integration tests' contract.

use rusqlite::{Connection, TransactionBehavior};
use shared_kernel::{Error, ErrorCode};

use super::error::storage_error;

/// Every migration, in order.
const MIGRATIONS: &[&str] = &[
    // 1: collections, documents, revisions, audit entries and the outbox.
    "
    CREATE TABLE collections (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        schema TEXT,
        version INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        deleted_at INTEGER
    );
    CREATE UNIQUE INDEX collections_live_name ON collections(name) WHERE deleted_at IS NULL;

    CREATE TABLE documents (
        collection_id TEXT NOT NULL REFERENCES collections(id),
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        data TEXT,
        content_hash TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        audit_id TEXT NOT NULL,
        PRIMARY KEY (collection_id, id)
    ) WITHOUT ROWID;

    CREATE TABLE revisions (
        collection_id TEXT NOT NULL,
        document_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        operation TEXT NOT NULL,
        data TEXT,
        content_hash TEXT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        audit_id TEXT NOT NULL,
        PRIMARY KEY (collection_id, document_id, version)
    ) WITHOUT ROWID;

    CREATE TABLE audit_entries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        operation TEXT NOT NULL,
        collection TEXT NOT NULL,
        collection_id TEXT NOT NULL,
        document_id TEXT,
        version INTEGER,
        leaf BLOB NOT NULL,
        leaf_hash BLOB NOT NULL,
        patch TEXT,
        leaf_index INTEGER UNIQUE
    );
    CREATE INDEX audit_entries_document ON audit_entries(collection_id, document_id, seq);

    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        event_type TEXT NOT NULL,
        audit_id TEXT NOT NULL,
        occurred_at INTEGER NOT NULL,
        payload TEXT NOT NULL,
        published_at INTEGER
    );
    ",
    // 2: idempotency keys with the first answer to each.
    "
    CREATE TABLE idempotency_keys (
        actor TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        status INTEGER NOT NULL,
        headers TEXT NOT NULL,
        body BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (actor, method, path, key)
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
    ",
    // 3: keyset pages of document queries sorted by creation or update time (`$id` pages
    // use the primary key).
    "
    CREATE INDEX documents_created ON documents(collection_id, created_at, id);
    CREATE INDEX documents_updated ON documents(collection_id, updated_at, id);
    ",
    // 4: the verifiable log: stored complete-subtree hashes (Go tlog layout), the one
    // committed tree head, and every signed checkpoint.
    "
    CREATE TABLE log_hashes (
        idx INTEGER PRIMARY KEY,
        hash BLOB NOT NULL
    );
    CREATE TABLE log_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        tree_size INTEGER NOT NULL,
        root BLOB NOT NULL,
        last_seq INTEGER NOT NULL
    );
    INSERT INTO log_state (id, tree_size, root, last_seq)
        VALUES (1, 0, X'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855', 0);
    CREATE TABLE checkpoints (
        tree_size INTEGER PRIMARY KEY,
        root BLOB NOT NULL,
        note TEXT NOT NULL,
        signed_at INTEGER NOT NULL
    );
    ",
];

/// The schema version this build writes.
pub(super) fn latest_version() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Brings the database up to [`latest_version`]; a no-op when it is there already.
///
/// # Errors
/// `INTERNAL_ERROR` when a migration fails or the file was written by a newer build
/// (whose schema this build does not know); `UNAVAILABLE` when the file is busy or failing.
pub(super) fn apply(connection: &mut Connection) -> Result<(), Error> {
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| storage_error("starting the migrations", e))?;
    let current: i64 = transaction
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| storage_error("reading the schema version", e))?;
    let latest = latest_version();
    if current > latest {
        return Err(Error::new(
            ErrorCode::Internal,
            format!(
                "the database is at schema version {current}, newer than this build's {latest}"
            ),
        ));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
        if version <= current {
            continue;
        }
        transaction
            .execute_batch(sql)
            .map_err(|e| storage_error(&format!("applying migration {version}"), e))?;
        transaction
            .pragma_update(None, "user_version", version)
            .map_err(|e| storage_error("recording the schema version", e))?;
        tracing::info!(version, "applied embedded store migration");
    }
    transaction
        .commit()
        .map_err(|e| storage_error("committing the migrations", e))
}
