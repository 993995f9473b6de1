"""The event contracts: validation of what a touchpoint says about a customer, Kafka keys."""

from __future__ import annotations

import pytest
from cxloop_shared.events import EVENT_TYPES, Customer, CxEvent
from pydantic import ValidationError
from shared_support import one_of_each


def test_every_contract_is_registered_under_its_type() -> None:
    events = one_of_each()
    assert sorted(type(event).ce_type for event in events) == sorted(EVENT_TYPES)
    for event in events:
        assert EVENT_TYPES[event.ce_type] is type(event)


@pytest.mark.parametrize("event", one_of_each("acme", "c-42"), ids=lambda e: type(e).__name__)
def test_the_kafka_key_is_workspace_and_customer(event: CxEvent) -> None:
    assert event.kafka_key() == "acme:c-42"


def test_a_complete_customer_is_accepted() -> None:
    customer = Customer(
        id="c-1",
        email="ada.lovelace+cx@example.co.uk",
        phone="+14155550100",
        locale="en-GB",
        timezone="Asia/Kathmandu",
        preferred_channel="sms",
    )
    assert customer.phone == "+14155550100"
    assert customer.timezone == "Asia/Kathmandu"


@pytest.mark.parametrize(
    "email", ["ada", "ada@example", "ada@@example.com", "ada lovelace@example.com", "@x.com"]
)
def test_a_bad_email_is_rejected(email: str) -> None:
    with pytest.raises(ValidationError, match="not an email address"):
        Customer(id="c-1", email=email)


@pytest.mark.parametrize(
    "phone", ["4155550100", "+0155550100", "+1 415 555 0100", "+1-415-555-0100", "+12345"]
)
def test_a_phone_number_not_in_e164_is_rejected(phone: str) -> None:
    with pytest.raises(ValidationError, match=r"not an E\.164 phone number"):
        Customer(id="c-1", phone=phone)


@pytest.mark.parametrize("timezone", ["Europe/Atlantis", "CEST", "+02:00", "europe/berlin"])
def test_an_unknown_time_zone_is_rejected(timezone: str) -> None:
    with pytest.raises(ValidationError, match="not an IANA time zone"):
        Customer(id="c-1", timezone=timezone)


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="extra_forbidden"):
        Customer.model_validate({"id": "c-1", "nickname": "Ada"})
