"""Tracing through Kafka: off, nothing is traced and no `traceparent` is written; on, an
event's trace runs from the request that wrote it through the outbox, the broker and the
consumer, to the events its handler writes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer
from cxloop_shared import tracing
from cxloop_shared.cloudevents import encode, header
from cxloop_shared.db import session_factory, transaction
from cxloop_shared.events import CxEvent, InvitationChanged, TouchpointReceived
from cxloop_shared.kafka import Delivery
from cxloop_shared.operations import create_topics
from cxloop_shared.outbox import Outbox
from cxloop_shared.settings import ServiceSettings
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from shared_support import WAIT_SECONDS, invitation_changed, one_of_each, read_topic
from shared_support import touchpoint_received as touchpoint
from sqlalchemy.ext.asyncio import AsyncEngine
from tracing_support import named, outbox_in_schema, running, traced

TRACE_A = "0af7651916cd43dd8448eb211c80319c"
TRACE_B = "4bf92f3577b34da6a3ce929d0e0e4736"


def traceparent(trace_id: str, span_id: str = "b7ad6b7169203331") -> str:
    return f"00-{trace_id}-{span_id}-01"


def parent_of(value: str | None) -> tuple[int, int]:
    """(trace id, span id) of a `traceparent` header."""
    assert value is not None, "no traceparent header"
    _, trace_id, span_id, _ = value.split("-")
    return int(trace_id, 16), int(span_id, 16)


def invitation_for(event: CxEvent) -> InvitationChanged:
    """What a dispatcher would publish for a consumed touchpoint."""
    assert isinstance(event, TouchpointReceived)
    invitation = invitation_changed(event.workspace_id, event.customer_key)
    assert isinstance(invitation, InvitationChanged)
    return invitation.model_copy(update={"event_id": event.event.id, "source": event.source})


class Decider:
    """A handler that writes an invitation for each touchpoint through the outbox."""

    def __init__(self, engine: AsyncEngine, outbox: Outbox, topic: str) -> None:
        self._sessions = session_factory(engine)
        self._outbox = outbox
        self.topic = topic
        self.handled = asyncio.Event()

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        async with transaction(self._sessions) as session:
            await self._outbox.add(
                session, [(self.topic, invitation_for(d.event)) for d in deliveries]
            )
        self.handled.set()


async def test_with_tracing_on_the_trace_runs_from_the_writer_through_kafka_to_what_it_causes(
    engine: AsyncEngine, settings: ServiceSettings, producer: AIOKafkaProducer, topic: str
) -> None:
    async with outbox_in_schema(engine) as outbox:
        with traced() as (provider, exporter):
            with provider.get_tracer("test").start_as_current_span("POST /v1/events") as request:
                # The outbox stores the context now; the relay publishes it later.
                async with transaction(session_factory(engine)) as session:
                    await outbox.add(session, [(topic, touchpoint("acme", "c-1"))])
            assert await outbox.relay_once(engine, producer) == 1
            decider = Decider(engine, outbox, f"test.out.{uuid4().hex[:8]}")
            await create_topics(settings.kafka_bootstrap_servers, {decider.topic: 1})
            async with running(settings=settings, topic=topic, handler=decider, producer=producer):
                await asyncio.wait_for(decider.handled.wait(), WAIT_SECONDS)
            assert await outbox.relay_once(engine, producer) == 1
            spans = exporter.get_finished_spans()

    (consumed,) = await read_topic(settings.kafka_bootstrap_servers, topic, count=1)
    (caused,) = await read_topic(settings.kafka_bootstrap_servers, decider.topic, count=1)
    started = request.get_span_context()
    assert parent_of(header(consumed.headers, "traceparent")) == (
        started.trace_id,
        started.span_id,
    )
    (message,) = named(spans, f"{topic} process")
    (batch,) = [s for s in spans if s.name.endswith(" batch")]
    assert message.kind is SpanKind.CONSUMER
    assert message.context.trace_id == started.trace_id
    assert message.parent is not None
    assert message.parent.span_id == started.span_id
    assert message.attributes is not None
    assert message.attributes["messaging.message.id"] == header(consumed.headers, "ce_id")
    assert message.attributes["messaging.kafka.offset"] == consumed.offset
    # The batch is a trace of its own, linked both ways with the messages it handled.
    assert batch.context.trace_id != started.trace_id
    assert [link.context.span_id for link in batch.links] == [started.span_id]
    assert [link.context.span_id for link in message.links] == [batch.context.span_id]
    # The invitation the handler wrote continues the touchpoint's message, not the batch.
    assert parent_of(header(caused.headers, "traceparent")) == (
        started.trace_id,
        message.context.span_id,
    )


async def test_with_tracing_off_no_traceparent_is_written_and_no_span_is_made(
    engine: AsyncEngine, settings: ServiceSettings, producer: AIOKafkaProducer, topic: str
) -> None:
    with traced() as (provider, exporter):
        tracing.disable()  # the provider is there, unused: what a service does by default
        # A message that arrives with a trace (from a service that traces) …
        record = encode(
            touchpoint("acme", "c-2"),
            topic=topic,
            source="/elsewhere",
            traceparent=traceparent(TRACE_A),
        )
        await producer.send_and_wait(
            topic, value=record.value, key=record.key, headers=record.headers
        )
        out = f"test.out.{uuid4().hex[:8]}"
        await create_topics(settings.kafka_bootstrap_servers, {out: 1})
        async with outbox_in_schema(engine) as outbox:
            decider = Decider(engine, outbox, out)
            async with running(settings=settings, topic=topic, handler=decider, producer=producer):
                await asyncio.wait_for(decider.handled.wait(), WAIT_SECONDS)
                # … and one written here, in what would be a request's span.
                with provider.get_tracer("test").start_as_current_span("request"):
                    async with transaction(session_factory(engine)) as session:
                        await outbox.add(session, [(out, touchpoint("acme", "c-3"))])
            assert await outbox.relay_once(engine, producer) == 2
        records = await read_topic(settings.kafka_bootstrap_servers, out, count=2)
        spans = [s for s in exporter.get_finished_spans() if s.name != "request"]

    assert [header(r.headers, "traceparent") for r in records] == [None, None]
    assert [header(r.headers, "tracestate") for r in records] == [None, None]
    assert spans == []


def delivery(event: CxEvent, *, offset: int, trace_id: str | None) -> Delivery:
    record = encode(
        event,
        topic="cx.touchpoints",
        source="/test",
        traceparent=traceparent(trace_id) if trace_id else None,
        tracestate="vendor=1" if trace_id else None,
    )
    return Delivery("cx.touchpoints", 0, offset, event, record.headers)


def test_events_a_batch_handler_writes_continue_the_message_that_caused_them() -> None:
    first = touchpoint("acme", "c-1", event_id="o-1")
    second = touchpoint("acme", "c-1", event_id="o-2")  # the same customer: ids tell apart
    untraced = touchpoint("acme", "c-9", event_id="o-9")
    batch = [
        delivery(first, offset=0, trace_id=TRACE_A),
        delivery(second, offset=1, trace_id=TRACE_B),
        delivery(untraced, offset=2, trace_id=None),
    ]
    with traced() as (_, exporter):
        with tracing.consuming(batch, group="dispatch"):
            for_second = tracing.headers_for(invitation_for(second))
            for_first = tracing.headers_for(invitation_for(first))
            for_untraced = tracing.headers_for(invitation_for(untraced))
            batch_span = trace.get_current_span().get_span_context()
        outside = tracing.headers_for(invitation_for(first))
        spans = exporter.get_finished_spans()

    messages = {
        span.attributes["messaging.kafka.offset"]: span
        for span in spans
        if span.attributes and "messaging.kafka.offset" in span.attributes
    }
    assert parent_of(for_first["traceparent"]) == (
        int(TRACE_A, 16),
        messages[0].context.span_id,
    )
    assert parent_of(for_second["traceparent"]) == (
        int(TRACE_B, 16),
        messages[1].context.span_id,
    )
    assert for_second["tracestate"] == "vendor=1"
    # A message without a trace is the batch's child, and so is what it causes.
    assert messages[2].context.trace_id == batch_span.trace_id
    assert parent_of(for_untraced["traceparent"]) == (
        batch_span.trace_id,
        messages[2].context.span_id,
    )
    assert outside == {}


def test_an_event_without_a_consumed_cause_continues_the_current_span() -> None:
    with traced() as (provider, _), provider.get_tracer("test").start_as_current_span("a round"):
        span = trace.get_current_span()
        written = tracing.headers_for(invitation_for(touchpoint("acme", "c-1")))

    context = span.get_span_context()
    assert parent_of(written["traceparent"]) == (context.trace_id, context.span_id)


def test_every_event_is_tied_to_its_customer_last_and_an_invitation_to_its_touchpoint() -> None:
    events = one_of_each("acme", "c-1")
    received = touchpoint("acme", "c-1", event_id="o-1")

    assert all(tracing.threads(e)[-1] == f"customer:{e.kafka_key()}" for e in events)
    assert tracing.threads(invitation_for(received))[0] == tracing.threads(received)[0]


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("traceparent", b"not a traceparent")],
        [("traceparent", f"00-{'0' * 32}-{'0' * 16}-01".encode())],
    ],
)
def test_headers_without_a_valid_trace_give_no_context(headers: list[tuple[str, bytes]]) -> None:
    assert tracing.extract(headers) is None


def test_configure_installs_nothing_unless_tracing_is_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracing.configure(ServiceSettings(), service="ingest")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    tracing.configure(ServiceSettings(tracing_enabled=True), service="ingest")

    assert not tracing.enabled()
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert tracing.headers_for(touchpoint("acme", "c-1")) == {}
