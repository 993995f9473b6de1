"""Tracing: OpenTelemetry spans for HTTP requests and Kafka messages, off by default.

Off (the default), nothing is installed: no SDK provider, no span, and no `traceparent`
is written anywhere; every function here returns at its first line. On
(`CXLOOP_TRACING_ENABLED=true`), a service exports its spans over OTLP/HTTP and the W3C
trace context travels with every Kafka message:

- each HTTP request is a server span named by its route template (never the raw path,
  which can carry signed tokens), continuing a `traceparent` the caller sent;
- each event written to an outbox stores the trace headers of the moment it was written
  (ingest's group commit passes each request's own), so the relay publishes them however
  late it runs;
- each consumed batch is one span, linked to every message's context, and each message
  gets a span of its own parented to the context in its headers: a touchpoint's trace
  runs from ingest's webhook through dispatch's decision to scoring. Handlers work on
  whole batches, so the events a handler writes continue the message that caused them,
  found by the ids they share (touchpoint, invitation, response, then customer), and
  otherwise the batch's span.

The standard `OTEL_*` variables apply where the SDK reads them: `OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*`,
`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` / `_HEADERS` / `_TIMEOUT`, `OTEL_SDK_DISABLED`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import structlog
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cxloop_shared.events import (
    AlertRaised,
    CxEvent,
    InvitationChanged,
    ResponseRecorded,
    TouchpointReceived,
)
from cxloop_shared.settings import ServiceSettings

Headers = Sequence[tuple[str, bytes]]
TraceHeaders = dict[str, str]  # `traceparent` and, when there is one, `tracestate`

W3C = TraceContextTextMapPropagator()
TRACE_HEADERS = frozenset({"traceparent", "tracestate"})

_tracer: Tracer | None = None
# While a batch is handled: each id of a consumed message → that message's span context.
_causes: ContextVar[dict[str, Context] | None] = ContextVar("cxloop_trace_causes", default=None)


def configure(settings: ServiceSettings, *, service: str) -> None:
    """Install the SDK with its OTLP/HTTP exporter when tracing is on; otherwise nothing."""
    if not settings.tracing_enabled or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return
    # The SDK is loaded only when tracing is on: off, a service never imports it.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or f"cxloop-{service}"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    standard = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    endpoint = None
    if not any(os.environ.get(variable) for variable in standard):
        endpoint = f"{settings.otlp_endpoint.rstrip('/')}/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    # Not made the global provider: FastAPI's built-in instrumentation would pick it up and
    # record raw URL paths, which carry signed survey and unsubscribe tokens. The SDK
    # flushes the provider at exit on its own.
    enable(provider)


def enable(provider: trace.TracerProvider) -> None:
    """Trace through `provider` (tests pass one with an in-memory exporter)."""
    global _tracer
    _tracer = provider.get_tracer("cxloop")


def disable() -> None:
    """Stop tracing: no spans, no trace headers."""
    global _tracer
    _tracer = None


def enabled() -> bool:
    """Whether spans are made and trace headers written."""
    return _tracer is not None


def trace_headers(context: Context | None = None) -> TraceHeaders:
    """W3C headers for `context` (default: the current one); empty when off or no span."""
    if _tracer is None:
        return {}
    carrier: TraceHeaders = {}
    W3C.inject(carrier, context=context)
    return carrier


def headers_for(event: CxEvent) -> TraceHeaders:
    """The trace headers an event written now carries: those of the consumed message that
    caused it when a batch is being handled, else the current span's."""
    if _tracer is None:
        return {}
    causes = _causes.get()
    if causes:
        for thread in threads(event):
            cause = causes.get(thread)
            if cause is not None:
                return trace_headers(cause)
    return trace_headers()


def extract(headers: Headers | Mapping[str, str]) -> Context | None:
    """The remote context in W3C headers, or None when they hold none that is valid."""
    if isinstance(headers, Mapping):
        carrier = {k: v for k, v in headers.items() if k in TRACE_HEADERS}
    else:
        carrier = {k: v.decode(errors="replace") for k, v in headers if k in TRACE_HEADERS}
    if "traceparent" not in carrier:
        return None
    context = W3C.extract(carrier)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def threads(event: CxEvent) -> list[str]:
    """Ids that tie an event to the one that caused it, the most specific first: an
    invitation continues its touchpoint, an alert its answer, anything its customer."""
    workspace = event.workspace_id
    found: list[str] = []
    if isinstance(event, TouchpointReceived):
        found.append(f"touchpoint:{workspace}:{event.source}:{event.event.id}")
    if isinstance(event, InvitationChanged):
        found.append(f"touchpoint:{workspace}:{event.source}:{event.event_id}")
    if isinstance(event, ResponseRecorded | AlertRaised):
        found.append(f"response:{workspace}:{event.response_id}")
    invitation_id = getattr(event, "invitation_id", None)
    if invitation_id is not None:
        found.append(f"invitation:{workspace}:{invitation_id}")
    found.append(f"customer:{event.kafka_key()}")
    return found


