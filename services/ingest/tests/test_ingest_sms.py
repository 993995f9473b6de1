"""SMS replies in Twilio's format: verified, matched to the open invitation, scored or STOPped."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from cxloop_shared import topics
from cxloop_shared.cloudevents import encode
from cxloop_shared.events import CustomerChanged, InvitationChanged, Metric, ResponseRecorded
from cxloop_shared.links import AnswerLink, address_digest, sign
from fastapi import FastAPI
from ingest_support import LINK_SECRET, SMS_AUTH_TOKEN, KafkaTap, Workspace
from sqlalchemy import text

PHONE = "+14155550123"


def twilio_signature(url: str, params: dict[str, str], token: str = SMS_AUTH_TOKEN) -> str:
    """What Twilio puts in X-Twilio-Signature: HMAC-SHA1 over the URL and sorted parameters."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(
        hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    ).decode()


async def invitation_by_sms(
    workspace: Workspace,
    *,
    kafka_bootstrap: str,
    ingest_app: FastAPI,
    touchpoint: str = "order_delivered",
    survey: str = "nps",
    metric: Metric = "nps",
) -> InvitationChanged:
    """An invitation dispatch sent by SMS to PHONE, once ingest has learnt it from Kafka."""
    now = datetime.now(UTC)
    sent = InvitationChanged(
        workspace_id=workspace.id,
        invitation_id=uuid.uuid4(),
        event_id="ord-1",
        source="shop",
        touchpoint=touchpoint,
        customer_id="c-sms",
        status="sent",
        survey=survey,
        metric=metric,
        channel="sms",
        address_digest=address_digest(PHONE, workspace_id=workspace.id, secret=LINK_SECRET),
        changed_at=now - timedelta(minutes=1),
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        record = encode(sent, topic=topics.INVITATIONS, source="tests")
        await producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=record.headers
        )
    finally:
        await producer.stop()
    async with asyncio.timeout(30):
        while True:
            async with ingest_app.state.engine.connect() as connection:
                known = await connection.scalar(
                    text("select count(*) from ingest.sent_invitations where invitation_id = :i"),
                    {"i": sent.invitation_id},
                )
            if known:
                return sent
            await asyncio.sleep(0.1)


@pytest.fixture
async def sent_sms(
    workspace: Workspace, kafka_bootstrap: str, ingest_app: FastAPI
) -> InvitationChanged:
    """An NPS invitation dispatch sent by SMS to PHONE, as ingest learns it from Kafka."""
    return await invitation_by_sms(
        workspace, kafka_bootstrap=kafka_bootstrap, ingest_app=ingest_app
    )


class Phone:
    """Texts from PHONE to the workspace's SMS channel, signed as Twilio signs them."""

    def __init__(self, ingest: httpx.AsyncClient, workspace: Workspace) -> None:
        self.ingest = ingest
        self.path = f"/v1/inbound/sms/{workspace.id}:sms"
        self.sent = 0

    async def text(
        self, body: str, *, sid: str | None = None, token: str = SMS_AUTH_TOKEN
    ) -> httpx.Response:
        self.sent += 1
        params = {
            "MessageSid": sid or f"SM{self.sent:032d}",
            "AccountSid": "AC00000000000000000000000000000000",
            "From": PHONE,
            "To": "+15550100",
            "Body": body,
            "NumMedia": "0",
        }
        signature = twilio_signature(f"http://ingest.test{self.path}", params, token)
        return await self.ingest.post(
            self.path, data=params, headers={"X-Twilio-Signature": signature}
        )


async def test_a_scored_reply_with_words_records_score_and_comment(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap, sent_sms: InvitationChanged
) -> None:
    phone = Phone(ingest, workspace)
    reply = await phone.text("9 thanks a lot", sid="SM-one")
    retried = await phone.text("9 thanks a lot", sid="SM-one")
    revised = await phone.text(" 10!")

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/xml")
    assert "<Message>Thank you" in reply.text
    assert "<Message>" not in retried.text, "a retried webhook is answered once"
    assert revised.status_code == 200
    published = [
        r
        for r in await tap.published(topics.RESPONSES, workspace.id)
        if isinstance(r, ResponseRecorded)
    ]
    assert [(r.score, r.comment, r.revision, r.collected_via) for r in published] == [
        (9, "thanks a lot", 1, "sms"),
        (10, None, 2, "sms"),
    ]
    assert {r.invitation_id for r in published} == {sent_sms.invitation_id}


