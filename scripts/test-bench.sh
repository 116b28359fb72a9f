#!/usr/bin/env bash
# The benchmark suite's own short test: runs ./scripts/bench-peers.sh at a tiny size on the
# debug build (every step, PostgreSQL left out), then checks that every row ran and answered,
# and that the report holds every row and target line. It says nothing about speed: figures
# come from a release run of the suite (docs/benchmarks.md). CI runs it after the test command.
# It also compiles the Docker path of the MongoDB test server, which no test can run here.
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

started=$(date +%s)
BENCH_PROFILE=debug BENCH_DURATION=1 BENCH_WARMUP=0.2 BENCH_CLIENTS=8 BENCH_SEED=60 \
    BENCH_SKIP_PG=1 BENCH_HEAVY_DOCS=300 BENCH_PATTERNS=8 BENCH_STRING_KIB=8 \
    BENCH_OUT_DIR="$out" ./scripts/bench-peers.sh >"$out/report.md" 2>"$out/log.txt" || {
    echo "test-bench: the suite failed; its log:" >&2
    cat "$out/log.txt" >&2
    exit 1
}

python3 - "$out/latest.json" <<'PY'
import json, sys

report = json.load(open(sys.argv[1]))
runs = {run["label"]: run for run in report["runs"]}
expected = [
    "hello", "hello-open", "ours-create", "ours-read", "ours-read-open", "ours-query",
    "ours-proof", "ours-verified-read", "ours-integration-delay", "ours-read-uncached",
    "ours-read-version", "ours-read-version-heavy", "ours-healthz", "ours-healthz-patterns",
    "sqlite-ceiling", "ours-mongo-create", "ours-mongo-read", "mongo-ceiling-create",
    "mongo-ceiling-read",
]
problems = []
for label in expected:
    run = runs.get(label)
    if run is None:
        problems.append(f"{label}: no row")
    elif run["status"] != "ok" or run["ok"] == 0 or run["errors"] != 0:
        problems.append(
            f"{label}: status {run['status']}, {run['ok']} ok, {run['errors']} errors "
            f"(first: {run.get('first_error')})"
        )
for label in ["ours-read-version-heavy", "ours-healthz-patterns"]:
    note = (runs.get(label) or {}).get("note") or ""
    if "beside" not in note or "answered" not in note:
        problems.append(f"{label}: its note does not say what ran beside it: {note!r}")
for target in report["targets"]:
    if target["value"] is None and "PostgreSQL" not in target["name"] and "stolen" not in target["name"] \
            and "gap" not in target["name"] and "hypervisor" not in target["name"]:
        problems.append(f"target line without a figure: {target['name']}: {target['measured']}")
if problems:
    print("test-bench: " + "\n  ".join(["the suite's report is incomplete:"] + problems), file=sys.stderr)
    sys.exit(1)
print(f"test-bench: {len(expected)} rows and {len(report['targets'])} target lines, all measured")
PY
echo "test-bench: the suite ran at a tiny size in $(($(date +%s) - started)) s"

# test-servers' `docker` feature (MongoDB in Docker through testcontainers) cannot run on these
# machines, which pull no images; compiled here so that it does not rot (docs/mongodb-tests.md).
cargo check -p test-servers --features docker
echo "test-bench: the Docker path of the MongoDB test server compiles"
