"""The pieces every signature scheme is built from: HMAC, comparison, freshness, headers.

Every check runs on the raw bytes of the delivery, never on re-serialized JSON, and
compares digests with `hmac.compare_digest` against every configured secret, so a
source can rotate its secret by configuring the new one beside the old.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from cxloop_ingest.providers.base import Delivery, SignatureRejected

TOLERANCE = timedelta(minutes=5)

Algorithm = Literal["sha1", "sha256", "sha512"]
Encoding = Literal["hex", "base64"]

_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def header(delivery: Delivery, name: str) -> str | None:
    """The header's value without surrounding blanks, or None when absent or empty."""
    value = delivery.headers.get(name.lower())
    if value is None:
        return None
    return value.strip() or None


def require_header(delivery: Delivery, name: str) -> str:
    """The header's value; a delivery without it is not provably from the source."""
    value = header(delivery, name)
    if value is None:
        raise SignatureRejected(f"missing {name} header")
    return value


def digest(secret: str, message: bytes, algorithm: Algorithm = "sha256") -> bytes:
    """HMAC of `message` keyed with the secret's UTF-8 bytes."""
    return hmac.new(secret.encode(), message, _ALGORITHMS[algorithm]).digest()


def decode_signature(text: str, encoding: Encoding) -> bytes | None:
    """The raw digest a header carries, or None when it is not valid hex or base64."""
    try:
        if encoding == "hex":
            return bytes.fromhex(text)
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, binascii.Error):
        return None


def signed_by_any(
    secrets: Sequence[str],
    message: bytes,
    signatures: Iterable[bytes | None],
    algorithm: Algorithm = "sha256",
) -> bool:
    """Whether any secret signed `message` as any of the given raw digests.

    Every pair is compared in constant time and none is skipped, so the time taken
    says nothing about which secret or which signature came close.
    """
    candidates = [signature for signature in signatures if signature]
    matched = False
    for secret in secrets:
        expected = digest(secret, message, algorithm)
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate)
    return matched


def parse_stamp(text: str) -> datetime:
    """A signed timestamp: unix seconds or ISO 8601; anything else fails verification."""
    try:
        if text.lstrip("-").replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(text), UTC)
        stamp = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError) as exc:
        raise SignatureRejected("the signature timestamp is not a time") from exc
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def require_fresh(stamp: datetime, now: datetime) -> None:
    """Refuse a signature made more than `TOLERANCE` before or after `now` (a replay)."""
    if abs(now - stamp) > TOLERANCE:
        raise SignatureRejected("the signature timestamp is outside the 5-minute tolerance")
