"""The layering of src/spacetimedb holds (docs/architecture.md, "Layers and what each may import").

Two rules, checked on the source with an AST walk (imports inside functions count too):

- A layer imports only the layers `MAY_IMPORT` lists for it: dependencies point one way.
- Nothing outside `spacetimedb.module` touches a private name of it (`_NO_TX`, `ctx._seed`, ...):
  other layers go through the module layer's declared interfaces (`ModuleRunner`, `Datastore`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "spacetimedb"

_CORE = ("sats", "bsatn", "module", "engine", "query")
#: Layer -> the other layers it may import. The one table of the rule: a new package (or a split
#: of one) gets a row here and in docs/architecture.md. `spacetimedb` is the top-level curated API
#: (`src/spacetimedb/__init__.py`); `from spacetimedb import name` counts as importing the layer
#: that defines `name` (see `_imported_layers`).
MAY_IMPORT: dict[str, frozenset[str]] = {
    "sats": frozenset(),
    "bsatn": frozenset({"sats"}),
    "module": frozenset({"sats", "bsatn"}),
    "engine": frozenset({"sats", "bsatn", "module"}),
    # query sits beside engine: it reads data through the module layer's Datastore interface.
    "query": frozenset({"sats", "bsatn", "module"}),
    "durability": frozenset({*_CORE}),
    "host": frozenset({*_CORE, "durability"}),
    # control: the hosted databases (registry, workers, fan-out, republish); server: the
    # HTTP/WebSocket front driving it.
    "control": frozenset({*_CORE, "durability", "host", "protocol"}),
    "server": frozenset({*_CORE, "durability", "host", "protocol", "control"}),
    "cli": frozenset({*_CORE, "durability", "host", "protocol", "control", "server", "client", "codegen"}),
    # Beside the stack: the wire protocol (server and client share it), the Python client, codegen,
    # and the testing harness (a host for module authors' tests, without the server).
    "protocol": frozenset({"sats", "bsatn"}),
    "client": frozenset({"sats", "bsatn", "protocol"}),
    "codegen": frozenset({"sats", "bsatn", "module"}),
    "testing": frozenset({*_CORE, "durability", "host"}),
    # The Python side of a `spacetimedb build` bundle: it runs inside Pyodide in SpacetimeDB's own
    # V8 host, so it may use only the pure-Python layers the bundle embeds.
    "jshost": frozenset({"sats", "bsatn", "module"}),
    "spacetimedb": frozenset({"sats", "module"}),
}


def _layer_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else "spacetimedb"


def _sources() -> Iterator[Path]:
    return iter(sorted(SRC.rglob("*.py")))


def _package_of(path: Path) -> list[str]:
    """`spacetimedb.host.module_host` -> ["spacetimedb", "host"] (the package the file is in)."""
    rel = path.relative_to(SRC.parent)
    parts = list(rel.with_suffix("").parts)
    return parts if parts[-1] == "__init__" and parts.pop() else parts[:-1]


def _absolute(node: ast.ImportFrom, path: Path) -> str:
    if node.level == 0:
        return node.module or ""
    base = _package_of(path)[: len(_package_of(path)) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imported_layers(tree: ast.AST, path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, imported module, its layer) for every import of spacetimedb code in a file."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, path)
            if base == "spacetimedb":
                # `from spacetimedb import bsatn` imports a layer; `from spacetimedb import table`
                # the curated API, which is the module layer's and the sats layer's names.
                names = [f"spacetimedb.{a.name}" if (SRC / a.name).is_dir() else "spacetimedb" for a in node.names]
            else:
                names = [base]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "spacetimedb":
                continue
            layer = parts[1] if len(parts) > 1 and (SRC / parts[1]).is_dir() else "spacetimedb"
            yield node.lineno, name, layer


def test_every_package_has_a_row() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    missing = packages - MAY_IMPORT.keys()
    assert not missing, f"new package(s) {sorted(missing)}: add a row to MAY_IMPORT and to docs/architecture.md"


def test_no_layer_imports_upward() -> None:
    bad = []
    for path in _sources():
        layer = _layer_of(path)
        allowed = MAY_IMPORT[layer]
        for line, name, target in _imported_layers(ast.parse(path.read_text("utf-8")), path):
            if target != layer and target not in allowed:
                bad.append(f"{path.relative_to(SRC.parent)}:{line}: {layer} imports {name} ({target})")
    assert not bad, "imports against the layer rule (tests/test_layers.py MAY_IMPORT):\n" + "\n".join(bad)


def test_the_table_is_acyclic() -> None:
    """A cycle in the table would let two layers import each other."""
    seen: dict[str, int] = {}

    def visit(layer: str, stack: tuple[str, ...]) -> None:
        assert layer not in stack, f"cycle: {' -> '.join((*stack, layer))}"
        if seen.get(layer):
            return
        for dep in MAY_IMPORT[layer]:
            visit(dep, (*stack, layer))
        seen[layer] = 1

    for layer in MAY_IMPORT:
        visit(layer, ())


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The walk sees imports in functions and relative imports (so the rule is not vacuous)."""
    code = "def f():\n    from ..host import module_host\n    import spacetimedb.server.app\n"
    path = SRC / "engine" / "example.py"  # not written: only its place in the tree matters
    found = [(name, target) for _, name, target in _imported_layers(ast.parse(code), path)]
    assert found == [("spacetimedb.host", "host"), ("spacetimedb.server.app", "server")]
    assert "host" not in MAY_IMPORT["engine"] and "server" not in MAY_IMPORT["engine"]


