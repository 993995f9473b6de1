"""The WhatsApp channel against a Cloud-API-like Graph endpoint on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from channel_servers import (
    ACCESS_TOKEN,
    GRAPH_VERSION,
    PHONE_NUMBER_ID,
    HandOverLog,
    ProviderStub,
    provider,
    unreachable_url,
    whatsapp_app,
)
from cxloop_dispatch.channels import SendFailed, Survey, WhatsAppChannel, build
from cxloop_dispatch.channels.whatsapp import answer_token
from cxloop_shared.config import ChannelConfig

PHONE = "+4915112345678"
TOKEN = "eyJ3b3Jrc3BhY2VfaWQiOiJhY21lIn0.c2lnbmF0dXJl"
# Generous, so a loaded machine cannot fail a send that should succeed; short only where
# a test waits for the timeout on purpose.
TIMEOUT = 5.0
HANG_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def graph() -> Iterator[ProviderStub]:
    with provider(whatsapp_app) as stub:
        yield stub


@pytest.fixture(autouse=True)
def _fresh(graph: ProviderStub) -> None:
    graph.reset()


def config(base_url: str, **overrides: Any) -> ChannelConfig:
    fields = {
        "kind": "whatsapp",
        "base_url": f"{base_url}/{GRAPH_VERSION}",
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token": ACCESS_TOKEN,
        "template": "cx_survey",
        "template_language": "de",
    }
    return ChannelConfig.model_validate({**fields, **overrides})


def channel(base_url: str, *, timeout: float = TIMEOUT, **overrides: Any) -> WhatsAppChannel:
    return WhatsAppChannel(config(base_url, **overrides), timeout=timeout, connect_timeout=TIMEOUT)


def survey() -> Survey:
    return Survey(
        invitation_id=uuid.uuid4(),
        address=PHONE,
        locale="de-DE",
        metric="csat",
        question="Wie zufrieden sind Sie\nmit unserer Hilfe?",
        scores=[1, 2, 3, 4, 5],
        answer_url=f"https://cx.acme.test/r/{TOKEN}",
        brand="Acme",
    )


async def test_a_survey_is_sent_as_the_approved_template(graph: ProviderStub) -> None:
    hand_over = HandOverLog(graph)

    receipt = await channel(graph.url).send(survey(), handing_over=hand_over)

    assert hand_over.provider_had == [0]
    [request] = graph.received
    assert request.path == f"/{GRAPH_VERSION}/{PHONE_NUMBER_ID}/messages"
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "to": "4915112345678",
        "type": "template",
        "template": {
            "name": "cx_survey",
            "language": {"code": "de"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Wie zufrieden sind Sie mit unserer Hilfe?"}
                    ],
                },
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [{"type": "text", "text": TOKEN}],
                },
            ],
        },
    }
    assert receipt.provider_message_id is not None
    assert receipt.provider_message_id.startswith("wamid.")


async def test_a_rate_limit_is_retried_after_what_meta_asked(graph: ProviderStub) -> None:
    graph.answer, graph.retry_after = "rate_limited", "30"

    with pytest.raises(SendFailed) as failed:
        await channel(graph.url).send(survey(), handing_over=HandOverLog())

    assert (failed.value.permanent, failed.value.ambiguous) == (False, False)
    assert failed.value.retry_after == 30.0
    assert failed.value.detail == "whatsapp: HTTP 429, error 130429 (throughput rate limit)"


async def test_a_rate_limit_sent_as_400_is_still_retried(graph: ProviderStub) -> None:
    graph.answer, graph.status, graph.code = "rate_limited", 400, 131056

    with pytest.raises(SendFailed) as failed:
        await channel(graph.url).send(survey(), handing_over=HandOverLog())

    assert not failed.value.permanent
    assert "131056" in failed.value.detail


async def test_a_graph_outage_is_retried(graph: ProviderStub) -> None:
    graph.answer = "down"

    with pytest.raises(SendFailed) as failed:
        await channel(graph.url).send(survey(), handing_over=HandOverLog())

    assert (failed.value.permanent, failed.value.ambiguous) == (False, False)


@pytest.mark.parametrize(
    ("code", "reason"),
    [(132001, "template does not exist in this language"), (131026, "message undeliverable")],
)
async def test_what_meta_refuses_is_not_retried(
    graph: ProviderStub, code: int, reason: str
) -> None:
    graph.answer, graph.code = "refuse", code

    with pytest.raises(SendFailed) as failed:
        await channel(graph.url).send(survey(), handing_over=HandOverLog())

    assert failed.value.permanent
    assert failed.value.detail == f"whatsapp: HTTP 400, error {code} ({reason})"


async def test_an_expired_token_is_not_retried_nor_logged(graph: ProviderStub) -> None:
    with pytest.raises(SendFailed) as failed:
        await channel(graph.url, access_token="expired-token").send(
            survey(), handing_over=HandOverLog()
        )

    assert failed.value.permanent
    assert failed.value.detail == "whatsapp: HTTP 401, error 190 (access token expired)"


async def test_no_answer_after_the_request_left_is_ambiguous(graph: ProviderStub) -> None:
    graph.answer = "hang"
    hand_over = HandOverLog(graph)

    with pytest.raises(SendFailed) as failed:
        await channel(graph.url, timeout=HANG_TIMEOUT).send(survey(), handing_over=hand_over)

    assert (failed.value.permanent, failed.value.ambiguous) == (False, True)
    assert hand_over.provider_had == [0]
    assert graph.wait_received(1)


async def test_a_refused_connection_is_retried_and_never_handed_over() -> None:
    hand_over = HandOverLog()

    with pytest.raises(SendFailed) as failed:
        await channel(unreachable_url()).send(survey(), handing_over=hand_over)

    assert (failed.value.permanent, failed.value.ambiguous) == (False, False)
    assert hand_over.provider_had == []


def test_the_button_suffix_is_the_answer_token() -> None:
    assert answer_token(f"https://cx.acme.test/r/{TOKEN}") == TOKEN
    assert answer_token(f"https://cx.acme.test/base/r/{TOKEN}?s=3") == TOKEN
    with pytest.raises(SendFailed):
        answer_token("https://cx.acme.test/answer")


def test_build_makes_a_whatsapp_channel_and_refuses_one_without_template() -> None:
    assert isinstance(build(config("https://graph.test")), WhatsAppChannel)
    with pytest.raises(SendFailed) as failed:
        build(config("https://graph.test", template=None))
    assert failed.value.permanent
