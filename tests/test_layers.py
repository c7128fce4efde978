"""The dependency rule of docs/architecture.md, checked on the source: every import of every module in
src/facesearch (lazy imports inside functions included; `if TYPE_CHECKING:` blocks excluded, they never run)
goes to the module's own package or to a lower layer, never across to a sibling package on the same layer,
and no import cycle exists. Also: SQL stays in the store (nothing above it imports SQLAlchemy), the transports
import nothing from the store, and a module longer than about 500 lines says why in its docstring."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "facesearch"

# Layer of each top-level module or package of facesearch (see docs/architecture.md).
LAYERS = {
    "__init__": 0,
    "config": 0,
    "errors": 0,
    "records": 0,
    "fsutil": 0,
    "vocabulary": 0,
    "demo": 0,
    "models": 1,
    "calibration": 1,
    "pipeline": 2,
    "index": 3,
    "store": 3,
    "services": 4,
    "app": 5,
    "http": 6,
    "api": 7,
    "web": 7,
    "server": 8,
    "cli": 9,
}


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for sub in ast.walk(child):
                    if hasattr(sub, "lineno"):
                        lines.add(sub.lineno)
    return lines


def imports_of(path: Path) -> set[str]:
    return imports_in(path.read_text(), module_name(path), path.name == "__init__.py")


def imports_in(text: str, name: str, is_package: bool) -> set[str]:
    """facesearch modules a module imports (absolute names), at any depth, outside TYPE_CHECKING blocks."""
    package = name if is_package else name.rsplit(".", 1)[0]
    tree = ast.parse(text, name)
    skip = _type_checking_lines(tree)
    out: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("facesearch"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("facesearch"):
                continue
            for a in node.names:  # `from . import x` may name a submodule
                sub = f"{target}.{a.name}"
                out.add(
                    sub
                    if (SRC.parent / Path(*sub.split("."))).with_suffix(".py").exists()
                    or (SRC.parent / Path(*sub.split("."))).is_dir()
                    else target
                )
    out.discard(name)
    return out


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(SRC.rglob("*.py"))}


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_has_a_layer() -> None:
    unknown = sorted({top(m) for m in graph()} - set(LAYERS))
    assert not unknown, f"modules without a layer in docs/architecture.md and LAYERS: {unknown}"


def test_imports_go_down_the_layers() -> None:
    bad = []
    for mod, targets in graph().items():
        for t in targets:
            a, b = top(mod), top(t)
            if a == b or b == "__init__":
                continue
            if LAYERS[b] >= LAYERS[a]:
                bad.append(f"{mod} -> {t} ({a}: layer {LAYERS[a]}, {b}: layer {LAYERS[b]})")
    assert not bad, "imports across the dependency rule:\n" + "\n".join(sorted(bad))


def test_no_import_cycles() -> None:
    g = graph()
    # Tarjan's strongly connected components; any component of more than one module is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in g:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize(
    "bad",
    [
        ("facesearch.web.pages", "from ..api import routes_search"),
        ("facesearch.app.searching", "from ..cli import main"),
        ("facesearch.store.db", "from ..app import context"),
    ],
)
def test_the_check_catches_a_violation(bad: tuple[str, str]) -> None:
    """The checker flags an import across the rule, even one made lazily inside a function."""
    mod, line = bad
    path = SRC.parent / Path(*mod.split("."))
    text = path.with_suffix(".py").read_text() + f"\n\ndef _probe() -> None:\n    {line}\n"
    targets = imports_in(text, mod, False)
    a = top(mod)
    assert any(top(t) != a and LAYERS[top(t)] >= LAYERS[a] for t in targets)


# Above the store nothing speaks SQL; transports reach storage only through use cases.
NO_SQL = ("services", "app", "http", "api", "web", "server", "cli")
TRANSPORTS = ("http", "api", "web", "server", "cli")
LONG = 520  # "about 500 lines"


def _third_party_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_lines(tree)
    out: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module)
    return out


def test_no_sql_above_the_store() -> None:
    bad = [
        f"{module_name(p)} imports {m}"
        for p in sorted(SRC.rglob("*.py"))
        if top(module_name(p)) in NO_SQL
        for m in sorted(_third_party_imports(p))
        if m == "sqlalchemy" or m.startswith("sqlalchemy.")
    ]
    assert not bad, "SQL belongs in store/:\n" + "\n".join(bad)


def test_transports_import_nothing_from_the_store() -> None:
    bad = [
        f"{mod} -> {t}"
        for mod, targets in graph().items()
        if top(mod) in TRANSPORTS
        for t in sorted(targets)
        if top(t) == "store"
    ]
    assert not bad, "transports go through use cases, never to store/:\n" + "\n".join(bad)


def test_long_modules_say_why() -> None:
    """One concept per module; a module much past 500 lines must say in its docstring why its concept needs it."""
    bad = []
    for p in sorted(SRC.rglob("*.py")):
        lines = len(p.read_text().splitlines())
        if lines > LONG:
            doc = ast.get_docstring(ast.parse(p.read_text())) or ""
            if "500 lines" not in doc:
                bad.append(f"{module_name(p)}: {lines} lines")
    assert not bad, "split these, or say in the docstring why the concept needs over 500 lines:\n" + "\n".join(bad)
