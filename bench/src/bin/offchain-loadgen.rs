//! `offchain-loadgen`: drives Offchain DB and its peers on loopback (see the crate docs).

use std::process::ExitCode;

use clap::Parser;
use loadgen::cli::Cli;

/// The same allocator as `offchain-db`, so that every program of the suite is measured alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("offchain-loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}
