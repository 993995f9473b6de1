"""Ingest throughput: single canonical events against the empty endpoint of the same server."""

from __future__ import annotations

import httpx

from bench.runner import Load, closed_loop


async def run(*, ingest_url: str, ingest_key: str, seconds: float, concurrency: int) -> list[Load]:
    """The empty endpoint (`/healthz`: same app, same middleware, no work) then `/v1/events`."""

    async def empty(client: httpx.AsyncClient, _: int) -> httpx.Response:
        return await client.get("/healthz")

    headers = {"Authorization": f"Bearer {ingest_key}"}

    async def one_event(client: httpx.AsyncClient, n: int) -> httpx.Response:
        return await client.post(
            "/v1/events",
            headers=headers,
            json={
                "id": f"bench-{n}",
                "touchpoint": "checkout",
                "occurred_at": "2026-11-23T07:00:00Z",
                "customer": {"id": f"c-{n % 5000}", "email": f"c{n % 5000}@example.com"},
                "attributes": {"order_value": 42.0},
            },
        )

    common = {"base_url": ingest_url, "seconds": seconds, "concurrency": concurrency}
    baseline = await closed_loop("ingest empty endpoint", empty, expect={200}, **common)
    events = await closed_loop("ingest single event", one_event, expect={202}, **common)
    return [baseline, events]
