#!/usr/bin/env python3
"""Prints the import circles between the modules of each crate (exit 1 when there is one).

A module is a file (`src/a/b.rs` or `src/a/b/mod.rs` is `a::b`). Module A uses module B when A
names a path into B: a `use` item or a path in code starting with `crate::`, `super::`,
`self::` or a child module's name. The path goes to the longest module it names, so
`use super::Durability` from `embedded::writer` is an edge to `embedded` (where `Durability`
is defined). Not counted: paths from a module into its own children (a module contains and
wires its children: `http/mod.rs` building the router from `audit::routes()` while
`audit.rs` takes the `AppState` declared beside it is the usual Rust layout, not a circle),
`pub use` re-exports (a module's facade, not its needs), `mod` declarations, and test code (inline `#[cfg(test)] mod tests { .. }`, `tests.rs`, `tests/`),
which nothing else uses. A circle is a strongly connected component of more than one module.

Usage: scripts/module-cycles.py [crates-dir]   (default: crates)
       scripts/module-cycles.py --self-test      (plants circles in a temporary crate)
"""

import os
import re
import sys

PATH = re.compile(r"(?<![A-Za-z0-9_:])(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
# A path in code that starts with a child module's name (`pipeline::Pipeline::new`).
CHILD_PATH = re.compile(r"(?<![A-Za-z0-9_:])([a-z_][a-z0-9_]*)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE = re.compile(r"(?<![A-Za-z0-9_])(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.S)
INLINE_TESTS = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*mod\s+\w+\s*\{")


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    # String literals can hold `crate::` in messages; drop them.
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def cut_inline_tests(text):
    """Drops `#[cfg(test)] mod x { ... }` blocks (brace matched)."""
    out = []
    pos = 0
    for match in INLINE_TESTS.finditer(text):
        if match.start() < pos:
            continue
        out.append(text[pos:match.start()])
        depth = 0
        i = match.end() - 1
        while i < len(text):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        pos = i + 1
    out.append(text[pos:])
    return "".join(out)


def expand(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = re.sub(r"\s+", "", tree)
    depth = 0
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                prefix = tree[:i]
                inner = tree[i + 1 : tree.rindex("}")]
                parts, depth2, start = [], 0, 0
                for j, c in enumerate(inner):
                    if c == "{":
                        depth2 += 1
                    elif c == "}":
                        depth2 -= 1
                    elif c == "," and depth2 == 0:
                        parts.append(inner[start:j])
                        start = j + 1
                parts.append(inner[start:])
                result = []
                for part in parts:
                    if part:
                        result.extend(prefix + p for p in expand(part))
                return result
            depth += 1
    return [re.sub(r"\bas\w+$", "", tree)]


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def is_test_file(module):
    return any(part == "tests" or part.endswith("_tests") for part in module)


def resolve(current, segments, modules):
    """Absolute module path a `crate::`/`super::`/`self::`/child path points into."""
    if not segments:
        return None
    head, rest = segments[0], segments[1:]
    if head == "crate":
        base = ()
    elif head in ("self", "super"):
        base = current
        while rest and rest[0] == "super" or head == "super":
            if head == "super":
                head = "self"
            else:
                rest = rest[1:]
            base = base[:-1]
    elif current + (head,) in modules:
        base, rest = current + (head,), rest
    else:
        return None
    target = base
    for segment in rest:
        if target + (segment,) in modules:
            target = target + (segment,)
        else:
            break
    return target


def crate_edges(src):
    files = []
    for root, _, names in os.walk(src):
        files.extend(os.path.join(root, n) for n in names if n.endswith(".rs"))
    modules = {module_of(src, f): f for f in files}
    edges = {m: set() for m in modules if not is_test_file(m)}
    for module, path in modules.items():
        if is_test_file(module):
            continue
        with open(path, encoding="utf-8") as handle:
            text = cut_inline_tests(strip_comments(handle.read()))
        targets = []
        for match in USE.finditer(text):
            if match.group(1):
                continue  # a re-export
            for item in expand(match.group(2)):
                targets.append(item.split("::"))
        code = USE.sub("", text)
        for match in PATH.finditer(code):
            targets.append([match.group(1)] + match.group(2).strip(":").split("::"))
        for match in CHILD_PATH.finditer(code):
            if module + (match.group(1),) in modules:
                targets.append([match.group(1)] + match.group(2).strip(":").split("::"))
        for segments in targets:
            target = resolve(module, segments, modules)
            inside = target is not None and target[: len(module)] == module
            if target is not None and not inside and target in edges:
                edges[module].add(target)
    return edges


def cycles(edges):
    """Tarjan's strongly connected components of more than one node."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def name(module):
    return "::".join(module) or "crate"


def self_test():
    """Plants each kind of circle (and a few things that are not one) and checks the verdict."""
    import tempfile

    cases = {
        "siblings through use": ({"lib.rs": "mod a;\nmod b;", "a.rs": "use crate::b::B;",
                                  "b.rs": "use super::a::A;"}, True),
        "a chain through a path in code": ({"lib.rs": "mod a;\nmod b;\nmod c;",
                                            "a.rs": "fn f() { crate::b::g() }",
                                            "b.rs": "use crate::c::{self, C};",
                                            "c/mod.rs": "use crate::a::{A, B as D};"}, True),
        "a parent's item used by a child that uses its sibling": (
            {"lib.rs": "mod a;\nmod b;\npub struct S;\nfn f() { use self::b::B; }",
             "a.rs": "use crate::S;", "b.rs": "use super::a::A;"}, False),
        "test code and re-exports": ({"lib.rs": "mod a;\nmod b;", "a.rs": "pub use crate::b::B;",
                                      "b.rs": "use super::a::A;\n#[cfg(test)]\nmod tests {\n"
                                              "    use crate::a::A;\n}",
                                      "b/tests.rs": "use crate::a::A;"}, False),
        "a one-way chain": ({"lib.rs": "mod a;\nmod b;", "a.rs": "use crate::b::B;",
                             "b.rs": "// use crate::a::A;\nconst T: &str = \"crate::a::A\";"}, False),
    }
    failed = False
    for name, (files, circle) in cases.items():
        with tempfile.TemporaryDirectory() as root:
            src = os.path.join(root, "demo", "src")
            for path, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(src, path)), exist_ok=True)
                with open(os.path.join(src, path), "w", encoding="utf-8") as handle:
                    handle.write(text + "\n")
            found = bool(cycles(crate_edges(src)))
        if found != circle:
            failed = True
            print(f"self-test failed: {name}: expected circle={circle}, found {found}")
    if not failed:
        print(f"self-test: {len(cases)} cases ok")
    return 1 if failed else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    crates_dir = sys.argv[1] if len(sys.argv) > 1 else "crates"
    failed = False
    for crate in sorted(os.listdir(crates_dir)):
        src = os.path.join(crates_dir, crate, "src")
        if not os.path.isdir(src):
            continue
        edges = crate_edges(src)
        for component in cycles(edges):
            failed = True
            members = set(component)
            print(f"{crate}: circle between {', '.join(name(m) for m in component)}")
            for module in component:
                inside = sorted(name(t) for t in edges[module] if t in members)
                print(f"    {name(module)} -> {', '.join(inside)}")
    if not failed:
        print("no import circle inside any crate")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
