"""Architecture rule: the core is sans-I/O and free of CLI dependencies.

Parsing, building, validating, SDP, transactions and the transport rules take bytes and
return values: no sockets, event loop, clock or random source (identifiers come from
``ids.py``, the one module allowed ``secrets``). asyncio, sockets and ssl live only in the
I/O shell, the ``aio/`` and ``server/`` packages, which the core never imports. ``click``
and ``rich`` serve the command line only (``cli.py``, ``__main__.py``, the CLI modules
of ``aio/``). Checked on the source with ``ast``, so an import inside a function or a
``try`` block counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from peers import REPO_DIR

PACKAGE = REPO_DIR / "src" / "sipwright"
CLI_MODULES = {
    "cli.py",
    "__main__.py",
    "aio/cli_commands.py",
    "aio/cli_ua.py",
    "aio/cli_serve.py",
    "capture/cli_ladder.py",
}
#: The I/O shell: the asyncio endpoint/UA layer and the server (sqlite3, sockets).
#: ``capture/``: reading and writing capture files (dpkt, files).
IO_SHELL = ("aio/", "server/", "capture/")
SHELL_MODULES = ("sipwright.aio", "sipwright.server", "sipwright.capture")
FORBIDDEN_IO = {"asyncio", "socket", "ssl", "time", "random", "selectors", "secrets"}
FORBIDDEN_CLI = {"click", "rich"}
SECRETS_ALLOWED = {"ids.py"}


def _core_files() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    return [
        p
        for p in files
        if p.relative_to(PACKAGE).as_posix() not in CLI_MODULES
        and not p.relative_to(PACKAGE).as_posix().startswith(IO_SHELL)
    ]


def _absolute(path: Path, module: str | None, level: int) -> str:
    """The absolute module name of a (possibly relative) ``from`` import in ``path``."""
    if level == 0:
        return module or ""
    parts = ["sipwright", *path.relative_to(PACKAGE).with_suffix("").parts]
    parts.pop()  # the package a module (or an __init__) belongs to: where "." points
    base = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join([*base, module] if module else base)


def _in_shell(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in SHELL_MODULES)


def _imports_io_shell(path: Path, source: str | None = None) -> bool:
    if source is None:
        source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _absolute(path, node.module, node.level)
            names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            if any(_in_shell(n) for n in names):
                return True
        elif isinstance(node, ast.Import):
            if any(_in_shell(alias.name) for alias in node.names):
                return True
    return False


def imported_top_modules(path: Path) -> set[str]:
    return imports_in(path.read_text(encoding="utf-8"), str(path))


def imports_in(source: str, filename: str = "<source>") -> set[str]:
    """Top-level names of absolute imports (``import a.b`` and ``from a.b import c`` -> a)."""
    tree = ast.parse(source, filename=filename)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            # __import__("socket") / importlib.import_module would dodge the rule.
            if node.func.id == "__import__" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value.split(".")[0])
    return found


CORE = _core_files()


def test_core_files_found() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in CORE}
    assert {"parser.py", "message.py", "validate.py", "ids.py", "headers/via.py"} <= names
    assert {"transaction/layer.py", "sdp/parser.py"} <= names
    assert not names & CLI_MODULES
    assert not any(name.startswith(IO_SHELL) for name in names)


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_core_never_imports_the_io_shell(path: Path) -> None:
    """Imports go downwards only: the sans-I/O core knows nothing of sipwright.aio."""
    assert not _imports_io_shell(path)


def test_io_shell_check_can_fail() -> None:
    """The upward-import check flags both spellings."""
    for text in (
        "from ..aio import endpoint\n",
        "import sipwright.aio.endpoint\n",
        "from ..server import location\n",
        "from sipwright.server.location import MemoryLocationStore\n",
    ):
        assert _imports_io_shell(PACKAGE / "transaction" / "probe.py", text), text
    # ...and a sibling module named like a shell package is not the shell.
    assert not _imports_io_shell(PACKAGE / "auth" / "__init__.py")
    assert not _imports_io_shell(PACKAGE / "probe.py", "from .server_transport import x\n")


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_core_module_is_sans_io(path: Path) -> None:
    """No I/O, clock or randomness in the core; ``secrets`` only in ids.py."""
    rel = path.relative_to(PACKAGE).as_posix()
    forbidden = FORBIDDEN_IO - {"secrets"} if rel in SECRETS_ALLOWED else FORBIDDEN_IO
    assert imported_top_modules(path) & forbidden == set()


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_core_module_has_no_cli_dependency(path: Path) -> None:
    """click and rich are dependencies of the CLI only."""
    assert imported_top_modules(path) & FORBIDDEN_CLI == set()


def test_ids_is_the_only_user_of_secrets() -> None:
    users = {
        p.relative_to(PACKAGE).as_posix() for p in CORE if "secrets" in imported_top_modules(p)
    }
    assert users == {"ids.py"}


def test_checker_sees_imports() -> None:
    """The checker itself must find every import form it is meant to catch."""
    source = (
        "import os.path\n"
        "from time import monotonic\n"
        "def f():\n"
        "    import socket\n"
        "    return __import__('random')\n"
        "from . import parser\n"
        "from .headers import via\n"
    )
    assert imports_in(source) == {"os", "time", "socket", "random"}
