"""The functional core imports no Kafka, no Faust and no shell module."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "broker"
SHELL = {
    "worker",
    "kafka",
    "cli",
    "demo",
    "settings",
    "logs",
    "publisher",
    "__main__",
    "testing",
    "metrics",
    "kafka_records",
}
FORBIDDEN = {"faust", "aiokafka", "mode", "typer", "rich", "structlog"} | {
    f"broker.{m}" for m in SHELL
}
CORE = sorted(
    p
    for p in PACKAGE.rglob("*.py")
    if p.stem not in SHELL and "cli" not in p.relative_to(PACKAGE).parts
)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_has_no_shell_imports(path: Path) -> None:
    """Core modules stay pure so they are tested in microseconds, without a broker."""
    bad = {n for n in _imports(path) if n in FORBIDDEN or n.split(".")[0] in FORBIDDEN}
    assert bad == set()
