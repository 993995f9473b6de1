"""The shared signing helpers, checked against `hmac` directly and over arbitrary input."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from cxloop_ingest.providers.base import SignatureRejected
from cxloop_ingest.providers.signing import (
    TOLERANCE,
    Algorithm,
    Encoding,
    decode_signature,
    parse_stamp,
    require_fresh,
    signed_by_any,
)
from hypothesis import given
from hypothesis import strategies as st

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
secrets = st.text(min_size=1, max_size=64)
bodies = st.binary(max_size=2048)


@given(body=bodies, secret=secrets)
def test_a_correct_signature_verifies(body: bytes, secret: str) -> None:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).digest()

    assert signed_by_any([secret], body, [signature])


@given(body=bodies.filter(bool), secret=secrets, data=st.data())
def test_any_single_byte_change_of_the_body_fails(
    body: bytes, secret: str, data: st.DataObject
) -> None:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    position = data.draw(st.integers(0, len(body) - 1))
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != body[position]))
    changed = body[:position] + bytes([replacement]) + body[position + 1 :]

    assert not signed_by_any([secret], changed, [signature])


@given(body=bodies, secret=secrets, other=secrets)
def test_another_secret_fails(body: bytes, secret: str, other: str) -> None:
    signature = hmac.new(other.encode(), body, hashlib.sha256).digest()

    assert signed_by_any([secret], body, [signature]) is (secret == other)


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_every_algorithm_and_any_of_several_secrets(algorithm: Algorithm) -> None:
    signature = hmac.new(b"second", b"body", algorithm).digest()

    assert signed_by_any(["first", "second"], b"body", [None, b"", signature], algorithm)
    assert not signed_by_any([], b"body", [signature], algorithm)


@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        ("00ff", "hex", b"\x00\xff"),
        ("00FF", "hex", b"\x00\xff"),
        (base64.b64encode(b"\x00\xff").decode(), "base64", b"\x00\xff"),
        ("zz", "hex", None),
        ("n0t b64!", "base64", None),
        ("ünïcode", "base64", None),
    ],
)
def test_signatures_decode_or_are_refused(
    text: str, encoding: Encoding, expected: bytes | None
) -> None:
    assert decode_signature(text, encoding) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1795417200", datetime(2026, 11, 23, 7, 0, tzinfo=UTC)),
        ("2026-11-23T07:00:00Z", datetime(2026, 11, 23, 7, 0, tzinfo=UTC)),
        ("2026-11-23T08:00:00+01:00", datetime(2026, 11, 23, 7, 0, tzinfo=UTC)),
        ("2026-11-23T07:00:00", datetime(2026, 11, 23, 7, 0, tzinfo=UTC)),
    ],
)
def test_a_stamp_is_unix_seconds_or_iso(text: str, expected: datetime) -> None:
    assert parse_stamp(text) == expected


@pytest.mark.parametrize("text", ["soon", "", "9" * 40, "-", "1e9999"])
def test_a_stamp_that_is_not_a_time_is_refused(text: str) -> None:
    with pytest.raises(SignatureRejected):
        parse_stamp(text)


def test_the_tolerance_is_five_minutes_inclusive_both_ways() -> None:
    require_fresh(NOW - TOLERANCE, NOW)
    require_fresh(NOW + TOLERANCE, NOW)
    for stamp in (NOW - TOLERANCE - timedelta(seconds=1), NOW + TOLERANCE + timedelta(seconds=1)):
        with pytest.raises(SignatureRejected):
            require_fresh(stamp, NOW)
