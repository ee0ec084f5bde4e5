"""The auditor page's own access log: who (the client certificate's CN) looked at what, when.

Looking at the audit log is itself processing of personal data, so every page view, search,
data-subject lookup, status check and refusal is recorded before the answer is sent: one JSON
line per event in a local file, created 0600 (its folder 0700), opened O_APPEND and fsync'ed per
event. If the line cannot be written the request fails, so no answer goes out unrecorded.

Each line carries ``prev``, the SHA-256 of the line before it (the first: 64 zeros), so an edited,
removed or reordered line breaks the chain (``check``); truncating the tail is not detectable
from the file alone, which is why the file should be shipped off the host (or relayed to Kafka).

What is recorded is what was asked, never personal data: filter values (recipient ids, legal
basis ids, dates, notice ids), the data subject as the keyed ``subject_ref`` (never the national
id), how many records were answered. Header values a client chooses (Host, Origin) are not.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def _line(event: Mapping[str, Any], prev: str) -> bytes:
    return json.dumps(
        {**event, "prev": prev}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


class AccessLog:
    """Append-only, hash-chained JSON lines; ``record`` is durable when it returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.parent.exists():
            path.parent.mkdir(parents=True, mode=0o700)
            os.chmod(path.parent, 0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
        self._fd = fd
        self._prev = _last_hash(path)

    def record(self, event: Mapping[str, Any]) -> None:
        line = _line(event, self._prev)
        os.write(self._fd, line + b"\n")
        os.fsync(self._fd)
        self._prev = hashlib.sha256(line).hexdigest()

    def close(self) -> None:
        os.close(self._fd)


def _last_hash(path: Path) -> str:
    last = b""
    with path.open("rb") as fh:
        for raw in fh:
            if raw.strip():
                last = raw.rstrip(b"\n")
    return hashlib.sha256(last).hexdigest() if last else GENESIS


def read(path: Path) -> list[dict[str, Any]]:
    """The events, oldest first."""
    with path.open("rb") as fh:
        return [json.loads(raw) for raw in fh if raw.strip()]


def check(path: Path) -> int | None:
    """The number (1-based) of the first line whose ``prev`` does not chain; None: intact."""
    prev = GENESIS
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            line = raw.rstrip(b"\n")
            try:
                if json.loads(line).get("prev") != prev:
                    return n
            except ValueError:
                return n
            prev = hashlib.sha256(line).hexdigest()
    return None
