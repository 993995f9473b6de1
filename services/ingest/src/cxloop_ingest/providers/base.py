"""What every provider adapter is: verify a delivery on its raw bytes, then map it.

An adapter never does I/O. The webhook route reads the raw body, looks up the
source's configuration, calls `verify` (401 on `SignatureRejected`, nothing
written), then `map` (422 on `PayloadRejected`), then dedupes and stores the
resulting touchpoints exactly like `POST /v1/events` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cxloop_shared.config import SourceConfig
from cxloop_shared.events import Touchpoint


class SignatureRejected(Exception):
    """The delivery is not provably from the source: bad, missing or stale signature.

    The message is for logs only; the HTTP answer never says which part failed.
    """


class PayloadRejected(Exception):
    """The delivery is authentic but cannot become a touchpoint (the message says why)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook request as it arrived.

    `headers` keys are lower-case. `url` is the full URL the provider called
    (scheme, host, path and query), as needed by schemes that sign the URL.
    """

    body: bytes
    headers: Mapping[str, str]
    url: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Mapped:
    """What a verified delivery becomes.

    `touchpoints` is empty when the provider's event type is not one the source
    maps (`ignored` then says which type), so the provider gets a 200 and stops
    retrying, and nothing is published.
    """

    touchpoints: Sequence[Touchpoint] = field(default_factory=tuple)
    ignored: str | None = None


class Adapter(Protocol):
    """One provider's signature scheme and payload mapping."""

    kind: str

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: datetime) -> None:
        """Raise `SignatureRejected` unless some secret in `secrets` signed the raw body."""
        ...

    def map(self, delivery: Delivery, source: SourceConfig) -> Mapped:
        """The canonical touchpoints in the delivery, named by `source.touchpoints`."""
        ...
