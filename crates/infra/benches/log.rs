//! The verifiable log at size: leaves sequenced per second and inclusion-proof latency.
//!
//! For each tree size, a fresh embedded store gets that many committed audit rows (written
//! directly with SQL in big transactions, small synthetic leaves: the log only reads their
//! leaf hashes), then the real sequencer drains them through the store's append path in
//! batches of 10,000 (timed: leaves/s), then 10,000 inclusion proofs at random indexes in the
//! full tree are served through the log's queries (timed one by one: p50, p99). Run by hand,
//! never by the test suite:
//!
//! ```sh
//! cargo bench -p infra --bench log                     # 10^4 and 10^6
//! LOG_BENCH_SIZES=10000000 cargo bench -p infra --bench log
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_app::{LogQueries, Sequencer, SequencerOptions};
use audit_domain::merkle::{leaf_hash, verify_inclusion};
use audit_domain::note::{KeyName, NoteSigner};
use infra::embedded::{Durability, EmbeddedOptions, EmbeddedStore};
use rusqlite::{Connection, params};
use shared_kernel::SystemClock;

const DEFAULT_SIZES: &str = "10000,1000000";
const ROWS_PER_TRANSACTION: u64 = 100_000;
const PROOFS: usize = 10_000;

fn ok<T>(result: Result<T, shared_kernel::Error>) -> T {
    result.unwrap_or_else(|e| panic!("{}", e.chain()))
}

fn leaf(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Commits `count` audit rows with synthetic leaves through a second connection.
fn fill(path: &std::path::Path, count: u64) {
    let mut connection = Connection::open(path).unwrap_or_else(|e| panic!("{e}"));
    connection
        .busy_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut start = 0;
    while start < count {
        let end = (start + ROWS_PER_TRANSACTION).min(count);
        let tx = connection.transaction().unwrap_or_else(|e| panic!("{e}"));
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO audit_entries (id, at, actor, operation, collection, \
                     collection_id, leaf, leaf_hash) VALUES (?1, 0, 'system', \
                     'collection.create', 'bench', 'bench', ?2, ?3)",
                )
                .unwrap_or_else(|e| panic!("{e}"));
            for n in start..end {
                let bytes = leaf(n);
                insert
                    .execute(params![
                        format!("00000000-0000-7000-8000-{n:012x}"),
                        bytes.as_slice(),
                        leaf_hash(&bytes).as_bytes().as_slice()
                    ])
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
        tx.commit().unwrap_or_else(|e| panic!("{e}"));
        start = end;
    }
}

/// A small xorshift generator: the benchmark needs spread-out indexes, not good randomness.
struct Indexes(u64);

impl Indexes {
    fn next_below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn run(size: u64) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = ok(EmbeddedStore::open(
        dir.path(),
        EmbeddedOptions {
            durability: Durability::Full,
            ..EmbeddedOptions::default()
        },
    ));
    let filling = Instant::now();
    {
        let path = store.database_path();
        tokio::task::spawn_blocking(move || fill(&path, size))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let fill_time = filling.elapsed();

    let signer = Arc::new(NoteSigner::from_seed(
        KeyName::new("bench/log").unwrap_or_else(|e| panic!("{e}")),
        &[7; 32],
    ));
    let mut sequencer = ok(Sequencer::start(
        store.log(),
        Arc::new(audit_app::RememberingSigner::in_memory((*signer).clone())),
        Arc::new(SystemClock),
        SequencerOptions::default(),
    )
    .await);
    let sequencing = Instant::now();
    let mut sequenced = 0_u64;
    loop {
        let added = ok(sequencer.sequence_batch().await) as u64;
        if added == 0 {
            break;
        }
        sequenced += added;
    }
    let sequence_time = sequencing.elapsed();
    assert_eq!(sequenced, size);
    let root = sequencer.head().root;

    let queries = LogQueries::new(store.log(), signer.verifier());
    let mut indexes = Indexes(0x9E37_79B9_7F4A_7C15 ^ size);
    // Warm the reader pool and the page cache the way a running server would be.
    for _ in 0..200 {
        ok(queries
            .inclusion_proof(indexes.next_below(size), size)
            .await);
    }
    let mut latencies = Vec::with_capacity(PROOFS);
    for _ in 0..PROOFS {
        let index = indexes.next_below(size);
        let began = Instant::now();
        let proof = ok(queries.inclusion_proof(index, size).await);
        latencies.push(began.elapsed());
        let leaf_hash = leaf_hash(&leaf(index));
        assert_eq!(
            verify_inclusion(&leaf_hash, index, size, &proof, &root),
            Ok(())
        );
    }
    latencies.sort();
    let database_bytes = std::fs::metadata(store.database_path()).map_or(0, |m| m.len());
    println!(
        "size {size:>9}: filled in {fill:>7.2?}; sequenced {size} leaves in {seq:>8.2?} = \
         {rate:>9.0} leaves/s; inclusion proof p50 {p50:>8.1?} p99 {p99:>8.1?} max {max:>8.1?} \
         ({PROOFS} proofs); database {mb} MiB",
        fill = fill_time,
        seq = sequence_time,
        rate = size as f64 / sequence_time.as_secs_f64(),
        p50 = percentile(&latencies, 0.50),
        p99 = percentile(&latencies, 0.99),
        max = latencies[latencies.len() - 1],
        mb = database_bytes / (1024 * 1024),
    );
}

fn main() {
    let sizes = std::env::var("LOG_BENCH_SIZES").unwrap_or_else(|_| DEFAULT_SIZES.to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    for size in sizes
        .split(',')
        .filter_map(|s| s.trim().parse::<u64>().ok())
    {
        runtime.block_on(run(size));
    }
}
