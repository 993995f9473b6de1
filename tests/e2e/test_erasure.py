"""Erasure through the four real services, Postgres and Kafka: a customer with a touchpoint,
an answered survey with a comment (which raised an alert and went to the CRM) and a
survey still pending; `DELETE /v1/customers/{id}`; then their email, phone and comment
are in no table of any schema, the pending survey is cancelled, the customer reads as
erased, and the metrics read exactly as before. Then the erasure holds against late
data: an answer with a comment posted for the customer and a touchpoint naming their
address count in the metrics, but no table keeps the comment, the address or (outside
dispatch, which keeps the erased profile to block late touchpoints) the customer's id,
and nothing more goes to the CRM."""

from __future__ import annotations

import asyncio
import base64
import random
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cxloop_devstack.provider_sandbox import provider_sandbox
from cxloop_shared.db import create_engine
from sqlalchemy import text

from tests.e2e.conftest import Stack
from tests.e2e.test_alerts import answer_link
from tests.e2e.test_walking_skeleton import metrics, wait_until
from tests.e2e.workspace import create_workspace, csat_config

pytestmark = pytest.mark.e2e

SECRET = "whsec_" + base64.b64encode(b"the crm's secret, for the erasure walk").decode()


def erasure_config(workspace_id: str, *, smtp_port: int, crm_url: str) -> dict[str, Any]:
    """CSAT after checkout (now) and after delivery (a day later), alerts to a CRM."""
    config = csat_config(workspace_id, smtp_port=smtp_port)
    checkout = config["touchpoints"]["checkout"]
    config["touchpoints"]["order_delivered"] = {
        "stage": "purchase",
        "survey": checkout["survey"],
        "policy": checkout["policy"] | {"delay": "P1D"},
    }
    config["endpoints"] = {
        "crm": {
            "url": f"{crm_url}/webhooks/crm",
            "secret": SECRET,
            "events": ["alert.created", "survey.responded"],
        }
    }
    config["alerts"] = [{"when": "csat <= 2", "notify": ["crm"]}]
    return config


