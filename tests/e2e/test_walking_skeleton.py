"""The foundation path through the four real services, Postgres and Kafka:
touchpoint → email with a signed link → answer → rollup → metric on the gateway."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.e2e.workspace import create_workspace, csat_config

pytestmark = pytest.mark.e2e


def wait_until(check: Any, *, timeout: float = 45.0, every: float = 0.25) -> Any:
    """Poll `check` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"condition not met in {timeout}s; last value: {last!r}")


def answer_links(stack: Stack, address: str) -> list[str]:
    """The `?s=` answer links of every email the catcher got for `address`."""
    links = []
    for message in stack.mail.messages:
        if address in message.rcpt_tos:
            links += re.findall(r"(http://\S+/r/[\w.\-]+)\?s=(\d+)", message.text or "")
    return [f"{url}?s={score}" for url, score in links]


def metrics(stack: Stack, read_key: str, touchpoint: str) -> dict[str, Any]:
    with stack.client("gateway", read_key) as gateway:
        response = gateway.get("/v1/metrics", params={"touchpoint": touchpoint})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_touchpoint_becomes_a_survey_whose_answer_moves_the_metric(
    stack: Stack, workspace_id: str
) -> None:
    with stack.client("gateway") as gateway:
        keys = create_workspace(
            gateway,
            admin_token=stack.settings.admin_token,
            config=csat_config(workspace_id, smtp_port=stack.mail.smtp_port),
        )
    address = f"ana+{workspace_id}@example.com"
    event = {
        "id": "ord_1001-completed",
        "touchpoint": "checkout",
        "occurred_at": "2026-11-23T07:00:00Z",
        "customer": {"id": "c-42", "email": address, "locale": "en-US"},
        "attributes": {"order_value": 120.5, "currency": "USD"},
    }
    with stack.client("ingest", keys.ingest) as ingest:
        accepted = ingest.post("/v1/events", json=event)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json() == {"accepted": 1, "duplicates": 0, "duplicate": False}
        again = ingest.post("/v1/events", json=event)
        assert again.status_code == 200
        assert again.json()["duplicate"] is True

    links = wait_until(lambda: answer_links(stack, address))
    assert len(links) == 5, "one link per CSAT score, 1 to 5"
    four = next(link for link in links if link.endswith("?s=4"))

    with httpx.Client(timeout=10) as browser:
        page = browser.get(four)
        assert page.status_code == 200
        assert "How satisfied are you with your checkout?" in page.text
        assert 'value="4" required checked' in page.text
        before = metrics(stack, keys.read, "checkout")
        assert before["values"] == [] or before["values"][0]["n"] == 0, "showing records nothing"

        posted = browser.post(four.split("?")[0], data={"score": "4", "comment": "quick"})
        assert posted.status_code == 200, posted.text

    def answered(report: dict[str, Any]) -> bool:
        return bool(report["values"]) and report["values"][0]["n"] >= 1

    report = wait_until(lambda: answered(m := metrics(stack, keys.read, "checkout")) and m)
    csat = report["values"][0]
    assert csat["metric"] == "csat"
    assert csat["n"] == 1
    assert csat["score"] == 100.0
    assert csat["invitations_sent"] == 1
    assert csat["response_rate"] == 1.0

    with httpx.Client(timeout=10) as browser:
        revised = browser.post(four.split("?")[0], data={"score": "2"})
        assert revised.status_code == 200
    revised_report = wait_until(
        lambda: (m := metrics(stack, keys.read, "checkout"))["values"][0]["score"] == 0.0 and m
    )
    assert revised_report["values"][0]["n"] == 1, "a revision replaces, never adds"


def test_a_tampered_link_is_not_found(stack: Stack) -> None:
    with httpx.Client(base_url=stack.settings.url("ingest"), timeout=10) as browser:
        assert browser.get("/r/not-a-token").status_code == 404
        assert browser.post("/r/not-a-token", data={"score": "5"}).status_code == 404


def scrape(stack: Stack, service: str) -> dict[str, float]:
    """A service's Prometheus samples, as `name{labels}` → value."""
    text = httpx.get(f"{stack.settings.url(service)}/metrics", timeout=10).text
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def total(samples: dict[str, float], prefix: str, *labels: str) -> float:
    """The sum of every sample named `prefix` whose labels include all of `labels`."""
    return sum(
        value
        for name, value in samples.items()
        if name.split("{")[0] == prefix and all(label in name for label in labels)
    )


def test_every_service_exports_the_operational_metrics_after_the_flow(stack: Stack) -> None:
    # Runs after the walk-through above, in the same stack: the counters moved.
    ingest, dispatch = scrape(stack, "ingest"), scrape(stack, "dispatch")
    scoring, gateway = scrape(stack, "scoring"), scrape(stack, "gateway")

    assert total(ingest, "cxloop_http_requests_total", 'route="/v1/events"', 'status="202"') >= 1
    assert total(ingest, "cxloop_ingest_group_commit_items_count") >= 1
    assert total(ingest, "cxloop_outbox_relayed_total", 'schema="ingest"') >= 2
    assert total(dispatch, "cxloop_consumer_messages_total", 'topic="cx.touchpoints"') >= 1
    assert total(dispatch, "cxloop_dispatch_decisions_total", 'outcome="scheduled"') >= 1
    assert total(dispatch, "cxloop_sends_total", 'channel="email"', 'result="sent"') >= 1
    assert "cxloop_circuits_open" in dispatch
    assert total(dispatch, "cxloop_consumer_batch_seconds_count", 'topic="cx.touchpoints"') >= 1
    assert total(scoring, "cxloop_consumer_messages_total", 'topic="cx.responses"') >= 2
    assert total(gateway, "cxloop_http_requests_total", 'route="/v1/metrics"') >= 1
    for samples in (ingest, dispatch):
        depth = [v for k, v in samples.items() if k.startswith("cxloop_outbox_depth")]
        assert depth, "outbox depth is exported"
        assert all(0 <= v < 1000 for v in depth)
