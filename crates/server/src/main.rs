//! The `offchain-db` binary: parse the command line, then hand over to the library.

use clap::Parser;

/// mimalloc instead of glibc malloc: a request allocates and frees many small buffers across
/// threads, which glibc's arenas handle slowly (issue 7 measured it at a fifth of a read's CPU).
/// The crate's `override` feature also puts C's `malloc` on it, so the bundled SQLite allocates
/// there too (+9% creates, measured back to back).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = server::cli::Cli::parse();
    server::cli::run(cli)
}
