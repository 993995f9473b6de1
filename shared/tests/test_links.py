"""Signed survey and unsubscribe links: what verifies, what is rejected, when they close."""

from __future__ import annotations

import string
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cxloop_shared.links import (
    AnswerLink,
    InvalidLink,
    UnsubscribeLink,
    is_open,
    sign,
    verify,
)
from hypothesis import assume, given
from hypothesis import strategies as st

SECRET = "test-link-secret"
UNTIL = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
ANSWER = AnswerLink(
    workspace_id="acme",
    invitation_id=uuid.UUID("00000000-0000-4000-8000-0000000000aa"),
    customer_id="c-1",
    touchpoint="checkout",
    survey="csat_checkout",
    metric="csat",
    channel="email",
    locale="de",
    answer_until=UNTIL,
)
UNSUBSCRIBE = UnsubscribeLink(workspace_id="acme", customer_id="c-1", channel="email")
TOKEN = sign(ANSWER, secret=SECRET)
# The alphabet of URL-safe base64 plus the separator between payload and signature.
TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_."


def _replace(token: str, index: int, char: str) -> str:
    return token[:index] + char + token[index + 1 :]


def _flip(token: str, index: int) -> str:
    return _replace(token, index, "A" if token[index] != "A" else "B")


def test_an_answer_link_round_trips() -> None:
    assert verify(TOKEN, AnswerLink, secret=SECRET) == ANSWER


def test_an_unsubscribe_link_round_trips() -> None:
    token = sign(UNSUBSCRIBE, secret=SECRET)
    assert verify(token, UnsubscribeLink, secret=SECRET) == UNSUBSCRIBE


def test_the_token_is_url_safe() -> None:
    assert set(TOKEN) <= set(TOKEN_ALPHABET)


def test_a_tampered_payload_is_rejected() -> None:
    payload, _, _ = TOKEN.rpartition(".")
    with pytest.raises(InvalidLink):
        verify(_flip(TOKEN, len(payload) // 2), AnswerLink, secret=SECRET)


def test_a_tampered_signature_is_rejected() -> None:
    payload, _, _ = TOKEN.rpartition(".")
    with pytest.raises(InvalidLink):
        verify(_flip(TOKEN, len(payload) + 3), AnswerLink, secret=SECRET)


def test_a_link_signed_with_another_secret_is_rejected() -> None:
    with pytest.raises(InvalidLink):
        verify(sign(ANSWER, secret="someone-else"), AnswerLink, secret=SECRET)


def test_an_unsubscribe_token_is_not_an_answer_link() -> None:
    token = sign(UNSUBSCRIBE, secret=SECRET)
    with pytest.raises(InvalidLink):
        verify(token, AnswerLink, secret=SECRET)


def test_an_answer_token_is_not_an_unsubscribe_link() -> None:
    with pytest.raises(InvalidLink):
        verify(TOKEN, UnsubscribeLink, secret=SECRET)


@pytest.mark.parametrize("token", ["", ".", "not-a-token", TOKEN.rpartition(".")[0]])
def test_garbage_is_rejected(token: str) -> None:
    with pytest.raises(InvalidLink):
        verify(token, AnswerLink, secret=SECRET)


@given(
    index=st.integers(min_value=0, max_value=len(TOKEN) - 1),
    char=st.sampled_from(TOKEN_ALPHABET),
)
def test_any_single_character_change_is_rejected_or_harmless(index: int, char: str) -> None:
    assume(TOKEN[index] != char)
    try:
        link = verify(_replace(TOKEN, index, char), AnswerLink, secret=SECRET)
    except InvalidLink:
        return
    # Base64's padding bits in a last character can change without changing the bytes.
    assert link == ANSWER


def test_a_link_is_open_until_its_answer_window_closes() -> None:
    assert is_open(ANSWER, now=UNTIL - timedelta(seconds=1))
    assert not is_open(ANSWER, now=UNTIL)
    assert not is_open(ANSWER, now=UNTIL + timedelta(days=1))
