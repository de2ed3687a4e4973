"""The builder's shape (issue 12), checked: imports inside bundler/ form no cycle, every
relative import names something that exists, requests is imported by exactly one module,
there is one atomic-write helper and one subprocess path, and every WcbundleError subclass
lives in errors.py."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import bundler
from bundler.core import errors

PKG = Path(bundler.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        out[name] = f
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes under `if TYPE_CHECKING:` (not run, so not an import edge)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                skip.update(id(n) for n in ast.walk(sub))
    return skip


def imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names, line) for every import in the file, function-level ones too."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((mod, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            out.extend((a.name, [], node.lineno) for a in node.names)
    return out


def graph() -> dict[str, set[str]]:
    mods = _modules()
    g: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for mod, names, _ in imports(name, path):
            if not mod.startswith("bundler"):
                continue
            for n in names or [""]:
                target = f"{mod}.{n}" if n and f"{mod}.{n}" in mods else mod
                if target in mods and target != name:
                    g[name].add(target)
    # importing a package runs its __init__: bundler.a.b depends on bundler.a
    for name in mods:
        parent = name.rpartition(".")[0]
        while parent and parent != "bundler":
            if parent in mods and parent != name:
                g[name].add(parent)
            parent = parent.rpartition(".")[0]
    return g


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(g[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_cycle_inside_bundler():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    """The check above can fail: a two-module and a longer cycle are both found."""
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_relative_import_names_something_that_exists():
    """A function-level `from .x import name` runs only on its path; check them all now."""
    missing = []
    for name, path in _modules().items():
        for mod, names, line in imports(name, path):
            if not mod.startswith("bundler"):
                continue
            module = importlib.import_module(mod)
            for n in names:
                if n != "*" and not hasattr(module, n):
                    try:
                        importlib.import_module(f"{mod}.{n}")
                    except ImportError:
                        missing.append(f"{path.relative_to(PKG.parent)}:{line}: {mod}.{n}")
    assert not missing, missing


def test_requests_is_imported_by_exactly_one_module():
    users = sorted(name for name, path in _modules().items()
                   if any(mod.split(".")[0] in ("requests", "urllib3") for mod, _, _ in imports(name, path)))
    assert len(users) == 1 and users[0].endswith(".http"), users


def _defs(fn_name: str) -> list[str]:
    out = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == fn_name:
                out.append(name)
    return out


def test_one_atomic_write_helper():
    writers = _defs("atomic_write")
    assert len(writers) == 1 and writers[0].endswith("fileutil"), writers
    # and nobody else renames a temp file over a target by hand, except the cache and tree
    # writers that stream (documented in docs/design.md)
    for name, path in _modules().items():
        if name.endswith("fileutil"):
            continue
        assert "tempfile.mkstemp(" not in path.read_text() or name.endswith(("site", "site.model")), name


def test_one_subprocess_path():
    users = sorted(name for name, path in _modules().items()
                   if any(mod in ("subprocess", "sh") for mod, _, _ in imports(name, path)))
    assert all(u.endswith(".run") for u in users), users
    assert not any(mod == "sh" for name, path in _modules().items() for mod, _, _ in imports(name, path))


def test_every_error_class_lives_in_errors_py():
    seen = []
    for info in pkgutil.walk_packages(bundler.__path__, "bundler."):
        if info.name.endswith("__main__"):
            continue
        mod = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(mod, inspect.isclass):
            if issubclass(obj, errors.WcbundleError):
                seen.append(obj)
                assert obj.__module__ == errors.__name__, f"{obj.__qualname__} is defined in {obj.__module__}"
    assert errors.CommandFailed in seen and errors.RepoError in seen
    documented = set(errors.EXIT_CODES)
    for cls in seen:
        assert cls.exit_code in documented, cls
    assert errors.CommandFailed.exit_code == errors.EXIT_ENVIRONMENT
