"""The sandbox's layers, checked from the source: core → resources → flows → surfaces.

A module may import from its own layer or a lower one, never a higher one (type-only
imports under ``if TYPE_CHECKING:`` included), and the runtime imports (everything
but those type-only ones, imports inside functions included) must have no cycle.
Imports sit at module level: one inside a function is reported too, since that is
how a cycle used to be hidden. Imports by name at runtime (``importlib``,
``__import__``) are reported wherever they appear, since the checker could not follow
them. The checker reads each module with ``ast`` and resolves relative imports itself.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import stripe_sandbox

PACKAGE = "stripe_sandbox"
ROOT = Path(stripe_sandbox.__file__).parent

#: Lowest first. A layer subpackage (``stripe_sandbox.core``, its ``__init__``) and its
#: modules (``stripe_sandbox.core.store``) are in that layer; every other module
#: (``api/``, ``pages/``, ``app``, ``testing``…) is a surface.
LAYERS = ("core", "resources", "flows", "surfaces")
#: Modules outside the layer subpackages that belong to a lower layer.
#: ``settings`` stays at its public path (the shop's ``config.py`` imports it there).
PLACED = {f"{PACKAGE}.settings": "core"}


@dataclass(frozen=True)
class Import:
    """One import of a package module by another, as written in the importer."""

    importer: str
    target: str
    line: int
    type_only: bool
    in_function: bool
    text: str

    def where(self, paths: Mapping[str, str]) -> str:
        kind = " (type-only)" if self.type_only else ""
        return f"{paths.get(self.importer, self.importer)}:{self.line}: `{self.text}`{kind}"


def layer_of(module: str) -> str:
    """The layer of a module, by where it sits in the package."""
    if module in PLACED:
        return PLACED[module]
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS[:-1]:
        return parts[1]
    return LAYERS[-1]


def package_sources(root: Path = ROOT) -> tuple[dict[str, str], set[str], dict[str, str]]:
    """``(source by module name, names of packages, file path by module name)``."""
    sources: dict[str, str] = {}
    packages: set[str] = set()
    paths: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
            packages.add(".".join(parts))
        name = ".".join(parts)
        sources[name] = path.read_text(encoding="utf-8")
        paths[name] = str(path.relative_to(root.parent.parent.parent))
    return sources, packages, paths


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(
    nodes: list[ast.stmt], type_only: bool = False, in_function: bool = False
) -> Iterator[tuple[ast.stmt, bool, bool]]:
    """Every statement, nested ones included, with whether it is under
    ``if TYPE_CHECKING:`` and whether it is inside a function."""
    for node in nodes:
        yield node, type_only, in_function
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _walk(node.body, True, in_function)
            yield from _walk(node.orelse, type_only, in_function)
            continue
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                stmts = [c for c in children if isinstance(c, ast.stmt)]
                for child in children:
                    if isinstance(child, ast.ExceptHandler | ast.match_case):
                        stmts.extend(child.body)
                yield from _walk(stmts, type_only, inner)


def find_imports(sources: Mapping[str, str], packages: set[str]) -> list[Import]:
    """The imports between the given modules, relative ones resolved.

    ``from x import y`` imports module ``x.y`` when there is one, else module ``x``.
    Imports of anything outside ``sources`` (stdlib, Flask…) are left out.
    """
    found: list[Import] = []
    for module, source in sources.items():
        base = module.split(".") if module in packages else module.split(".")[:-1]
        for node, type_only, in_function in _walk(ast.parse(source).body):
            text = ast.unparse(node)
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parent = base[: len(base) - node.level + 1]
                    origin = ".".join([*parent, *([node.module] if node.module else [])])
                else:
                    origin = node.module or ""
                for alias in node.names:
                    submodule = f"{origin}.{alias.name}"
                    targets.append(submodule if submodule in sources else origin)
            for target in dict.fromkeys(targets):
                if target in sources and target != module:
                    found.append(Import(module, target, node.lineno, type_only, in_function, text))
    return found


def upward_imports(imports: list[Import], paths: Mapping[str, str]) -> list[str]:
    """A message for each import of a higher layer."""
    return [
        f"{i.where(paths)}: {i.importer} ({layer_of(i.importer)}) imports "
        f"{i.target} ({layer_of(i.target)}), a higher layer"
        for i in imports
        if LAYERS.index(layer_of(i.target)) > LAYERS.index(layer_of(i.importer))
    ]


def function_imports(imports: list[Import], paths: Mapping[str, str]) -> list[str]:
    """A message for each import of a package module made inside a function."""
    return [
        f"{i.where(paths)}: import inside a function in {i.importer}; import at module level"
        for i in imports
        if i.in_function
    ]


def import_cycles(imports: list[Import], paths: Mapping[str, str]) -> list[str]:
    """A message for each group of modules that import each other at runtime,
    naming one cycle through the group and the import lines that make it."""
    edges: dict[str, dict[str, Import]] = {}
    for i in imports:
        if not i.type_only:
            edges.setdefault(i.importer, {}).setdefault(i.target, i)
    messages = []
    for group in _strongly_connected(edges):
        cycle = _cycle_in(sorted(group)[0], group, edges)
        steps = [edges[a][b] for a, b in itertools.pairwise(cycle)]
        lines = "\n".join(f"    {step.where(paths)}" for step in steps)
        among = f" (one of the cycles among {', '.join(sorted(group))})"
        head = f"import cycle: {' -> '.join(cycle)}" + (among if len(group) > len(steps) else "")
        messages.append(f"{head}\n{lines}")
    return messages


def _strongly_connected(edges: Mapping[str, Mapping[str, Import]]) -> list[set[str]]:
    """Tarjan's algorithm: the groups of two or more modules that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, {})):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def _cycle_in(start: str, group: set[str], edges: Mapping[str, Mapping[str, Import]]) -> list[str]:
    """The shortest path from ``start`` back to itself inside ``group`` (breadth first)."""
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(edges.get(node, {})):
            if nxt not in group:
                continue
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")


