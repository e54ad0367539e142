"""The modules of textlstm import each other without cycles.

Every module of the package is parsed with `ast`; every import counts, at module level or
inside a function (a function-level import is still a dependency, only a later one). `from
textlstm.x import y` is an edge to `textlstm.x.y` where that is a module, else to `textlstm.x`.
Importing a module also runs its package's `__init__`, but that is not counted as an edge of
its own: a package that re-exports its modules would otherwise be a cycle with each of them.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "textlstm"


def module_names(root=PACKAGE):
    """`{dotted module name: path}` for every `.py` file of the package (`__init__` names its package)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imported_modules(name, path, modules):
    """The package modules that module `name` (its source at `path`) imports, anywhere in it."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(_nearest_module(alias.name, modules))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..y import z
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else _nearest_module(base, modules))
    found.discard(None)
    found.discard(name)
    return found


def _nearest_module(dotted, modules):
    """The longest prefix of `dotted` that is a package module, or None outside the package."""
    parts = dotted.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph(root=PACKAGE):
    modules = module_names(root)
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycle(graph):
    """One cycle as a list of module names (first == last), or None. Skips edges into a package's
    own `__init__` from inside that package (see the module docstring)."""
    state, stack = {}, []

    def edges(node):
        return sorted(target for target in graph[node] if not node.startswith(target + "."))

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in edges(node):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_package_has_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_graph_sees_function_level_and_from_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("from ..c import thing\n")
    (package / "c.py").write_text("import pkg.a\nthing = 1\n")
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.c"} and graph["pkg.c"] == {"pkg.a"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
