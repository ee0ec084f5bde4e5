"""The worker's start-up checks, before Kafka: the organisations directory is loaded and
validated with the policy, and every organisation a rule can deliver to has an encryption key."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.adapters.policy_files import load_policy
from broker.adapters.settings import Settings
from broker.adapters.stores.devkeys import ensure_dev_keys
from broker.core.crypto import signing
from broker.core.directory import DIRECTORY_FILE
from broker.core.errors import ConfigError, PolicyError
from broker.services.worker import build_pipeline
from broker.testing.directories import TWO_SCHOOLS_TWO_DISTRICTS, policy_dir_with
from tests.conftest import POLICIES


def _settings(tmp_path: Path, policies: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", policies=policies)


def test_the_worker_builds_its_pipeline_with_the_shipped_directory(tmp_path: Path) -> None:
    settings = _settings(tmp_path, POLICIES)
    ensure_dev_keys(settings)
    pipeline = build_pipeline(settings, load_policy(POLICIES), signing.MemoryReplayGuard())
    assert "skole-9002" in pipeline.directory.organisations
    assert len(pipeline.directory.organisations) == 59


def test_a_missing_directory_stops_the_worker_before_kafka(tmp_path: Path) -> None:
    policies = policy_dir_with(POLICIES, tmp_path / "p", TWO_SCHOOLS_TWO_DISTRICTS)
    (policies / DIRECTORY_FILE).unlink()
    settings = _settings(tmp_path, policies)
    with pytest.raises(PolicyError, match="the organisations directory is missing"):
        build_pipeline(settings, load_policy(policies), signing.MemoryReplayGuard())


def test_an_organisation_without_an_encryption_key_stops_the_worker(tmp_path: Path) -> None:
    """Keys made for a directory of eight organisations; the worker started on the shipped 59
    names how many lack a key, and some of them, and how to make one."""
    small = policy_dir_with(POLICIES, tmp_path / "p", TWO_SCHOOLS_TWO_DISTRICTS)
    ensure_dev_keys(_settings(tmp_path, small))
    settings = _settings(tmp_path, POLICIES)
    with pytest.raises(ConfigError) as caught:
        build_pipeline(settings, load_policy(POLICIES), signing.MemoryReplayGuard())
    message = str(caught.value)
    assert "no active encryption key for 51 organisation(s)" in message
    assert "bydel-alna-barnevern" in message
    assert "broker keys generate --recipient ID" in message
    assert "skole-9001," not in message  # it has its key
