"""Alerts raised by the batch handler against a real Postgres: rules, the touchpoint's
context, redeliveries and revisions, the outbox, and the webhooks queued with them."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from cxloop_shared.cloudevents import decode
from cxloop_shared.events import AlertRaised
from scoring_support import DETRACTORS, T0, endpoint, invitation, response, touchpoint
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

CONTEXT = {"agent": "Kim", "order_id": "o-7", "queue": "returns", "order_value": 120.5}


async def stored_alerts(engine: AsyncEngine, workspace_id: str) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "select alert_id, rule, response_id, revision, score, comment, context, state,"
                " customer_id, invitation_id from scoring.alerts where workspace_id = :w"
                " order by response_id, rule"
            ),
            {"w": workspace_id},
        )
        return [dict(row._mapping) for row in rows]


async def published(engine: AsyncEngine, workspace_id: str) -> list[AlertRaised]:
    """The AlertRaised events waiting in scoring's outbox for the workspace."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("select key, value, headers from scoring.outbox where topic = 'cx.alerts'")
        )
        events = [decode([(k, v.encode()) for k, v in row.headers], row.value) for row in rows]
    return [e for e in events if isinstance(e, AlertRaised) and e.workspace_id == workspace_id]


async def queued(engine: AsyncEngine, workspace_id: str) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "select endpoint, message_id, event_type, body, status from"
                " scoring.webhook_deliveries where workspace_id = :w order by id"
            ),
            {"w": workspace_id},
        )
        return [{**row._mapping, "body": json.loads(row.body)} for row in rows]


