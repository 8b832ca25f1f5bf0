"""The shape of the tree (issue 10), read from the source with `ast`: no import cycles, imports one way
(edges → handlers/ingest → domain → core), no product module over 450 lines, and no listener on the
`Session` class nor a string registry on a session. No database, nothing imported: only files are read.

The direction (docs/architecture.md): `bot/`, `console/`, `h5/` (edges) → `handlers/`, `ingest/` → the
domain (`feedback/`, `exports/`, `lookups/`, `search/`) → `core/`; `server/` is the composition root and may
import anything. Every import counts, also those inside functions and under `TYPE_CHECKING`: a lazy import
hides a dependency from the reader, it does not remove it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# product packages (migrations, tests, bench and scripts aside)
PACKAGES = (
    "bot",
    "console",
    "core",
    "exports",
    "feedback",
    "h5",
    "handlers",
    "ingest",
    "lookups",
    "search",
    "server",
)
EDGES = ("bot", "console", "h5")
MIDDLE = ("handlers", "ingest")
DOMAIN = ("feedback", "exports", "lookups", "search")
MAX_LINES = 450


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to a module of the project."""

    source: str  # the importing module
    target: str  # the imported module (a package's __init__ is the package's name)
    line: int

    def __str__(self) -> str:
        return f"{path_of(self.source)}:{self.line} imports {self.target}"


@cache
def modules() -> dict[str, Path]:
    """Every product module by its dotted name."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def path_of(module: str) -> str:
    """The module's file, relative to the repository."""
    return str(modules()[module].relative_to(ROOT))


@cache
def tree(module: str) -> ast.Module:
    """The module's syntax tree."""
    return ast.parse(modules()[module].read_text(encoding="utf-8"), filename=path_of(module))


def _resolve(name: str) -> str | None:
    """The project module `name` refers to: itself, or the nearest enclosing module (`from a.b import f`)."""
    known = modules()
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _base(module: str, node: ast.ImportFrom) -> str:
    """The absolute module name an import-from starts at (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    is_package = modules()[module].name == "__init__.py"
    parts = module.split(".")
    keep = len(parts) - node.level + (1 if is_package else 0)
    return ".".join([*parts[:keep], *([node.module] if node.module else [])])


def imports_of(module: str) -> Iterator[Import]:
    """Every import of the project in `module`, wherever it stands (top level, functions, TYPE_CHECKING)."""
    for node in ast.walk(tree(module)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, node)
            names = [f"{base}.{alias.name}" if base else alias.name for alias in node.names]
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                yield Import(module, target, node.lineno)


@cache
def graph() -> dict[str, frozenset[str]]:
    """Module → the project modules it imports."""
    return {m: frozenset(i.target for i in imports_of(m)) for m in modules()}


def cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def package_of(module: str) -> str:
    """The top-level package a module belongs to."""
    return module.partition(".")[0]


def crossings(sources: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    """Imports from modules of `sources` into any package of `forbidden`, as `file:line imports x` lines."""
    return [
        str(i)
        for m in modules()
        if package_of(m) in sources
        for i in imports_of(m)
        if package_of(i.target) in forbidden
    ]


# --- the tests ---------------------------------------------------------------------------------------------


def test_the_checker_resolves_imports_and_finds_cycles() -> None:
    """The checker itself: relative imports resolve, `from pkg import module` reaches the module, and a
    cycle of three is one component."""
    assert _resolve("handlers.router.Context") == "handlers.router"
    assert _resolve("sqlalchemy.orm") is None
    assert "handlers.diner" in graph()["handlers.routes"]  # from handlers import diner
    relative = ast.parse("from .router import Context").body[0]
    package_relative = ast.parse("from . import router").body[0]
    assert isinstance(relative, ast.ImportFrom) and isinstance(package_relative, ast.ImportFrom)
    assert _base("handlers.diner", relative) == "handlers.router"
    assert _base("handlers", package_relative) == "handlers"
    ring = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}
    assert cycles(ring) == [["a", "b", "c"]]
    assert cycles({"a": frozenset({"b"}), "b": frozenset()}) == []


def test_no_import_cycles_between_modules() -> None:
    """(a) No two modules of the project import each other, directly or round a longer loop."""
    found = cycles(graph())
    assert not found, "import cycles:\n" + "\n".join(" → ".join(c) for c in found)


def layer_of(module: str) -> str:
    """The package, with handlers/ and ingest/ as one layer (the writer runs the router; handlers write
    through the ingest store)."""
    package = package_of(module)
    return "handlers+ingest" if package in MIDDLE else package


def test_no_import_cycles_between_packages() -> None:
    """(a') Nor do the packages: the direction of imports is one way (server/, the composition root, aside;
    handlers/ and ingest/ counted as one)."""
    edges: dict[str, set[str]] = {}
    for m, targets in graph().items():
        if package_of(m) == "server":
            continue
        edges.setdefault(layer_of(m), set()).update(
            layer_of(t) for t in targets if package_of(t) != "server" and layer_of(t) != layer_of(m)
        )
    found = cycles({p: frozenset(t) for p, t in edges.items()})
    assert not found, "package cycles: " + "; ".join(" ↔ ".join(c) for c in found)


def test_core_imports_no_other_package_of_the_project() -> None:
    """(b) core/ stands alone: settings, database, clock, outbox … import nothing above them."""
    found = crossings(("core",), tuple(p for p in PACKAGES if p != "core"))
    assert not found, "core/ imports the project:\n" + "\n".join(found)


def test_the_domain_imports_no_edge() -> None:
    """(c) feedback/, exports/, lookups/ and search/ import none of the edges, the message path or the root."""
    found = crossings(DOMAIN, (*EDGES, *MIDDLE, "server"))
    assert not found, "the domain imports an edge:\n" + "\n".join(found)


def test_the_middle_imports_no_edge() -> None:
    """handlers/ and ingest/ import neither the edges nor the composition root."""
    found = crossings(MIDDLE, (*EDGES, "server"))
    assert not found, "handlers/ or ingest/ import an edge:\n" + "\n".join(found)


def test_no_edge_imports_another_edge() -> None:
    """bot/, console/ and h5/ stand side by side: what they share lives below them (core/xmlsafe.py …)."""
    found = [line for edge in EDGES for line in crossings((edge,), tuple(e for e in EDGES if e != edge))]
    assert not found, "an edge imports another:\n" + "\n".join(found)


def test_no_edge_imports_the_composition_root() -> None:
    """bot/, console/ and h5/ never import server/ (server/ wires them together, not the other way)."""
    found = crossings(EDGES, ("server",))
    assert not found, "an edge imports server/:\n" + "\n".join(found)


def test_no_product_module_is_over_450_lines() -> None:
    """(d) One job a file: no product module over 450 lines (migrations, tests and benchmarks aside)."""
    long = {
        path_of(m): n
        for m, path in modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, "over 450 lines: " + ", ".join(f"{p} ({n})" for p, n in sorted(long.items()))


def _names_a_session(node: ast.expr) -> bool:
    """`Session`, `orm.Session`, `sqlmodel.Session`, `AsyncSession`: the class, not one session."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name.endswith("Session")


