"""The directory file replaced in place: atomically, and only over the bytes the edit read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from broker.adapters import directory_file
from broker.core.errors import PolicyError
from broker.core.policy.load import counts_for_version


def test_the_file_is_replaced_keeping_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_bytes(b"organisations: []\n")
    os.chmod(path, 0o640)
    with directory_file.locked(tmp_path):
        directory_file.replace(tmp_path, b"organisations: []\n", b"organisations: [1]\n")
    assert path.read_bytes() == b"organisations: [1]\n"
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["directory.yaml"]


def test_a_file_changed_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    """A hand edit between reading and writing: nothing written, the error says retry."""
    path = tmp_path / "directory.yaml"
    path.write_bytes(b"edited by hand\n")
    with pytest.raises(PolicyError, match="changed while this edit was made"):
        directory_file.replace(tmp_path, b"as read\n", b"new\n")
    assert path.read_bytes() == b"edited by hand\n"


def test_a_leftover_temporary_file_never_counts_toward_the_version() -> None:
    assert not counts_for_version(".directory.yaml.abc123")
