"""Helpers of the provider adapter tests: sample payloads, deliveries and sources.

The tests sign their deliveries themselves with `hmac`, never with the code under
test, so a scheme that signs the wrong bytes fails them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cxloop_ingest.providers.base import Delivery
from cxloop_shared.config import SourceConfig

PAYLOADS = Path(__file__).parent / "payloads"
NOW = datetime(2026, 11, 23, 7, 0, 5, tzinfo=UTC)
URL = "https://cx.example.com/v1/webhooks/acme:source"


def payload(name: str) -> bytes:
    """A sample payload's bytes, exactly as stored."""
    return (PAYLOADS / name).read_bytes()


def document(name: str) -> dict[str, Any]:
    """A sample payload, parsed, to change before re-encoding."""
    found: dict[str, Any] = json.loads(payload(name))
    return found


def delivery(
    body: bytes, headers: Mapping[str, str], *, url: str = URL, received_at: datetime = NOW
) -> Delivery:
    """A delivery as the route builds it: header names lower-cased."""
    lowered = {name.lower(): value for name, value in headers.items()}
    return Delivery(body=body, headers=lowered, url=url, received_at=received_at)


def source(kind: str, touchpoints: dict[str, str] | None = None, **extra: Any) -> SourceConfig:
    """A source of `kind` mapping the given provider event types."""
    return SourceConfig.model_validate(
        {"kind": kind, "secrets": ["unused"], "touchpoints": touchpoints or {}, **extra}
    )
