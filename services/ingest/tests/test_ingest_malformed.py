"""2,000 malformed bodies at every inbound door: never a 5xx, never anything published."""

from __future__ import annotations

import json
from typing import Any

import httpx
from cxloop_shared import topics
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_support import KafkaTap, Workspace

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=50),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
EVENT_KEYS = ["id", "touchpoint", "occurred_at", "customer", "channel", "attributes"]
# The right keys with scalar values: the closest a random body gets to an event
# while staying certainly invalid (a customer is always an object).
almost_events = st.dictionaries(st.sampled_from(EVENT_KEYS), scalars, min_size=1)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    almost_events.map(lambda v: json.dumps(v).encode()),
    st.lists(almost_events, max_size=3).map(lambda v: json.dumps({"events": v}).encode()),
    st.text(max_size=200).map(str.encode),
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "",
        "multipart/form-data",
    ]
)
DOORS = [
    "/v1/events",
    "/v1/events?source={ws}:partner",
    "/v1/webhooks/{ws}:shop",
    "/v1/webhooks/{ws}:billing",
    "/v1/webhooks/{ws}:helpdesk",
    "/v1/webhooks/{ws}:partner",
    "/v1/webhooks/{ws}:flex",
    "/v1/webhooks/{ws}:chat",
    "/v1/webhooks/{ws}:nope",
    "/v1/webhooks/{ws}",
    "/v1/responses",
    "/v1/inbound/sms/{ws}:sms",
    "/r/not-a-token",
    "/u/not-a-token",
]
signature_headers = st.dictionaries(
    st.sampled_from(
        [
            "X-Shopify-Hmac-Sha256",
            "X-Shopify-Topic",
            "Stripe-Signature",
            "X-Zendesk-Webhook-Signature",
            "X-Zendesk-Webhook-Signature-Timestamp",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "X-Twilio-Signature",
        ]
    ),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
    max_size=4,
)


async def test_malformed_bodies_never_5xx_and_publish_nothing(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap
) -> None:
    seen: dict[int, int] = {}
    accepted: list[Any] = []

    @settings(
        max_examples=2000,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        door=st.sampled_from(DOORS),
        body=bodies,
        content_type=content_types,
        extra=signature_headers,
        keyed=st.booleans(),
    )
    def post(door: str, body: bytes, content_type: str, extra: dict[str, str], keyed: bool) -> None:
        headers = {"Content-Type": content_type, **extra}
        if keyed:
            key = workspace.responses_key if door == "/v1/responses" else workspace.events_key
            headers["Authorization"] = f"Bearer {key}"
        calls.append((door.format(ws=workspace.id), body, headers))

    calls: list[tuple[str, bytes, dict[str, str]]] = []
    post()
    assert len(calls) >= 2000
    for url, body, headers in calls:
        answer = await ingest.post(url, content=body, headers=headers)
        seen[answer.status_code] = seen.get(answer.status_code, 0) + 1
        assert answer.status_code < 500, (url, body[:200], answer.text[:300])
        if answer.status_code < 300:
            accepted.append((url, body))

    assert accepted == []
    assert set(seen) <= {200, 400, 401, 403, 404, 405, 410, 413, 415, 422}, seen
    for topic in (topics.TOUCHPOINTS, topics.RESPONSES, topics.CUSTOMERS):
        assert await tap.published(topic, workspace.id) == []
