"""Keyed references and hashes: identify a child without revealing the national id number.

HMAC-SHA256 under a secret key, so nobody without the key can test guesses (an 11-digit
number with check digits is easy to enumerate; a plain hash would not protect it).
"""

from __future__ import annotations

import hashlib
import hmac


def subject_ref(key: bytes, national_id: str) -> str:
    """The audit log's reference to a data subject: stable, keyed, not reversible."""
    return "hs256:" + hmac.new(key, b"subject\0" + national_id.encode(), hashlib.sha256).hexdigest()


def partition_key(key: bytes, scope: str, national_id: str) -> bytes:
    """A Kafka key that keeps one child's messages in order, different for every topic scope
    so that two recipients cannot join their topics on it."""
    mac = hmac.new(key, f"partition\0{scope}\0{national_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32].encode()


def stable_id(*parts: str) -> str:
    """A deterministic id: the same inputs always give the same id (redelivery dedupes)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
