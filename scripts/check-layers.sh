#!/usr/bin/env bash
# Dependencies point inward: the domain crates (and the shared kernel) must not depend, even
# indirectly, on an async runtime, HTTP, or a database or queue driver. Checked on the normal
# (non-dev) dependency graph with `cargo tree -e normal`.
set -euo pipefail
cd "$(dirname "$0")/.."

forbidden='^(tokio|axum|hyper|tower|tower-http|rusqlite|libsqlite3-sys|mongodb|redis|reqwest|jsonschema) '
status=0
for crate in shared-kernel storage-domain audit-domain storage-app audit-app; do
  offenders=$(cargo tree -e normal -p "$crate" --prefix none --format '{p}' 2>/dev/null \
    | sort -u | grep -E "$forbidden" || true)
  if [ -n "$offenders" ]; then
    echo "layering: $crate depends on forbidden crates:" >&2
    echo "$offenders" | sed 's/^/  /' >&2
    status=1
  else
    echo "layering: $crate is free of runtime, HTTP and driver crates"
  fi
done
exit "$status"
