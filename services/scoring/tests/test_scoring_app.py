"""The whole service wired up: events on Kafka become metrics on the internal API."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
from cxloop_scoring.app import create_app
from cxloop_scoring.settings import Settings
from cxloop_shared.cloudevents import encode
from cxloop_shared.kafka import create_producer
from cxloop_shared.topics import INVITATIONS, RESPONSES
from pydantic import SecretStr
from scoring_support import BEARER, INTERNAL_TOKEN, T0, invitation, response


async def test_responses_and_invitations_on_kafka_reach_the_metrics(
    database_url: str, kafka_bootstrap: str, kafka_idempotence: bool, workspace_id: str
) -> None:
    settings = Settings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_idempotence=kafka_idempotence,
        consumer_group=f"scoring-test-{uuid.uuid4().hex[:8]}",
        internal_token=SecretStr(INTERNAL_TOKEN),
        shutdown_grace_seconds=5,
    )
    events = [
        *(
            encode(response(workspace_id, f"r{i}", 10), topic=RESPONSES, source="t")
            for i in range(5)
        ),
        encode(response(workspace_id, "r0", 0, revision=2), topic=RESPONSES, source="t"),
        *(
            encode(invitation(workspace_id, uuid.uuid4()), topic=INVITATIONS, source="t")
            for _ in range(10)
        ),
    ]
    producer = create_producer(settings)
    await producer.start()
    try:
        for record in events:
            await producer.send_and_wait(
                record.topic, value=record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
            assert (await client.get("/readyz")).status_code == 200
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
