"""Reading the policy directory: the same version as before the core stopped reading files,
the test cases beside the policies, and the simulation's per-process work units."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from broker.adapters.policy_files import (
    CaseFolder,
    case_folder,
    docs_chunk,
    generated_chunk,
    load_policy,
    read_policy_files,
)
from broker.core.errors import PolicyError
from tests.conftest import ROOT, example

POLICIES = ROOT / "policies"


def _version_as_before(directory: Path) -> str:
    """The policy version as load.policy_version computed it from the directory itself."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        if rel.startswith((".", "tests/")) or "__pycache__" in rel or rel.endswith(".md"):
            continue
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def test_the_version_is_the_one_the_directory_had(policy_copy: Path) -> None:
    """Nested files sort by path components ('a/x' before 'a-b/x'), as Path objects do;
    notes, test cases, dotfiles and caches stay out: the version is unchanged."""
    for rel in ("a-b/x.yaml", "a/x.yaml", "a.b", "notes.md", ".git/HEAD", "x/__pycache__/m"):
        (policy_copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (policy_copy / rel).write_bytes(rel.encode())
    assert load_policy(policy_copy).version == _version_as_before(policy_copy)
    assert load_policy(POLICIES).version == _version_as_before(POLICIES)
    assert set(read_policy_files(policy_copy)) == {
        "legal-bases.yaml",
        "recipients.yaml",
        "rules.yaml",
        "open-questions.yaml",
        "invariants.yaml",
        "duties.yaml",
        "retention.yaml",
        "directory.yaml",
        "a-b/x.yaml",
        "a/x.yaml",
        "a.b",
    }


def test_a_missing_directory_or_file_is_named(tmp_path: Path, policy_copy: Path) -> None:
    """The directory, or the file under it, as given."""
    with pytest.raises(PolicyError) as exc:
        load_policy(tmp_path / "nowhere")
    assert (exc.value.file, exc.value.problems) == (
        str(tmp_path / "nowhere"),
        ["policy directory does not exist"],
    )
    (policy_copy / "rules.yaml").unlink()
    with pytest.raises(PolicyError) as exc:
        load_policy(policy_copy)
    assert (exc.value.file, exc.value.problems) == (
        str(policy_copy / "rules.yaml"),
        ["file is missing"],
    )


def test_the_case_folder_reads_case_files_in_order_and_their_notices(policy_copy: Path) -> None:
    """Case files sorted by name; notices relative to the folder; none without a folder."""
    folder = case_folder(load_policy(policy_copy))
    assert folder is not None
    assert [name for name, _ in folder.case_files()] == ["other-senders.yaml", "police.yaml"]
    notice = (policy_copy / "tests" / "notices" / "threat.json").read_text(encoding="utf-8")
    assert folder.notice("notices/threat.json") == notice
    with pytest.raises(OSError, match="gone"):
        folder.notice("notices/gone.json")
    assert CaseFolder(policy_copy / "nowhere").case_files() == []
    shutil.rmtree(policy_copy / "tests")
    assert case_folder(load_policy(policy_copy)) is None


def test_the_simulation_work_units_load_the_directories_in_the_process() -> None:
    """A chunk of synthetic notices and a chunk of given documents: every notice counted."""
    policies = str(POLICIES)
    generated = generated_chunk((policies, policies, 0, 1, 40))
    assert generated.notices + generated.skipped == 40
    given = docs_chunk((policies, policies, [example("recruited")]))
    assert (given.notices, given.skipped) == (1, 0)
