"""deploy/Containerfile, checked without a container engine: pinned bases, a non-root user, the
wheel's console script as entrypoint, the policies where the manifests look for them."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest

from broker.core.deployment import workloads
from tests.conftest import ROOT
from tests.unit.deploy.cli_commands import is_command
from tests.unit.deploy.k8s_schemas import load

CONTAINERFILE = ROOT / "deploy" / "Containerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: comments dropped, continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        word, _, rest = (pending + line).partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last:]


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions(CONTAINERFILE.read_text(encoding="utf-8"))


def test_instructions_parse_continuations() -> None:
    """The parser joins continued lines and skips comments (so the checks below see it all)."""
    text = "# c\nFROM a:1 AS b\nRUN x \\\n && y\nUSER 1\n"
    assert instructions(text) == [("FROM", "a:1 AS b"), ("RUN", "x  && y"), ("USER", "1")]


def test_every_base_image_is_pinned(steps: list[tuple[str, str]]) -> None:
    """Each FROM names a digest or an exact tag (never none, never 'latest')."""
    bases = [args.split()[0] for word, args in steps if word == "FROM"]
    assert bases
    for image in bases:
        if "@sha256:" in image:
            continue
        name, _, tag = image.rpartition(":")
        assert name, f"{image}: no tag"
        assert tag not in {"", "latest"}, f"{image}: not pinned"
        assert any(c.isdigit() for c in tag.split("-")[0]), f"{image}: tag names no version"


def test_the_final_stage_runs_as_the_manifests_non_root_user(
    steps: list[tuple[str, str]],
) -> None:
    """The last USER is a numeric non-root uid: the one the Deployments run as."""
    users = [args for word, args in final_stage(steps) if word == "USER"]
    assert users, "no USER: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid not in {"0", "root"}
    assert int(uid) == workloads.UID


def _exec_form(steps: list[tuple[str, str]], word: str) -> list[str]:
    (args,) = [a for w, a in final_stage(steps) if w == word]
    parsed: Any = json.loads(args)  # exec form: no shell between the signal and the process
    assert isinstance(parsed, list)
    return [str(a) for a in parsed]


def test_entrypoint_is_the_wheels_console_script(steps: list[tuple[str, str]]) -> None:
    """ENTRYPOINT is a console script of pyproject.toml and CMD a command of the CLI."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entrypoint = _exec_form(steps, "ENTRYPOINT")
    assert entrypoint[0] in scripts
    assert is_command(entrypoint[1:] + _exec_form(steps, "CMD"))


def test_policies_are_shipped_where_the_settings_and_manifests_look(
    steps: list[tuple[str, str]],
) -> None:
    """COPY policies to BROKER_POLICY_DIR, and the Deployments point there too."""
    stage = final_stage(steps)
    copies = [a.split() for w, a in stage if w == "COPY" and not a.startswith("--from")]
    assert ["policies", workloads.POLICIES] in copies
    env = " ".join(a for w, a in stage if w == "ENV")
    assert f"BROKER_POLICY_DIR={workloads.POLICIES}" in env
    assert any("pip wheel" in a and "--no-deps" in a for w, a in steps if w == "RUN")


def test_every_deployment_runs_a_real_command() -> None:
    """Each generated Deployment's args name a `broker` command the wheel has."""
    docs = load([ROOT / "deploy" / "k8s" / "generated" / "workloads.yaml"])
    deployments = [d for _, d in docs if d["kind"] == "Deployment"]
    assert len(deployments) == 3
    for d in deployments:
        (container,) = d["spec"]["template"]["spec"]["containers"]
        assert "command" not in container  # the image's entrypoint, `broker`
        assert is_command(container["args"]), container["args"]


def test_is_command_refuses_unknown_names_and_groups() -> None:
    """The check can fail: an unknown command and a bare group are not commands."""
    assert is_command(["audit", "seal"])
    assert not is_command(["audit", "sail"])
    assert not is_command(["audit"])
