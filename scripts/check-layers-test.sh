#!/usr/bin/env bash
# The test of scripts/check-layers.sh's rules between the project's own crates: on a copy of
# the workspace (manifests and sources, no target/), the script passes as the code is, and
# fails naming the rule and the chain of crates for each violation planted in one manifest.
# A dev-dependency breaks no rule (the rules hold for the normal graph). Takes a few seconds:
# it reads `cargo metadata --no-deps`, builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
tar -c --exclude=target Cargo.toml Cargo.lock crates tests | tar -x -C "$copy"

failures=0
check() {
  ./scripts/check-layers.sh --manifest-path "$copy/Cargo.toml" --own-crates-only \
    >"$copy/out.txt" 2>"$copy/err.txt"
}

# plant CRATE SECTION LINE EXPECTED...: add LINE under [SECTION] of CRATE's manifest, run the
# script, expect it to fail with every EXPECTED text on stderr, then restore the manifest.
plant() {
  local crate=$1 section=$2 line=$3
  shift 3
  local manifest="$copy/crates/$crate/Cargo.toml"
  cp "$manifest" "$manifest.orig"
  grep -q "^\[$section\]$" "$manifest" || printf '\n[%s]\n' "$section" >>"$manifest"
  sed -i "s|^\[$section\]$|[$section]\n$line|" "$manifest"
  local what="$crate [$section] $line"
  if check; then
    echo "FAIL: $what: check-layers.sh passed" >&2
    failures=$((failures + 1))
  else
    local expected
    for expected in "$@"; do
      if ! grep -qF -- "$expected" "$copy/err.txt"; then
        echo "FAIL: $what: no \"$expected\" in what check-layers.sh said:" >&2
        sed 's/^/  /' "$copy/err.txt" >&2
        failures=$((failures + 1))
      fi
    done
  fi
  mv "$manifest.orig" "$manifest"
}

if ! check; then
  echo "FAIL: check-layers.sh refuses the unmodified copy:" >&2
  cat "$copy/err.txt" >&2
  exit 1
fi

# Audit crates never depend on storage crates, even under another name.
plant audit-domain dependencies 'storage-domain.workspace = true' \
  'broken rule "audit crates never depend on storage crates"' 'audit-domain -> storage-domain'
plant audit-domain dependencies 'store = { path = "../storage-domain", package = "storage-domain" }' \
  'audit-domain -> storage-domain'
# No app crate depends on the other context's app crate, in either direction.
plant storage-app dependencies 'audit-app.workspace = true' \
  'broken rule "storage-app never depends on audit-app' 'storage-app -> audit-app'
plant audit-app dependencies 'storage-app.workspace = true' \
  'broken rule "audit-app never depends on storage-app' 'audit-app -> storage-app' \
  'broken rule "audit crates never depend on storage crates"'
# Domain crates never depend on app crates, infra or server; followed transitively.
plant storage-domain dependencies 'audit-app.workspace = true' \
  'broken rule "domain crates never depend on app crates, infra or server"' \
  'storage-domain -> audit-app' \
  'broken rule "storage-domain never depends on audit-domain' 'storage-domain -> audit-app -> audit-domain'
plant audit-domain dependencies 'server.workspace = true' \
  'broken rule "domain crates never depend on app crates, infra or server"' 'audit-domain -> server'
plant shared-kernel dependencies 'storage-domain.workspace = true' \
  'broken rule "the shared kernel depends on no crate of the project"' 'shared-kernel -> storage-domain'
# The layers further out: app crates never reach infra or server, infra never server.
plant audit-app dependencies 'infra.workspace = true' \
  'broken rule "app crates never depend on infra or server"' 'audit-app -> infra'
plant infra dependencies 'server.workspace = true' \
  'broken rule "infra never depends on server"' 'infra -> server'

# A dev-dependency is no violation: tests may use anything.
cp "$copy/crates/audit-domain/Cargo.toml" "$copy/audit-domain.orig"
sed -i 's|^\[dev-dependencies\]$|[dev-dependencies]\nstorage-domain.workspace = true|' \
  "$copy/crates/audit-domain/Cargo.toml"
if ! check; then
  echo "FAIL: a dev-dependency audit-domain -> storage-domain was refused:" >&2
  cat "$copy/err.txt" >&2
  failures=$((failures + 1))
fi
mv "$copy/audit-domain.orig" "$copy/crates/audit-domain/Cargo.toml"

if [ "$failures" -gt 0 ]; then
  echo "check-layers-test: $failures failed" >&2
  exit 1
fi
echo "check-layers-test: every planted violation was refused"
