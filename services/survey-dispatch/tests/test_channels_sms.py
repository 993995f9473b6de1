"""The SMS channel against a Twilio-like Messages API on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from channel_servers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    HandOverLog,
    ProviderStub,
    provider,
    twilio_app,
    unreachable_url,
)
from cxloop_dispatch.channels import SendFailed, SmsChannel, Survey, build, sms_delivery_status
from cxloop_dispatch.channels.sms import MAX_TEXT, sms_text
from cxloop_shared.config import ChannelConfig
from cxloop_shared.events import Metric
from cxloop_shared.twilio import twilio_signature_valid

PHONE = "+14155550100"
SENDER = "+15550100"
TOKEN = "eyJ3b3Jrc3BhY2VfaWQiOiJhY21lIn0.c2lnbmF0dXJl"
# Generous, so a loaded machine cannot fail a send that should succeed; short only where
# a test waits for the timeout on purpose.
TIMEOUT = 5.0
HANG_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def twilio() -> Iterator[ProviderStub]:
    with provider(twilio_app) as stub:
        yield stub


@pytest.fixture(autouse=True)
def _fresh(twilio: ProviderStub) -> None:
    twilio.reset()


def config(base_url: str, **overrides: Any) -> ChannelConfig:
    fields = {
        "kind": "twilio",
        "base_url": base_url,
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from": SENDER,
    }
    return ChannelConfig.model_validate({**fields, **overrides})


def channel(base_url: str, *, timeout: float = TIMEOUT, **kwargs: Any) -> SmsChannel:
    return SmsChannel(config(base_url), timeout=timeout, connect_timeout=TIMEOUT, **kwargs)


def survey(metric: Metric = "nps", *, locale: str = "en-US", question: str | None = None) -> Survey:
    scores = {"nps": range(11), "csat": range(1, 6), "ces": range(1, 8), "cxi": range(1, 6)}
    return Survey(
        invitation_id=uuid.uuid4(),
        address=PHONE,
        locale=locale,
        metric=metric,
        question=question or "How likely are you to recommend Acme to a friend?",
        scores=list(scores.get(metric, range(2))),
        answer_url=f"https://cx.acme.test/r/{TOKEN}",
        brand="Acme",
    )


async def test_a_survey_becomes_one_twilio_message(twilio: ProviderStub) -> None:
    sent = survey()
    hand_over = HandOverLog(twilio)

    receipt = await channel(twilio.url).send(sent, handing_over=hand_over)

    assert hand_over.provider_had == [0]  # once, before Twilio saw anything
    [request] = twilio.received
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    credentials = base64.b64decode(request.headers["authorization"].removeprefix("Basic "))
    assert credentials.decode() == f"{ACCOUNT_SID}:{AUTH_TOKEN}"
    assert request.headers["i-twilio-idempotency-token"] == str(sent.invitation_id)
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = request.form()
    assert form == {
        "To": PHONE,
        "From": SENDER,
        "Body": (
            "Acme: How likely are you to recommend Acme to a friend? "
            "Reply 0-10 (0 = not likely, 10 = very likely). Reply STOP to opt out."
        ),
    }
    assert receipt.provider_message_id is not None
    assert receipt.provider_message_id.startswith("SM")


async def test_delivery_reports_are_asked_for_when_dispatch_serves_them(
    twilio: ProviderStub,
) -> None:
    callback = "https://dispatch.acme.test/v1/callbacks/sms/acme:sms"

    await channel(twilio.url, status_callback=callback).send(survey(), handing_over=HandOverLog())

    assert twilio.received[0].form()["StatusCallback"] == callback


async def test_a_messaging_service_sender_is_sent_as_such(twilio: ProviderStub) -> None:
    service_sid = "MG" + "f" * 32
    sms = SmsChannel(config(twilio.url, **{"from": service_sid}), timeout=TIMEOUT)

    await sms.send(survey(), handing_over=HandOverLog())

    form = twilio.received[0].form()
    assert form["MessagingServiceSid"] == service_sid
    assert "From" not in form


async def test_a_rate_limit_is_retried_after_what_twilio_asked(twilio: ProviderStub) -> None:
    twilio.answer, twilio.retry_after = "rate_limited", "7"

    with pytest.raises(SendFailed) as failed:
        await channel(twilio.url).send(survey(), handing_over=HandOverLog())

    assert (failed.value.permanent, failed.value.ambiguous) == (False, False)
    assert failed.value.retry_after == 7.0
    assert failed.value.detail == "twilio: HTTP 429, error 20429 (too many requests)"


async def test_a_twilio_outage_is_retried(twilio: ProviderStub) -> None:
    twilio.answer = "down"

    with pytest.raises(SendFailed) as failed:
        await channel(twilio.url).send(survey(), handing_over=HandOverLog())

    assert (failed.value.permanent, failed.value.ambiguous) == (False, False)
    assert failed.value.retry_after is None


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (21610, "recipient unsubscribed"),
        (21211, "invalid To number"),
        (21614, "To number cannot receive SMS"),
    ],
)
async def test_a_recipient_twilio_refuses_is_not_retried(
    twilio: ProviderStub, code: int, reason: str
) -> None:
    twilio.answer, twilio.code = "refuse", code

    with pytest.raises(SendFailed) as failed:
        await channel(twilio.url).send(survey(), handing_over=HandOverLog())

    assert failed.value.permanent
    assert failed.value.detail == f"twilio: HTTP 400, error {code} ({reason})"
    assert PHONE not in str(failed.value)  # Twilio's message repeats the number


async def test_wrong_credentials_are_not_retried(twilio: ProviderStub) -> None:
    wrong = config(twilio.url, auth_token="not-the-token")

    with pytest.raises(SendFailed) as failed:
        await SmsChannel(wrong, timeout=TIMEOUT).send(survey(), handing_over=HandOverLog())

    assert failed.value.permanent
    assert "not-the-token" not in failed.value.detail


async def test_no_answer_after_the_request_left_is_ambiguous(twilio: ProviderStub) -> None:
    twilio.answer = "hang"
    hand_over = HandOverLog(twilio)

    with pytest.raises(SendFailed) as failed:
        await channel(twilio.url, timeout=HANG_TIMEOUT).send(survey(), handing_over=hand_over)

    assert (failed.value.permanent, failed.value.ambiguous) == (False, True)
    assert hand_over.provider_had == [0]
    assert twilio.wait_received(1)  # Twilio has it: resending would text twice


async def test_a_refused_connection_is_retried_and_never_handed_over() -> None:
    hand_over = HandOverLog()

    with pytest.raises(SendFailed) as failed:
        await channel(unreachable_url()).send(survey(), handing_over=hand_over)

    assert (failed.value.permanent, failed.value.ambiguous) == (False, False)
    assert hand_over.provider_had == []


def test_the_text_names_the_scale_of_the_metric() -> None:
    assert "Reply 1-5 (1 = very dissatisfied, 5 = very satisfied)." in sms_text(survey("csat"))
    assert "Reply 1-7 (1 = strongly disagree, 7 = strongly agree)." in sms_text(survey("ces"))
    assert "Reply 1 for yes, 0 for no." in sms_text(survey("yes_no"))


def test_the_text_speaks_german_to_a_german_locale() -> None:
    text = sms_text(survey(locale="de-AT", question="Wie wahrscheinlich empfehlen Sie uns?"))

    assert text == (
        "Acme: Wie wahrscheinlich empfehlen Sie uns? Antworten Sie mit 0-10 "
        "(0 = unwahrscheinlich, 10 = sehr wahrscheinlich). Abmelden: STOP antworten."
    )


def test_cx_index_is_answered_through_the_link() -> None:
    text = sms_text(survey("cxi", question="How was your visit?"))

    assert text == (
        f"Acme: How was your visit? Answer here: https://cx.acme.test/r/{TOKEN} "
        "Reply STOP to opt out."
    )


def test_a_long_question_is_shortened_to_fit() -> None:
    text = sms_text(survey(question="Tell us everything. " * 40))

    assert len(text) == MAX_TEXT
    assert text.endswith(
        "... Reply 0-10 (0 = not likely, 10 = very likely). Reply STOP to opt out."
    )


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"MessageStatus": "delivered"}, "delivered"),
        ({"MessageStatus": "read"}, "delivered"),
        ({"MessageStatus": "undelivered", "ErrorCode": "30003"}, "failed"),
        ({"MessageStatus": "failed", "ErrorCode": "30008"}, "failed"),
        ({"MessageStatus": "queued"}, None),
        ({"MessageStatus": "accepted"}, None),
        ({"MessageStatus": "sending"}, None),
        ({"MessageStatus": "sent"}, None),
        ({"SmsStatus": "delivered"}, "delivered"),
        ({"MessageStatus": "something-new"}, None),
        ({}, None),
    ],
)
def test_status_callbacks_map_to_delivery(form: dict[str, str], status: str | None) -> None:
    assert sms_delivery_status(form) == status


def test_a_status_callback_is_verified_with_the_shared_twilio_signature() -> None:
    url = "https://dispatch.acme.test/v1/callbacks/sms/acme:sms"
    form = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "To": PHONE}
    signed = url + "".join(name + form[name] for name in sorted(form))
    signature = base64.b64encode(
        hmac.new(AUTH_TOKEN.encode(), signed.encode(), hashlib.sha1).digest()
    ).decode()

    assert twilio_signature_valid(url=url, params=form, signature=signature, secrets=[AUTH_TOKEN])
    tampered = {**form, "MessageStatus": "failed"}
    assert not twilio_signature_valid(
        url=url, params=tampered, signature=signature, secrets=[AUTH_TOKEN]
    )


def test_build_makes_an_sms_channel_and_refuses_an_incomplete_one() -> None:
    assert isinstance(build(config("https://api.twilio.test")), SmsChannel)
    with pytest.raises(SendFailed) as failed:
        build(config("https://api.twilio.test", auth_token=None))
    assert failed.value.permanent
