"""The files beside the audit log: where they are, the witness file, and dumps of the topic.

The witness file holds the sealer's copy of every checkpoint, one JSON line each, appended and
flushed to disk before the checkpoint is published: a rewritten or truncated topic cannot take
the witness's copies with it. A dump is the topic as JSON lines, for verifying offline.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from broker.adapters.settings import Settings
from broker.core.audit import AuditError, Checkpoint, Entry


class LineError(AuditError):
    """A line of a witness file or a dump does not parse: the file and line are named."""


def origin_of(s: Settings) -> str:
    """The log's name, signed into every checkpoint so one log's cannot pass for another's."""
    return f"oslo-share-broker/{s.topics.audit}"


def signing_key_path(s: Settings) -> Path:
    """The sealer's checkpoint-signing key: BROKER_AUDIT_KEY_FILE, else in the state dir."""
    return s.audit_key_file or s.state_dir / "keys" / "audit-signing.pem"


def witness_path(s: Settings) -> Path:
    """One witness file per audit log (topic), so two deployments never mix checkpoints."""
    return s.audit_witness or s.state_dir / "audit" / f"{s.topics.audit}.witness.jsonl"


def store_target(s: Settings) -> str:
    """The auditor store: BROKER_AUDIT_STORE (a SQLite file or postgresql:// URL)."""
    return s.audit_store or str(s.state_dir / "audit" / "audit.sqlite")


def read_witness(path: Path | None) -> list[Checkpoint]:
    """The witness file: one checkpoint per line. A line that does not parse stops everything."""
    if path is None or not path.exists():
        return []
    cps = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            cps.append(_checkpoint(line, path, n))
    return cps


def iter_witness(path: Path) -> Iterator[Checkpoint]:
    """The witness file read lazily, line by line (the verifier keeps none of it)."""
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                yield _checkpoint(line, path, n)


def _checkpoint(line: str, path: Path, n: int) -> Checkpoint:
    try:
        return Checkpoint.from_json(line)
    except AuditError as exc:
        raise LineError(f"{path}:{n}: {exc}") from None


def append_witness(path: Path, cp: Checkpoint) -> None:
    """Append-only and flushed to disk before the checkpoint is published."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, cp.to_json() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def write_dump(fh: TextIO, entries: Iterable[Entry]) -> int:
    """Write ``entries`` as dump lines (values and headers in base64); return how many."""
    n = 0
    for e in entries:
        line = {
            "offset": e.offset,
            "ce_type": e.ce_type,
            "value": base64.b64encode(e.value).decode(),
            "headers": [[k, base64.b64encode(v).decode()] for k, v in e.headers or ()],
        }
        fh.write(json.dumps(line) + "\n")
        n += 1
    return n


def read_dump(path: Path) -> Iterator[Entry]:
    """The entries of a dump, in order; a line that does not parse stops the reading."""
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                d = json.loads(line)
                headers = d.get("headers")  # absent in a dump written before writers signed
                entry = Entry(
                    int(d["offset"]),
                    str(d["ce_type"]),
                    base64.b64decode(d["value"]),
                    None
                    if headers is None
                    else tuple((str(k), base64.b64decode(v)) for k, v in headers),
                )
            except (ValueError, KeyError, TypeError):
                raise LineError(
                    f"{path}:{n}: not a dump line (offset, ce_type, value, headers)"
                ) from None
            yield entry
