"""Errors of the audit log: a proof that does not verify, a checkpoint that is not genuine.

BrokerError
└── AuditError              the audit log or a proof about it is not what it claims
    ├── ProofError          an inclusion or consistency proof is malformed
    │   └── RootMismatch    the proof leads to another root than expected
    ├── SignatureError      a checkpoint's signature or key is not trusted
    ├── NotAnAuditMessage   a message on the audit topic is not any kind of audit message
    └── ObligationError     an event that would close an obligation is not one that can
"""

from __future__ import annotations

from broker.core.errors import BrokerError


class AuditError(BrokerError):
    """The audit log, or something said about it, does not verify. Investigate before trusting."""

    code = "audit-invalid"


class ProofError(AuditError):
    """A proof is malformed (wrong length, index out of range): it proves nothing."""

    code = "proof-invalid"


class RootMismatch(ProofError):
    """A proof computes a different root than the one expected (the log is not what it says)."""

    code = "root-mismatch"

    def __init__(self, what: str, expected: bytes, calculated: bytes) -> None:
        self.expected = expected
        self.calculated = calculated
        super().__init__(f"{what}: expected root {expected.hex()}, calculated {calculated.hex()}")


class SignatureError(AuditError):
    """A checkpoint is signed by an unknown key or its signature does not verify."""

    code = "bad-signature"


class NotAnAuditMessage(AuditError):
    """A message of the audit topic is none of the kinds any writer writes (its shape is wrong).
    It is still a leaf of the log: kept, sealed and verified, only never read as a record."""

    code = "not-an-audit-message"


class ObligationError(AuditError):
    """An inform event cannot be written as asked: ``field`` (of the event) is missing or not
    what the duties catalogue allows, for ``reason`` (never a value it was given, beyond a
    code the catalogue does not list)."""

    code = "obligation-invalid"

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")
