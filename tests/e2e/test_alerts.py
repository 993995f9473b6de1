"""Closed-loop alerts through the four real services, Postgres and Kafka: a touchpoint
with its context → survey email → a detractor answer → an alert, signed per Standard
Webhooks, at the workspace's CRM endpoint, carrying the touchpoint's context."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time

import httpx
import pytest
from cxloop_devstack.provider_sandbox import provider_sandbox

from tests.e2e.conftest import Stack
from tests.e2e.test_walking_skeleton import wait_until
from tests.e2e.workspace import create_workspace, csat_config

pytestmark = pytest.mark.e2e

SECRET = "whsec_" + base64.b64encode(b"the crm's signing secret, end to end").decode()
ATTRIBUTES = {"agent": "Kim", "order_id": "o-7", "queue": "returns"}


def answer_link(stack: Stack, address: str, score: int) -> str | None:
    """The answer link for `score` in the survey email sent to `address`, once it is there."""
    for message in stack.mail.messages:
        if address in message.rcpt_tos:
            found = re.search(rf"(http://\S+/r/[\w.\-]+)\?s={score}\b", message.text or "")
            if found:
                return found.group(1)
    return None


def signed_by(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks, checked with the stdlib: `v1,` + base64 HMAC-SHA256 of
    "<webhook-id>.<webhook-timestamp>.<body>" under the base64-decoded `whsec_` key."""
    stamp = headers["webhook-timestamp"]
    assert abs(time.time() - int(stamp)) < 300, "the timestamp is the time of sending"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{stamp}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(s, expected) for s in headers["webhook-signature"].split())


def test_a_detractor_answer_reaches_the_crm_as_a_signed_alert_with_its_context(
    stack: Stack, workspace_id: str
) -> None:
    with provider_sandbox() as crm:
        config = csat_config(workspace_id, smtp_port=stack.mail.smtp_port)
        config["endpoints"] = {
            "crm": {"url": f"{crm.url}/webhooks/crm", "secret": SECRET, "events": ["alert.created"]}
        }
        config["alerts"] = [{"when": "csat <= 2", "notify": ["crm"]}]
        with stack.client("gateway") as gateway:
            keys = create_workspace(gateway, admin_token=stack.settings.admin_token, config=config)
        address = f"ana+{workspace_id}@example.com"
        event = {
            "id": "ticket-7-closed",
            "touchpoint": "checkout",
            "occurred_at": "2026-11-23T07:00:00Z",
            "customer": {"id": "c-7", "email": address, "locale": "en-US"},
            "channel": "web",
            "attributes": ATTRIBUTES,
        }
        with stack.client("ingest", keys.ingest) as ingest:
            accepted = ingest.post("/v1/events", json=event)
            assert accepted.status_code == 202, accepted.text

        link = wait_until(lambda: answer_link(stack, address, 1), timeout=45)
        with httpx.Client(timeout=10) as browser:
            answered = browser.post(link, data={"score": "1", "comment": "Nobody called back"})
            assert answered.status_code == 200, answered.text

        (delivered,) = wait_until(lambda: crm.of_kind("webhook"))

    assert signed_by(SECRET, delivered.headers, delivered.body)
    assert delivered.headers["content-type"] == "application/json"
    body = json.loads(delivered.body)
    assert body["type"] == "alert.created"
    alert = body["data"]
    assert (alert["score"], alert["metric"], alert["comment"]) == (1, "csat", "Nobody called back")
    assert (alert["customer_id"], alert["touchpoint"]) == ("c-7", "checkout")
    assert (alert["rule"], alert["state"]) == ("csat <= 2", "open")
    assert alert["context"] == ATTRIBUTES, "the touchpoint's context as it was at send time"
    assert "email" not in json.dumps(alert["context"])

    # The same alert is listed, and can be worked on, through scoring's internal API.
    internal = {"Authorization": f"Bearer {stack.settings.internal_token}"}
    with httpx.Client(base_url=stack.settings.url("scoring"), headers=internal) as scoring:
        listed = scoring.get("/internal/v1/alerts", params={"workspace_id": workspace_id})
        assert listed.status_code == 200, listed.text
        assert [a["alert_id"] for a in listed.json()["items"]] == [alert["alert_id"]]
        acknowledged = scoring.post(
            f"/internal/v1/alerts/{alert['alert_id']}/acknowledge",
            params={"workspace_id": workspace_id},
            json={"by": "kim@acme.test"},
        )
        assert acknowledged.status_code == 200, acknowledged.text
        assert acknowledged.json()["state"] == "acknowledged"
        log = scoring.get("/internal/v1/webhook-deliveries", params={"workspace_id": workspace_id})
        (delivery,) = log.json()["deliveries"]
        assert (delivery["status"], delivery["message_id"]) == (
            "delivered",
            delivered.headers["webhook-id"],
        )
