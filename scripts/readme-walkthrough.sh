#!/usr/bin/env bash
# Runs the README's curl walkthrough, exactly as written there, against a real server on a
# fresh data folder, and fails if any step fails. Keeps the README honest.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }

# Same target set as the test run, so this reuses its build instead of re-resolving features.
cargo build --quiet --workspace --all-targets
work=$(mktemp -d)
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

# The walkthrough is the block between the two marker comments in README.md.
awk '/<!-- walkthrough:start -->/{on=1; next} /<!-- walkthrough:end -->/{on=0} on' README.md \
  | sed -e '/^```/d' > "$work/walkthrough.sh"
[ -s "$work/walkthrough.sh" ] || { echo "walkthrough: no walkthrough block found in README.md" >&2; exit 1; }

# Serve on a free port; the README's commands name 127.0.0.1:8080, rewritten to that port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${CARGO_TARGET_DIR:-target}/debug/offchain-db" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --log-format text \
  > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
sed -i "s/127\.0\.0\.1:8080/127.0.0.1:$port/g" "$work/walkthrough.sh"

# `offchain-db verify` in the walkthrough is the binary just built.
bin_dir=$(cd "${CARGO_TARGET_DIR:-target}/debug" && pwd)
echo "walkthrough: running $(grep -cE '^(curl|offchain-db)' "$work/walkthrough.sh") commands from README.md"
if ! (cd "$work" && PATH="$bin_dir:$PATH" bash -euo pipefail walkthrough.sh > walkthrough.out 2>&1); then
  echo "walkthrough: a README command failed:" >&2
  cat "$work/walkthrough.out" >&2
  tail -20 "$work/server.log" >&2
  exit 1
fi
echo "walkthrough: every README command succeeded"
