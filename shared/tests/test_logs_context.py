"""Log lines name the events they are about: every line written while the consumer handles
a message carries its ids (the batch's, or the message's own when it is retried alone),
and the service's JSON lines carry the bound context and, when tracing, the trace ids."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence

import structlog
from aiokafka import AIOKafkaProducer
from cxloop_shared.cloudevents import encode, header
from cxloop_shared.events import TouchpointReceived
from cxloop_shared.kafka import Delivery
from cxloop_shared.settings import ServiceSettings
from shared_support import WAIT_SECONDS, end_offsets
from shared_support import touchpoint_received as touchpoint
from tracing_support import running

log = structlog.get_logger("test.handler")
POISON = "o-poison"


class Noisy:
    """A handler that logs on every call and refuses the poison touchpoint."""

    def __init__(self) -> None:
        self.calls: list[tuple[set[str], set[str | None]]] = []  # event ids, ce ids
        self.handled: set[str] = set()
        self.last_handled = asyncio.Event()  # the poison, before it in offset order, is done

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        ids = {d.event.event.id for d in deliveries if isinstance(d.event, TouchpointReceived)}
        self.calls.append((ids, {header(d.headers, "ce_id") for d in deliveries}))
        log.info("handler.working")
        if POISON in ids:
            raise ValueError("this touchpoint cannot be decided")
        self.handled |= ids
        if "o-3" in ids:
            self.last_handled.set()


def ids_on(line: Mapping[str, object], single: str, several: str) -> set[object]:
    if single in line:
        return {line[single]}
    value = line.get(several)
    assert isinstance(value, list), f"{line['event']} names no {single}: {line}"
    return set(value)


async def test_every_line_logged_while_a_message_is_handled_carries_its_event_id(
    settings: ServiceSettings, producer: AIOKafkaProducer, topic: str
) -> None:
    for event_id in ("o-1", POISON, "o-3"):
        record = encode(touchpoint("acme", "c-1", event_id=event_id), topic=topic, source="/t")
        await producer.send_and_wait(
            topic, value=record.value, key=record.key, headers=record.headers
        )
    handler = Noisy()

    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as lines:
        async with running(
            settings=settings, topic=topic, handler=handler, producer=producer, max_attempts=1
        ):
            await asyncio.wait_for(handler.last_handled.wait(), WAIT_SECONDS)

    working = [line for line in lines if line["event"] == "handler.working"]
    assert len(working) == len(handler.calls) >= 4  # the batch (maybe split), then one by one
    for line, (event_ids, ce_ids) in zip(working, handler.calls, strict=True):
        assert ids_on(line, "event_id", "event_ids") == event_ids
        assert ids_on(line, "ce_id", "ce_ids") == ce_ids
        assert line["workspace_id" if len(event_ids) == 1 else "messages"]
    failed = [line for line in lines if line["event"] == "consumer.batch_failed"]
    assert failed
    assert all(POISON in ids_on(line, "event_id", "event_ids") for line in failed)
    (dead,) = [line for line in lines if line["event"] == "consumer.dead_lettered"]
    assert dead["event_id"] == POISON
    assert dead["ce_id"] is not None
    assert "ada@example.com" not in repr(lines)  # the customer's address is in every event
    assert await end_offsets(settings.kafka_bootstrap_servers, f"{topic}.dlq") == [1]
    assert structlog.contextvars.get_contextvars() == {}


SERVICE_LOGS = """
import logging
import structlog
from cxloop_shared import tracing
from cxloop_shared.logs import configure_logging
from opentelemetry.sdk.trace import TracerProvider

configure_logging(service="dispatch")
log = structlog.get_logger("dispatch.handlers")
with structlog.contextvars.bound_contextvars(event_id="o-1"):
    log.info("untraced")
provider = TracerProvider()
tracing.enable(provider)
with provider.get_tracer("t").start_as_current_span("decide") as span:
    with structlog.contextvars.bound_contextvars(event_id="o-2"):
        log.info("decided", outcome="scheduled")
        logging.getLogger("sqlalchemy.pool").warning("from the standard library")
print(format(span.get_span_context().trace_id, "032x"))
"""


def test_service_log_lines_are_json_with_the_bound_event_id_and_the_trace() -> None:
    ran = subprocess.run(
        [sys.executable, "-c", SERVICE_LOGS], capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    *lines, trace_id = ran.stdout.splitlines()
    untraced, decided, stdlib = (json.loads(line) for line in lines)

    assert untraced["event_id"] == "o-1"
    assert "trace_id" not in untraced
    assert decided["event_id"] == stdlib["event_id"] == "o-2"
    assert decided["trace_id"] == stdlib["trace_id"] == trace_id
    assert {decided["service"], decided["level"], decided["outcome"]} == {
        "dispatch",
        "info",
        "scheduled",
    }
