#!/usr/bin/env bash
# The benchmark suite of issue 7: Offchain DB and its peers, in one run on this machine.
#
# Builds in release, then one after another (never two loads at once, so each has the machine):
#   1. offchain-hello (the HTTP ceiling: minimal axum)         → hello, closed loop; it then
#      idles until step 2 has measured open-loop reads, and is driven at the same rate
#      (hello-open: the machine's floor for that target's p99)
#   2. offchain-db serve (durability full, fresh data folder)  → create, read (closed and open
#      loop at 50% of the closed-loop rate), query, proof, verified-read, integration-delay
#      (open loop at 50% of the create rate)
#   2b. offchain-db serve --document-cache-mib 0 (fresh folder) → read, closed loop: what a
#      read that misses the document cache costs (shown beside the cached figure, not a target)
#   2c. offchain-db serve (fresh folder) → issue 18's rows, open loop at 100/s: reads by version
#      alone and while eight clients run heavy queries; /healthz alone and while four clients
#      run pattern-heavy writes (on a server of their own: today's server keeps computing a
#      heavy query after its client has gone)
#   3. offchain-sqlite-ceiling (raw SQLite on the store's own migrations, the same four rows
#      per write, synchronous=FULL),
#      committing in groups of the size our server achieved in the create run: the mean
#      writes per group commit, read from the counters the server's writer logs
#   4. PostgreSQL (Debian's package, installed if missing; a throwaway cluster on loopback)
#      with a JSONB table and an audit trigger → INSERTs at the same concurrency
#   5. MongoDB (BENCH_MONGO_URI, else the pinned jongodb stand-in of the tests, on loopback):
#      offchain-db serve --store mongo → create and read by id, closed loop; then
#      offchain-mongo-ceiling, a raw driver loop on the same server (the same four records per
#      write in one transaction each, then finds by _id) → issue 22's "≥ 50% of the raw loop"
# and prints ONE table with every figure and the ratios the targets name, also written to
# target/bench/latest.json (and latest.md). Everything started here is stopped on exit.
#
# Traffic goes to 127.0.0.1 only. Every load is bounded by BENCH_DURATION; the whole run takes
# about 4 minutes plus the build with the defaults on 2 cores. The load tool and the peers are
# the cargo workspace bench/ (built here into the same target folder as the server).
#
# Settings (environment):
#   BENCH_DURATION    measured seconds per run (default 10)
#   BENCH_WARMUP      unrecorded warm-up seconds per run (default 1)
#   BENCH_CLIENTS     concurrent clients / connections (default 64)
#   BENCH_SEED        documents seeded before reads, queries and proofs (default 1000)
#   BENCH_GROUP_SIZE  writes per commit for the SQLite ceiling (default: the mean group size
#                     our server achieved in the create run, from its log)
#   BENCH_SKIP_PG     1 to leave PostgreSQL out
#   BENCH_MONGO_URI   a MongoDB replica set for step 5 (default: the stand-in, installed by
#                     scripts/mongo-standin.sh; its figures are the stand-in's, not MongoDB's)
#   BENCH_SKIP_MONGO  1 to leave MongoDB out
#   BENCH_HEAVY_DOCS  documents under issue 18's heavy queries (default 20000)
#   BENCH_HEAVY_CLIENTS   clients running heavy queries beside the reads by version (default 8)
#   BENCH_PATTERN_CLIENTS clients running pattern-heavy writes beside /healthz (default 4)
#   BENCH_PATTERNS    patterns in the pattern-heavy schema (default 100)
#   BENCH_STRING_KIB  KiB of string in each pattern-heavy write (default 256)
#   BENCH_PROFILE     release (default) or debug: debug reuses the test suite's build, for a
#                     quick check that every step runs (scripts/test-bench.sh), not for figures
#   CARGO_TARGET_DIR  where cargo builds (default ./target)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-1}
CLIENTS=${BENCH_CLIENTS:-64}
SEED=${BENCH_SEED:-1000}
GROUP_SIZE=${BENCH_GROUP_SIZE:-}
SKIP_PG=${BENCH_SKIP_PG:-0}
SKIP_MONGO=${BENCH_SKIP_MONGO:-0}
MONGO_URI=${BENCH_MONGO_URI:-}
HEAVY_DOCS=${BENCH_HEAVY_DOCS:-20000}
HEAVY_CLIENTS=${BENCH_HEAVY_CLIENTS:-8}
PATTERN_CLIENTS=${BENCH_PATTERN_CLIENTS:-4}
PATTERNS=${BENCH_PATTERNS:-100}
STRING_KIB=${BENCH_STRING_KIB:-256}
PROFILE=${BENCH_PROFILE:-release}
case "$PROFILE" in
    release) PROFILE_FLAG=(--release) ;;
    debug) PROFILE_FLAG=() ;;
    *) echo "BENCH_PROFILE must be release or debug, not $PROFILE" >&2; exit 2 ;;
