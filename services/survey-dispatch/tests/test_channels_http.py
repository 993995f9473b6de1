"""What a provider's answer means: the pure rules the HTTP channels share."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cxloop_dispatch.channels.http import ProviderErrors, error_code, refusal
from cxloop_shared.http import retry_after

NOW = datetime(2026, 11, 23, 7, 0, 0, tzinfo=UTC)
ERRORS = ProviderErrors(
    provider="acme",
    code=lambda document: error_code(document.get("code")) if document else None,
    retryable=frozenset({"rate"}),
    permanent=frozenset({"gone"}),
    reasons={"gone": "recipient gone"},
)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("Mon, 23 Nov 2026 07:00:30 GMT", 30.0),
        ("Mon, 23 Nov 2026 06:59:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(
    header: str | None, seconds: float | None
) -> None:
    assert retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (400, True),
        (401, True),
        (404, True),
        (301, True),
        (408, False),
        (429, False),
        (500, False),
        (502, False),
        (503, False),
    ],
)
def test_the_status_decides_without_a_known_code(status: int, permanent: bool) -> None:
    assert refusal(status, None, errors=ERRORS).permanent is permanent


def test_a_provider_code_overrides_the_status() -> None:
    assert not refusal(400, {"code": "rate"}, errors=ERRORS, wait=3.0).permanent
    final = refusal(503, {"code": "gone"}, errors=ERRORS, wait=3.0)
    assert final.permanent
    assert final.retry_after is None  # a wait means nothing for what is never retried
    assert final.detail == "acme: HTTP 503, error gone (recipient gone)"


def test_only_plain_short_codes_reach_a_detail() -> None:
    assert error_code(21610) == "21610"
    assert error_code("OAuth_190") == "OAuth_190"
    assert error_code("+1 415 555 0100") is None
    assert error_code("x" * 41) is None
    assert error_code(True) is None
    assert error_code({"nested": 1}) is None
