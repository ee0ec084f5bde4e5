"""``Syncer`` does what ``broker audit sync`` needs without any Kafka: re-verify what the store
holds, then take new messages in batches, verifying each before it is written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from broker.adapters.stores.auditor.store import AuditStore
from broker.core.audit.checkpoint import Checkpoint
from broker.core.audit.events import Entry
from broker.core.audit.faults import Fault, Report
from broker.core.audit.verify import Verifier


class Syncer:
    """Verify what the store holds, then verify and write new messages batch by batch."""

    def __init__(
        self,
        store: AuditStore,
        trusted: Mapping[str, Ed25519PublicKey],
        origin: str,
        witness: Iterable[Checkpoint] = (),
    ) -> None:
        self.store = store
        self.verifier = Verifier(trusted, origin, witness, allow_unsealed=True)  # a live topic
        self.written = 0

    def check_stored(self) -> Fault | None:
        """Re-verify every stored message (the store may have been edited since the last sync)."""
        for entry in self.store.entries():
            fault = self.verifier.add(entry)
            if fault:
                return fault
        return None

    def add(self, batch: Sequence[Entry]) -> Fault | None:
        """Verify ``batch`` (next in topic order) and write it; at a fault write nothing more."""
        good: list[Entry] = []
        fault = None
        for entry in batch:
            fault = self.verifier.add(entry)
            if fault:
                break
            good.append(entry)
        self.written += self.store.add(good)
        return fault

    def finish(self) -> Report:
        return self.verifier.finish()