esac
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TARGET_DIR=$CARGO_TARGET_DIR
BIN=$TARGET_DIR/$PROFILE
OUT_DIR=${BENCH_OUT_DIR:-$ROOT/target/bench}
RUNS=$OUT_DIR/runs

WORK=$(mktemp -d /tmp/offchain-bench.XXXXXX)
chmod 755 "$WORK" # the postgres user must reach its cluster folder inside
PIDS=()
PG_DATA=""

as_pg_owner() {
    # initdb and the server refuse to run as root: use Debian's `postgres` user then.
    if [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/sh -c "$*"
    else
        sh -c "$*"
    fi
}

stop_pid() {
    local pid=$1
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid"
    done
    if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
        as_pg_owner "'$PG_BIN/pg_ctl' -D '$PG_DATA' -m fast -w stop" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A step that fails is reported and the run goes on: the table then says what is missing.
step() {
    local name=$1
    shift
    echo "== $name" >&2
    if ! "$@"; then
        echo "!! $name failed (see above); continuing" >&2
    fi
}

loadgen() { "$BIN/offchain-loadgen" "$@"; }

# The embedded store's writer logs its group-commit counters (at most every 2 s while busy,
# and 1 s after it goes idle): "group commits so far" with groups=G writes=W (text logs) or
# "groups":G,"writes":W (JSON logs, the default, which the servers here run with). Prints
# round(W / G) and "W writes / G groups" of the last such line, or nothing.
achieved_group_size() {
    local line groups writes
    line=$(sed 's/\x1b\[[0-9;]*m//g' "$1" | grep 'group commits so far' | tail -n 1 || true)
    groups=$(printf '%s' "$line" | grep -oE '[^_a-z]"?groups"?[=:][0-9]+' | head -n 1 | grep -oE '[0-9]+$')
    writes=$(printf '%s' "$line" | grep -oE '[^_a-z]"?writes"?[=:][0-9]+' | head -n 1 | grep -oE '[0-9]+$')
    if [ -n "$groups" ] && [ -n "$writes" ] && [ "$groups" -gt 0 ]; then
        echo "$(((writes + groups / 2) / groups)) $writes $groups"
    fi
}
common=(--duration "$DURATION" --warmup "$WARMUP")

echo "== building ($PROFILE, $TARGET_DIR)" >&2
if [ "$PROFILE" = debug ]; then
    # The test suite's own target set, so a run after it reuses its build (as the README
    # walkthrough does) instead of resolving the server's features afresh.
    cargo build --quiet --workspace --all-targets >&2
else
    cargo build --release -p server --bin offchain-db >&2
fi
cargo build "${PROFILE_FLAG[@]}" --manifest-path "$ROOT/bench/Cargo.toml" --bins >&2
rm -rf "$RUNS"
mkdir -p "$RUNS"

# 1. The HTTP ceiling.
hello_port=$(loadgen free-port)
"$BIN/offchain-hello" --listen "127.0.0.1:$hello_port" 2>"$WORK/hello.log" &
hello_pid=$!
PIDS+=("$hello_pid")
loadgen wait --url "http://127.0.0.1:$hello_port/" --timeout-secs 30
step hello loadgen hello --base-url "http://127.0.0.1:$hello_port" --server-pid "$hello_pid" \
    --clients "$CLIENTS" \
    "${common[@]}" --label hello --json "$RUNS/hello.json"
# It stays up, idle, until it has been driven at our open-loop read rate (below).

# 2. Offchain DB, durable (`full`), on a fresh data folder.
db_port=$(loadgen free-port)
db=http://127.0.0.1:$db_port
"$BIN/offchain-db" serve --listen "127.0.0.1:$db_port" --data-dir "$WORK/data" \
    --durability full >"$WORK/server.log" 2>&1 &
db_pid=$!
PIDS+=("$db_pid")
if ! loadgen wait --url "$db/readyz" --timeout-secs 60; then
    echo "offchain-db did not become ready; its log:" >&2
    cat "$WORK/server.log" >&2
    exit 1
fi
ours=(--base-url "$db" --seed "$SEED" --server-pid "$db_pid" "${common[@]}")
step ours-create loadgen create "${ours[@]}" --clients "$CLIENTS" \
    --label ours-create --json "$RUNS/ours-create.json"
# The group size of the create run: wait for the writer's idle log line, then read it before
# any other scenario writes.
GROUP_FROM="set by BENCH_GROUP_SIZE"
if [ -z "$GROUP_SIZE" ]; then
    sleep 2
    read -r GROUP_SIZE group_writes group_count <<<"$(achieved_group_size "$WORK/server.log")" || true
    if [ -n "${GROUP_SIZE:-}" ]; then
        GROUP_FROM="= offchain-db's mean in ours-create ($group_writes writes / $group_count group commits)"
        echo "offchain-db committed $group_writes writes in $group_count groups: group size $GROUP_SIZE" >&2
    else
        GROUP_SIZE=1
        GROUP_FROM="1: no group-commit counters found in the server log"
        echo "!! no group-commit counters in the server log; the SQLite ceiling uses group size 1" >&2
    fi
fi
step ours-read loadgen read "${ours[@]}" --clients "$CLIENTS" \
    --label ours-read --json "$RUNS/ours-read.json"
step ours-read-open loadgen read "${ours[@]}" --clients "$CLIENTS" \
    --rate-from "$RUNS/ours-read.json" --rate-fraction 0.5 \
    --label ours-read-open --json "$RUNS/ours-read-open.json"
# The HTTP ceiling at the same open-loop rate, right after ours (this machine's tail changes
# from minute to minute): the best p99 any server could show here under that load.
step hello-open loadgen hello --base-url "http://127.0.0.1:$hello_port" --server-pid "$hello_pid" \
    --clients "$CLIENTS" \
    --rate-from "$RUNS/ours-read.json" --rate-fraction 0.5 "${common[@]}" \
    --label hello-open --json "$RUNS/hello-open.json"
stop_pid "$hello_pid"
step ours-query loadgen query "${ours[@]}" --clients "$CLIENTS" \
    --label ours-query --json "$RUNS/ours-query.json"
step ours-proof loadgen proof "${ours[@]}" --clients "$CLIENTS" \
    --label ours-proof --json "$RUNS/ours-proof.json"
step ours-verified-read loadgen verified-read "${ours[@]}" --clients "$CLIENTS" \
    --label ours-verified-read --json "$RUNS/ours-verified-read.json"
step ours-integration-delay loadgen integration-delay "${ours[@]}" --clients "$CLIENTS" \
    --rate-from "$RUNS/ours-create.json" --rate-fraction 0.5 \
    --label ours-integration-delay --json "$RUNS/ours-integration-delay.json"
stop_pid "$db_pid"

# 2b. Reads by id with the document cache turned off: every read goes to a reader thread and
# SQLite, as a read that misses the cache does. Shown beside the cached figure, not a target.
uncached_port=$(loadgen free-port)
uncached=http://127.0.0.1:$uncached_port
"$BIN/offchain-db" serve --listen "127.0.0.1:$uncached_port" --data-dir "$WORK/data-uncached" \
    --durability full --document-cache-mib 0 >"$WORK/server-uncached.log" 2>&1 &
uncached_pid=$!
PIDS+=("$uncached_pid")
if loadgen wait --url "$uncached/readyz" --timeout-secs 60; then
    step ours-read-uncached loadgen read --base-url "$uncached" --seed "$SEED" \
        --server-pid "$uncached_pid" "${common[@]}" \
        --clients "$CLIENTS" --label ours-read-uncached --json "$RUNS/ours-read-uncached.json"
else
    echo "offchain-db (document cache off) did not become ready; its log:" >&2
    cat "$WORK/server-uncached.log" >&2
fi
stop_pid "$uncached_pid"

# 2c. Issue 18's rows, on a server of their own: a cheap request in the open loop at 100/s,
# alone and beside a heavy load (the same requests both times; the heavy query's documents are
# seeded once).
heavy_port=$(loadgen free-port)
heavy=http://127.0.0.1:$heavy_port
"$BIN/offchain-db" serve --listen "127.0.0.1:$heavy_port" --data-dir "$WORK/data-heavy" \
    --durability full >"$WORK/server-heavy.log" 2>&1 &
heavy_pid=$!
PIDS+=("$heavy_pid")
if loadgen wait --url "$heavy/readyz" --timeout-secs 60; then
    cheap=(--base-url "$heavy" --server-pid "$heavy_pid" "${common[@]}" --rate 100 --clients 16)
    step ours-read-version loadgen read-version "${cheap[@]}" --seed "$HEAVY_DOCS" \
        --collection heavy --label ours-read-version --json "$RUNS/ours-read-version.json"
    step ours-read-version-heavy loadgen read-version "${cheap[@]}" --seed "$HEAVY_DOCS" \
        --collection heavy --heavy-clients "$HEAVY_CLIENTS" \
        --label ours-read-version-heavy --json "$RUNS/ours-read-version-heavy.json"
    step ours-healthz loadgen healthz "${cheap[@]}" \
        --label ours-healthz --json "$RUNS/ours-healthz.json"
    step ours-healthz-patterns loadgen healthz "${cheap[@]}" \
        --heavy-clients "$PATTERN_CLIENTS" --patterns "$PATTERNS" --string-kib "$STRING_KIB" \
        --label ours-healthz-patterns --json "$RUNS/ours-healthz-patterns.json"
else
    echo "offchain-db (issue 18 rows) did not become ready; its log:" >&2
    cat "$WORK/server-heavy.log" >&2
fi
stop_pid "$heavy_pid"

# 3. The storage ceiling: raw SQLite on the store's own schema, same rows, same durability,
# our group size.
step sqlite-ceiling "$BIN/offchain-sqlite-ceiling" --dir "$WORK/sqlite" \
    --group-size "$GROUP_SIZE" --group-size-from "$GROUP_FROM" --synchronous full "${common[@]}" \
    --label sqlite-ceiling --json "$RUNS/sqlite-ceiling.json"

# 5. MongoDB: ours on it, then the raw driver loop on the same server.
mongo_peer() {
    local uri=$MONGO_URI server_note="MongoDB at BENCH_MONGO_URI"
    if [ -z "$uri" ]; then
        local standin port
        standin=$("$ROOT/scripts/mongo-standin.sh") || return 1
        port=$(loadgen free-port)
        "$standin" --host=127.0.0.1 --port="$port" >"$WORK/mongo.log" 2>&1 &
        PIDS+=("$!")
        for _ in $(seq 100); do
            grep -q JONGODB_URI "$WORK/mongo.log" 2>/dev/null && break
            sleep 0.1
        done
        uri="mongodb://127.0.0.1:$port/?directConnection=true"
        server_note="the jongodb 0.1.6 stand-in (not MongoDB: it runs on this machine's cores)"
    fi
    head -c 32 /dev/urandom | base64 >"$WORK/mongo-log.key"
    chmod 600 "$WORK/mongo-log.key"
    local mongo_port mongo_pid
    mongo_port=$(loadgen free-port)
    "$BIN/offchain-db" serve --listen "127.0.0.1:$mongo_port" --data-dir "$WORK/data-mongo" \
        --store mongo --mongo-uri "$uri" --mongo-database offchain_bench \
        --tlog-signing-key "$WORK/mongo-log.key" >"$WORK/server-mongo.log" 2>&1 &
    mongo_pid=$!
    PIDS+=("$mongo_pid")
    if ! loadgen wait --url "http://127.0.0.1:$mongo_port/readyz" --timeout-secs 60; then
        echo "offchain-db on MongoDB did not become ready; its log:" >&2
        cat "$WORK/server-mongo.log" >&2
        return 1
    fi
    local on_mongo=(--base-url "http://127.0.0.1:$mongo_port" --seed "$SEED"
        --server-pid "$mongo_pid" "${common[@]}" --clients "$CLIENTS")
    step ours-mongo-create loadgen create "${on_mongo[@]}" \
        --label ours-mongo-create --json "$RUNS/ours-mongo-create.json"
    step ours-mongo-read loadgen read "${on_mongo[@]}" \
        --label ours-mongo-read --json "$RUNS/ours-mongo-read.json"
    stop_pid "$mongo_pid"
    step mongo-ceiling "$BIN/offchain-mongo-ceiling" --uri "$uri" --clients "$CLIENTS" \
        --server "$server_note" "${common[@]}" \
        --json-create "$RUNS/mongo-ceiling-create.json" --json-read "$RUNS/mongo-ceiling-read.json"
}
if [ "$SKIP_MONGO" = 1 ]; then
    echo "== MongoDB skipped (BENCH_SKIP_MONGO=1)" >&2
else
    mongo_peer || echo "!! the MongoDB step failed (see above); continuing" >&2
fi

# 4. PostgreSQL with an audit trigger, at the same concurrency.
pg_peer() {
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
        echo "installing PostgreSQL (Debian package)" >&2
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        else
            sudo apt-get update -qq >&2
            sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        fi
        PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    local port
    port=$(loadgen free-port)
    PG_DATA=$WORK/pg
    mkdir -p "$PG_DATA"
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$PG_DATA"
    fi
    # Defaults kept where durability is concerned: fsync=on, synchronous_commit=on.
    as_pg_owner "'$PG_BIN/initdb' -D '$PG_DATA' -U bench -A trust -E UTF8 --no-sync" >"$WORK/initdb.log" 2>&1 ||
        { cat "$WORK/initdb.log" >&2; return 1; }
    as_pg_owner "'$PG_BIN/pg_ctl' -D '$PG_DATA' -l '$PG_DATA/server.log' -w -t 60 \
        -o \"-p $port -k '$PG_DATA' -c listen_addresses=127.0.0.1 -c max_connections=$((CLIENTS + 20))\" start" >&2 || return 1
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U bench bench || return 1
    echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
    loadgen pg --pg "host=127.0.0.1 port=$port user=bench dbname=bench" --clients "$CLIENTS" \
        "${common[@]}" --label pg-create --json "$RUNS/pg-create.json"
    as_pg_owner "'$PG_BIN/pg_ctl' -D '$PG_DATA' -m fast -w stop" >/dev/null
    PG_DATA=""
}
if [ "$SKIP_PG" != 1 ]; then
    step pg-create pg_peer
fi

# One table, every figure and the targets' ratios.
echo >&2
echo "== report (clients $CLIENTS, $DURATION s per run after $WARMUP s warm-up, durability full, $PROFILE build)" >&2
loadgen report --dir "$RUNS" --out "$OUT_DIR/latest.json" --markdown "$OUT_DIR/latest.md"
echo >&2
echo "written: $OUT_DIR/latest.json and $OUT_DIR/latest.md" >&2
