#!/usr/bin/env bash
# The whole test suite: layering check (and its own test), every unit, contract and end-to-end
# test, and the README walkthrough against a real server. Installs nothing beyond what it
# needs; the embedded store is compiled in (bundled SQLite), so no server process is required
# yet.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== layering"
./scripts/check-layers.sh
./scripts/check-layers-test.sh
echo "== import circles"
python3 scripts/module-cycles.py --self-test
python3 scripts/module-cycles.py
echo "== tests"
cargo test --workspace --all-targets
echo "== README walkthrough"
./scripts/readme-walkthrough.sh
