"""GET /v1/stream: server-sent events from the suite's real Kafka, through the gateway
served for real, to the subscribers of the event's workspace only."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack

import httpx
import pytest
from cxloop_gateway.settings import Settings
from cxloop_gateway.stream.events import frame, response_frame
from cxloop_gateway.stream.service import StreamHub
from cxloop_shared.cloudevents import encode
from cxloop_shared.events import AlertRaised, CxEvent
from cxloop_shared.kafka import create_producer
from cxloop_shared.topics import ALERTS, RESPONSES
from gateway_reads_support import T0, EventReader, ReadsStack, answer, reader, reads_stack
from gateway_support import NewWorkspace, bearer, issue_key

# No deadline: examples are not timed (the machine may be busy with other tests).

HEARTBEAT_SECONDS = 0.3
MAX_STREAMS = 2


@pytest.fixture(scope="module")
def stack(
    settings: Settings, kafka_bootstrap: str, kafka_idempotence: bool
) -> Iterator[ReadsStack]:
    with reads_stack(
        settings,
        kafka_bootstrap=kafka_bootstrap,
        kafka_idempotence=kafka_idempotence,
        stream_heartbeat_seconds=HEARTBEAT_SECONDS,
        stream_max_per_workspace=MAX_STREAMS,
        stream_metrics_debounce_seconds=0.2,
    ) as served:
        served.wait_until_live()
        yield served


@pytest.fixture
async def api(stack: ReadsStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
        yield client


async def publish(settings: Settings, *events: CxEvent) -> None:
    """Publish in this order. One partition per topic, so the feed reads them in this
    order too: an event that arrives proves every earlier one was handed out already."""
    producer = create_producer(settings)
    await producer.start()
    try:
        for event in events:
            topic = ALERTS if isinstance(event, AlertRaised) else RESPONSES
            record = encode(event, topic=topic, source="gateway-tests")
            await producer.send_and_wait(
                topic, value=record.value, key=record.key, headers=record.headers, partition=0
            )
    finally:
        await producer.stop()


def alert(workspace_id: str, response_id: str, score: int) -> AlertRaised:
    return AlertRaised(
        workspace_id=workspace_id,
        alert_id=uuid.uuid4(),
        rule="nps <= 6",
        response_id=response_id,
        customer_id=f"c-{response_id}",
        touchpoint="checkout",
        metric="nps",
        score=score,
        comment="never again",
        context={"order_value": 120.5},
        raised_at=T0,
    )


async def open_stream(
    stack: AsyncExitStack, api: httpx.AsyncClient, headers: dict[str, str]
) -> EventReader:
    response = await stack.enter_async_context(api.stream("GET", "/v1/stream", headers=headers))
    assert response.status_code == 200, await response.aread()
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    return reader(response)


async def test_each_workspace_gets_its_own_answers_alerts_and_metric_hints(
    api: httpx.AsyncClient,
    stack: ReadsStack,
    gateway: httpx.AsyncClient,
    workspace: NewWorkspace,
) -> None:
    created = await gateway.post(
        "/v1/workspaces",
        json={"id": f"{workspace.id}-b"},
        headers={"Authorization": "Bearer test-admin-token"},
    )
    other = NewWorkspace(f"{workspace.id}-b", created.json()["admin_key"]["key"])
    mine = bearer((await issue_key(gateway, workspace, "metrics:read"))["key"])

    async with AsyncExitStack() as streams:
        events = await open_stream(streams, api, mine)
        others = await open_stream(streams, api, other.admin)
        theirs_alert = alert(other.id, "theirs", 0)
        my_alert = alert(workspace.id, "mine", 2)
        await publish(
            stack.settings,
            answer(other.id, "theirs", 0, comment="awful"),
            theirs_alert,
            answer(workspace.id, "mine", 2, comment='slow, "really"\nslow', revision=2),
            my_alert,
        )
        seen = await events.until(["response", "alert", "metrics"])
        seen_by_other = await others.until(["response", "alert", "metrics"])

    assert events.retry == 3000
    by_kind = {event.event: event for event in seen}
    assert set(by_kind) == {"response", "alert", "metrics"}, "theirs never reach my stream"
    assert len(seen) == 3
    response = by_kind["response"]
    assert response.id == "mine/2"
    assert response.data == {
        "response_id": "mine",
        "revision": 2,
        "touchpoint": "checkout",
        "survey": None,
        "metric": "nps",
        "score": 2,
        "items": None,
        "comment": 'slow, "really"\nslow',
        "channel": "web",
        "customer_id": "c-mine",
        "invitation_id": None,
        "answered_at": "2026-11-23T07:00:00Z",
    }
    raised = by_kind["alert"]
    assert raised.id == str(my_alert.alert_id)
    assert {k: raised.data[k] for k in ("alert_id", "rule", "touchpoint", "metric", "score")} == {
        "alert_id": str(my_alert.alert_id),
        "rule": "nps <= 6",
        "touchpoint": "checkout",
        "metric": "nps",
        "score": 2,
    }
    assert (raised.data["state"], raised.data["context"]) == ("open", {"order_value": 120.5})
    assert by_kind["metrics"].data == {"touchpoint": "checkout"}
    assert {e.event: e.data.get("response_id") for e in seen_by_other if e.event != "metrics"} == {
        "response": "theirs",
        "alert": "theirs",
    }


async def test_an_idle_stream_sends_heartbeats(
    api: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    async with api.stream("GET", "/v1/stream", headers=workspace.admin) as response:
        lines = response.aiter_lines()
        heartbeats = 0
        async for line in lines:
            heartbeats += line == ": heartbeat"
            if heartbeats == 2:
                break
    assert heartbeats == 2


async def test_a_revoked_key_ends_its_stream(
    api: httpx.AsyncClient, gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    issued = await issue_key(gateway, workspace, "metrics:read")
    async with api.stream("GET", "/v1/stream", headers=bearer(issued["key"])) as response:
        assert response.status_code == 200
        revoked = await gateway.delete(f"/v1/api-keys/{issued['id']}", headers=workspace.admin)
        assert revoked.status_code == 204
        events = reader(response)
        last = await events.next()
        assert last.event == "close"
        with pytest.raises(StopAsyncIteration):
            await events.next()


async def test_streams_per_workspace_are_capped_and_need_the_metrics_scope(
    api: httpx.AsyncClient, stack: ReadsStack, gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    async with AsyncExitStack() as streams:
        for _ in range(MAX_STREAMS):
            await open_stream(streams, api, workspace.admin)
        refused = await api.get("/v1/stream", headers=workspace.admin)
        assert refused.status_code == 429
        assert refused.headers["retry-after"].isdigit()
        assert refused.headers["content-type"] == "application/problem+json"
    # Closed streams are forgotten (once the gateway sees the client go), so the
    # workspace may open as many again.
    hub = stack.app.state.stream
    deadline = time.monotonic() + 30
    while hub.open_streams(workspace.id):
        assert time.monotonic() < deadline, "closed streams were never forgotten"
        await asyncio.sleep(0.02)
    async with AsyncExitStack() as streams:
        for _ in range(MAX_STREAMS):
            await open_stream(streams, api, workspace.admin)

    writer = bearer((await issue_key(gateway, workspace, "events:write"))["key"])
    assert (await api.get("/v1/stream", headers=writer)).status_code == 403
    assert (await api.get("/v1/stream")).status_code == 401


async def test_a_slow_client_is_dropped_with_an_overflow_never_blocking_the_feed() -> None:
    hub = StreamHub(queue_size=3, per_workspace=5, metrics_delay=60)
    slow = hub.subscribe("ws")
    keeping_up = hub.subscribe("ws")
    body = keeping_up.frames(heartbeat=60, still_allowed=_allowed, recheck_every=1)
    assert (await anext(body)).startswith(b"retry:")
    for i in range(5):
        hub.deliver(answer("ws", f"r{i}", 5))
        assert await anext(body) == response_frame(answer("ws", f"r{i}", 5))

    assert slow.ended
    assert hub.open_streams("ws") == 1
    frames = [
        chunk async for chunk in slow.frames(heartbeat=60, still_allowed=_allowed, recheck_every=1)
    ]
    assert frames[1].startswith(b"event: overflow\n")
    assert len(frames) == 2, "what was queued is dropped: the client reloads anyway"
    hub.close()
    await body.aclose()


async def test_metric_hints_are_debounced_per_touchpoint() -> None:
    hub = StreamHub(queue_size=100, per_workspace=5, metrics_delay=0.05)
    body = hub.subscribe("ws").frames(heartbeat=60, still_allowed=_allowed, recheck_every=1)
    await anext(body)
    for i in range(10):
        hub.deliver(answer("ws", f"r{i}", 9, touchpoint="checkout" if i % 2 else "delivery"))
    for _ in range(10):
        assert (await anext(body)).startswith(b"id: r")
    hints = {await anext(body), await anext(body)}
    assert hints == {
        frame("metrics", {"touchpoint": "checkout"}),
        frame("metrics", {"touchpoint": "delivery"}),
    }
    hub.close()
    assert (await anext(body)).startswith(b"event: close\n")


async def _allowed() -> bool:
    await asyncio.sleep(0)
    return True
