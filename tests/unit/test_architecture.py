"""What each folder of broker/ may import: an allow-list, checked over every module.

core      pure, typed, synchronous: itself, pure standard-library modules, pure libraries
adapters  core and adapters, and any library (Kafka, SQLite, files, the environment)
services  core, adapters and services: each long-running process is a composition root
cli       core, adapters and services: parse, call, render
testing   core, adapters and services: fakes and process helpers for the tests
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "broker"
LAYERS = ("core", "adapters", "services", "cli", "testing")

# The standard library's pure parts: no files, sockets, processes, environment or clock of
# their own (datetime is allowed: the core takes "now" as an argument and never calls it).
PURE_STDLIB = {
    "__future__",
    "abc",
    "array",
    "base64",
    "binascii",
    "bisect",
    "collections",
    "contextlib",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "functools",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "ipaddress",
    "itertools",
    "json",
    "math",
    "operator",
    "random",
    "re",
    "secrets",
    "string",
    "struct",
    "textwrap",
    "types",
    "typing",
    "unicodedata",
    "uuid",
}
# Libraries that compute and never do I/O themselves (babel formats dates, numbers and lists
# from the locale data it ships; the core always passes the time, the locale and the zone).
PURE_LIBRARIES = {"pydantic", "cryptography", "cel", "cloudevents", "rfc8785", "yaml", "babel"}

MAY_IMPORT = {
    "core": {"core"},
    "adapters": {"core", "adapters"},
    "services": {"core", "adapters", "services"},
    "cli": {"core", "adapters", "services", "cli"},
    "testing": {"core", "adapters", "services", "testing"},
}
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE)


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_every_module_sits_in_a_layer() -> None:
    """broker/ holds only the five layer folders (and the package's own entry points)."""
    top = {p.name for p in PACKAGE.iterdir() if not p.name.startswith((".", "__pycache__"))}
    assert top - {f"{layer}" for layer in LAYERS} == {"__init__.py", "__main__.py", "py.typed"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_what_its_layer_allows(path: Path) -> None:
    """Layers import inward only, and the core imports no I/O at all."""
    layer = _layer(path)
    bad = set()
    for name in _imports(path):
        top = name.split(".")[0]
        if top == "broker":
            parts = name.split(".")
            if len(parts) < 2 or parts[1] not in MAY_IMPORT[layer]:
                bad.add(name)
        elif layer == "core" and top not in PURE_STDLIB | PURE_LIBRARIES:
            bad.add(name)
    assert bad == set()


def test_the_allow_list_names_only_standard_modules() -> None:
    """A typo in PURE_STDLIB would silently allow nothing (or the wrong thing)."""
    assert sys.stdlib_module_names >= PURE_STDLIB


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    """The walker sees imports inside functions too, where lazy imports hide."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import sqlite3\n    from broker.adapters import x\n")
    assert _imports(module) == {"sqlite3", "broker.adapters"}


CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


def _clock_calls(path: Path) -> list[str]:
    """Calls such as datetime.now() or time.time(): the core must be given the time instead."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in CLOCK_CALLS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in {"datetime", "date", "time"}
        ):
            found.append(f"{node.func.value.id}.{node.func.attr}() at line {node.lineno}")
    return found


@pytest.mark.parametrize(
    "path", [p for p in MODULES if _layer(p) == "core"], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_the_core_never_reads_the_clock(path: Path) -> None:
    """Whoever calls the core passes ``now``, so every core test can fix the time."""
    assert _clock_calls(path) == []


def test_the_clock_check_sees_a_clock_call(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from datetime import datetime\ndef f():\n    return datetime.now()\n")
    assert _clock_calls(module) == ["datetime.now() at line 3"]
