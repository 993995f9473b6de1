"""CloudEvents in Kafka's binary mode: headers, keys, deterministic ids, undecodable input."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from cxloop_shared.cloudevents import UndecodableMessage, decode, encode, event_id, header
from cxloop_shared.events import CxEvent, InvitationChanged
from shared_support import T0, customer_changed, invitation_changed, one_of_each

EVENTS = one_of_each("acme", "c-42")


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_round_trips(event: CxEvent) -> None:
    record = encode(event, topic="cx.test", source="/cxloop/test")

    assert decode(record.headers, record.value) == event
    assert record.topic == "cx.test"
    assert record.key == b"acme:c-42"


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_the_cloudevents_attributes_travel_in_headers(event: CxEvent) -> None:
    record = encode(
        event, topic="cx.test", source="/cxloop/test", time=T0, traceparent="00-abc-def-01"
    )

    assert dict(record.headers) == {
        "ce_specversion": b"1.0",
        "ce_id": event_id(event).encode(),
        "ce_source": b"/cxloop/test",
        "ce_type": event.ce_type.encode(),
        "ce_time": b"2026-03-02T09:30:00+00:00",
        "content-type": b"application/json",
        "traceparent": b"00-abc-def-01",
    }
    assert json.loads(record.value)["workspace_id"] == "acme"


def test_the_traceparent_header_is_only_there_when_given() -> None:
    record = encode(EVENTS[0], topic="cx.test", source="/cxloop/test")
    assert header(record.headers, "traceparent") is None
    assert header(record.headers, "ce_time") is not None


def test_the_event_id_is_deterministic() -> None:
    first = invitation_changed("acme", "c-1")
    again = invitation_changed("acme", "c-1")

    assert event_id(first) == event_id(again)
    assert uuid.UUID(event_id(first))
    assert header(encode(first, topic="a", source="s").headers, "ce_id") == header(
        encode(again, topic="b", source="other").headers, "ce_id"
    )


def test_the_event_id_follows_the_subject() -> None:
    scheduled = invitation_changed("acme", "c-1")
    assert isinstance(scheduled, InvitationChanged)
    sent = scheduled.model_copy(update={"status": "sent"})
    later_opt_out = customer_changed("acme", "c-1").model_copy(
        update={"changed_at": T0 + timedelta(seconds=1)}
    )

    assert event_id(scheduled) != event_id(sent)
    assert event_id(customer_changed("acme", "c-1")) != event_id(later_opt_out)
    assert event_id(scheduled) != event_id(invitation_changed("globex", "c-1"))


def test_ids_of_different_event_types_differ() -> None:
    assert len({event_id(event) for event in EVENTS}) == len(EVENTS)


def _headers_without(name: str) -> list[tuple[str, bytes]]:
    record = encode(EVENTS[0], topic="cx.test", source="s")
    return [(key, value) for key, value in record.headers if key != name]


def test_a_message_without_a_type_is_undecodable() -> None:
    with pytest.raises(UndecodableMessage, match="missing ce_type"):
        decode(_headers_without("ce_type"), encode(EVENTS[0], topic="t", source="s").value)


def test_a_message_of_an_unknown_type_is_undecodable() -> None:
    headers = [*_headers_without("ce_type"), ("ce_type", b"dev.cxloop.touchpoint.received.v9")]
    with pytest.raises(UndecodableMessage, match="unknown event type"):
        decode(headers, b"{}")


def test_an_empty_body_is_undecodable() -> None:
    record = encode(EVENTS[0], topic="t", source="s")
    with pytest.raises(UndecodableMessage, match="empty message body"):
        decode(record.headers, None)


@pytest.mark.parametrize("value", [b"", b"{not json", b"[]", b'{"workspace_id": "acme"}'])
def test_a_body_that_is_not_the_event_is_undecodable(value: bytes) -> None:
    record = encode(EVENTS[0], topic="t", source="s")
    with pytest.raises(UndecodableMessage, match=r"invalid dev\.cxloop\.touchpoint\.received\.v1"):
        decode(record.headers, value)


def test_a_body_of_another_type_is_undecodable() -> None:
    touchpoint = encode(EVENTS[0], topic="t", source="s")
    response = encode(EVENTS[2], topic="t", source="s")
    with pytest.raises(UndecodableMessage):
        decode(touchpoint.headers, response.value)