def dynamic_imports(sources: Mapping[str, str], paths: Mapping[str, str]) -> list[str]:
    """A message for each use of ``importlib`` or ``__import__``: an import by name at
    runtime, which the checks above cannot see."""
    messages = []
    for module, source in sources.items():
        for node in ast.walk(ast.parse(source)):
            used = ""
            if isinstance(node, ast.Import):
                used = next((a.name for a in node.names if _is_importlib(a.name)), "")
            elif isinstance(node, ast.ImportFrom) and not node.level:
                used = node.module if node.module and _is_importlib(node.module) else ""
            elif isinstance(node, ast.Name) and node.id == "__import__":
                used = node.id
            elif isinstance(node, ast.Attribute) and node.attr == "__import__":
                used = node.attr
            if used and isinstance(node, ast.stmt | ast.expr):
                messages.append(
                    f"{paths.get(module, module)}:{node.lineno}: `{ast.unparse(node)}`: "
                    f"{used} in {module}; import modules with import statements"
                )
    return messages


def _is_importlib(name: str) -> bool:
    return name == "importlib" or name.startswith("importlib.")


def check(sources: Mapping[str, str], packages: set[str], paths: Mapping[str, str]) -> list[str]:
    """Every layer violation, dynamic import and import cycle, as messages (empty when
    all is well)."""
    imports = find_imports(sources, packages)
    return (
        upward_imports(imports, paths)
        + function_imports(imports, paths)
        + dynamic_imports(sources, paths)
        + import_cycles(imports, paths)
    )


def test_sandbox_modules_import_only_their_own_or_lower_layers_without_cycles() -> None:
    sources, packages, paths = package_sources()
    assert f"{PACKAGE}.flows.engine" in sources and f"{PACKAGE}.core.store" in sources
    problems = check(sources, packages, paths)
    assert not problems, "layer rule broken:\n" + "\n".join(problems)


