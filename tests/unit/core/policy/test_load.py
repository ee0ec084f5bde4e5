"""Policy files parsed from bytes, without the directory: the same policy set and version as
the directory gives, files named in errors as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.adapters.policy_files import load_policy
from broker.core.errors import PolicyError
from broker.core.policy.load import counts_for_version, file_label, parse_policy, policy_version
from tests.conftest import ROOT

POLICIES = ROOT / "policies"
SHIPPED = {
    name: (POLICIES / name).read_bytes()
    for name in (
        "legal-bases.yaml",
        "recipients.yaml",
        "rules.yaml",
        "open-questions.yaml",
        "invariants.yaml",
        "duties.yaml",
        "retention.yaml",
        "directory.yaml",
    )
}


def test_the_shipped_files_parse_to_the_directorys_policy_set() -> None:
    """From bytes by name: the rules, recipients and version the directory loads to."""
    policy = parse_policy(SHIPPED, "policies")
    loaded = load_policy(POLICIES)
    assert policy.version == loaded.version
    assert policy.rules == loaded.rules
    assert policy.recipients == loaded.recipients
    assert policy.directory == "policies"


@pytest.mark.parametrize(
    "name",
    [
        "legal-bases.yaml",
        "recipients.yaml",
        "rules.yaml",
        "open-questions.yaml",
        "invariants.yaml",
        "duties.yaml",
    ],
)
def test_a_missing_file_is_named(name: str) -> None:
    """A policy file not among the files: PolicyError naming it under the directory."""
    files = {k: v for k, v in SHIPPED.items() if k != name}
    with pytest.raises(PolicyError) as exc:
        parse_policy(files, "/etc/broker/policies")
    assert exc.value.file == f"/etc/broker/policies/{name}"
    assert exc.value.problems == ["file is missing"]


def test_a_file_that_is_not_yaml_is_named() -> None:
    with pytest.raises(PolicyError) as exc:
        parse_policy({**SHIPPED, "rules.yaml": b"rules: ["}, "policies")
    assert exc.value.file == "policies/rules.yaml"
    assert exc.value.problems[0].startswith("not valid YAML")


@pytest.mark.parametrize("directory", [".", "policies", "a/b/", "/", "/srv/p", "//net/p", "./x"])
def test_files_are_named_as_pathlib_would(directory: str) -> None:
    """file_label gives what str(Path(directory) / name) gave before the core lost pathlib."""
    normal = str(Path(directory))
    assert file_label(normal, "rules.yaml") == str(Path(normal) / "rules.yaml")


def test_crlf_files_parse_as_they_would_read_in_text_mode() -> None:
    """Line ends do not change what the files say (the version still covers the bytes)."""
    crlf = {k: v.replace(b"\n", b"\r\n") for k, v in SHIPPED.items()}
    policy = parse_policy(crlf, "policies")
    assert policy.rules == parse_policy(SHIPPED, "policies").rules
    assert policy.version != policy_version(SHIPPED)


def test_the_version_covers_the_policy_files_only() -> None:
    """Test cases, notes, dotfiles and caches do not change the version; any other file does,
    whatever order the files come in."""
    base = policy_version(SHIPPED)
    extras = {
        "tests/x.yaml": b"cases: []",
        "README.md": b"notes",
        ".hidden": b"x",
        "sub/__pycache__/m.pyc": b"\0",
    }
    assert not any(counts_for_version(rel) for rel in extras)
    assert policy_version({**SHIPPED, **extras}) == base
    assert policy_version(dict(reversed(SHIPPED.items()))) == base
    assert policy_version({**SHIPPED, "notes/extra.yaml": b"x"}) != base
    edited = {**SHIPPED, "retention.yaml": SHIPPED["retention.yaml"] + b"\n"}
    assert policy_version(edited) != base


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"rules: " + b"[" * 50_000, "not valid YAML: nested too deeply"),
        (b"\xff\xfe\x00", "not UTF-8 text"),
    ],
    ids=["nested too deeply", "not utf-8"],
)
def test_a_hostile_policy_file_is_a_policy_error(data: bytes, problem: str) -> None:
    """Deep nesting or bytes that are not text: the file and the reason, never a traceback."""
    with pytest.raises(PolicyError) as exc:
        parse_policy({**SHIPPED, "rules.yaml": data}, "policies")
    assert exc.value.file == "policies/rules.yaml"
    assert exc.value.problems == [problem]
