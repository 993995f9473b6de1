"""The webhook delivery worker against a real local HTTP receiver and a real Postgres:
signatures, retries with backoff, Retry-After, giving up, and the delivery log."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from cxloop_devstack.ports import free_port
from cxloop_devstack.serving import serving
from cxloop_scoring.deliveries import DeliveryWorker
from cxloop_scoring.settings import Settings
from cxloop_shared.config import ConfigCache
from pydantic import SecretStr
from scoring_support import BEARER, DETRACTORS, INTERNAL_TOKEN, endpoint, response, signature_valid
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """A webhook endpoint that answers from a script (then 200) and records every request."""

    url: str = ""
    script: list[tuple[int, dict[str, str]] | float] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: Request) -> Response:
        seen = Received(dict(request.headers), await request.body(), time.monotonic())
        with self._lock:
            self.received.append(seen)
            step = self.script.pop(0) if self.script else (200, {})
        if isinstance(step, float):  # hang past the worker's timeout
            await asyncio.sleep(step)
            step = (200, {})
        status, headers = step
        return JSONResponse({"status": status}, status_code=status, headers=headers)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    app = Starlette(routes=[Route("/hooks/{name}", found.handle, methods=["POST"])])
    with serving(app, lifespan="off") as url:
        found.url = url
        yield found


def settings(**overrides: Any) -> Settings:
    fast: dict[str, Any] = {
        "internal_token": SecretStr(INTERNAL_TOKEN),
        "delivery_poll_seconds": 0.05,
        "delivery_retry_base_seconds": 0.2,
        "delivery_max_attempts": 4,
        "delivery_timeout_seconds": 2.0,
    }
    return Settings(**{**fast, **overrides})


@pytest.fixture
async def run_worker(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Callable[..., Any]]:
    """Start a delivery worker in the background with fast settings (and these overrides)."""
    stopping = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    def start(**overrides: Any) -> None:
        worker = DeliveryWorker(
            sessions=sessions, configs=ConfigCache(sessions, ttl=0), settings=settings(**overrides)
        )
        tasks.append(asyncio.create_task(worker.run(stopping)))

    yield start
    stopping.set()
    await asyncio.gather(*tasks)


async def deliveries(api: httpx.AsyncClient, workspace_id: str) -> list[dict[str, Any]]:
    answer = await api.get(
        "/internal/v1/webhook-deliveries", params={"workspace_id": workspace_id}, headers=BEARER
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["deliveries"]
    return found


async def settled(
    api: httpx.AsyncClient, workspace_id: str, *, within: float = 20
) -> dict[str, Any]:
    """The workspace's one delivery once it is delivered or failed."""
    deadline = time.monotonic() + within
    while True:
        (delivery,) = await deliveries(api, workspace_id)
        if delivery["status"] != "pending":
            return delivery
        assert time.monotonic() < deadline, f"still pending: {delivery}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def alert_for(handle: Any, configure: Any, workspace_id: str) -> Callable[..., Any]:
    """Configure an endpoint at `url` that the detractor rule notifies, and raise one alert."""

    async def raise_alert(url: str) -> None:
        await configure(
            workspace_id,
            alerts=[{"when": DETRACTORS, "notify": ["crm"]}],
            endpoints={"crm": endpoint(url, "alert.created")},
        )
        await handle([response(workspace_id, "r1", 2, comment="the courier was rude")])

    return raise_alert


async def test_an_alert_is_delivered_signed_and_logged(
    api: httpx.AsyncClient,
    receiver: Receiver,
    alert_for: Any,
    run_worker: Any,
    workspace_id: str,
) -> None:
    await alert_for(f"{receiver.url}/hooks/crm")
    run_worker()
    delivery = await settled(api, workspace_id)
    assert (delivery["status"], delivery["attempts"], delivery["endpoint"]) == (
        "delivered",
        1,
        "crm",
    )
    (request,) = receiver.received
    assert signature_valid(request.headers, request.body)
    assert request.headers["webhook-id"] == delivery["message_id"]
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.body)
    assert body["type"] == "alert.created"
    assert (body["data"]["score"], body["data"]["comment"]) == (2, "the courier was rude")
    assert body["data"]["workspace_id"] == workspace_id
    (attempt,) = delivery["log"]
    assert (attempt["attempt"], attempt["status_code"], attempt["outcome"]) == (1, 200, "delivered")
    assert attempt["error"] is None
    assert attempt["duration_ms"] >= 0
    assert delivery["last_error"] is None
    assert delivery["finished_at"] is not None