# ---- private names of the module layer ----------------------------------------------------------

MODULE = SRC / "module"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_names(files: list[Path]) -> set[str]:
    """Every private name these files define: globals, class members, attributes of their own
    objects (`self._x = ...`) and `__slots__` entries."""
    names: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _on_self(node):
                names.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
                names.add(node.value)  # `__slots__ = ("_rng", ...)`, getattr(x, "_name")
    return {n for n in names if _is_private(n)}


def _module_private_names() -> set[str]:
    return _private_names(list(MODULE.rglob("*.py")))


def _on_self(node: ast.Attribute) -> bool:
    return isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")


def _private_uses(tree: ast.AST, private: set[str]) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("spacetimedb.module"):
            for a in node.names:
                if _is_private(a.name):
                    yield node.lineno, f"imports {a.name} from {node.module}"
        elif isinstance(node, ast.Attribute) and node.attr in private:
            # `self._x`/`cls._x` are the accessing class's own members, which may share a name.
            if not _on_self(node):
                yield node.lineno, f"touches .{node.attr}"


def test_nothing_outside_the_module_layer_touches_its_private_names() -> None:
    private = _module_private_names()
    assert {"_NO_TX", "_seed", "_rng"} <= private  # the walk sees what the rule is about
    layers: dict[str, list[Path]] = {}
    for path in _sources():
        layers.setdefault(_layer_of(path), []).append(path)
    bad = []
    for layer, files in layers.items():
        if layer == "module":
            continue
        # A private name the layer defines itself is taken to be its own (the engine's
        # `Database._indexes` is not the module's `TableHandle._indexes`).
        foreign = private - _private_names(files)
        for path in files:
            for line, what in _private_uses(ast.parse(path.read_text("utf-8")), foreign):
                bad.append(f"{path.relative_to(SRC.parent)}:{line}: {what}")
    assert not bad, "private names of spacetimedb.module used outside it:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    "code",
    [
        "from spacetimedb.module.handles import _NO_TX\n",
        "def f(ctx):\n    ctx._seed = 1\n",
        "def f(host):\n    return host.runner._slot\n",
    ],
)
def test_the_private_name_rule_catches(code: str) -> None:
    assert list(_private_uses(ast.parse(code), _module_private_names()))
