//! The command line of `offchain-db`: `serve`, `config` to see what `serve` would use, `verify`
//! to check a receipt or two checkpoints offline (see [`crate::verify_cmd`]), and `audit` to
//! check a whole store (see [`crate::audit_cmd`]).
//!
//! Flags are the highest configuration layer: each is an `Option`, applied only when given, over
//! the environment, the configuration file and the defaults (see [`crate::config`]).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{
    self, CONFIG_ERROR_EXIT_CODE, DurabilityMode, Loaded, LogFormat, Overrides, ServingMode,
    SettingsError, StoreMode,
};
use crate::{audit_cmd, log_cmd, run, telemetry, verify_cmd};

/// Offchain DB: a verifiable JSON document store.
#[derive(Debug, Parser)]
#[command(name = "offchain-db", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the REST server on the configured store (`store`, by default `embedded`).
    Serve(SettingsArgs),
    /// Print the effective configuration as TOML, saying where each value came from, and exit.
    Config(SettingsArgs),
    /// Verify a receipt or the consistency of two checkpoints offline (exit 0 valid, 1 a
    /// finding, 2 usage or I/O error).
    Verify(verify_cmd::VerifyArgs),
    /// Audit a whole embedded store (read only) against the log's key and outside
    /// checkpoints; exit 0 valid, 1 a finding, 2 usage or I/O error.
    Audit(audit_cmd::AuditArgs),
    /// The verifiable log's maintenance (server stopped).
    #[command(subcommand)]
    Log(LogCommand),
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// End a log whose database is older than what its key signed, and start a successor
    /// with a new key and origin whose first entry (`log.succession`, leaf 0) names where the
    /// old log ended, the stored entries following it. Run it again to finish one that was
    /// interrupted. Exit 0 done, 2 refused or failed. See docs/operations-log.md.
    Succeed(SucceedArgs),
}

#[derive(Debug, Args)]
struct SucceedArgs {
    #[command(flatten)]
    settings: SettingsArgs,
    /// The successor's origin [default: offchain-db/<16 hex of the new key's hash>];
    /// required when `tlog.origin` is configured.
    #[arg(long, value_name = "ORIGIN")]
    new_origin: Option<String>,
}