async def test_a_server_error_is_retried_with_backoff(
    api: httpx.AsyncClient,
    receiver: Receiver,
    alert_for: Any,
    run_worker: Any,
    workspace_id: str,
) -> None:
    receiver.script = [(500, {}), (502, {})]
    await alert_for(f"{receiver.url}/hooks/crm")
    run_worker()
    delivery = await settled(api, workspace_id)
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 3)
    log = delivery["log"]
    assert [(a["status_code"], a["outcome"], a["error"]) for a in log] == [
        (500, "retry", "HTTP 500"),
        (502, "retry", "HTTP 502"),
        (200, "delivered", None),
    ]
    # 0.2 s doubling, with jitter in the upper half of each step (plus the POST's time).
    for attempt, ceiling in zip(log[:2], (0.2, 0.4), strict=True):
        wait = _seconds(attempt["next_attempt_at"]) - _seconds(attempt["attempted_at"])
        assert ceiling / 2 <= wait <= ceiling + 0.5
    for before, after in itertools.pairwise(log):
        assert _seconds(after["attempted_at"]) >= _seconds(before["next_attempt_at"])
    gaps = [b.at - a.at for a, b in itertools.pairwise(receiver.received)]
    assert gaps[0] >= 0.09
    assert gaps[1] >= 0.19
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert len({r.body for r in receiver.received}) == 1
    assert all(signature_valid(r.headers, r.body) for r in receiver.received)


async def test_retry_after_is_honoured(
    api: httpx.AsyncClient,
    receiver: Receiver,
    alert_for: Any,
    run_worker: Any,
    workspace_id: str,
) -> None:
    receiver.script = [(503, {"Retry-After": "1"})]
    await alert_for(f"{receiver.url}/hooks/crm")
    run_worker(delivery_retry_base_seconds=0.01)
    delivery = await settled(api, workspace_id)
    assert delivery["status"] == "delivered"
    first, second = receiver.received
    assert second.at - first.at >= 0.95


async def test_a_timeout_and_a_refused_connection_are_retried(
    api: httpx.AsyncClient,
    receiver: Receiver,
    alert_for: Any,
    run_worker: Any,
    workspace_id: str,
) -> None:
    receiver.script = [1.5]
    await alert_for(f"{receiver.url}/hooks/crm")
    run_worker(delivery_timeout_seconds=0.3, delivery_retry_base_seconds=0.05)
    delivery = await settled(api, workspace_id)
    assert [(a["status_code"], a["error"]) for a in delivery["log"]] == [
        (None, "timed out"),
        (200, None),
    ]


async def test_after_the_last_attempt_the_delivery_fails(
    api: httpx.AsyncClient, alert_for: Any, run_worker: Any, workspace_id: str
) -> None:
    await alert_for(f"http://127.0.0.1:{free_port()}/hooks/crm")  # nothing listens there
    run_worker(delivery_max_attempts=3, delivery_retry_base_seconds=0.05)
    delivery = await settled(api, workspace_id)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 3)
    assert [(a["outcome"], a["error"]) for a in delivery["log"]] == [
        ("retry", "ConnectError"),
        ("retry", "ConnectError"),
        ("failed", "ConnectError"),
    ]
    assert delivery["log"][-1]["next_attempt_at"] is None
    assert delivery["last_error"] == "ConnectError"


async def test_an_endpoint_removed_from_the_configuration_fails_its_deliveries(
    api: httpx.AsyncClient,
    receiver: Receiver,
    alert_for: Any,
    reconfigure: Any,
    run_worker: Any,
    workspace_id: str,
) -> None:
    await alert_for(f"{receiver.url}/hooks/crm")
    await reconfigure(workspace_id)
    run_worker()
    delivery = await settled(api, workspace_id)
    assert delivery["status"] == "failed"
    assert [(a["attempt"], a["error"]) for a in delivery["log"]] == [(1, "endpoint_not_configured")]
    assert receiver.received == []


async def test_a_rotated_secret_signs_the_next_attempt(
    api: httpx.AsyncClient,
    receiver: Receiver,
    alert_for: Any,
    reconfigure: Any,
    run_worker: Any,
    workspace_id: str,
) -> None:
    rotated = "whsec_" + "cm90YXRlZCBzZWNyZXQgZm9yIHRoZSB0ZXN0cw=="
    await alert_for(f"{receiver.url}/hooks/crm")
    crm = {**endpoint(f"{receiver.url}/hooks/crm", "alert.created"), "secret": rotated}
    await reconfigure(workspace_id, alerts=[{"when": DETRACTORS}], endpoints={"crm": crm})
    run_worker()
    assert (await settled(api, workspace_id))["status"] == "delivered"
    (request,) = receiver.received
    assert signature_valid(request.headers, request.body, secret=rotated)
    assert not signature_valid(request.headers, request.body)


def _seconds(moment: str) -> float:
    return datetime.fromisoformat(moment).timestamp()
