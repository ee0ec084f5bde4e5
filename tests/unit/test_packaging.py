"""What the wheel holds: every third-party package broker/ imports is a declared dependency,
and every file broker/ needs besides its modules is package data.
(deploy/wheel-check.sh installs the built wheel and runs it outside the checkout.)"""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "broker"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# files that are not package data: Python's own caches
NOT_DATA = ("*.pyc",)


def _canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them (case and -_. runs do not matter)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(requirements: Iterable[str]) -> set[str]:
    """The distribution names of requirement strings ("psycopg[binary]==3.3.9" → psycopg)."""
    names = set()
    for requirement in requirements:
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
        assert match, requirement
        names.add(_canonical(match.group(0)))
    return names


def _top_level_imports(paths: Iterable[Path]) -> set[str]:
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def undeclared(
    imports: Iterable[str], declared: set[str], distributions: Mapping[str, list[str]]
) -> dict[str, list[str]]:
    """Third-party imports no declared distribution provides → the distributions that do
    (none: not installed at all)."""
    missing = {}
    for name in sorted(imports):
        if name in sys.stdlib_module_names or name == "broker":
            continue
        providers = distributions.get(name, [])
        if not {_canonical(d) for d in providers} & declared:
            missing[name] = providers
    return missing


def test_every_imported_package_is_a_declared_dependency() -> None:
    """An import that only works because the dev venv has it (aiohttp came with faust) would
    break the installed wheel the day the other package drops it."""
    imports = _top_level_imports(PACKAGE.rglob("*.py"))
    declared = _declared(PYPROJECT["project"]["dependencies"])
    assert undeclared(imports, declared, importlib.metadata.packages_distributions()) == {}


def test_the_dependency_check_catches_an_undeclared_import() -> None:
    distributions = {"aiohttp": ["aiohttp"], "yaml": ["PyYAML"], "prometheus_client": ["p_c"]}
    declared = _declared(["PyYAML==6.0.4", "P.C==1"])
    imports = {"aiohttp", "yaml", "prometheus_client", "json", "broker", "nowhere"}
    assert undeclared(imports, declared, distributions) == {"aiohttp": ["aiohttp"], "nowhere": []}


def _package_data() -> list[str]:
    patterns: list[str] = PYPROJECT["tool"]["setuptools"]["package-data"]["broker"]
    return patterns


def unshipped(files: Iterable[Path], patterns: list[str]) -> list[str]:
    """Files under broker/, other than modules, that no package-data pattern ships."""
    missing = []
    for path in files:
        rel = path.relative_to(PACKAGE).as_posix()
        if path.suffix == ".py" or any(fnmatch.fnmatch(path.name, p) for p in NOT_DATA):
            continue
        # setuptools' globs: '*' stays inside one folder
        if not any(fnmatch.fnmatch(rel, p) and rel.count("/") == p.count("/") for p in patterns):
            missing.append(rel)
    return missing


def test_every_file_the_package_reads_is_package_data() -> None:
    """The auditor page's files, the local Kafka's script and config, the example notices:
    a file left out works in the checkout and is missing from the wheel."""
    files = [p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert unshipped(files, _package_data()) == []


def test_the_package_data_check_catches_a_file_left_out(tmp_path: Path) -> None:
    files = [PACKAGE / "adapters" / "examples" / "new" / "deep" / "x.json", PACKAGE / "a.py"]
    assert unshipped(files, _package_data()) == ["adapters/examples/new/deep/x.json"]


@pytest.mark.parametrize("pattern", _package_data())
def test_every_package_data_pattern_matches_a_file(pattern: str) -> None:
    """A pattern that matches nothing is a file that moved without its pattern."""
    assert list(PACKAGE.glob(pattern))
