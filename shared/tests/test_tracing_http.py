"""The request middleware every service installs with its probes: a server span per request
when tracing is on (named by route template, never by the raw path), nothing when off, and
log context that ends with the request."""

from __future__ import annotations

import httpx
import structlog
from cxloop_shared import tracing
from cxloop_shared.http import install_error_handlers, install_probes
from fastapi import FastAPI
from opentelemetry.trace import SpanKind, StatusCode
from tracing_support import traced

SIGNED_TOKEN = "tok_3d1c0ffee"
INCOMING = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_probes(app, service="test")

    @app.get("/r/{token}")
    async def answer_page(token: str) -> dict[str, object]:
        structlog.contextvars.bind_contextvars(event_id="o-1")
        return {"would_propagate": tracing.trace_headers()}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    return app


async def get(path: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


async def test_with_tracing_on_a_request_is_a_server_span_named_by_its_route() -> None:
    with traced() as (_, exporter):
        response = await get(f"/r/{SIGNED_TOKEN}", traceparent=INCOMING)
        (span,) = exporter.get_finished_spans()

    assert response.status_code == 200
    assert span.name == "GET /r/{token}"
    assert span.kind is SpanKind.SERVER
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/r/{token}"
    assert span.attributes["http.response.status_code"] == 200
    # It continues the caller's trace, and what the request writes continues the span.
    assert format(span.context.trace_id, "032x") == INCOMING.split("-")[1]
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == INCOMING.split("-")[2]
    written = response.json()["would_propagate"]["traceparent"]
    assert written.split("-")[2] == format(span.context.span_id, "016x")
    assert not any(SIGNED_TOKEN in str(value) for value in span.attributes.values())


async def test_a_failing_request_is_an_error_span() -> None:
    with traced() as (_, exporter):
        response = await get("/boom")
        (span,) = exporter.get_finished_spans()

    assert response.status_code == 500
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 500


async def test_with_tracing_off_a_request_makes_no_span_and_propagates_nothing() -> None:
    with traced() as (_, exporter):
        tracing.disable()
        response = await get(f"/r/{SIGNED_TOKEN}", traceparent=INCOMING)
        spans = exporter.get_finished_spans()

    assert response.json() == {"would_propagate": {}}
    assert spans == ()


async def test_log_context_bound_by_an_endpoint_ends_with_the_request() -> None:
    structlog.contextvars.bind_contextvars(worker="test")
    try:
        await get(f"/r/{SIGNED_TOKEN}")
        left = structlog.contextvars.get_contextvars()
    finally:
        structlog.contextvars.clear_contextvars()

    assert left == {"worker": "test"}
