//! The command line of `offchain-db`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use infra::embedded::Durability;
use shared_kernel::constants::DEFAULT_MAX_DOCUMENT_BYTES;

use crate::config::{Config, DEFAULT_DATA_DIR, DEFAULT_LISTEN, LogFormat};
use crate::{run, telemetry};

/// Offchain DB: a verifiable JSON document store.
#[derive(Debug, Parser)]
#[command(name = "offchain-db", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the REST server on the embedded store.
    Serve(ServeArgs),
}

/// How the embedded store makes commits durable.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum DurabilityArg {
    /// fsync on every commit: survives power loss.
    Full,
    /// Survives a process crash; may lose the last commits on power or OS failure.
    Normal,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "OFFCHAIN_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Folder of the embedded store (created if missing; locked while in use).
    #[arg(long, env = "OFFCHAIN_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Largest document, in bytes of canonical JSON.
    #[arg(long, env = "OFFCHAIN_MAX_DOCUMENT_BYTES", default_value_t = DEFAULT_MAX_DOCUMENT_BYTES)]
    max_document_bytes: usize,
    /// Commit durability.
    #[arg(long, env = "OFFCHAIN_DURABILITY", value_enum, default_value = "full")]
    durability: DurabilityArg,
    /// Longest a request may take, in seconds.
    #[arg(long, env = "OFFCHAIN_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    request_timeout_secs: u64,
    /// Longest shutdown waits for in-flight requests, in seconds.
    #[arg(long, env = "OFFCHAIN_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    shutdown_timeout_secs: u64,
    /// Log line format.
    #[arg(long, env = "OFFCHAIN_LOG_FORMAT", value_enum, default_value = "json")]
    log_format: LogFormat,
}

impl ServeArgs {
    fn into_config(self) -> Config {
        Config {
            listen: self.listen,
            data_dir: self.data_dir,
            max_document_bytes: self.max_document_bytes,
            durability: match self.durability {
                DurabilityArg::Full => Durability::Full,
                DurabilityArg::Normal => Durability::Normal,
            },
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_secs),
        }
    }
}

/// Runs the chosen subcommand; the exit code is 0 on success, 1 on failure.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => {
            telemetry::init(args.log_format);
            let config = args.into_config();
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("offchain-db: cannot start the async runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(run::run_until_signal(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(error = %error, "offchain-db failed");
                    eprintln!("offchain-db: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