def _is_a_session(node: ast.expr) -> bool:
    """`session`, `ctx.session`, `self._session`, `db_session`: an expression that names a session."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return "session" in name.lower()


def session_plumbing(module: str) -> Iterator[str]:
    """Listeners registered on the Session class, and any use of a session's `info` dictionary."""
    for node in ast.walk(tree(module)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("listens_for", "listen")
            and node.args
            and _names_a_session(node.args[0])
        ):
            yield f"{path_of(module)}:{node.lineno} registers a listener on the Session class"
        if isinstance(node, ast.Attribute) and node.attr == "info" and _is_a_session(node.value):
            yield f"{path_of(module)}:{node.lineno} uses a session's info dictionary"


def test_no_listener_on_the_session_class_and_no_registry_on_a_session() -> None:
    """(e) What a unit of work does is said by the code that owns it: no `event.listens_for(Session, …)` /
    `event.listen(Session, …)`, and no `session.info[…]` string registry in product code."""
    found = [line for m in modules() for line in session_plumbing(m)]
    assert not found, "session plumbing:\n" + "\n".join(found)


# --- SQL text reads only its own package's tables (the circle the import graph cannot show) ---------------

_SQL_TABLE = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+\"?([a-z_]+)\"?", re.IGNORECASE)
# search/ sits above feedback/ and exports/: reading their tables is its job
SQL_MAY_READ = {"search": ("feedback", "exports")}


@cache
def table_owners() -> dict[str, str]:
    """Table name → the package whose models.py declares it (`__tablename__`, else the class name)."""
    owners: dict[str, str] = {}
    for package in PACKAGES:
        path = ROOT / package / "models.py"
        if not path.exists():
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef) or not any(k.arg == "table" for k in node.keywords):
                continue
            name = node.name.lower()
            for stmt in node.body:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else []
                if any(isinstance(t, ast.Name) and t.id == "__tablename__" for t in targets):
                    assert isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
                    name = str(stmt.value.value)
            owners[name] = package
    return owners


def foreign_sql(module: str) -> Iterator[str]:
    """`file:line table (package)` for each SQL string of `module` that names another package's table."""
    own = package_of(module)
    allowed = (own, *SQL_MAY_READ.get(own, ()))
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for m in _SQL_TABLE.finditer(node.value):
                owner = table_owners().get(m.group(1))
                if owner is not None and owner not in allowed:
                    yield f"{path_of(module)}:{node.lineno} {m.group(1)} ({owner}/)"


def test_the_table_owners_are_found() -> None:
    """The checker knows whose tables are whose (so the next test cannot pass by knowing none)."""
    owners = table_owners()
    assert owners["feedback"] == "feedback" and owners["volume_item"] == "exports"
    assert owners["lookup_request"] == "lookups" and owners["job_run"] == "core"


def test_no_domain_sql_reads_another_packages_tables() -> None:
    """No SQL text in feedback/, exports/, lookups/ or search/ (or core/) reads a table of another package."""
    found = [line for m in modules() if package_of(m) in (*DOMAIN, "core") for line in foreign_sql(m)]
    assert not found, "SQL across packages:\n" + "\n".join(found)