/// The settings flags, shared by `serve` and `config`. Defaults are not clap's: they belong to
/// the lowest layer (see `README.md`, "Configuration").
#[derive(Debug, Args)]
struct SettingsArgs {
    /// Configuration file (TOML) [env: OFFCHAIN_CONFIG].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [env: OFFCHAIN_LISTEN; default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Which storage backend holds the data: `embedded` (one SQLite file in the data
    /// folder) or `mongo` (MongoDB at --mongo-uri; needs --tlog-signing-key)
    /// [env: OFFCHAIN_STORE; default: embedded].
    #[arg(long, value_enum)]
    store: Option<StoreMode>,
    /// Folder of the embedded store, created if missing, locked while in use
    /// [env: OFFCHAIN_DATA_DIR; default: ./data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Largest document, in bytes of canonical JSON, at least 1024
    /// [env: OFFCHAIN_MAX_DOCUMENT_BYTES; default: 1048576].
    #[arg(long, value_name = "BYTES")]
    max_document_bytes: Option<usize>,
    /// Commit durability [env: OFFCHAIN_DURABILITY; default: full].
    #[arg(long, value_enum)]
    durability: Option<DurabilityMode>,
    /// How connections are served: `per-thread` (a thread per core, each keeping the
    /// connections it is dealt) or `shared` (one runtime whose workers share them all)
    /// [env: OFFCHAIN_SERVING; default: per-thread].
    #[arg(long, value_enum)]
    serving: Option<ServingMode>,
    /// Memory for committed documents that answer reads by id, in MiB; 0 turns it off
    /// [env: OFFCHAIN_DOCUMENT_CACHE_MIB; default: 64].
    #[arg(long, value_name = "MIB")]
    document_cache_mib: Option<u64>,
    /// Largest collection schema that may be set, in bytes of canonical JSON, at least 1024
    /// [env: OFFCHAIN_MAX_SCHEMA_BYTES; default: 262144].
    #[arg(long, value_name = "BYTES")]
    max_schema_bytes: Option<usize>,
    /// Memory for compiled collection schemas, in MiB (estimated); 0 compiles for each use
    /// [env: OFFCHAIN_SCHEMA_CACHE_MIB; default: 32].
    #[arg(long, value_name = "MIB")]
    schema_cache_mib: Option<u64>,
    /// Longest a request may take, in seconds, at least 1
    /// [env: OFFCHAIN_REQUEST_TIMEOUT_SECS; default: 30].
    #[arg(long, value_name = "SECS")]
    request_timeout_secs: Option<u64>,
    /// Longest shutdown waits for in-flight requests, in seconds
    /// [env: OFFCHAIN_SHUTDOWN_TIMEOUT_SECS; default: 30].
    #[arg(long, value_name = "SECS")]
    shutdown_timeout_secs: Option<u64>,
    /// Longest a request head may take to arrive once its first byte has, in seconds, 1..=3600
    /// [env: OFFCHAIN_HEADER_READ_TIMEOUT_SECS; default: 10].
    #[arg(long, value_name = "SECS")]
    header_read_timeout_secs: Option<u64>,
    /// Longest a connection stays open with no request running and nothing sent either way,
    /// in seconds, 1..=3600 [env: OFFCHAIN_KEEP_ALIVE_TIMEOUT_SECS; default: 60].
    #[arg(long, value_name = "SECS")]
    keep_alive_timeout_secs: Option<u64>,
    /// Open connections at most (lowered to what the open-file limit allows); past it the
    /// oldest idle one is closed, or the new one answered 503 when none is idle
    /// [env: OFFCHAIN_MAX_CONNECTIONS; default: 10000].
    #[arg(long, value_name = "COUNT")]
    max_connections: Option<usize>,
    /// Log filter in `tracing` syntax, e.g. `server=debug,info`
    /// [env: OFFCHAIN_LOG__LEVEL; default: info].
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Log line format [env: OFFCHAIN_LOG__FORMAT; default: json].
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// The verifiable log's Ed25519 signing key file, which must exist
    /// [env: OFFCHAIN_TLOG__SIGNING_KEY; default: <data_dir>/log-signing.key, generated].
    #[arg(long, value_name = "FILE")]
    tlog_signing_key: Option<PathBuf>,
    /// The verifiable log's origin, also its key name
    /// [env: OFFCHAIN_TLOG__ORIGIN; default: offchain-db/<16 hex of the key's hash>].
    #[arg(long, value_name = "ORIGIN")]
    tlog_origin: Option<String>,
    /// The file where the log's signer keeps the last checkpoint it signed, outside the
    /// database, so a restored database can never make it sign a fork
    /// [env: OFFCHAIN_TLOG__SIGNER_STATE; default: <key file>.signer-state].
    #[arg(long, value_name = "FILE")]
    tlog_signer_state: Option<PathBuf>,
    /// Shortest time between two checkpoints, in milliseconds, 1..=60000
    /// [env: OFFCHAIN_TLOG__CHECKPOINT_INTERVAL_MS; default: 200].
    #[arg(long, value_name = "MS")]
    tlog_checkpoint_interval_ms: Option<u64>,
    /// MongoDB connection string, required with `--store mongo` (printed with its password
    /// masked) [env: OFFCHAIN_MONGO__URI].
    #[arg(long, value_name = "URI")]
    mongo_uri: Option<String>,
    /// MongoDB database holding the store [env: OFFCHAIN_MONGO__DATABASE; default: offchain_db].
    #[arg(long, value_name = "NAME")]
    mongo_database: Option<String>,
}

