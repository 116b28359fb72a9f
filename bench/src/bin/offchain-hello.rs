//! `offchain-hello`: the HTTP ceiling peer. A minimal axum server (`GET /` → 200 with a small
//! JSON body, nothing else) on the same tokio and axum versions as Offchain DB, so the load
//! tool can measure what HTTP alone costs on this machine.

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use serde_json::{Value, json};

/// The same allocator as `offchain-db`, so that every program of the suite is measured alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A hello-world HTTP server for the benchmark suite.
#[derive(Debug, Parser)]
#[command(name = "offchain-hello", version, about)]
struct Args {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
}

async fn hello() -> Json<Value> {
    Json(json!({"hello": "world"}))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.listen.ip().is_loopback() {
        anyhow::bail!("--listen {}: only loopback addresses", args.listen);
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    eprintln!("offchain-hello listening on {}", listener.local_addr()?);
    let app = Router::new().route("/", get(hello));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _signal = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
