"""Masking contact details: what a reader of a customer may learn, for every address."""

from __future__ import annotations

from cxloop_dispatch.customer_views import mask_email, mask_phone
from hypothesis import given
from hypothesis import strategies as st

LOCAL = st.text(
    alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters=".+_-"),
    min_size=1,
    max_size=30,
)
DOMAIN = st.from_regex(r"[a-z0-9-]{1,20}\.[a-z]{2,6}", fullmatch=True)
PHONE = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)


def test_examples() -> None:
    assert mask_email("ana@example.com") == "a***@example.com"
    assert mask_email("not an address") == "***"
    assert mask_email("@example.com") == "***"
    assert mask_phone("+14155550100") == "+1********00"
    assert mask_phone("+123") == "***"


@given(LOCAL, DOMAIN)
def test_a_masked_email_keeps_the_first_letter_and_the_domain_only(local: str, domain: str) -> None:
    masked = mask_email(f"{local}@{domain}")
    assert masked == f"{local[0]}***@{domain}"
    if len(local) > 1:
        assert f"{local}@" not in masked


@given(PHONE)
def test_a_masked_phone_shows_three_digits_and_hides_the_rest(number: str) -> None:
    masked = mask_phone(number)
    digits = number[1:]
    assert len(masked) == len(number)
    assert masked[:2] == number[:2]
    assert masked[-2:] == number[-2:]
    assert set(masked[2:-2]) == {"*"}
    assert sum(c.isdigit() for c in masked) == 3 < len(digits)
