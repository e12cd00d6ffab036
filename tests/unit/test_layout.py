"""The architecture's rules, as a walk over the imports of every module of `consumer`.

`core` is pure and imports neither the shell nor a command; only the CLI imports a command;
only `shell.kafka` imports confluent_kafka; no module imports itself back through others.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "consumer"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Per module of `consumer`, the absolute names it imports (every `import` statement,
    at the top or inside a function: a lazy import is an import)."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[_module(path)] = names
    return found


IMPORTS = _imports()


def _ours(names: set[str]) -> set[str]:
    """The modules of ours among imported names (`from consumer.core import segment` names
    the module `consumer.core.segment`)."""
    return {n for n in names if n in IMPORTS}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_walk_sees_every_layer() -> None:
    assert {"consumer.core.decision", "consumer.shell.pipeline", "consumer.commands.run"} <= set(
        IMPORTS
    )


def test_core_imports_neither_the_shell_nor_a_command() -> None:
    wrong = {
        (module, name)
        for module, names in IMPORTS.items()
        if _within(module, "consumer.core")
        for name in _ours(names)
        if _within(name, "consumer.shell") or _within(name, "consumer.commands")
    }
    assert not wrong


def test_core_imports_no_io_library() -> None:
    io = ("confluent_kafka", "httpx", "httptools", "asyncio", "socket", "ssl", "prometheus_client")
    wrong = {
        (module, name)
        for module, names in IMPORTS.items()
        if _within(module, "consumer.core")
        for name in names
        if any(_within(name, lib) for lib in io)
    }
    assert not wrong


def test_only_the_cli_imports_a_command() -> None:
    wrong = {
        (module, name)
        for module, names in IMPORTS.items()
        if module not in ("consumer.cli", "consumer.__main__")
        and not _within(module, "consumer.commands")
        for name in _ours(names)
        if _within(name, "consumer.commands") and name != "consumer.commands"
    }
    assert not wrong
    # and a command does not import another command
    across = {
        (module, name)
        for module, names in IMPORTS.items()
        if _within(module, "consumer.commands")
        for name in _ours(names)
        if _within(name, "consumer.commands") and name not in (module, "consumer.commands")
    }
    assert not across


def test_only_the_kafka_wrapper_imports_confluent_kafka() -> None:
    wrong = {
        module
        for module, names in IMPORTS.items()
        if any(_within(n, "confluent_kafka") for n in names)
        and not _within(module, "consumer.shell.kafka")
    }
    assert not wrong


def test_settings_is_a_leaf() -> None:
    assert not _ours(IMPORTS["consumer.settings"]) - {"consumer.settings"}


def test_there_is_no_import_circle() -> None:
    graph = {m: _ours(names) - {m} for m, names in IMPORTS.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for name in sorted(graph[module]):
            if state.get(name) == 1:
                circle = [*stack[stack.index(name) :], name]
                raise AssertionError(" -> ".join(circle))
            if name not in state:
                visit(name)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_the_package_list_names_every_package() -> None:
    """pyproject lists the packages (schemas/ ships as consumer.schemas): a new folder of code
    that is not listed would be missing from the wheel and the image."""
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        _module(init)
        for top in ("consumer", "devkit")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert listed == found | {"consumer.schemas"}
