"""Helpers of the gateway's read-API tests (responses, alerts, live stream): scoring's real
internal routes and the gateway served over real HTTP, answers recorded by scoring's own
batch handler, and a reader of server-sent events."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from typing import Any, Protocol

import httpx
from cxloop_devstack.serving import serving
from cxloop_gateway.app import create_app
from cxloop_gateway.settings import Settings
from cxloop_scoring.app import create_app as create_scoring_app
from cxloop_scoring.handlers import ScoringHandler
from cxloop_scoring.settings import Settings as ScoringSettings
from cxloop_scoring.tables import outbox
from cxloop_shared.config import ConfigCache
from cxloop_shared.db import create_engine, session_factory
from cxloop_shared.events import CxEvent, ResponseRecorded
from cxloop_shared.kafka import Delivery
from cxloop_shared.outbox import Outbox
from cxloop_shared.topics import RESPONSES
from fastapi import FastAPI

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
_offsets = count()


def scoring_reads_app(settings: ScoringSettings) -> FastAPI:
    """Scoring's app, every route of it, with a lifespan that sets up its state and runs
    none of its consumers or workers: the tests record answers with its batch handler."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, pool_size=3)
        sessions = session_factory(engine)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = sessions
        app.state.configs = ConfigCache(sessions, ttl=0)
        app.state.consumers = []
        try:
            yield
        finally:
            await engine.dispose()

    app: FastAPI = create_scoring_app(settings)
    app.router.lifespan_context = lifespan
    return app


@dataclass
class ReadsStack:
    """The gateway (and scoring's routes behind it), each served over real HTTP."""

    url: str
    app: FastAPI
    settings: Settings

    def wait_until_live(self, *, within: float = 60) -> None:
        """Wait until the gateway's stream feed has its Kafka partitions positioned."""
        deadline = time.monotonic() + within
        while not getattr(self.app.state, "stream", None) or not self.app.state.stream.live:
            assert time.monotonic() < deadline, "the stream feed never went live"
            time.sleep(0.05)


@contextmanager
def reads_stack(
    settings: Settings, *, kafka_bootstrap: str, **overrides: Any
) -> Iterator[ReadsStack]:
    """Scoring's routes and a gateway pointing at them (and at the suite's Kafka)."""
    scoring_settings = ScoringSettings(
        database_url=settings.database_url, internal_token=settings.internal_token
    )
    with serving(scoring_reads_app(scoring_settings)) as scoring_url:
        gateway_settings = settings.model_copy(
            update={
                "scoring_url": scoring_url,
                "kafka_bootstrap_servers": kafka_bootstrap,
                "shutdown_grace_seconds": 5.0,
                **overrides,
            }
        )
        app = create_app(gateway_settings)
        with serving(app) as url:
            yield ReadsStack(url, app, gateway_settings)


class Record(Protocol):
    async def __call__(self, *events: CxEvent) -> None: ...


@asynccontextmanager
async def scoring_recorder(database_url: str) -> AsyncIterator[Record]:
    """Record events as scoring's consumer would: answers, alerts, all in one batch."""
    engine = create_engine(database_url, pool_size=2)
    sessions = session_factory(engine)
    handler = ScoringHandler(
        sessions=sessions,
        configs=ConfigCache(sessions, ttl=0),
        outbox=Outbox(outbox, source="gateway-tests"),
    )

    async def record(*events: CxEvent) -> None:
        await handler([Delivery(RESPONSES, 0, next(_offsets), event, []) for event in events])

    try:
        yield record
    finally:
        await engine.dispose()


def answer(workspace_id: str, response_id: str, score: int, **fields: Any) -> ResponseRecorded:
    """An NPS answer at checkout on the web at T0, unless told otherwise."""
    defaults: dict[str, Any] = {
        "customer_id": f"c-{response_id}",
        "touchpoint": "checkout",
        "metric": "nps",
        "channel": "web",
        "answered_at": T0,
        "collected_via": "link",
    }
    return ResponseRecorded(
        workspace_id=workspace_id, response_id=response_id, score=score, **{**defaults, **fields}
    )


@dataclass
class ServerSentEvent:
    """One event of a `text/event-stream`."""

    event: str
    data: Any
    id: str | None = None


@dataclass
class EventReader:
    """Reads a stream's events one at a time; comments (heartbeats) are counted apart."""

    lines: AsyncIterator[str]
    comments: list[str] = field(default_factory=list)
    retry: int | None = None

    async def next(self) -> ServerSentEvent:
        """The next event; raises StopAsyncIteration when the stream ends."""
        fields: dict[str, str] = {}
        async for line in self.lines:
            if line == "":
                if "event" in fields or "data" in fields:
                    return ServerSentEvent(
                        fields.get("event", "message"),
                        json.loads(fields.get("data", "null")),
                        fields.get("id"),
                    )
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "retry":
                self.retry = int(value)
            else:
                fields[name] = value
        raise StopAsyncIteration

    async def until(self, wanted: Sequence[str]) -> list[ServerSentEvent]:
        """Every event up to and including the first of each kind in `wanted`."""
        seen: list[ServerSentEvent] = []
        missing = set(wanted)
        while missing:
            event = await self.next()
            seen.append(event)
            missing.discard(event.event)
        return seen


def reader(response: httpx.Response) -> EventReader:
    """An event reader over a streamed response."""
    return EventReader(response.aiter_lines())
