#!/usr/bin/env bash
# Compares two offchain-db binaries on creates and reads by id at 64 clients, in alternating
# rounds (old, new, old, new, ...: the machine's speed drifts, so neither build gets the
# quiet minutes), each round on a fresh data folder, and prints the median of each build and
# the ratio new ÷ old. For checks like issue 18's "within 5% of today's".
#
#   bench/ab.sh OLD_BIN NEW_BIN
#
# Settings (environment): AB_ROUNDS (3 per build), AB_DURATION (8 s per run), AB_WARMUP (1 s),
# AB_CLIENTS (64), AB_SEED (1000 documents before the reads), LOADGEN (the load tool; by default
# built here in release from bench/). Traffic goes to 127.0.0.1 only; everything started here is
# stopped on exit.
set -euo pipefail

if [ $# -ne 2 ] || [ ! -x "$1" ] || [ ! -x "$2" ]; then
    echo "usage: bench/ab.sh OLD_BIN NEW_BIN (two executable offchain-db binaries)" >&2
    exit 2
fi
OLD=$(realpath "$1")
NEW=$(realpath "$2")
cd "$(dirname "$0")"
ROUNDS=${AB_ROUNDS:-3}
DURATION=${AB_DURATION:-8}
WARMUP=${AB_WARMUP:-1}
CLIENTS=${AB_CLIENTS:-64}
SEED=${AB_SEED:-1000}
if [ -z "${LOADGEN:-}" ]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(realpath ..)/target}
    cargo build --release --bin offchain-loadgen >&2
    LOADGEN=$CARGO_TARGET_DIR/release/offchain-loadgen
fi

WORK=$(mktemp -d /tmp/offchain-ab.XXXXXX)
server_pid=""
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    [ -z "$server_pid" ] || wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
trap 'stop_server; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# One round of one build: creates, then reads by id, on a fresh folder. Appends
# "build scenario throughput" lines to $WORK/results.
round() {
    local build=$1 bin=$2 n=$3 port data
    port=$("$LOADGEN" free-port)
    data=$WORK/data-$build-$n
    "$bin" serve --listen "127.0.0.1:$port" --data-dir "$data" --durability full \
        >"$WORK/server-$build-$n.log" 2>&1 &
    server_pid=$!
    if ! "$LOADGEN" wait --url "http://127.0.0.1:$port/readyz" --timeout-secs 60 >/dev/null; then
        echo "$build: the server did not become ready; its log:" >&2
        cat "$WORK/server-$build-$n.log" >&2
        exit 1
    fi
    local args=(--base-url "http://127.0.0.1:$port" --server-pid "$server_pid" --clients "$CLIENTS"
        --duration "$DURATION" --warmup "$WARMUP" --seed "$SEED")
    local scenario
    for scenario in create read; do
        "$LOADGEN" "$scenario" "${args[@]}" --label "$build-$scenario-$n" \
            --json "$WORK/$build-$scenario-$n.json" >/dev/null
        echo "$build $scenario $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["throughput"] if r["status"]=="ok" and r["errors"]==0 else "failed")' "$WORK/$build-$scenario-$n.json")" \
            | tee -a "$WORK/results" >&2
    done
    stop_server
}

for n in $(seq "$ROUNDS"); do
    round old "$OLD" "$n"
    round new "$NEW" "$n"
done

python3 - "$WORK/results" "$ROUNDS" "$DURATION" "$CLIENTS" <<'PY'
import statistics, sys

rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
rounds, duration, clients = sys.argv[2], sys.argv[3], sys.argv[4]
print(f"{rounds} alternating rounds per build, {duration} s each, {clients} clients, durability full")
print("| scenario | old (each round) | new (each round) | old median | new median | new ÷ old |")
print("|---|---|---|---:|---:|---:|")
failed = False
for scenario in ["create", "read"]:
    values = {}
    for build in ["old", "new"]:
        figures = [r[2] for r in rows if r[0] == build and r[1] == scenario]
        failed |= "failed" in figures
        values[build] = [float(f) for f in figures if f != "failed"]
    each = {b: ", ".join(f"{v:,.0f}" for v in values[b]) for b in values}
    if values["old"] and values["new"]:
        old, new = statistics.median(values["old"]), statistics.median(values["new"])
        print(f"| {scenario} | {each['old']} | {each['new']} | {old:,.0f}/s | {new:,.0f}/s | {new / old:.3f} |")
    else:
        print(f"| {scenario} | {each['old']} | {each['new']} | — | — | — |")
if failed:
    print("some runs failed or had errors: see above", file=sys.stderr)
    sys.exit(1)
PY
