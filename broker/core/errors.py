"""One root error with stable codes, so operators and tests match on codes, not wording.

    BrokerError
    ├── PolicyError        a policy file is invalid: the worker refuses to start
    ├── NoticeError        an input message is not a valid notice: it is dead-lettered
    └── ConfigError        settings or keys are missing or wrong

Messages never contain personal data values: they name the field and the reason only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one field: where (a dotted path) and why (no values)."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class BrokerError(Exception):
    """Root of the broker's errors. ``code`` is stable and safe to log."""

    code = "broker-error"


class ConfigError(BrokerError):
    """Settings or key material are missing or wrong: fix the environment and restart."""

    code = "config-error"


class PolicyError(BrokerError):
    """A policy file is invalid. Fix the named file; the worker will not start until then."""

    code = "policy-invalid"

    def __init__(self, file: str, problems: list[str]) -> None:
        self.file = file
        self.problems = problems
        super().__init__(f"{file}: " + "; ".join(problems))


class NoticeError(BrokerError):
    """An input message is not a valid notice. It goes to the dead-letter topic, audited."""

    def __init__(self, code: str, problems: list[FieldProblem]) -> None:
        self.code = code
        self.problems = problems
        super().__init__(f"{code}: " + "; ".join(str(p) for p in problems))