def test_a_layer_package_itself_is_in_its_layer() -> None:
    """A layer's ``__init__`` is in that layer; the package root and other modules are
    surfaces, ``settings`` is core."""
    assert layer_of("stripe_sandbox.core") == "core"
    assert layer_of("stripe_sandbox.resources") == "resources"
    assert layer_of("stripe_sandbox.flows") == "flows"
    assert layer_of("stripe_sandbox.flows.engine") == "flows"
    assert layer_of("stripe_sandbox") == "surfaces"
    assert layer_of("stripe_sandbox.api") == "surfaces"
    assert layer_of("stripe_sandbox.testing") == "surfaces"
    assert layer_of("stripe_sandbox.settings") == "core"


def test_the_checker_reports_upward_imports_and_cycles() -> None:
    """Synthetic modules with upward imports (one from a layer's ``__init__``), an import
    inside a function, imports by name at runtime and a cycle: all are reported, with the
    file and the import; type-only imports count for layers but not for cycles, and an
    import inside a function counts for cycles."""
    sources = {
        "stripe_sandbox": "",
        "stripe_sandbox.core": "from ..pages import display\n",
        "stripe_sandbox.core.clock": (
            "import importlib\n"
            "from importlib import import_module\n"
            "def load(name):\n"
            "    return __import__(name)\n"
        ),
        "stripe_sandbox.core.store": "from ..flows.billing import renew\n",
        "stripe_sandbox.core.ids": "import os\n",
        "stripe_sandbox.resources": "",
        "stripe_sandbox.resources.customers": (
            "from typing import TYPE_CHECKING\n"
            "from ..core import ids\n"
            "if TYPE_CHECKING:\n"
            "    from ..api.base import Call\n"
            "    from . import events\n"
        ),
        "stripe_sandbox.resources.events": "from .customers import address\n",
        "stripe_sandbox.flows": "",
        "stripe_sandbox.flows.billing": "from . import payments\n",
        "stripe_sandbox.flows.payments": (
            "def charge():\n    from stripe_sandbox.flows.billing import renew\n"
        ),
        "stripe_sandbox.api": "",
        "stripe_sandbox.api.base": "from ..flows import billing\n",
        "stripe_sandbox.pages": "",
        "stripe_sandbox.pages.display": "import importlib.util\n",
    }
    packages = {name for name in sources if name.count(".") < 2}
    paths = {name: name.replace(".", "/") + ".py" for name in sources}
    problems = check(sources, packages, paths)
    assert problems == [
        "stripe_sandbox/core.py:1: `from ..pages import display`: "
        "stripe_sandbox.core (core) imports stripe_sandbox.pages.display (surfaces), "
        "a higher layer",
        "stripe_sandbox/core/store.py:1: `from ..flows.billing import renew`: "
        "stripe_sandbox.core.store (core) imports stripe_sandbox.flows.billing (flows), "
        "a higher layer",
        "stripe_sandbox/resources/customers.py:4: `from ..api.base import Call` (type-only): "
        "stripe_sandbox.resources.customers (resources) imports stripe_sandbox.api.base "
        "(surfaces), a higher layer",
        "stripe_sandbox/flows/payments.py:2: `from stripe_sandbox.flows.billing import renew`: "
        "import inside a function in stripe_sandbox.flows.payments; import at module level",
        "stripe_sandbox/core/clock.py:1: `import importlib`: importlib in "
        "stripe_sandbox.core.clock; import modules with import statements",
        "stripe_sandbox/core/clock.py:2: `from importlib import import_module`: importlib in "
        "stripe_sandbox.core.clock; import modules with import statements",
        "stripe_sandbox/core/clock.py:4: `__import__`: __import__ in "
        "stripe_sandbox.core.clock; import modules with import statements",
        "stripe_sandbox/pages/display.py:1: `import importlib.util`: importlib.util in "
        "stripe_sandbox.pages.display; import modules with import statements",
        "import cycle: stripe_sandbox.flows.billing -> stripe_sandbox.flows.payments -> "
        "stripe_sandbox.flows.billing\n"
        "    stripe_sandbox/flows/billing.py:1: `from . import payments`\n"
        "    stripe_sandbox/flows/payments.py:2: "
        "`from stripe_sandbox.flows.billing import renew`",
    ]
