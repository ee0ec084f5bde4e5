"""The sealer: follows the audit topic in order and signs a checkpoint every N records or T seconds.

Several workers write to the audit topic at once; its single partition fixes one order, and the
sealer follows exactly that order, so there is one log and no coordination between workers.
Pure: the shell feeds it the topic's messages and the time; it answers whether a checkpoint is
due and signs it. It verifies what it reads as it goes (the checkpoints already on the topic and
the witness's copies) and refuses to seal on top of a log that does not verify.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from broker.core.audit.checkpoint import Checkpoint, key_id, sign
from broker.core.audit.errors import AuditError
from broker.core.audit.events import Entry
from broker.core.audit.verify import Verifier


class Sealer:
    def __init__(
        self,
        key: Ed25519PrivateKey,
        origin: str,
        *,
        every: int = 1000,
        interval: timedelta = timedelta(seconds=10),
        witness: Iterable[Checkpoint] = (),
        also_trusted: Mapping[str, Ed25519PublicKey] | None = None,
    ) -> None:
        if every < 1:
            raise ValueError("every: must be at least 1 record")
        if interval <= timedelta(0):
            raise ValueError("interval: must be positive")
        self.key = key
        self.origin = origin
        self.every = every
        self.interval = interval
        trusted = {key_id(key.public_key()): key.public_key(), **(also_trusted or {})}
        # no window: the next checkpoint's hints need every leaf since the last one
        self.verifier = Verifier(trusted, origin, witness, window=None)
        self._sealed = 0  # the largest size signed by anyone (seen on the topic or by us)
        self._last_time: datetime | None = None

    @property
    def size(self) -> int:
        return self.verifier.size

    @property
    def pending(self) -> int:
        return self.size - self._sealed

    def add(self, entry: Entry) -> None:
        """Feed the next message of the audit topic. Raise AuditError if the log is not sound."""
        fault = self.verifier.add(entry)
        if fault:
            raise AuditError(f"audit log does not verify, not sealing: {fault}")
        if entry.is_checkpoint:
            latest = self.verifier.report.latest
            if latest is not None and latest.tree_size >= self._sealed:
                self._sealed = latest.tree_size
                self._last_time = _parse_time(latest.time)

    def due(self, now: datetime) -> bool:
        if self.pending <= 0:
            return False
        if self.pending >= self.every:
            return True
        return self._last_time is None or now - self._last_time >= self.interval

    def seal(self, now: datetime) -> Checkpoint:
        """Sign a checkpoint over every record read so far."""
        size = self.size
        if size <= self._sealed:
            raise ValueError("nothing new to seal")
        cp = sign(
            self.key,
            origin=self.origin,
            tree_size=size,
            root=self.verifier.root(),
            when=now,
            hints_from=self._sealed,
            added_leaf_hashes=self.verifier.leaf_hashes(self._sealed),
        )
        self._sealed = size
        self._last_time = now
        return cp


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)
