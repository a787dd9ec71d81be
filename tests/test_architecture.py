"""The shape of the house, checked from the code's own imports (docs/architecture.md).

Every import counts, at module level or inside a function: an import that hides a cycle by
running late is still the cycle. The graph is read with `ast`, nothing is imported.

- Layers point one way: schemas <- core <- drivers <- edge; sync and cloud_relay build on core
  and schemas alone; edge composes sync. The relay never imports the store daemon.
- Inside edge, each domain is a package; no two packages (nor two modules of the edge root)
  import each other, directly or round a loop; the store and the HTTP toolkit import no domain.
- No two modules of the same package import each other either.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = ("schemas", "core", "drivers", "sync", "cloud_relay", "edge")
ALLOWED = {
    "schemas": set(),
    "core": {"schemas"},
    "drivers": {"core", "schemas"},
    "sync": {"core", "schemas"},
    "cloud_relay": {"core", "schemas"},
    "edge": {"core", "schemas", "drivers", "sync"},
}
# Every package of edge with a `domain.py` is a domain (compose.py must list each).
DOMAINS = {f"edge.{p.parent.name}" for p in (ROOT / "edge").glob("*/domain.py")}
# Packages of edge that serve every domain and so may import none of them.
INFRASTRUCTURE = {"edge.store", "edge.api"}


def _module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _exists(module: str) -> bool:
    base = ROOT.joinpath(*module.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _imports(path: Path) -> set[str]:
    """Project modules `path` imports, anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` names a module when pkg.mod is one; else a name in pkg.
            names = [f"{node.module}.{a.name}" if _exists(f"{node.module}.{a.name}")
                     else node.module for a in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] in TOP)
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for top in TOP:
        for path in sorted((ROOT / top).rglob("*.py")):
            graph[_module_of(path)] = _imports(path)
    return graph


def _unit(module: str) -> str:
    """The node a module belongs to: a top-level package, or inside edge a subpackage or a
    module of the edge root."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "edge" and len(parts) > 1 else parts[0]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _witnesses(graph: dict[str, set[str]], units: list[str]) -> list[str]:
    """The module imports that tie a cycle of units together, to name them."""
    inside = set(units)
    return sorted(f"{m} -> {t}" for m, targets in graph.items() if _unit(m) in inside
                  for t in targets if _unit(t) in inside and _unit(t) != _unit(m))


def test_layers_point_one_way() -> None:
    bad = sorted(f"{m} -> {t}" for m, targets in _graph().items() for t in targets
                 if t.split(".")[0] != m.split(".")[0]
                 and t.split(".")[0] not in ALLOWED[m.split(".")[0]])
    assert not bad, "forbidden imports across layers:\n" + "\n".join(bad)


def test_no_cycle_between_packages_or_domains() -> None:
    graph = _graph()
    units: dict[str, set[str]] = defaultdict(set)
    for m, targets in graph.items():
        units[_unit(m)].update(_unit(t) for t in targets if _unit(t) != _unit(m))
    cycles = _cycles(units)
    assert not cycles, "import cycles:\n" + "\n\n".join(
        " <-> ".join(c) + "\n  " + "\n  ".join(_witnesses(graph, c)) for c in cycles)


def test_no_cycle_between_modules_of_one_package() -> None:
    graph = _graph()
    cycles = _cycles({m: {t for t in ts if t in graph} for m, ts in graph.items()})
    assert not cycles, "module import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_store_and_the_http_toolkit_import_no_domain() -> None:
    bad = sorted(f"{m} -> {t}" for m, targets in _graph().items()
                 if _unit(m) in INFRASTRUCTURE for t in targets if _unit(t) in DOMAINS)
    assert not bad, "infrastructure importing a domain:\n" + "\n".join(bad)


def test_every_domain_package_plugs_in_through_a_domain_module() -> None:
    missing = sorted(d for d in DOMAINS if not _exists(f"{d}.domain"))
    assert not missing, f"domain packages without a domain.py: {missing}"
    composed = _imports(ROOT / "edge" / "compose.py")
    assert {f"{d}.domain" for d in DOMAINS} <= composed, "compose.py must list every domain"


def test_the_checker_sees_a_cycle_it_is_shown() -> None:
    # The checker itself can fail: a two-node loop is a cycle, a chain is not.
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": {"c"}}) == []
