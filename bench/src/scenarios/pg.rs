//! `pg`: the PostgreSQL peer. A JSONB table with an `AFTER INSERT OR UPDATE OR DELETE` trigger
//! that writes one audit row per change (operation, actor, time, SHA-256 of the data before and
//! after), the setup AWS suggested to QLDB users. Each request is one autocommitted `INSERT` of
//! the same ~1 KiB document the `create` scenario sends, over one of N connections, with the
//! server's default durability (`fsync=on`, `synchronous_commit=on`).

use std::str::FromStr;
use std::sync::Arc;

use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls, Statement};

use super::Prepared;
use crate::document;
use crate::driver::Op;
use crate::loopback::is_loopback_host;

/// The tables and the audit trigger (dropped and re-created: the database is a throwaway).
const SETUP: &str = "
DROP TABLE IF EXISTS bench_documents;
DROP TABLE IF EXISTS bench_audit;
CREATE TABLE bench_documents (
    id TEXT PRIMARY KEY,
    data JSONB NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE bench_audit (
    seq BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    actor TEXT NOT NULL,
    operation TEXT NOT NULL,
    document_id TEXT NOT NULL,
    hash_before BYTEA,
    hash_after BYTEA
);
CREATE OR REPLACE FUNCTION bench_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_audit (actor, operation, document_id, hash_before, hash_after)
    VALUES (
        current_user,
        TG_OP,
        COALESCE(NEW.id, OLD.id),
        CASE WHEN TG_OP <> 'INSERT' THEN sha256(convert_to(OLD.data::text, 'UTF8')) END,
        CASE WHEN TG_OP <> 'DELETE' THEN sha256(convert_to(NEW.data::text, 'UTF8')) END
    );
    RETURN NULL;
END
$$;
CREATE TRIGGER bench_audit_trigger
    AFTER INSERT OR UPDATE OR DELETE ON bench_documents
    FOR EACH ROW EXECUTE FUNCTION bench_audit_change();
";

/// Checks that every host of a connection string is on loopback (or a local socket).
///
/// # Errors
/// When the string does not parse or names another host.
pub fn check_config(connection: &str) -> Result<Config, String> {
    let config = Config::from_str(connection).map_err(|e| format!("bad --pg: {e}"))?;
    if config.get_hosts().is_empty() {
        return Err("--pg names no host".to_owned());
    }
    for host in config.get_hosts() {
        match host {
            Host::Tcp(name) if is_loopback_host(name) => {}
            Host::Tcp(name) => {
                return Err(format!(
                    "--pg host `{name}` is not a loopback address; this tool only loads servers \
                     on this machine"
                ));
            }
            Host::Unix(_) => {}
        }
    }
    Ok(config)
}

/// Connects `clients` connections, creates the tables and the trigger, and prepares the insert.
///
/// # Errors
/// When connecting or the setup fails.
pub async fn prepare(connection: &str, clients: usize) -> Result<Prepared, String> {
    let config = check_config(connection)?;
    let mut connections: Vec<(Client, Statement)> = Vec::with_capacity(clients);
    for n in 0..clients.max(1) {
        let (client, driver) = config
            .connect(NoTls)
            .await
            .map_err(|e| format!("connecting to PostgreSQL: {e}"))?;
        tokio::spawn(async move {
            if let Err(e) = driver.await {
                eprintln!("a PostgreSQL connection ended: {e}");
            }
        });
        if n == 0 {
            client
                .batch_execute(SETUP)
                .await
                .map_err(|e| format!("creating the tables and the trigger: {e}"))?;
        }
        let insert = client
            .prepare("INSERT INTO bench_documents (id, data) VALUES ($1, $2::text::jsonb)")
            .await
            .map_err(|e| format!("preparing the insert: {e}"))?;
        connections.push((client, insert));
    }
    let connections = Arc::new(connections);
    let op: Op = Arc::new(move |client, seq| {
        let connections = connections.clone();
        Box::pin(async move {
            let (connection, insert) = connections
                .get(client % connections.len().max(1))
                .ok_or_else(|| "no connection".to_owned())?;
            let data = serde_json::to_string(&document::data(seq)).map_err(|e| e.to_string())?;
            let id = format!("doc-{seq}");
            connection
                .execute(insert, &[&id, &data])
                .await
                .map(drop)
                .map_err(|e| format!("insert failed: {e}"))
        })
    });
    Ok(Prepared::Ready {
        op,
        note: Some("JSONB insert + audit trigger row (sha256 before/after), autocommit".to_owned()),
        open: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_postgresql_servers_are_accepted() {
        assert!(check_config("host=127.0.0.1 port=5433 user=bench dbname=bench").is_ok());
        assert!(check_config("host=/tmp/pg port=5433 user=bench").is_ok());
        assert!(check_config("host=db.example.com user=bench").is_err());
        assert!(check_config("host=10.1.2.3 user=bench").is_err());
    }
}
