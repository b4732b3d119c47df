"""The import graph, read with ast: dependencies point down only, and no module cycles.

LAYERS below is the one place the allowed direction is written (docs/architecture.md shows
the same picture). A module may import from its own layer and the layers below it; a
package's place is its longest prefix in LAYERS. Imports under ``if TYPE_CHECKING:`` are
annotations only and do not count; imports inside functions (loaded on first use) do.
"""

from __future__ import annotations

import ast
from pathlib import Path

import smtpsh

ROOT = Path(smtpsh.__file__).parent

# Lowest first.
LAYERS: tuple[tuple[str, ...], ...] = (
    # imports nothing from smtpsh: what makes text safe to show; the exit statuses
    ("smtpsh.output.safe", "smtpsh.exitcodes"),
    ("smtpsh.protocol",),  # sans-IO core
    ("smtpsh.net",),  # transports
    ("smtpsh.output", "smtpsh.target", "smtpsh.flags", "smtpsh.jsonout",
     "smtpsh.inputfiles",
     "smtpsh.safefile", "smtpsh.state", "smtpsh.config"),
    ("smtpsh.compose", "smtpsh.audit", "smtpsh.transcript", "smtpsh.dnsinfo", "smtpsh.dns",
     "smtpsh.sandbox", "smtpsh.report"),  # the libraries: know no front-end
    # many targets: runs a library's one-host job over many hosts (headless)
    ("smtpsh.fleet",),
    # prompt_toolkit, meta-commands; shell.start: a session from the parsed command line
    ("smtpsh.shell", "smtpsh.shell.start"),
    # parsing, dispatch, generated docs; `smtpsh send` (the shell's session without a prompt)
    ("smtpsh.cli", "smtpsh.__main__", "smtpsh.docgen", "smtpsh.send_command"),
)
BOTTOM = ("smtpsh",)  # the package itself (__version__): anyone may import it


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer(module: str) -> int:
    best, rank = "", -1
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > len(best):
                best, rank = name, i
    if module in BOTTOM:
        return -1
    assert rank >= 0, f"{module} has no place in LAYERS: add it there (and to the docs)"
    return rank


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(module: str, *, annotations: bool = False) -> set[str]:
    """The smtpsh modules ``module`` imports at run time, anywhere in it (``annotations``:
    those under ``if TYPE_CHECKING:`` too)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child) and not annotations:
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    found.add(full if full in MODULES else base)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: imports(module) for module in MODULES}

# Cycles that are allowed, and why. docgen documents the CLI (it reads its parser), and the
# CLI's --man and --completion print that documentation: both are the top layer, and the
# CLI imports docgen only when one of those options is given.
ALLOWED_CYCLES = {
    frozenset({"smtpsh.cli", "smtpsh.docgen", "smtpsh.docgen.model", "smtpsh.docgen.completion"}),
}


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer(module)


def test_dependencies_point_down_only() -> None:
    upward = [
        f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
        for module, targets in GRAPH.items()
        for target in sorted(targets)
        if layer(target) > layer(module)
    ]
    assert upward == []


def test_libraries_know_no_front_end() -> None:
    """audit/, transcript/, dnsinfo/ and compose/ import neither smtpsh.cli nor
    smtpsh.shell, not even for annotations: a library must not need the shell's types."""
    libraries = ("smtpsh.audit", "smtpsh.transcript", "smtpsh.dnsinfo", "smtpsh.compose",
                 "smtpsh.report")
    bad = [
        f"{module} imports {target}"
        for module in MODULES
        if module.startswith(libraries)
        for target in imports(module, annotations=True)
        if target == "smtpsh.cli" or target.startswith("smtpsh.shell")
    ]
    assert bad == []


def test_no_import_cycles() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycle = path[path.index(target):]
                if not any(set(cycle) <= allowed for allowed in ALLOWED_CYCLES):
                    cycles.append([*cycle, target])
            elif target not in state:
                walk(target)
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            walk(module)
    assert cycles == []


def test_the_checker_sees_what_it_must() -> None:
    """A check that cannot fail is no check: the graph has the edges it must have."""
    assert "smtpsh.protocol.connection" in GRAPH["smtpsh.net.client"]
    assert "smtpsh.output.safe" in GRAPH["smtpsh.protocol.encoding"]
    assert layer("smtpsh.shell.app") > layer("smtpsh.compose.send") > layer("smtpsh.net.client")
    assert layer("smtpsh.output.safe") < layer("smtpsh.protocol.replies")
    # Session start-up lives below the CLI: the CLI and `smtpsh send` import it, not it them.
    assert layer("smtpsh.shell.start") < layer("smtpsh.cli") == layer("smtpsh.send_command")
    assert "smtpsh.shell.start" in GRAPH["smtpsh.cli"]
    assert "smtpsh.shell.start" in GRAPH["smtpsh.send_command"]
    # The annotation-only import the shell's feature modules make of the shell is seen.
    assert "smtpsh.shell.app" in imports("smtpsh.shell.metacommands", annotations=True)
    assert "smtpsh.shell.app" not in GRAPH["smtpsh.shell.metacommands"]
