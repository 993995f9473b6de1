"""Outbound webhooks, pure: who gets what, the body and its id, signatures, backoff."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from cxloop_scoring.webhooks import (
    AttemptResult,
    InvalidSecret,
    RetryPolicy,
    messages,
    next_attempt_at,
    recipients,
    retry_delay,
    signed_headers,
    subscribes,
)
from cxloop_shared.config import WorkspaceConfig
from cxloop_shared.http import retry_after
from scoring_support import ENDPOINT_SECRET, T0, endpoint, signature_valid

POLICY = RetryPolicy(base=timedelta(seconds=5), cap=timedelta(hours=1), max_attempts=8)


def config(**endpoints: dict[str, object]) -> WorkspaceConfig:
    return WorkspaceConfig.model_validate({"workspace": "acme", "endpoints": endpoints})


def test_an_endpoint_subscribes_by_type_by_prefix_or_to_everything() -> None:
    assert subscribes(["alert.created"], "alert.created")
    assert not subscribes(["alert.created"], "alert.resolved")
    assert subscribes(["invitation.*"], "invitation.sent")
    assert not subscribes(["invitation.*"], "survey.responded")
    assert subscribes(["*"], "survey.responded")
    assert not subscribes([], "alert.created")


def test_an_alert_goes_to_subscribers_and_to_the_endpoints_its_rule_notifies() -> None:
    workspace = config(
        crm=endpoint("https://crm.test/hooks", "survey.responded"),
        pager=endpoint("https://pager.test/hooks", "alert.created"),
        bi=endpoint("https://bi.test/hooks", "invitation.*"),
    )
    assert recipients(workspace, "alert.created", notify=["crm"]) == ["crm", "pager"]
    assert recipients(workspace, "alert.created") == ["pager"]
    assert recipients(workspace, "invitation.expired") == ["bi"]
    assert recipients(workspace, "survey.responded") == ["crm"]


def test_a_message_has_one_id_and_one_body_for_every_endpoint_and_every_redelivery() -> None:
    workspace = config(a=endpoint("https://a.test", "*"), b=endpoint("https://b.test", "*"))

    def build(workspace_id: str = "acme", subject: str = "r-1/1") -> list[tuple[str, str]]:
        found = messages(
            workspace,
            workspace_id=workspace_id,
            event_type="survey.responded",
            subject=subject,
            at=T0,
            data={"score": 3, "comment": "très bien"},
        )
        return [(m.endpoint, m.message_id) for m in found]

    first = build()
    assert [name for name, _ in first] == ["a", "b"]
    assert first[0][1] == first[1][1] == build()[0][1]
    assert first[0][1].startswith("msg_")
    assert build(subject="r-1/2")[0][1] != first[0][1]
    assert build(workspace_id="other")[0][1] != first[0][1]
    (message, _) = messages(
        workspace,
        workspace_id="acme",
        event_type="survey.responded",
        subject="r-1/1",
        at=T0,
        data={"comment": "très bien"},
    )
    assert json.loads(message.body) == {
        "type": "survey.responded",
        "timestamp": "2026-11-23T07:00:00Z",
        "data": {"comment": "très bien"},
    }
    assert "très" in message.body, "UTF-8 as is, not \\u escapes"


def test_no_endpoint_no_message() -> None:
    assert (
        messages(
            config(), workspace_id="acme", event_type="alert.created", subject="x", at=T0, data={}
        )
        == []
    )


def test_headers_are_signed_per_standard_webhooks() -> None:
    at = datetime.now(UTC)
    body = '{"type":"alert.created"}'
    headers = signed_headers(ENDPOINT_SECRET, message_id="msg_1", body=body, at=at)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(int(at.timestamp()))
    assert headers["content-type"] == "application/json"
    assert signature_valid(headers, body.encode())
    assert not signature_valid(headers, body.encode() + b" ")
    assert not signature_valid({**headers, "webhook-id": "msg_2"}, body.encode())


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_not base64!"])
def test_a_secret_that_is_not_whsec_base64_is_refused(secret: str) -> None:
    with pytest.raises(InvalidSecret):
        signed_headers(secret, message_id="m", body="{}", at=T0)


def test_backoff_doubles_from_the_base_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(1, 5), (2, 10), (3, 20), (4, 40), (11, 3600), (30, 3600)]:
        for _ in range(20):
            delay = retry_delay(attempt, policy=POLICY, retry_after=None, rng=rng)
            assert timedelta(seconds=ceiling / 2) <= delay <= timedelta(seconds=ceiling)


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    rng = random.Random(7)
    assert retry_delay(1, policy=POLICY, retry_after=120, rng=rng) == timedelta(seconds=120)
    assert retry_delay(1, policy=POLICY, retry_after=86400, rng=rng) == timedelta(hours=1)
    assert retry_delay(1, policy=POLICY, retry_after=1, rng=rng) >= timedelta(seconds=2.5)


def test_what_is_retried_and_when_it_stops() -> None:
    rng = random.Random(7)
    ok = AttemptResult(204, None, 3)
    server_error = AttemptResult(500, "HTTP 500", 3)
    refused = AttemptResult(None, "ConnectError", 1)
    gone = AttemptResult(None, "endpoint_not_configured", 0, permanent=True)
    assert next_attempt_at(1, ok, now=T0, policy=POLICY, rng=rng) is None
    assert next_attempt_at(1, gone, now=T0, policy=POLICY, rng=rng) is None
    for result in (server_error, refused, AttemptResult(404, "HTTP 404", 2)):
        retry_at = next_attempt_at(1, result, now=T0, policy=POLICY, rng=rng)
        assert retry_at is not None
        assert T0 < retry_at <= T0 + timedelta(seconds=5)
    assert next_attempt_at(7, server_error, now=T0, policy=POLICY, rng=rng) is not None
    assert next_attempt_at(8, server_error, now=T0, policy=POLICY, rng=rng) is None


def test_retry_after_values() -> None:
    now = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert retry_after(None, now=now) is None
    assert retry_after("30", now=now) == 30.0
    assert retry_after("-5", now=now) == 0.0
    assert retry_after("Mon, 23 Nov 2026 07:01:00 GMT", now=now) == 60.0
    assert retry_after("soon", now=now) is None
