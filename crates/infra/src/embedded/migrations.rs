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
    // 5: documents and revisions become rowid tables with a unique key. A WITHOUT ROWID
    // table keeps its rows in an index b-tree, where at most about 1,000 bytes of a row stay
    // on its page (4 KiB pages): every row above that (a 1 KiB document with its ids and hash)
    // spilled to an overflow page of its own, mostly empty. Measured at 25,879 documents:
    // 29,574 pages each for the two tables, three quarters of them unused, about 9 KiB
    // written per create. A rowid table's leaf keeps up to about 4,000 bytes of a row.
    "
    CREATE TABLE documents_rowid (
        collection_id TEXT NOT NULL REFERENCES collections(id),
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        data TEXT,
        content_hash TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        audit_id TEXT NOT NULL,
        UNIQUE (collection_id, id)
    );
    INSERT INTO documents_rowid
        (collection_id, id, version, data, content_hash, created_at, updated_at, audit_id)
        SELECT collection_id, id, version, data, content_hash, created_at, updated_at, audit_id
        FROM documents ORDER BY collection_id, id;
    DROP TABLE documents;
    ALTER TABLE documents_rowid RENAME TO documents;
    CREATE INDEX documents_created ON documents(collection_id, created_at, id);
    CREATE INDEX documents_updated ON documents(collection_id, updated_at, id);

    CREATE TABLE revisions_rowid (
        collection_id TEXT NOT NULL,
        document_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        operation TEXT NOT NULL,
        data TEXT,
        content_hash TEXT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        audit_id TEXT NOT NULL,
        UNIQUE (collection_id, document_id, version)
    );
    INSERT INTO revisions_rowid
        (collection_id, document_id, version, operation, data, content_hash, at, actor, audit_id)
        SELECT collection_id, document_id, version, operation, data, content_hash, at, actor,
               audit_id
        FROM revisions ORDER BY collection_id, document_id, version;
    DROP TABLE revisions;
    ALTER TABLE revisions_rowid RENAME TO revisions;
    ",
    // 6: an idempotency key may keep only its request's hash: a read's answer above 64 KiB
    // is not kept (`answer_kept = 0`, with an empty status, headers and body), and a repeat
    // runs the read again. Rows written before keep their answers.
    "
    ALTER TABLE idempotency_keys ADD COLUMN answer_kept INTEGER NOT NULL DEFAULT 1;
    ",
    // 7: the checkpoints of the logs this one succeeded (`offchain-db log succeed`), kept
    // apart: `checkpoints` holds only the current log's, all signed by its key.
    "
    CREATE TABLE predecessor_checkpoints (
        origin TEXT NOT NULL,
        tree_size INTEGER NOT NULL,
        root BLOB NOT NULL,
        note TEXT NOT NULL,
        signed_at INTEGER NOT NULL,
        PRIMARY KEY (origin, tree_size)
    );
    ",
    // 8: an idempotency key keeps its request's neutral outcome (storage-app
    // `idempotency::Outcome`), not a rendered HTTP answer: its kind in `outcome`, its JSON in
    // `body` (status 0, headers `[]`). Rows written before keep their rendered answer with
    // `outcome` NULL and are read as the outcome it showed (`read/idempotency/legacy.rs`).
    "
    ALTER TABLE idempotency_keys ADD COLUMN outcome TEXT;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A database as a build of schema version `version` left it.
    fn at_version(version: usize) -> Connection {
        let connection = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        for sql in &MIGRATIONS[..version] {
            connection
                .execute_batch(sql)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        connection
            .pragma_update(None, "user_version", i64::try_from(version).unwrap_or(0))
            .unwrap_or_else(|e| panic!("{e}"));
        connection
    }

    fn count(connection: &Connection, sql: &str) -> i64 {
        connection
            .query_row(sql, [], |row| row.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    #[test]
    fn migration_6_keeps_every_recorded_answer_replayable() {
        let mut connection = at_version(5);
        connection
            .execute_batch(
                "INSERT INTO idempotency_keys VALUES ('anonymous', 'POST', '/v1/collections',
                     'k', 'h', 201, '[]', X'7B7D', 1);",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        apply(&mut connection).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(count(&connection, "PRAGMA user_version"), latest_version());
        assert_eq!(
            count(
                &connection,
                "SELECT count(*) FROM idempotency_keys WHERE answer_kept = 1 AND body = X'7B7D'"
            ),
            1
        );
    }

    #[test]
    fn migration_5_keeps_every_document_and_revision_and_their_keys() {
        let mut connection = at_version(4);
        connection
            .execute_batch(
                "INSERT INTO collections VALUES ('c1', 'people', NULL, 1, 1, 1, NULL);
                 INSERT INTO documents VALUES ('c1', 'alice', 2, '{\"a\":2}', 'h2', 1, 2, 'a2');
                 INSERT INTO revisions VALUES ('c1', 'alice', 1, 'document.create', '{\"a\":1}',
                     'h1', 1, 'anonymous', 'a1');
                 INSERT INTO revisions VALUES ('c1', 'alice', 2, 'document.replace', '{\"a\":2}',
                     'h2', 2, 'anonymous', 'a2');",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        apply(&mut connection).unwrap_or_else(|e| panic!("{e}"));

        assert_eq!(count(&connection, "PRAGMA user_version"), latest_version());
        let document: (i64, String, String) = connection
            .query_row(
                "SELECT version, data, audit_id FROM documents
                 WHERE collection_id = 'c1' AND id = 'alice'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(document, (2, "{\"a\":2}".to_owned(), "a2".to_owned()));
        assert_eq!(
            count(
                &connection,
                "SELECT count(*) FROM revisions WHERE document_id = 'alice'"
            ),
            2
        );
        for table in ["documents", "revisions"] {
            let sql = format!(
                "SELECT count(*) FROM sqlite_schema WHERE name = '{table}' AND sql LIKE '%WITHOUT ROWID%'"
            );
            assert_eq!(count(&connection, &sql), 0, "{table} is a rowid table");
        }
        for index in ["documents_created", "documents_updated"] {
            let sql = format!(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = '{index}'"
            );
            assert_eq!(count(&connection, &sql), 1, "{index} was recreated");
        }
        let duplicate = connection.execute(
            "INSERT INTO revisions VALUES ('c1', 'alice', 2, 'document.patch', NULL, NULL, 3,
                 'anonymous', 'a3')",
            [],
        );
        assert!(duplicate.is_err(), "a revision's key stays unique");
        let duplicate = connection.execute(
            "INSERT INTO documents VALUES ('c1', 'alice', 1, NULL, NULL, 1, 1, 'a4')",
            [],
        );
        assert!(duplicate.is_err(), "a document's key stays unique");
    }
}
