"""The directory file (policies/directory.yaml) changed in place, one change at a time.

`broker directory add|retire` compute the new bytes in the core (broker.core.directory_edit);
here they are written: under an exclusive lock on the policy directory (two operators editing
at once would lose one change), only if the file still holds the bytes the edit was made from
(a hand edit meanwhile is not overwritten), and atomically (a temporary file beside it, then a
rename: a crash leaves the old file or the new one, never half of one). The temporary file's
name starts with a dot, so a leftover one never counts toward the policy version.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from broker.core.directory import DIRECTORY_FILE
from broker.core.errors import PolicyError


def directory_file(policy_dir: Path) -> Path:
    return policy_dir / DIRECTORY_FILE


@contextlib.contextmanager
def locked(policy_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the policy directory (the folder itself: no lock file)."""
    fd = os.open(policy_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def read(policy_dir: Path) -> bytes:
    path = directory_file(policy_dir)
    if not path.is_file():
        raise PolicyError(str(path), ["the organisations directory is missing"])
    return path.read_bytes()


def replace(policy_dir: Path, old: bytes, new: bytes) -> None:
    """Write ``new`` over the file if it still holds ``old`` (PolicyError if not), atomically,
    keeping the file's permissions."""
    path = directory_file(policy_dir)
    if path.read_bytes() != old:
        raise PolicyError(str(path), ["changed while this edit was made: nothing written, retry"])
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{DIRECTORY_FILE}.", dir=policy_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(new)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
