#!/usr/bin/env bash
# The whole test suite: layering check (and its own test), every unit, contract and end-to-end
# test (the end-to-end suite twice: on the embedded store, then on MongoDB), and the README
# walkthrough against a real server. Installs nothing beyond what it
# needs: the embedded store is compiled in (bundled SQLite); the MongoDB tests run against
# OFFCHAIN_TEST_MONGO_URI when it is set, else against the pinned stand-in, which
# scripts/mongo-standin.sh installs when missing (needs npm; docs/mongodb-tests.md).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== layering"
./scripts/check-layers.sh
./scripts/check-layers-test.sh
echo "== import circles"
python3 scripts/module-cycles.py --self-test
python3 scripts/module-cycles.py
echo "== MongoDB for the tests"
if [ -n "${OFFCHAIN_TEST_MONGO_URI:-}" ]; then
  echo "MongoDB tests run against OFFCHAIN_TEST_MONGO_URI"
else
  # Fails the run when the stand-in cannot be had (no npm, a checksum mismatch): the MongoDB
  # tests would fail anyway, later and less clearly.
  OFFCHAIN_TEST_MONGO_BIN=$(./scripts/mongo-standin.sh) || {
    echo "test: no MongoDB for the tests: scripts/mongo-standin.sh failed (see above); install" \
      "npm, or set OFFCHAIN_TEST_MONGO_URI to a MongoDB server (docs/mongodb-tests.md)" >&2
    exit 1
  }
  export OFFCHAIN_TEST_MONGO_BIN
  echo "MongoDB tests run against the stand-in $OFFCHAIN_TEST_MONGO_BIN"
fi
echo "== tests (every crate; the end-to-end suite on the embedded store)"
started=$(date +%s)
cargo test --workspace --all-targets
echo "test: the workspace took $(($(date +%s) - started)) s"
echo "== the HTTP end-to-end suite again, on MongoDB"
started=$(date +%s)
OFFCHAIN_TEST_STORE=mongo cargo test -p offchain-db-tests --test api
echo "test: the end-to-end suite on MongoDB took $(($(date +%s) - started)) s"
echo "== README walkthrough"
./scripts/readme-walkthrough.sh
