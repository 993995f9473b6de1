"""The whole service wired up: events on Kafka become metrics on the internal API, and
alerts on `cx.alerts` and at the workspace's webhook endpoint."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from cxloop_devstack.provider_sandbox import provider_sandbox
from cxloop_scoring.app import create_app
from cxloop_scoring.settings import Settings
from cxloop_shared.cloudevents import KafkaRecord, decode, encode
from cxloop_shared.events import AlertRaised
from cxloop_shared.kafka import create_producer
from cxloop_shared.topics import ALERTS, INVITATIONS, RESPONSES, TOUCHPOINTS
from pydantic import SecretStr
from scoring_support import (
    BEARER,
    DETRACTORS,
    INTERNAL_TOKEN,
    T0,
    endpoint,
    invitation,
    response,
    signature_valid,
    touchpoint,
)
from sqlalchemy import text


def app_settings(database_url: str, kafka_bootstrap: str, kafka_idempotence: bool) -> Settings:
    return Settings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_idempotence=kafka_idempotence,
        consumer_group=f"scoring-test-{uuid.uuid4().hex[:8]}",
        internal_token=SecretStr(INTERNAL_TOKEN),
        shutdown_grace_seconds=5,
        config_cache_ttl_seconds=0,
        delivery_poll_seconds=0.1,
    )


async def publish(settings: Settings, records: list[KafkaRecord]) -> None:
    producer = create_producer(settings)
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(
                record.topic, value=record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()


async def test_responses_and_invitations_on_kafka_reach_the_metrics(
    database_url: str, kafka_bootstrap: str, kafka_idempotence: bool, workspace_id: str
) -> None:
    settings = app_settings(database_url, kafka_bootstrap, kafka_idempotence)
    await publish(
        settings,
        [
            *(
                encode(response(workspace_id, f"r{i}", 10), topic=RESPONSES, source="t")
                for i in range(5)
            ),
            encode(response(workspace_id, "r0", 0, revision=2), topic=RESPONSES, source="t"),
            *(
                encode(invitation(workspace_id, uuid.uuid4()), topic=INVITATIONS, source="t")
                for _ in range(10)
            ),
        ],
    )

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
            deadline = time.monotonic() + 30
            while (await client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, "never ready"
                await asyncio.sleep(0.1)
            params = {
                "workspace_id": workspace_id,
                "from": T0.isoformat(),
                "to": "2026-11-24T00:00:00Z",
            }
            deadline = time.monotonic() + 60
            while True:
                answer = await client.get("/internal/v1/metrics", params=params, headers=BEARER)
                assert answer.status_code == 200, answer.text
                values = answer.json()["values"]
                if values and values[0]["invitations_sent"] == 10 and values[0]["score"] == 60:
                    break
                assert time.monotonic() < deadline, f"metrics never caught up: {values}"
                await asyncio.sleep(0.25)
    # 4 promoters and 1 detractor (r0 revised from 10 to 0): 100 * (4 - 1) / 5 = 60.
    assert (values[0]["metric"], values[0]["n"], values[0]["response_rate"]) == ("nps", 5, 0.5)


async def alert_on_kafka(bootstrap: str, workspace_id: str, *, within: float = 60) -> AlertRaised:
    """The first AlertRaised of the workspace on `cx.alerts`, read without a group."""
    consumer = AIOKafkaConsumer(
        ALERTS, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        async with asyncio.timeout(within):
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                for record in (r for part in batches.values() for r in part):
                    event = decode(list(record.headers), record.value)
                    if isinstance(event, AlertRaised) and event.workspace_id == workspace_id:
                        return event
    finally:
        await consumer.stop()


async def test_a_detractor_answer_on_kafka_becomes_an_alert_on_kafka_and_a_webhook(
    database_url: str,
    kafka_bootstrap: str,
    kafka_idempotence: bool,
    configure: Any,
    workspace_id: str,
) -> None:
    settings = app_settings(database_url, kafka_bootstrap, kafka_idempotence)
    context = {"agent": "Kim", "order_id": "o-7", "queue": "returns"}
    invited = uuid.uuid4()
    detractor = response(
        workspace_id, "r1", 1, metric="csat", invitation_id=invited, comment="rude"
    )
    with provider_sandbox() as receiver:
        await configure(
            workspace_id,
            alerts=[{"when": DETRACTORS, "notify": ["crm"]}],
            endpoints={"crm": endpoint(f"{receiver.url}/webhooks/crm", "alert.created")},
        )
        await publish(
            settings,
            [
                encode(touchpoint(workspace_id, "ord-7", context), topic=TOUCHPOINTS, source="t"),
                encode(
                    invitation(workspace_id, invited, event_id="ord-7"),
                    topic=INVITATIONS,
                    source="t",
                ),
            ],
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            # Touchpoints have a consumer group of their own: the answer comes after them.
            await until_context_known(app, workspace_id)
            await publish(settings, [encode(detractor, topic=RESPONSES, source="t")])
            raised = await alert_on_kafka(kafka_bootstrap, workspace_id)
            deadline = time.monotonic() + 30
            while not receiver.of_kind("webhook"):
                assert time.monotonic() < deadline, "the webhook never arrived"
                await asyncio.sleep(0.1)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
                listed = await client.get(
                    "/internal/v1/alerts", params={"workspace_id": workspace_id}, headers=BEARER
                )
    assert (raised.response_id, raised.score, raised.comment) == ("r1", 1, "rude")
    assert raised.context == context
    assert raised.notify == ["crm"]
    (delivered,) = receiver.of_kind("webhook")
    assert signature_valid(delivered.headers, delivered.body)
    body = json.loads(delivered.body)
    assert body["type"] == "alert.created"
    assert body["data"]["alert_id"] == str(raised.alert_id)
    assert body["data"]["context"] == context
    assert [a["alert_id"] for a in listed.json()["items"]] == [str(raised.alert_id)]


async def until_context_known(app: Any, workspace_id: str, *, within: float = 60) -> None:
    """Wait until the app's touchpoint consumer has stored the workspace's touchpoint."""
    deadline = time.monotonic() + within
    while True:
        async with app.state.sessions() as session:
            found = await session.scalar(
                text("select count(*) from scoring.touchpoint_contexts where workspace_id = :w"),
                {"w": workspace_id},
            )
        if found:
            return
        assert time.monotonic() < deadline, "the touchpoint never reached scoring"
        await asyncio.sleep(0.1)
