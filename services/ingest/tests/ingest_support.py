"""Helpers of the ingest tests: a workspace with every kind of source, and a tap on Kafka."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from cxloop_shared import topics
from cxloop_shared.cloudevents import decode
from cxloop_shared.events import CxEvent
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

ADMIN_TOKEN = "ingest-test-admin-token"
LINK_SECRET = "ingest-test-link-secret"
SECRETS = {
    "shop": ["shpss_old_app_secret", "shpss_current_app_secret"],
    "billing": ["whsec_stripe_old", "whsec_stripe_current"],
    "helpdesk": ["zendesk-signing-secret-1", "zendesk-signing-secret-2"],
    "partner": ["whsec_b2xkc2VjcmV0b2xkc2VjcmV0", "whsec_Y3VycmVudHNlY3JldGN1cnJlbnQ="],
    "flex": ["twilio-auth-token-old", "twilio-auth-token-current"],
    "chat": ["chatwoot-secret-old", "chatwoot-secret-current"],
    "custom": ["custom-secret-old", "custom-secret-current"],
}
SMS_AUTH_TOKEN = "sms-auth-token-0123456789abcdef"
WAIT_SECONDS = 20.0


def ingest_config(workspace_id: str) -> dict[str, Any]:
    """A workspace measuring checkout and support, with one source of every kind."""
    return {
        "workspace": workspace_id,
        "timezone": "Europe/Berlin",
        "touchpoints": {
            "checkout": {"survey": "csat", "policy": {"channels": ["email", "sms"]}},
            "order_delivered": {"survey": "nps"},
            "invoice_paid": {"survey": "csat"},
            "ticket_closed": {"survey": "csat"},
            "contact_ended": {"survey": "ces"},
            "onboarding_done": {"survey": "cxi"},
        },
        "surveys": {
            "csat": {"metric": "csat", "question": {"en": "How satisfied are you?"}},
            "nps": {"metric": "nps", "question": {"en": "Would you recommend us?"}},
            "ces": {"metric": "ces", "question": {"en": "Was it easy?"}},
            "cxi": {
                "metric": "cxi",
                "question": {"en": "About your onboarding"},
                "items": {"easy": {"en": "How easy was setting up your account?"}},
            },
        },
        "sources": {
            "shop": {
                "kind": "shopify",
                "secrets": SECRETS["shop"],
                "touchpoints": {"orders/create": "checkout", "orders/fulfilled": "order_delivered"},
            },
            "billing": {
                "kind": "stripe",
                "secrets": SECRETS["billing"],
                "touchpoints": {"invoice.paid": "invoice_paid"},
            },
            "helpdesk": {
                "kind": "zendesk",
                "secrets": SECRETS["helpdesk"],
                "touchpoints": {"ticket.solved": "ticket_closed"},
            },
            "partner": {"kind": "standard", "secrets": SECRETS["partner"]},
            "flex": {
                "kind": "twilio_flex",
                "secrets": SECRETS["flex"],
                "touchpoints": {"task.completed": "contact_ended"},
            },
            "chat": {
                "kind": "chatwoot",
                "secrets": SECRETS["chat"],
                "touchpoints": {"conversation_resolved": "contact_ended"},
            },
        },
        "channels": {
            "email": {"kind": "smtp", "host": "127.0.0.1", "port": 1025},
            "sms": {
                "kind": "twilio",
                "account_sid": "AC00000000000000000000000000000000",
                "auth_token": SMS_AUTH_TOKEN,
                "from": "+15550100",
            },
        },
    }


@dataclass(frozen=True)
class Workspace:
    """A configured workspace and keys for what ingest takes."""

    id: str
    events_key: str
    responses_key: str

    @classmethod
    async def create(cls, gateway: httpx.AsyncClient, config: dict[str, Any]) -> Workspace:
        workspace_id = config["workspace"]
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        created = await gateway.post("/v1/workspaces", json={"id": workspace_id}, headers=admin)
        assert created.status_code == 201, created.text
        auth = {"Authorization": f"Bearer {created.json()['admin_key']['key']}"}
        applied = await gateway.put("/v1/config", json=config, headers=auth)
        assert applied.status_code == 200, applied.text

        async def key(scope: str) -> str:
            issued = await gateway.post(
                "/v1/api-keys", json={"name": scope, "scopes": [scope]}, headers=auth
            )
            assert issued.status_code == 201, issued.text
            return str(issued.json()["key"])

        return cls(workspace_id, await key("events:write"), await key("responses:write"))

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.events_key}"}


async def partitions(bootstrap: str, names: list[str]) -> list[TopicPartition]:
    """Every partition of the named topics, as the broker's metadata lists them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return [
            TopicPartition(name, p)
            for name in names
            for p in sorted(await producer.partitions_for(name))
        ]
    finally:
        await producer.stop()


class KafkaTap:
    """Reads every partition of cxloop's topics from the end, as a bystander (no group).

    `settled()` returns once ingest's outbox is empty and the tap has read up to each
    partition's end, so "nothing was published" is a fact, not a timeout.
    """

    def __init__(self, bootstrap: str, *, engine: AsyncEngine) -> None:
        self._bootstrap = bootstrap
        self._engine = engine
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="latest"
        )
        self._records: list[tuple[str, CxEvent]] = []
        self._task: asyncio.Task[None] | None = None
        self._partitions: list[TopicPartition] = []

    async def __aenter__(self) -> KafkaTap:
        self._partitions = await partitions(
            self._bootstrap, [topics.TOUCHPOINTS, topics.RESPONSES, topics.CUSTOMERS]
        )
        await self._consumer.start()
        self._consumer.assign(self._partitions)
        await self._consumer.seek_to_end(*self._partitions)
        for partition in self._partitions:
            await self._consumer.position(partition)
        self._task = asyncio.create_task(self._collect())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    async def _collect(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            for records in batches.values():
                for record in records:
                    self._records.append((record.topic, decode(record.headers, record.value)))

    async def settled(self) -> None:
        """Wait until ingest's outbox is drained and every published record was read."""
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                async with self._engine.connect() as connection:
                    waiting = await connection.scalar(text("select count(*) from ingest.outbox"))
                if waiting == 0:
                    break
                await asyncio.sleep(0.05)
            ends = await self._consumer.end_offsets(self._partitions)
            while await self._behind(ends):  # noqa: ASYNC110 (positions move in another task)
                await asyncio.sleep(0.05)

    async def _behind(self, ends: dict[TopicPartition, int]) -> bool:
        positions = [await self._consumer.position(tp) for tp in self._partitions]
        return any(p < ends[tp] for p, tp in zip(positions, self._partitions, strict=True))

    async def published(self, topic: str, workspace_id: str) -> list[CxEvent]:
        """What reached `topic` for the workspace, once everything settled."""
        await self.settled()
        return [e for t, e in self._records if t == topic and e.workspace_id == workspace_id]
