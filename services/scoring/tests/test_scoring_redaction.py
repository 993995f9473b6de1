"""What erasure keeps of a customer, for every input: nothing that names or reaches the
person survives; what outcome reports read (amounts, currencies, queues, agents) does."""

from __future__ import annotations

import json
from typing import Any

from cxloop_scoring.redaction import (
    is_pseudonym,
    personal_name,
    personal_text,
    pseudonym,
    redact_webhook_body,
    scrub_attributes,
    webhook_customer_marker,
    webhook_is_about,
)
from cxloop_scoring.webhooks import body
from hypothesis import given
from hypothesis import strategies as st
from scoring_support import T0

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
EMAILS = st.emails().map(str)
PHONES = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)
CUSTOMER = "c-4242"


def leaves(value: Any, name: str = "") -> list[tuple[str, Any]]:
    """Every (attribute name, scalar) in a scrubbed document, nested ones included."""
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in leaves(item, key)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item, name)]
    return [(name, value)]


@given(st.dictionaries(st.text(), JSON, max_size=8))
def test_scrubbed_attributes_keep_nothing_personal_and_are_stable(
    attributes: dict[str, Any],
) -> None:
    scrubbed = scrub_attributes(attributes, customer_id=CUSTOMER)
    for name, value in leaves(scrubbed):
        assert not personal_name(name)
        if isinstance(value, str):
            assert not personal_text(value, customer_id=CUSTOMER)
    assert scrub_attributes(scrubbed, customer_id=CUSTOMER) == scrubbed


@given(st.dictionaries(st.sampled_from(["order_value", "gift", "items"]), SCALARS), EMAILS, PHONES)
def test_contacts_go_wherever_they_are_and_numbers_stay(
    kept: dict[str, Any], email: str, phone: str
) -> None:
    numbers = {k: v for k, v in kept.items() if not isinstance(v, str)}
    attributes = {
        **numbers,
        "buyer_email": email,
        "deliverTo": {"mobile": phone, "floor": 3},
        "reply_to": email,
        "sms": phone,
        "who": CUSTOMER.upper(),
    }
    scrubbed = scrub_attributes(attributes, customer_id=CUSTOMER)
    assert scrubbed == {**numbers, "deliverTo": {"floor": 3}}


def test_what_outcome_reports_read_stays() -> None:
    attributes = {
        "order_value": "1999.00",
        "currency": "EUR",
        "queue": "Billing disputes",
        "agent": "Kim Lee",
        "auto_resolved": False,
        "order_id": "o-7",
        "note": "Leave it with the neighbour at number 12, she knows",
        "paid": True,
    }
    assert scrub_attributes(attributes, customer_id=CUSTOMER) == {
        "order_value": "1999.00",
        "currency": "EUR",
        "queue": "Billing disputes",
        "agent": "Kim Lee",
        "auto_resolved": False,
        "paid": True,
    }


@given(st.text(min_size=1, max_size=200), st.text(), EMAILS)
def test_a_redacted_body_keeps_no_trace_of_the_customer(
    customer_id: str, comment: str, email: str
) -> None:
    data = {
        "customer_id": customer_id,
        "comment": comment,
        "note": comment,
        "score": 3,
        "context": {"buyer": email, "order_value": 12.5},
    }
    original = body("alert.created", at=T0, data=data)
    assert webhook_customer_marker(customer_id) in original
    assert webhook_is_about(original, customer_id)
    stand_in = pseudonym()

    redacted = json.loads(
        redact_webhook_body(original, customer_id=customer_id, pseudonym=stand_in)
    )

    assert redacted["type"] == "alert.created"
    assert redacted["data"]["customer_id"] == stand_in
    assert (redacted["data"]["comment"], redacted["data"]["note"]) == (None, None)
    assert redacted["data"]["score"] == 3
    assert redacted["data"]["context"] == {"order_value": 12.5}


def test_pseudonyms_are_fresh_and_recognisable() -> None:
    drawn = {pseudonym() for _ in range(100)}
    assert len(drawn) == 100
    assert all(is_pseudonym(p) for p in drawn)
    assert not is_pseudonym("c-42")


def test_a_body_that_is_not_json_is_redacted_whole() -> None:
    redacted = redact_webhook_body("not json", customer_id="c-1", pseudonym="erased:x")
    assert json.loads(redacted) == {"redacted": True}
    assert not webhook_is_about("not json", "c-1")