async def test_a_detractor_answer_raises_an_alert_with_its_touchpoints_context(
    handle: Any, configure: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    await configure(workspace_id, alerts=[{"when": DETRACTORS}])
    invited, uninvited = uuid.uuid4(), uuid.uuid4()
    await handle([touchpoint(workspace_id, "ord-7", CONTEXT)])
    await handle(
        [
            invitation(workspace_id, invited, "scheduled", event_id="ord-7"),
            invitation(workspace_id, uninvited, "scheduled", event_id="never-seen"),
        ]
    )
    await handle(
        [
            response(workspace_id, "r-detractor", 3, invitation_id=invited, comment="slow"),
            response(workspace_id, "r-promoter", 10, invitation_id=invited),
            response(workspace_id, "r-csat", 2, metric="csat"),  # from the API: no invitation
            response(workspace_id, "r-unknown", 0, invitation_id=uninvited),
        ]
    )
    alerts = await stored_alerts(engine, workspace_id)
    assert [(a["response_id"], a["score"], a["context"]) for a in alerts] == [
        ("r-csat", 2, {}),
        ("r-detractor", 3, CONTEXT),
        ("r-unknown", 0, {}),  # its touchpoint never reached scoring
    ]
    detractor = alerts[1]
    assert (detractor["state"], detractor["comment"], detractor["rule"]) == (
        "open",
        "slow",
        DETRACTORS,
    )
    assert (detractor["customer_id"], detractor["invitation_id"]) == ("c-r-detractor", invited)

    events = {event.response_id: event for event in await published(engine, workspace_id)}
    assert sorted(events) == ["r-csat", "r-detractor", "r-unknown"]
    assert events["r-detractor"].alert_id == detractor["alert_id"]
    assert events["r-detractor"].context == CONTEXT
    assert (events["r-detractor"].score, events["r-detractor"].comment) == (3, "slow")


async def test_the_context_is_the_touchpoint_as_it_was_first_received(
    handle: Any, configure: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    await configure(workspace_id, alerts=[{"when": "score <= 6"}])
    invited = uuid.uuid4()
    await handle([touchpoint(workspace_id, "ord-7", CONTEXT)])
    await handle([touchpoint(workspace_id, "ord-7", {"agent": "somebody else"})])  # redelivery
    await handle([touchpoint(workspace_id, "ord-7", {"agent": "Lee"}, source="helpdesk")])
    await handle([invitation(workspace_id, invited, "sent", event_id="ord-7")])
    await handle([response(workspace_id, "r1", 1, invitation_id=invited)])
    (alert,) = await stored_alerts(engine, workspace_id)
    assert alert["context"] == CONTEXT


async def test_a_redelivered_answer_raises_nothing_new(
    handle: Any, configure: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    await configure(
        workspace_id,
        alerts=[{"when": DETRACTORS, "notify": ["crm"]}],
        endpoints={"crm": endpoint("https://crm.test/hooks", "alert.created")},
    )
    batch = [response(workspace_id, "r1", 2), response(workspace_id, "r2", 9)]
    await handle(batch)
    first = (await stored_alerts(engine, workspace_id), await queued(engine, workspace_id))
    await handle(batch)
    await handle(list(reversed(batch)))
    assert (await stored_alerts(engine, workspace_id), await queued(engine, workspace_id)) == first
    assert len(first[0]) == 1
    assert len(await published(engine, workspace_id)) == 1


async def test_one_alert_per_response_and_rule_whatever_the_revisions(
    handle: Any, configure: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    await configure(workspace_id, alerts=[{"when": DETRACTORS}, {"when": '"refund" in comment'}])
    later = T0 + timedelta(hours=1)
    await handle([response(workspace_id, "still", 3), response(workspace_id, "newly", 8)])
    await handle(
        [
            # Still a detractor: no second alert. Now one: the alert comes with revision 2.
            response(workspace_id, "still", 1, revision=2, answered_at=later),
            response(workspace_id, "newly", 4, revision=2, answered_at=later),
            # Both revisions in one batch match the refund rule: one alert, the first's.
            response(workspace_id, "both", 9, comment="refund please"),
            response(workspace_id, "both", 9, revision=2, comment="refund now"),
        ]
    )
    # A later revision that no longer matches leaves the alert to a person to close.
    await handle([response(workspace_id, "still", 10, revision=3, answered_at=later)])
    alerts = await stored_alerts(engine, workspace_id)
    assert [(a["response_id"], a["rule"], a["revision"], a["score"]) for a in alerts] == [
        ("both", '"refund" in comment', 1, 9),
        ("newly", DETRACTORS, 2, 4),
        ("still", DETRACTORS, 1, 3),
    ]


async def test_a_workspace_without_rules_or_configuration_raises_nothing(
    handle: Any, configure: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    unconfigured = f"{workspace_id}-none"
    await configure(workspace_id)
    await handle([response(workspace_id, "r1", 0), response(unconfigured, "r1", 0)])
    assert await stored_alerts(engine, workspace_id) == []
    assert await stored_alerts(engine, unconfigured) == []


async def test_webhooks_are_queued_for_the_endpoints_that_get_them(
    handle: Any, configure: Any, engine: AsyncEngine, workspace_id: str
) -> None:
    await configure(
        workspace_id,
        alerts=[{"when": "csat <= 2", "notify": ["crm"]}],
        endpoints={
            "crm": endpoint("https://crm.test/hooks", "survey.responded"),
            "bi": endpoint("https://bi.test/hooks", "invitation.*", "survey.responded"),
            "quiet": endpoint("https://quiet.test/hooks", "alert.resolved"),
        },
    )
    invited = uuid.uuid4()
    await handle([touchpoint(workspace_id, "ord-7", CONTEXT)])
    await handle(
        [
            invitation(workspace_id, invited, "scheduled", event_id="ord-7"),
            invitation(workspace_id, invited, "sent", event_id="ord-7", metric="csat"),
        ]
    )
    await handle(
        [response(workspace_id, "r1", 1, metric="csat", invitation_id=invited, comment="rude")]
    )
    found = await queued(engine, workspace_id)
    assert [(d["endpoint"], d["event_type"], d["status"]) for d in found] == [
        ("bi", "invitation.scheduled", "pending"),
        ("bi", "invitation.sent", "pending"),
        ("crm", "alert.created", "pending"),
        ("bi", "survey.responded", "pending"),
        ("crm", "survey.responded", "pending"),
    ]
    alert = found[2]["body"]
    assert alert["type"] == "alert.created"
    assert alert["data"]["context"] == CONTEXT
    assert (alert["data"]["score"], alert["data"]["comment"]) == (1, "rude")
    assert (alert["data"]["customer_id"], alert["data"]["state"]) == ("c-r1", "open")
    (stored,) = await stored_alerts(engine, workspace_id)
    assert alert["data"]["alert_id"] == str(stored["alert_id"])
    answered = found[3]["body"]
    assert answered["type"] == "survey.responded"
    assert answered["timestamp"] == "2026-11-23T07:00:00Z"
    assert answered["data"]["context"] == CONTEXT
    assert (answered["data"]["score"], answered["data"]["revision"]) == (1, 1)
    assert found[3]["message_id"] == found[4]["message_id"], "one message, two endpoints"
    sent = found[1]["body"]["data"]
    assert (sent["invitation_id"], sent["status"], sent["event_id"]) == (
        str(invited),
        "sent",
        "ord-7",
    )
    assert "address_digest" not in sent

    await handle(
        [response(workspace_id, "r1", 2, metric="csat", revision=2, invitation_id=invited)]
    )
    revised = [
        d for d in await queued(engine, workspace_id) if d["event_type"] == "survey.responded"
    ]
    assert [(d["endpoint"], d["body"]["data"]["revision"]) for d in revised] == [
        ("bi", 1),
        ("crm", 1),
        ("bi", 2),
        ("crm", 2),
    ]