async def _columns_holding(database_url: str, needles: list[str]) -> dict[str, list[str]]:
    """For each needle, every `schema.table.column` (text, JSON or bytes) that holds it."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            columns = (
                await connection.execute(
                    text(
                        "select c.table_schema, c.table_name, c.column_name, c.data_type"
                        " from information_schema.columns c join information_schema.tables t"
                        " using (table_schema, table_name)"
                        " where t.table_type = 'BASE TABLE'"
                        " and c.table_schema not in ('pg_catalog', 'information_schema')"
                        " and c.data_type in ('text', 'character varying', 'jsonb', 'json',"
                        " 'bytea')"
                    )
                )
            ).all()
            found: dict[str, list[str]] = {needle: [] for needle in needles}
            for schema, table, column, data_type in columns:
                where = (
                    f"position(convert_to(:needle, 'UTF8') in \"{column}\") > 0"
                    if data_type == "bytea"
                    else f'strpos(cast("{column}" as text), :needle) > 0'
                )
                for needle in needles:
                    hits = await connection.scalar(
                        text(f'select count(*) from "{schema}"."{table}" where {where}'),  # noqa: S608 (names from the catalog)
                        {"needle": needle},
                    )
                    if hits:
                        found[needle].append(f"{schema}.{table}.{column}")
            return found
    finally:
        await engine.dispose()


def gateway_metrics(stack: Stack, read_key: str) -> list[dict[str, Any]]:
    """`GET /v1/metrics` over every touchpoint: its values, n and scores."""
    with stack.client("gateway", read_key) as gateway:
        report = gateway.get("/v1/metrics")
    assert report.status_code == 200, report.text
    return list(report.json()["values"])


def columns_holding(stack: Stack, needles: list[str]) -> dict[str, list[str]]:
    return asyncio.run(_columns_holding(stack.settings.database_url, needles))


def wait_until_gone(stack: Stack, needles: list[str], *, timeout: float = 60.0) -> None:
    """Poll until no column holds any of `needles`; fail naming the columns that still do."""
    deadline = time.monotonic() + timeout
    while (found := columns_holding(stack, needles)) and any(found.values()):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert found == {needle: [] for needle in needles}


def _count(database_url: str, table: str, workspace_id: str) -> int:
    """How many rows `schema.table` holds for the workspace."""

    async def count() -> int:
        engine = create_engine(database_url, pool_size=1)
        try:
            async with engine.connect() as connection:
                found = await connection.scalar(
                    text(f"select count(*) from {table} where workspace_id = :w"),  # noqa: S608
                    {"w": workspace_id},
                )
                return int(found or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


def _sent_to_ingest(database_url: str, workspace_id: str) -> int:
    return _count(database_url, "ingest.sent_invitations", workspace_id)


def test_an_erased_customer_is_gone_from_every_table_and_the_metrics_stay(
    stack: Stack, workspace_id: str
) -> None:
    customer_id = f"c-erase-{workspace_id}"
    address = f"ana+{workspace_id}@example.com"
    phone = f"+1415555{random.randrange(10_000):04d}"
    comment = f"Nobody called back about my order, {workspace_id}"
    with provider_sandbox() as crm:
        config = erasure_config(workspace_id, smtp_port=stack.mail.smtp_port, crm_url=crm.url)
        with stack.client("gateway") as gateway:
            keys = create_workspace(gateway, admin_token=stack.settings.admin_token, config=config)
            issued = gateway.post(
                "/v1/api-keys",
                json={"name": "privacy", "scopes": ["customers:read", "customers:write"]},
                headers={"Authorization": f"Bearer {keys.admin}"},
            )
            assert issued.status_code == 201, issued.text
        privacy = issued.json()["key"]
        with stack.client("gateway") as gateway:
            ivr = gateway.post(
                "/v1/api-keys",
                json={"name": "ivr", "scopes": ["responses:write"]},
                headers={"Authorization": f"Bearer {keys.admin}"},
            )
            assert ivr.status_code == 201, ivr.text
        answers_key = ivr.json()["key"]
        customer = {
            "id": customer_id,
            "email": address,
            "phone": phone,
            "locale": "en-US",
            "persona": "smb-owner",
        }
        checkout = {
            "id": f"ord-{workspace_id}",
            "touchpoint": "checkout",
            "occurred_at": datetime.now(UTC).isoformat(),
            "customer": customer,
            "attributes": {"order_value": 120.5, "buyer_email": address, "gift": False},
        }
        delivered = checkout | {
            "id": f"ord-{workspace_id}-delivered",
            "touchpoint": "order_delivered",
        }
        delivered["attributes"] = {"order_value": 120.5}

        with stack.client("ingest", keys.ingest) as ingest:
            assert ingest.post("/v1/events", json=checkout).status_code == 202
        link = wait_until(lambda: answer_link(stack, address, 1))
        with httpx.Client(timeout=10) as browser:
            answered = browser.post(link, data={"score": "1", "comment": comment})
            assert answered.status_code == 200, answered.text
        wait_until(lambda: len(crm.of_kind("webhook")) >= 2)  # the alert and the answer
        with stack.client("ingest", keys.ingest) as ingest:
            assert ingest.post("/v1/events", json=delivered).status_code == 202

        with stack.client("gateway", privacy) as gateway:

            def trace_of_delivery() -> dict[str, Any]:
                found = gateway.get(f"/v1/events/{delivered['id']}/trace")
                return dict(found.json()) if found.status_code == 200 else {}

            pending = wait_until(lambda: trace_of_delivery().get("decisions"))
            assert [(d["status"], d["reason"]) for d in pending] == [
                ("scheduled", "scheduled_later")
            ]

            def read_customer() -> dict[str, Any]:
                found = gateway.get(f"/v1/customers/{customer_id}")
                assert found.status_code == 200, found.text
                return dict(found.json())

            def answered_in_timeline() -> dict[str, Any] | None:
                seen = read_customer()
                kinds = [entry["kind"] for entry in seen["timeline"]]
                return seen if kinds.count("answer") == 1 and kinds.count("decision") == 2 else None

            before = wait_until(answered_in_timeline)
            assert before["profile"]["email"] == f"a***@{address.split('@')[1]}"
            (answer,) = [e["answer"] for e in before["timeline"] if e["kind"] == "answer"]
            assert (answer["score"], answer["comment"]) == (1, comment)
            wait_until(lambda: _sent_to_ingest(stack.settings.database_url, workspace_id))
            measured = wait_until(
                lambda: (m := metrics(stack, keys.read, "checkout"))["values"] and m
            )
            assert measured["values"][0]["n"] == 1
            checkout_before = metrics(stack, keys.read, "checkout")["values"]
            overall_before = gateway_metrics(stack, keys.read)
            needles = [address, phone, comment]
            assert all(columns_holding(stack, needles).values()), "all three are stored"

            erased = gateway.delete(f"/v1/customers/{customer_id}")
            assert erased.status_code == 202, erased.text
            assert erased.json()["status"] == "accepted"

            def cancelled() -> bool:
                return [d["reason"] for d in trace_of_delivery()["decisions"]] == ["erased"]

            wait_until(cancelled)
            after = wait_until(lambda: (seen := read_customer())["erased"] and seen)
            wait_until_gone(stack, needles)

        profile = after["profile"]
        assert (profile["email"], profile["phone"], profile["persona"]) == (None, None, None)
        assert profile["erased_at"] == after["erased_at"]
        assert [
            (e["decision"]["status"], e["decision"]["reason"])
            for e in after["timeline"]
            if e["kind"] == "decision"
        ] == [("sent", "scheduled"), ("suppressed", "erased")]
        assert [e for e in after["timeline"] if e["kind"] != "decision"] == [], (
            "touchpoints and answers are filed under a pseudonym: the id finds none"
        )
        assert metrics(stack, keys.read, "checkout")["values"] == checkout_before
        overall_after = gateway_metrics(stack, keys.read)
        assert [(v["n"], v["score"]) for v in overall_after] == [(1, 0.0)], "one CSAT of 1"
        assert overall_after == overall_before

        # Late data: a touchpoint naming the address, and an answer from elsewhere.
        database_url = stack.settings.database_url
        queued = _count(database_url, "scoring.webhook_deliveries", workspace_id)
        late_comment = f"Call me back on {phone}, {workspace_id}"
        late_touchpoint = checkout | {
            "id": f"ord-{workspace_id}-late",
            "occurred_at": datetime.now(UTC).isoformat(),
            "attributes": {"order_value": 80.0, "buyer_email": address},
        }
        late_answer = {
            "id": f"ivr-{workspace_id}",
            "touchpoint": "checkout",
            "customer_id": customer_id,
            "score": 2,
            "comment": late_comment,
        }
        with stack.client("ingest", keys.ingest) as ingest:
            assert ingest.post("/v1/events", json=late_touchpoint).status_code == 202
        with stack.client("ingest", answers_key) as ingest:
            posted = ingest.post("/v1/responses", json=late_answer)
            assert posted.status_code == 202, posted.text

        wait_until(lambda: metrics(stack, keys.read, "checkout")["values"][0]["n"] == 2)
        wait_until(lambda: _count(database_url, "scoring.touchpoint_contexts", workspace_id) == 3)
        with stack.client("gateway", privacy) as gateway:
            late_trace = wait_until(
                lambda: (
                    gateway.get(f"/v1/events/{late_touchpoint['id']}/trace").json().get("decisions")
                )
            )
        assert [(d["status"], d["reason"]) for d in late_trace] == [("suppressed", "erased")]
        overall_late = gateway_metrics(stack, keys.read)
        assert [(v["n"], v["score"]) for v in overall_late] == [(2, 0.0)], "the late 2 counts"
        found = columns_holding(stack, [address, phone, comment, late_comment, customer_id])
        assert [c for c in found.pop(customer_id) if not c.startswith("dispatch.")] == []
        assert found == {needle: [] for needle in (address, phone, comment, late_comment)}
        assert _count(database_url, "scoring.webhook_deliveries", workspace_id) == queued
        assert len(crm.of_kind("webhook")) == 2, "no alert or answer about the erased"
