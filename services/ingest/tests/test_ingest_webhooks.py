"""Every provider through HTTP: what a delivery, a redelivery or a forgery puts on Kafka.

The adapters' own tests (test_providers_*.py) cover each scheme's details; here each
provider's real-shaped delivery goes through the route, the group commit and the
outbox, and the test checks what reached `cx.touchpoints`: exactly one touchpoint,
or nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import test_providers_chatwoot as chatwoot
import test_providers_custom as custom
import test_providers_shopify as shopify
import test_providers_standard as standard
import test_providers_stripe as stripe
import test_providers_twilio as twilio
import test_providers_zendesk as zendesk
from cxloop_ingest.providers.base import Delivery
from cxloop_shared import topics
from cxloop_shared.events import TouchpointReceived
from ingest_support import SECRETS, KafkaTap, Workspace, ingest_config
from providers_support import payload

Sign = Callable[[str, datetime, str], Delivery]  # secret, signing time, URL → delivery


@dataclass(frozen=True)
class Provider:
    source: str
    sign: Sign
    touchpoint: str
    # Signing times the scheme refuses; Shopify allows its own retries' old trigger times.
    stale: tuple[timedelta, ...] = (timedelta(minutes=-6), timedelta(minutes=6))


PROVIDERS = {
    "shopify": Provider(
        "shop",
        lambda secret, at, _: shopify.signed(
            payload("shopify_orders_create.json"),
            secret=secret,
            **{"X-Shopify-Triggered-At": at.isoformat().replace("+00:00", "Z")},
        ),
        "checkout",
        stale=(timedelta(hours=-49), timedelta(minutes=6)),
    ),
    "stripe": Provider(
        "billing",
        lambda secret, at, _: stripe.signed(
            payload("stripe_invoice_paid.json"), secrets=(secret,), at=at
        ),
        "invoice_paid",
    ),
    "zendesk": Provider(
        "helpdesk",
        lambda secret, at, _: zendesk.signed(
            payload("zendesk_ticket_status_changed.json"), secret=secret, at=at
        ),
        "ticket_closed",
    ),
    "standard": Provider(
        "partner",
        lambda secret, at, _: standard.signed(
            payload("standard_touchpoint.json"), secrets=(secret,), at=at
        ),
        "checkout",
    ),
    "twilio_flex": Provider(
        "flex",
        lambda secret, _, url: twilio.signed(twilio.task_completed(), token=secret, url=url),
        "contact_ended",
        stale=(),  # Twilio signs no timestamp
    ),
    "chatwoot": Provider(
        "chat",
        lambda secret, at, _: chatwoot.signed(
            payload("chatwoot_conversation_status_changed.json"), secret=secret, at=at
        ),
        "contact_ended",
    ),
    "custom": Provider(
        "custom",
        lambda secret, at, _: custom.signed(
            payload("custom_delivery_completed.json"), secret=secret, at=at
        ),
        "order_delivered",
    ),
}


@pytest.fixture
async def every_source(gateway: httpx.AsyncClient, workspace_id: str) -> Workspace:
    config = ingest_config(workspace_id)
    config["sources"]["custom"] = {
        "kind": "custom",
        "secrets": SECRETS["custom"],
        "touchpoints": {"delivery.completed": "order_delivered"},
        "mapping": custom.MAPPING,
    }
    return await Workspace.create(gateway, config)


async def post(ingest: httpx.AsyncClient, path: str, delivery: Delivery) -> httpx.Response:
    return await ingest.post(path, content=delivery.body, headers=dict(delivery.headers))


@pytest.mark.parametrize("kind", list(PROVIDERS))
async def test_a_provider_delivery_is_published_once_and_forgeries_never(
    ingest: httpx.AsyncClient, every_source: Workspace, tap: KafkaTap, kind: str
) -> None:
    provider = PROVIDERS[kind]
    path = f"/v1/webhooks/{every_source.id}:{provider.source}"
    url = f"http://ingest.test{path}"
    old_secret, current_secret = SECRETS[provider.source]
    now = datetime.now(UTC)

    # Rotation: both secrets are active; the delivery signed with the old one is
    # accepted, its redelivery signed with the current one is a duplicate.
    first = await post(ingest, path, provider.sign(old_secret, now, url))
    redelivered = await post(ingest, path, provider.sign(current_secret, now, url))
    genuine = provider.sign(current_secret, now, url)
    tampered = Delivery(genuine.body + b" ", genuine.headers, genuine.url, genuine.received_at)
    forged = await post(ingest, path, provider.sign("not-" + current_secret, now, url))
    changed = await post(ingest, path, tampered)

    assert first.status_code == 202, first.text
    assert redelivered.status_code == 200
    assert redelivered.json()["duplicate"] is True
    assert (forged.status_code, changed.status_code) == (401, 401)
    for skew in provider.stale:
        stale = await post(ingest, path, provider.sign(current_secret, now + skew, url))
        assert stale.status_code == 401, (kind, skew)
    published = await tap.published(topics.TOUCHPOINTS, every_source.id)
    assert len(published) == 1
    touchpoint = published[0]
    assert isinstance(touchpoint, TouchpointReceived)
    assert touchpoint.source == provider.source
    assert touchpoint.event.touchpoint == provider.touchpoint


async def test_an_unknown_source_is_404_and_an_unmapped_type_is_ignored(
    ingest: httpx.AsyncClient, every_source: Workspace, tap: KafkaTap
) -> None:
    now = datetime.now(UTC)
    order = PROVIDERS["shopify"].sign(SECRETS["shop"][1], now, "")
    unknown = await post(ingest, f"/v1/webhooks/{every_source.id}:nope", order)
    other_workspace = await post(ingest, "/v1/webhooks/ws-someone-else:shop", order)
    paid = shopify.signed(payload("shopify_orders_create.json"), topic="orders/paid")
    ignored = await post(ingest, f"/v1/webhooks/{every_source.id}:shop", paid)

    assert (unknown.status_code, other_workspace.status_code) == (404, 404)
    assert ignored.status_code == 200
    assert ignored.json()["ignored"] == "orders/paid"
    assert await tap.published(topics.TOUCHPOINTS, every_source.id) == []