impl SettingsArgs {
    fn into_overrides(self) -> Overrides {
        Overrides {
            config_file: self.config,
            listen: self.listen,
            store: self.store,
            data_dir: self.data_dir,
            max_document_bytes: self.max_document_bytes,
            durability: self.durability,
            serving: self.serving,
            document_cache_mib: self.document_cache_mib,
            max_schema_bytes: self.max_schema_bytes,
            schema_cache_mib: self.schema_cache_mib,
            request_timeout_secs: self.request_timeout_secs,
            shutdown_timeout_secs: self.shutdown_timeout_secs,
            header_read_timeout_secs: self.header_read_timeout_secs,
            keep_alive_timeout_secs: self.keep_alive_timeout_secs,
            max_connections: self.max_connections,
            log_level: self.log_level,
            log_format: self.log_format,
            tlog_signing_key: self.tlog_signing_key,
            tlog_origin: self.tlog_origin,
            tlog_signer_state: self.tlog_signer_state,
            tlog_checkpoint_interval_ms: self.tlog_checkpoint_interval_ms,
            mongo_uri: self.mongo_uri,
            mongo_database: self.mongo_database,
        }
    }
}

/// Runs the chosen subcommand with the process environment.
///
/// The exit code is 0 on success, 2 when the configuration is refused (as for a bad flag, or
/// a signing key or origin that is not the store's log's), 1 when serving fails; `verify` and `audit` have their own (0 valid, 1 a finding, 2 usage or
/// I/O error).
pub fn run(cli: Cli) -> ExitCode {
    run_with_env(cli, std::env::vars_os())
}

/// Runs the chosen subcommand with `env` as the environment layer.
pub fn run_with_env(cli: Cli, env: impl IntoIterator<Item = (OsString, OsString)>) -> ExitCode {
    match cli.command {
        Command::Config(args) => match config::load(&args.into_overrides(), env) {
            Ok(loaded) => {
                for warning in loaded.warnings() {
                    eprintln!("offchain-db: warning: {warning}");
                }
                print!("{}", loaded.to_toml());
                ExitCode::SUCCESS
            }
            Err(error) => refuse(&error),
        },
        Command::Audit(args) => audit_cmd::run(&args),
        Command::Serve(args) => match config::load(&args.into_overrides(), env) {
            Ok(loaded) => serve(&loaded),
            Err(error) => refuse(&error),
        },
        Command::Verify(args) => verify_cmd::run(args),
        Command::Log(LogCommand::Succeed(args)) => {
            match config::load(&args.settings.into_overrides(), env) {
                Ok(loaded) => {
                    telemetry::init(&loaded.settings().log);
                    let config = loaded.settings().to_config();
                    log_cmd::succeed(&config, args.new_origin.as_deref())
                }
                Err(error) => refuse(&error),
            }
        }
    }
}

fn refuse(error: &SettingsError) -> ExitCode {
    eprintln!("offchain-db: configuration error: {error}");
    ExitCode::from(CONFIG_ERROR_EXIT_CODE)
}

fn serve(loaded: &Loaded) -> ExitCode {
    telemetry::init(&loaded.settings().log);
    for warning in loaded.warnings() {
        tracing::warn!("{warning}");
    }
    let config = loaded.settings().to_config();
    // This thread serves too: with per-thread serving it is the first serving thread, and
    // `run` starts the others.
    let runtime = match run::serving_runtime(config.serving) {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("offchain-db: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::run_until_signal(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<run::StartRefused>() => {
            tracing::error!(error = %error, "offchain-db refused to start");
            eprintln!("offchain-db: refused to start: {error:#}");
            ExitCode::from(CONFIG_ERROR_EXIT_CODE)
        }
        Err(error) => {
            tracing::error!(error = %error, "offchain-db failed");
            eprintln!("offchain-db: {error:#}");
            ExitCode::FAILURE
        }
    }
}
