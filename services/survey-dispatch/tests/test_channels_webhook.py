"""The webhook channel against a receiver that verifies Standard Webhooks signatures itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from channel_servers import (
    WEBHOOK_SECRET,
    HandOverLog,
    ProviderStub,
    provider,
    unreachable_url,
    webhook_app,
)
from cxloop_dispatch.channels import SendFailed, Survey, WebhookChannel, build
from cxloop_shared.config import ChannelConfig

# Generous, so a loaded machine cannot fail a send that should succeed; short only where
# a test waits for the timeout on purpose.
TIMEOUT = 5.0
HANG_TIMEOUT = 0.5
SECRET_IN_URL = "s3cret-path-token"


@pytest.fixture(scope="module")
def receiver() -> Iterator[ProviderStub]:
    with provider(webhook_app) as stub:
        yield stub


@pytest.fixture(autouse=True)
def _fresh(receiver: ProviderStub) -> None:
    receiver.reset()


def config(base_url: str, **overrides: Any) -> ChannelConfig:
    fields = {
        "kind": "webhook",
        "url": f"{base_url}/hooks/cx?token={SECRET_IN_URL}",
        "secret": WEBHOOK_SECRET,
    }
    return ChannelConfig.model_validate({**fields, **overrides})


def channel(base_url: str, *, timeout: float = TIMEOUT, **kwargs: Any) -> WebhookChannel:
    return WebhookChannel(config(base_url), timeout=timeout, connect_timeout=TIMEOUT, **kwargs)


def survey() -> Survey:
    return Survey(
        invitation_id=uuid.uuid4(),
        address="c-42",
        locale="en-US",
        metric="nps",
        question="How likely are you to recommend us?",
        scores=list(range(11)),
        answer_url="https://cx.acme.test/r/token-123",
        brand="Acme",
    )


async def test_the_invitation_arrives_signed(receiver: ProviderStub) -> None:
    sent = survey()
    now = datetime.now(UTC).replace(microsecond=0)
    hand_over = HandOverLog(receiver)

    receipt = await channel(receiver.url, clock=lambda: now).send(sent, handing_over=hand_over)

    assert hand_over.provider_had == [0]
    assert receiver.verified == [True]
    [request] = receiver.received
    assert request.path == "/hooks/cx"
    assert request.headers["webhook-id"] == str(sent.invitation_id)
    assert request.headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "type": "invitation.created",
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": {
            "invitation_id": str(sent.invitation_id),
            "customer_id": "c-42",
            "question": "How likely are you to recommend us?",
            "metric": "nps",
            "scores": list(range(11)),
            "locale": "en-US",
            "response_url": "https://cx.acme.test/r/token-123",
        },
    }
    assert receipt.provider_message_id == str(sent.invitation_id)


async def test_a_retry_carries_the_same_webhook_id(receiver: ProviderStub) -> None:
    sent, webhook = survey(), channel(receiver.url)
    receiver.answer = "down"
    with pytest.raises(SendFailed) as failed:
        await webhook.send(sent, handing_over=HandOverLog())
    assert (failed.value.permanent, failed.value.ambiguous) == (False, False)

    receiver.answer = "accept"
    await webhook.send(sent, handing_over=HandOverLog())

    ids = [request.headers["webhook-id"] for request in receiver.received]
    assert ids == [str(sent.invitation_id)] * 2
    assert receiver.verified == [True, True]


async def test_a_rate_limit_is_retried_after_the_date_given(receiver: ProviderStub) -> None:
    later = datetime.now(UTC) + timedelta(seconds=30)
    receiver.answer, receiver.retry_after = "rate_limited", format_datetime(later, usegmt=True)

    with pytest.raises(SendFailed) as failed:
        await channel(receiver.url).send(survey(), handing_over=HandOverLog())

    assert not failed.value.permanent
    assert failed.value.retry_after is not None
    assert 25 <= failed.value.retry_after <= 30


async def test_a_refusal_is_final_and_keeps_the_url_out_of_the_detail(
    receiver: ProviderStub,
) -> None:
    receiver.answer = "refuse"

    with pytest.raises(SendFailed) as failed:
        await channel(receiver.url).send(survey(), handing_over=HandOverLog())

    assert failed.value.permanent
    assert failed.value.detail == "webhook: HTTP 410"


async def test_a_wrong_secret_is_refused_by_the_receiver(receiver: ProviderStub) -> None:
    other = "whsec_" + "b3RoZXIgc2VjcmV0IGZvciB0aGUgdGVzdHM="
    webhook = WebhookChannel(config(receiver.url, secret=other), timeout=TIMEOUT)

    with pytest.raises(SendFailed) as failed:
        await webhook.send(survey(), handing_over=HandOverLog())

    assert receiver.verified == [False]
    assert failed.value.permanent


async def test_no_answer_after_the_request_left_is_ambiguous(receiver: ProviderStub) -> None:
    receiver.answer = "hang"
    hand_over = HandOverLog(receiver)

    with pytest.raises(SendFailed) as failed:
        await channel(receiver.url, timeout=HANG_TIMEOUT).send(survey(), handing_over=hand_over)

    assert (failed.value.permanent, failed.value.ambiguous) == (False, True)
    assert hand_over.provider_had == [0]
    assert receiver.wait_received(1)
    assert SECRET_IN_URL not in failed.value.detail


async def test_a_refused_connection_is_retried_and_never_handed_over() -> None:
    hand_over = HandOverLog()

    with pytest.raises(SendFailed) as failed:
        await channel(unreachable_url()).send(survey(), handing_over=hand_over)

    assert (failed.value.permanent, failed.value.ambiguous) == (False, False)
    assert hand_over.provider_had == []
    assert SECRET_IN_URL not in failed.value.detail


def test_build_makes_a_webhook_channel_and_refuses_a_malformed_secret() -> None:
    assert isinstance(build(config("https://hooks.test")), WebhookChannel)
    with pytest.raises(SendFailed) as failed:
        build(config("https://hooks.test", secret="whsec_not base64!"))
    assert failed.value.permanent
