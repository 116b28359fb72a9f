#!/usr/bin/env bash
# Dependencies point inward (ARCHITECTURE.md, "Crates and the direction of dependencies").
# Two checks, both on the normal (non-dev) dependency graph:
# 1. External crates: the domain crates, the shared kernel and the application crates must not
#    depend, even indirectly, on an async runtime, HTTP, or a database or queue driver
#    (`cargo tree -e normal`).
# 2. The project's own crates: audit crates never depend on storage crates, no application
#    crate on the other context's, domain crates on nothing but the kernel, and nothing on the
#    crates further out (read from `cargo metadata --no-deps`: path dependencies between the
#    workspace's members, followed transitively).
#
# Usage: check-layers.sh [--manifest-path PATH] [--own-crates-only]
#   --manifest-path  check another copy of the workspace (scripts/check-layers-test.sh plants
#                    violations in one);
#   --own-crates-only  skip check 1, which needs the whole dependency graph resolved.
set -euo pipefail
cd "$(dirname "$0")/.."

manifest=Cargo.toml
external=1
while [ $# -gt 0 ]; do
  case "$1" in
    --manifest-path) manifest=$2; shift 2 ;;
    --own-crates-only) external=0; shift ;;
    *) echo "check-layers: unknown argument $1" >&2; exit 2 ;;
  esac
done

status=0

if [ "$external" = 1 ]; then
  forbidden='^(tokio|axum|hyper|tower|tower-http|rusqlite|libsqlite3-sys|mongodb|redis|reqwest|jsonschema) '
  for crate in shared-kernel storage-domain audit-domain storage-app audit-app; do
    # A failing `cargo tree` (a renamed crate, a broken manifest) fails the check, never
    # passes it for want of output.
    if ! tree=$(cargo tree --manifest-path "$manifest" -e normal -p "$crate" --prefix none \
      --format '{p}'); then
      echo "layering: cargo tree failed for $crate" >&2
      status=1
      continue
    fi
    offenders=$(sort -u <<<"$tree" | grep -E "$forbidden" || true)
    if [ -n "$offenders" ]; then
      echo "layering: $crate depends on forbidden crates:" >&2
      echo "$offenders" | sed 's/^/  /' >&2
      status=1
    else
      echo "layering: $crate is free of runtime, HTTP and driver crates"
    fi
  done
fi

metadata=$(mktemp)
trap 'rm -f "$metadata"' EXIT
cargo metadata --manifest-path "$manifest" --format-version 1 --no-deps --offline >"$metadata"
python3 - "$metadata" <<'PY' || status=1
import json, sys

# Each rule: (what it says, the crates it binds, the crates they must never reach).
STORAGE = ["storage-domain", "storage-app"]
AUDIT = ["audit-domain", "audit-app"]
DOMAIN = ["shared-kernel", "storage-domain", "audit-domain"]
APP = ["storage-app", "audit-app"]
OUTER = ["infra", "server"]
RULES = [
    ("audit crates never depend on storage crates", AUDIT, STORAGE),
    ("storage-app never depends on audit-app, the other context's app crate", ["storage-app"], ["audit-app"]),
    ("audit-app never depends on storage-app, the other context's app crate", ["audit-app"], ["storage-app"]),
    ("domain crates never depend on app crates, infra or server", DOMAIN, APP + OUTER),
    ("the shared kernel depends on no crate of the project", ["shared-kernel"], DOMAIN + APP + OUTER),
    ("storage-domain never depends on audit-domain, the other context's domain", ["storage-domain"], ["audit-domain"]),
    ("app crates never depend on infra or server", APP, OUTER),
    ("infra never depends on server", ["infra"], ["server"]),
]

with open(sys.argv[1]) as file:
    metadata = json.load(file)
members = {p["name"]: p for p in metadata["packages"] if p["id"] in metadata["workspace_members"]}
# Normal dependencies on other members (a renamed dependency keeps its package name here).
edges = {
    name: sorted({d["name"] for d in p["dependencies"]
                  if d["kind"] is None and d.get("path") and d["name"] in members})
    for name, p in members.items()
}

def path_to(start, goal):
    """The chain of crates from start to goal over normal dependencies, or None."""
    seen, queue = {start}, [[start]]
    while queue:
        chain = queue.pop(0)
        for dep in edges[chain[-1]]:
            if dep == goal:
                return chain + [dep]
            if dep not in seen:
                seen.add(dep)
                queue.append(chain + [dep])
    return None

failed = False
named = {c for _, sources, targets in RULES for c in sources + targets}
missing = sorted(named - members.keys())
if missing:
    # A renamed crate must not switch its rules off silently.
    print("layering: rules name crates that are not workspace members: " + ", ".join(missing),
          file=sys.stderr)
    failed = True
for rule, sources, targets in RULES:
    broken = [" -> ".join(chain) for s in sources if s in members for t in targets
              if t in members and (chain := path_to(s, t))]
    if broken:
        failed = True
        print(f"layering: broken rule \"{rule}\":", file=sys.stderr)
        for chain in broken:
            print("  " + chain, file=sys.stderr)
    else:
        print("layering: " + rule)
sys.exit(1 if failed else 0)
PY
exit "$status"