async def test_an_out_of_scale_reply_gets_a_polite_retry_prompt(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap, sent_sms: InvitationChanged
) -> None:
    answer = await Phone(ingest, workspace).text("12")

    assert answer.status_code == 200
    assert "from 0 to 10" in answer.text
    assert await tap.published(topics.RESPONSES, workspace.id) == []


@pytest.mark.parametrize("word", ["STOP", "stop", "Unsubscribe", "OPTOUT", "revoke."])
async def test_stop_words_opt_the_number_out(
    ingest: httpx.AsyncClient,
    workspace: Workspace,
    tap: KafkaTap,
    sent_sms: InvitationChanged,
    word: str,
) -> None:
    answer = await Phone(ingest, workspace).text(word)

    assert answer.status_code == 200
    changes = [
        e
        for e in await tap.published(topics.CUSTOMERS, workspace.id)
        if isinstance(e, CustomerChanged)
    ]
    assert [(e.customer_id, e.change, e.channel, e.address_digest) for e in changes] == [
        ("c-sms", "opt_out", "sms", sent_sms.address_digest)
    ]
    assert await tap.published(topics.RESPONSES, workspace.id) == []


async def test_start_opts_back_in(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap, sent_sms: InvitationChanged
) -> None:
    phone = Phone(ingest, workspace)
    await phone.text("STOP")
    await phone.text("START")

    changes = await tap.published(topics.CUSTOMERS, workspace.id)
    assert [e.change for e in changes if isinstance(e, CustomerChanged)] == ["opt_out", "opt_in"]


async def test_a_forged_reply_is_refused_and_changes_nothing(
    ingest: httpx.AsyncClient, workspace: Workspace, tap: KafkaTap, sent_sms: InvitationChanged
) -> None:
    phone = Phone(ingest, workspace)
    forged = await phone.text("STOP", token="not-the-auth-token")
    unknown = await ingest.post(f"/v1/inbound/sms/{workspace.id}:email", data={"Body": "9"})

    assert forged.status_code == 401
    assert unknown.status_code == 404, "email is not an SMS channel"
    assert await tap.published(topics.CUSTOMERS, workspace.id) == []
    assert await tap.published(topics.RESPONSES, workspace.id) == []


async def test_a_cx_index_survey_is_answered_by_its_link_and_a_text_comments_on_it(
    ingest: httpx.AsyncClient,
    workspace: Workspace,
    tap: KafkaTap,
    kafka_bootstrap: str,
    ingest_app: FastAPI,
) -> None:
    sent = await invitation_by_sms(
        workspace,
        kafka_bootstrap=kafka_bootstrap,
        ingest_app=ingest_app,
        touchpoint="onboarding_done",
        survey="cxi",
        metric="cxi",
    )
    phone = Phone(ingest, workspace)
    token = sign(
        AnswerLink(
            workspace_id=workspace.id,
            invitation_id=sent.invitation_id,
            customer_id="c-sms",
            touchpoint="onboarding_done",
            survey="cxi",
            metric="cxi",
            channel="sms",
            answer_until=datetime.now(UTC) + timedelta(days=7),
        ),
        secret=LINK_SECRET,
    )

    before_link = await phone.text("4")
    await ingest.post(f"/r/{token}", data={"effective": "4", "easy": "2", "enjoyable": "3"})
    after_link = await phone.text("setup took far too long")

    assert "three short questions" in before_link.text
    assert "Thank you for your answer" in after_link.text
    published = [
        r
        for r in await tap.published(topics.RESPONSES, workspace.id)
        if isinstance(r, ResponseRecorded)
    ]
    assert [(r.items, r.score, r.comment, r.revision) for r in published] == [
        ({"effective": 4, "easy": 2, "enjoyable": 3}, 3, None, 1),
        ({"effective": 4, "easy": 2, "enjoyable": 3}, 3, "setup took far too long", 2),
    ]
