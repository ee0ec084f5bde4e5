"""The policy directory (policies/): its files read for the pure policy core.

``load_policy`` reads every file that counts toward the policy version and parses them
(broker.core.policy.load); ``load_directory`` reads the organisations directory beside them
(broker.core.directory); ``CaseFolder`` reads the declarative test cases in ``tests/``;
``gate`` and ``require`` apply the deployment gate (broker.core.policy.gate) to a directory;
``generated_chunk`` and ``docs_chunk`` are the work units of `broker policy simulate`'s
processes, each loading the policy directories once per process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from broker.core.directory import DIRECTORY_FILE, Directory, parse_directory
from broker.core.errors import PolicyError
from broker.core.policy.gate import SAMPLES, Problem, assess
from broker.core.policy.load import counts_for_version, parse_policy
from broker.core.policy.model import PolicySet
from broker.core.policy.simulate import Simulator, Tally
from broker.core.policy.synthetic import FastGenerator


def read_policy_files(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` that counts toward the version, by its relative path."""
    files: dict[str, bytes] = {}
    for path in directory.rglob("*"):
        rel = path.relative_to(directory).as_posix()
        if counts_for_version(rel) and path.is_file():
            files[rel] = path.read_bytes()
    return files


def load_policy(directory: Path | str) -> PolicySet:
    """Read and validate legal bases, recipients and rules; raise PolicyError on any problem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PolicyError(str(directory), ["policy directory does not exist"])
    return parse_policy(read_policy_files(directory), str(directory))


def load_directory(policy: PolicySet) -> Directory:
    """The organisations directory beside a loaded policy set (its directory.yaml), validated
    against the policy's recipient roles; PolicyError if it is missing or invalid."""
    path = Path(policy.directory) / DIRECTORY_FILE
    if not path.is_file():
        raise PolicyError(str(path), ["the organisations directory is missing"])
    return parse_directory(path.read_bytes(), str(path), policy.recipients)


class CaseFolder:
    """The policy test cases in a directory (policies/tests/*.yaml): a CaseSuite."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def case_files(self) -> list[tuple[str, str]]:
        paths = sorted(self.directory.glob("*.yaml")) if self.directory.is_dir() else []
        return [(path.name, path.read_text(encoding="utf-8")) for path in paths]

    def notice(self, rel: str) -> str:
        return (self.directory / rel).read_text(encoding="utf-8")


def case_folder(policy: PolicySet) -> CaseFolder | None:
    """The test cases beside a loaded policy set (its ``tests/``), None if it has none."""
    tests = Path(policy.directory) / "tests"
    return CaseFolder(tests) if tests.is_dir() else None


def gate(directory: Path | str, *, samples: int = SAMPLES) -> list[Problem]:
    """Every reason the policy set in ``directory`` may not be deployed; empty: it may.
    Raises PolicyError if it does not even load."""
    policy = load_policy(directory)
    return assess(policy, case_folder(policy), samples=samples).problems


def require(directory: Path | str, *, samples: int = SAMPLES) -> PolicySet:
    """The policy set, if it passes the gate; else PolicyError naming each rule or case."""
    policy = load_policy(directory)
    problems = assess(policy, case_folder(policy), samples=samples).problems
    if problems:
        raise PolicyError(str(directory), [str(p) for p in problems])
    return policy


# --- `broker policy simulate`: work units for its processes ----------------------------------

_LOADED: dict[tuple[str, str], Simulator] = {}


def _simulator(current_dir: str, proposed_dir: str) -> Simulator:
    key = (current_dir, proposed_dir)
    if key not in _LOADED:  # one per process: CEL programs cannot be pickled
        _LOADED[key] = Simulator(load_policy(Path(current_dir)), load_policy(Path(proposed_dir)))
    sim = _LOADED[key]
    sim.tally = Tally()
    return sim


_GENERATORS: dict[int, FastGenerator] = {}


def generated_chunk(args: tuple[str, str, int, int, int]) -> Tally:
    """Simulate ``n`` synthetic notices: the unit of work of one process. The pools of parts
    come from ``pool_seed`` (built once per process), their combination from ``seed``."""
    current_dir, proposed_dir, pool_seed, seed, n = args
    sim = _simulator(current_dir, proposed_dir)
    gen = _GENERATORS.get(pool_seed)
    if gen is None:
        gen = _GENERATORS[pool_seed] = FastGenerator(seed, pool_seed=pool_seed)
    gen.rng.seed(seed)
    add, make = sim.add, gen.notice
    for _ in range(n):
        add(make())
    return sim.tally


def docs_chunk(args: tuple[str, str, list[dict[str, Any]]]) -> Tally:
    """Simulate given notice documents (from a file or the notices topic)."""
    current_dir, proposed_dir, docs = args
    sim = _simulator(current_dir, proposed_dir)
    sim.add_all(docs)
    return sim.tally
