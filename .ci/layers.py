#!/usr/bin/env python3
"""Layering check: a module of src/ may import only modules below it.

The layers follow a request's path, lowest first. A top-level module (`src/X.rs` with
`src/X/`) may use `crate::Y` only when Y sits in a lower layer; modules of one layer never
import each other, so no two modules import each other. Test-only files (`tests.rs`, files
under a `tests/` folder) are exempt: tests may build whatever they need.

Exit 0 when every import points down; else 1, with each offending line.
`--self-test` first checks that the check itself catches an upward import and a cycle.
"""
import pathlib
import re
import sys

LAYERS = [
    ["net", "metrics", "tls"],   # plumbing: sockets, counters, certificates
    ["catalog"],                 # the desired state and its stores
    ["config"],                  # file -> validated, typed configuration (embeds the catalog)
    ["routing"],                 # the compiled routing table, pure lookup
    ["balance"],                 # choosing inside a group, health, budgets
    ["tunnel"],                  # wire format, streams, acceptor, registry of live connectors
    ["live"],                    # the published snapshot + registry handle, the catalog writer
    ["edge", "connector"],       # the two ends of a request: the user's session, the agent
    ["admin"],                   # the admin API: reads live state, writes through the writer
    ["gateway"],                 # wiring only: listeners, runtimes, signals
    ["quickstart", "ctl"],       # whole-deployment demo; the admin API's client
]
RANK = {m: i for i, layer in enumerate(LAYERS) for m in layer}
EXEMPT_FILES = {"lib.rs", "main.rs"}

USE_GROUP = re.compile(r"crate::\{")
CRATE_PATH = re.compile(r"crate::([a-z_][a-z0-9_]*)")


def top_names_in_group(text, start):
    """Names at the top level of a `crate::{...}` group beginning at `start` (the brace)."""
    depth, name, names, i = 0, "", [], start
    while i < len(text):
        c = text[i]
        if c == "{":
            depth += 1
            if depth > 1:
                names.append(name.strip())
                name = None
        elif c == "}":
            depth -= 1
            if depth == 0:
                if name is not None:
                    names.append(name.strip())
                break
        elif depth == 1:
            if c == ",":
                if name is not None:
                    names.append(name.strip())
                name = ""
            elif name is not None:
                name += c
        i += 1
    return [n.split("::")[0].strip() for n in names if n and n.strip()]


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def imports(text):
    text = strip_comments(text)
    found = set(CRATE_PATH.findall(text))
    for m in USE_GROUP.finditer(text):
        found.update(top_names_in_group(text, m.end() - 1))
    return found


def root_reexports(src):
    """Names lib.rs re-exports at the crate root (`pub use connector::{run_connector, ..}`)."""
    out = {}
    lib = strip_comments((src / "lib.rs").read_text())
    for m in re.finditer(r"pub use ([a-z_][a-z0-9_]*)::\{?([^;}]+)\}?;", lib):
        for name in m.group(2).split(","):
            out[name.strip().split(" as ")[-1].strip()] = m.group(1)
    return out


def main(root):
    src = pathlib.Path(root) / "src"
    reexports = root_reexports(src)
    bad, checked = [], 0
    for path in sorted(src.rglob("*.rs")):
        rel = path.relative_to(src)
        if str(rel) in EXEMPT_FILES or path.name == "tests.rs" or "tests" in rel.parts[:-1]:
            continue
        module = rel.parts[0].removesuffix(".rs")
        if module not in RANK:
            bad.append(f"src/{rel}: module `{module}` has no layer in .ci/layers.py")
            continue
        checked += 1
        for dep in sorted(reexports.get(d, d) for d in imports(path.read_text())):
            if dep == module or dep in ("self", "super"):
                continue
            if dep not in RANK:
                bad.append(f"src/{rel}: imports `{dep}`, which has no layer")
            elif RANK[dep] >= RANK[module]:
                bad.append(f"src/{rel}: `{module}` imports `{dep}` (same or higher layer)")
    if checked == 0:
        bad.append("no source file checked: wrong folder?")
    for b in bad:
        print(b)
    print(f"layering: {checked} files checked, {len(bad)} problems")
    return 1 if bad else 0


def self_test():
    """The check must flag an upward import, a grouped `use crate::{..}` and a same-layer pair."""
    import tempfile

    cases = {
        "use crate::gateway::Thing;": "`edge` imports `gateway`",
        "use crate::{routing::Route, admin::X};": "`edge` imports `admin`",
        "fn f() { crate::connector::run(); }": "`edge` imports `connector`",
        "use crate::{tunnel, live::Live};": None,
    }
    for line, expected in cases.items():
        with tempfile.TemporaryDirectory() as d:
            src = pathlib.Path(d) / "src"
            (src / "edge").mkdir(parents=True)
            (src / "lib.rs").write_text("pub mod edge;\n")
            (src / "edge.rs").write_text("//! x\n" + line + "\n")
            (src / "edge" / "tests.rs").write_text("use crate::gateway::Anything;\n")
            import contextlib
            import io

            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = main(d)
            text = out.getvalue()
            ok = (code == 0) if expected is None else (code == 1 and expected in text)
            if not ok:
                print(f"self-test failed for {line!r}: exit {code}\n{text}")
                return 1
    print("layering self-test: ok")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--self-test"]:
        if self_test() != 0:
            sys.exit(1)
        args = args[1:]
    sys.exit(main(args[0] if args else "."))
