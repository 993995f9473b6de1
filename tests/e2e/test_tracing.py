"""One touchpoint followed through the real services by its trace: with tracing on, the
services export OTLP/HTTP to a receiver in this test, and the spans of ingest's webhook,
dispatch's decision and scoring's consumers share one trace id, each hop the child of the
one before, the W3C context carried in Kafka headers through the outboxes, and the
survey's `sent` step continuing the same trace from the invitation's row."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from cxloop_devstack.mailcatcher import MailCatcher
from cxloop_devstack.ports import free_port
from cxloop_devstack.services import SERVICES
from cxloop_devstack.stack import StackSettings, start_services
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.e2e.conftest import LOG_DIR, Stack
from tests.e2e.test_walking_skeleton import wait_until
from tests.e2e.workspace import create_workspace, csat_config

pytestmark = pytest.mark.e2e

SECRET = "whsec_" + base64.b64encode(b"the partner's signing secret, traced").decode()
WEBHOOK_ROUTE = "POST /v1/webhooks/{source_id:path}"


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str


class Collector:
    """An OTLP/HTTP trace receiver: what a collector would get on /v1/traces."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.content_types: set[str] = set()
        collector = self

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                collector.add(self.headers.get("Content-Type", ""), body)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Receive)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._lock = threading.Lock()

    def add(self, content_type: str, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self._lock:
            self.content_types.add(content_type)
            for resource_spans in request.resource_spans:
                attributes = {
                    a.key: a.value.string_value for a in resource_spans.resource.attributes
                }
                for scope_spans in resource_spans.scope_spans:
                    self.spans += [
                        ReceivedSpan(
                            service=attributes.get("service.name", ""),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                        )
                        for span in scope_spans.spans
                    ]

    def received(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    receiver = Collector()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture(scope="module")
def stack(
    database_url: str,
    kafka_bootstrap: str,
    kafka_idempotence: bool,
    mail: MailCatcher,
    collector: Collector,
) -> Iterator[Stack]:
    """The four services as conftest starts them, with tracing on and exported here."""
    tracing = {
        "CXLOOP_TRACING_ENABLED": "true",
        "CXLOOP_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within a tenth of a second, not five
    }
    settings = StackSettings(
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        kafka_idempotence=kafka_idempotence,
        admin_token=secrets.token_urlsafe(24),
        ports={spec.name: free_port() for spec in SERVICES},
        extra={spec.name: tracing for spec in SERVICES},
    )
    services = start_services(settings, LOG_DIR / "test_tracing")
    yield Stack(settings, services, mail)
    for process in services.values():
        process.stop()


def signed(body: bytes) -> dict[str, str]:
    """Standard Webhooks headers for `body`, as the partner's sender makes them."""
    message_id, stamp = "msg_traced_1", str(int(time.time()))
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"{message_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
        "content-type": "application/json",
    }


def test_one_touchpoint_is_one_trace_from_ingest_through_dispatch_to_scoring(
    stack: Stack, collector: Collector, workspace_id: str
) -> None:
    config = csat_config(workspace_id, smtp_port=stack.mail.smtp_port)
    config["sources"] = {"partner": {"kind": "standard", "secrets": [SECRET]}}
    with stack.client("gateway") as gateway:
        create_workspace(gateway, admin_token=stack.settings.admin_token, config=config)
    touchpoint = {
        "id": "ticket-42-closed",
        "touchpoint": "checkout",
        "occurred_at": "2026-11-23T07:00:00Z",
        "customer": {"id": "c-42", "email": f"ana+{workspace_id}@example.com"},
    }
    body = json.dumps(touchpoint).encode()
    with httpx.Client(base_url=stack.settings.url("ingest"), timeout=10) as ingest:
        accepted = ingest.post(
            f"/v1/webhooks/{workspace_id}:partner", content=body, headers=signed(body)
        )
    assert accepted.status_code == 202, accepted.text

    def hop(service: str, name: str, after: ReceivedSpan) -> ReceivedSpan | None:
        """The span `name` of `service` whose parent is a span of the hop before."""
        received = collector.received()
        before = {s.span_id for s in received if s.service == after.service}
        return next(
            (
                s
                for s in received
                if (s.service, s.name, s.trace_id) == (service, name, after.trace_id)
                and s.parent_id in before
            ),
            None,
        )

    webhook = wait_until(
        lambda: next(
            (
                span
                for span in collector.received()
                if (span.service, span.name) == ("cxloop-ingest", WEBHOOK_ROUTE)
            ),
            None,
        ),
        timeout=20,
    )
    try:
        decided = wait_until(lambda: hop("cxloop-dispatch", "cx.touchpoints process", webhook))
        scored = wait_until(lambda: hop("cxloop-scoring", "cx.touchpoints process", webhook))
        invited = wait_until(lambda: hop("cxloop-scoring", "cx.invitations process", decided))
    except AssertionError as missing:
        seen = "\n".join(map(str, collector.received()))
        raise AssertionError(f"{missing}\nthe trace is {webhook}; received:\n{seen}") from None

    # The survey is sent at once (no delay): its `sent` step, published by dispatch's
    # scheduler outside any consumer, continues the trace from the invitation's row.
    def steps_in_scoring() -> list[ReceivedSpan] | None:
        steps = [
            s
            for s in collector.received()
            if (s.service, s.name, s.trace_id)
            == ("cxloop-scoring", "cx.invitations process", webhook.trace_id)
        ]
        return steps if len(steps) >= 2 else None

    assert wait_until(steps_in_scoring), "scoring saw the scheduled and the sent step"
    assert len({webhook.trace_id, decided.trace_id, scored.trace_id, invited.trace_id}) == 1
    in_trace = {s.service for s in collector.received() if s.trace_id == webhook.trace_id}
    assert {"cxloop-ingest", "cxloop-dispatch", "cxloop-scoring"} <= in_trace
    assert collector.content_types == {"application/x-protobuf"}