class Consumed(Protocol):
    """What the consumer wrapper knows of a message (`kafka.Delivery`)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def event(self) -> CxEvent: ...
    @property
    def headers(self) -> Headers: ...


class ConsumedBatch:
    """The spans of one batch being handled; `failed` marks a message set aside."""

    def __init__(self, spans: dict[tuple[str, int, int], Span] | None = None) -> None:
        self._spans = spans or {}

    def failed(self, message: Consumed, error: BaseException) -> None:
        """Record on the message's span that it went to the dead-letter topic."""
        span = self._spans.get((message.topic, message.partition, message.offset))
        if span is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, "dead-lettered"))


@contextmanager
def consuming(messages: Sequence[Consumed], *, group: str) -> Iterator[ConsumedBatch]:
    """Spans for a batch while its handler runs: one for the batch, linked to every message's
    context, and one per message, parented to the context in its headers.

    A span per message keeps each touchpoint's trace whole under batching; the batch's span
    shows the handling itself (its time, its retries) once, however many traces it serves.
    """
    if _tracer is None or not messages:
        yield ConsumedBatch()
        return
    tracer = _tracer
    parents = [extract(message.headers) for message in messages]
    topics = sorted({message.topic for message in messages})
    with tracer.start_as_current_span(
        f"{group} batch",
        kind=SpanKind.CONSUMER,
        links=[
            Link(trace.get_current_span(p).get_span_context()) for p in parents if p is not None
        ],
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.consumer.group.name": group,
            "messaging.destination.name": ",".join(topics),
            "messaging.batch.message_count": len(messages),
        },
    ) as batch:
        to_batch = [Link(batch.get_span_context())]
        spans: dict[tuple[str, int, int], Span] = {}
        causes: dict[str, Context] = {}
        for message, parent in zip(messages, parents, strict=True):
            span = tracer.start_span(
                f"{message.topic} process",
                context=parent,  # None: no trace came with it, so it is the batch's child
                kind=SpanKind.CONSUMER,
                links=to_batch,
                attributes=_message_attributes(message, group),
            )
            spans[(message.topic, message.partition, message.offset)] = span
            context = trace.set_span_in_context(span)
            for thread in threads(message.event):
                causes[thread] = context
        token = _causes.set(causes)
        try:
            yield ConsumedBatch(spans)
        finally:
            _causes.reset(token)
            for span in spans.values():
                span.end()


def _message_attributes(message: Consumed, group: str) -> dict[str, str | int]:
    ce_id = next((v.decode(errors="replace") for k, v in message.headers if k == "ce_id"), "")
    return {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": message.topic,
        "messaging.destination.partition.id": str(message.partition),
        "messaging.kafka.offset": message.offset,
        "messaging.consumer.group.name": group,
        "messaging.message.id": ce_id,
        "cloudevents.event_id": ce_id,
        "cloudevents.event_type": message.event.ce_type,
        "cxloop.workspace_id": message.event.workspace_id,
    }


def add_trace_ids(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the current trace and span ids on each line, when tracing is on."""
    if _tracer is None:
        return event_dict
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


class RequestContext:
    """ASGI middleware: a server span per request when tracing is on, and log context bound
    during the request (the event ids an endpoint binds) dropped when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bound = structlog.contextvars.get_contextvars()
        try:
            if _tracer is None:
                await self.app(scope, receive, send)
            else:
                await self._traced(_tracer, scope, receive, send)
        finally:
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(**bound)

    async def _traced(self, tracer: Tracer, scope: Scope, receive: Receive, send: Send) -> None:
        sent = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope.get("headers", [])
            if key.decode("latin-1") in TRACE_HEADERS
        }
        method = str(scope.get("method", "GET"))
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with tracer.start_as_current_span(
            method,
            context=extract(sent),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.scheme": scope.get("scheme", "http")},
        ) as span:
            try:
                await self.app(scope, receive, record_status)
            finally:
                # The route template, never the raw path: paths carry signed tokens and ids.
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
