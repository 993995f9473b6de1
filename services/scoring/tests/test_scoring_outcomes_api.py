"""Business outcomes and contact resolution over touchpoints, invitations and answers fed
through scoring's real batch handlers into the real Postgres; expectations by hand."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cxloop_shared.config import ConfigCache
from cxloop_shared.events import ResponseRecorded, TouchpointReceived, utcnow
from outcomes_support import by_band, outcome_app, read
from scoring_support import BEARER, invitation, response, touchpoint
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

A = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # long enough ago for 30-day windows to be over
B = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
async def outcomes_api(
    sessions: async_sessionmaker[AsyncSession], configs: ConfigCache
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=outcome_app(sessions, configs))
    async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
        yield client


def nps(
    workspace_id: str, response_id: str, customer: str, score: int, at: datetime, **kw: Any
) -> ResponseRecorded:
    return response(workspace_id, response_id, score, customer_id=customer, answered_at=at, **kw)


def checkout(
    workspace_id: str, event_id: str, customer: str, at: datetime, **attributes: Any
) -> TouchpointReceived:
    return touchpoint(workspace_id, event_id, attributes, customer_id=customer, occurred_at=at)


async def feed_shop(handle: Any, workspace_id: str, other_workspace: str) -> None:
    w = workspace_id
    await handle(
        [
            # p1: a promoter back exactly 30 days later (in), for 100 EUR.
            nps(w, "p1", "p1", 10, A),
            checkout(w, "o-p1", "p1", A + 30 * DAY, order_value=100, currency="EUR"),
            # p2: bought before answering (not counted) and 30 days + 1 s after (out).
            nps(w, "p2", "p2", 9, A + timedelta(hours=1)),
            checkout(w, "o-p2-before", "p2", A, order_value=500),
            checkout(
                w,
                "o-p2-late",
                "p2",
                A + timedelta(hours=1) + 30 * DAY + timedelta(seconds=1),
                order_value=70,
            ),
            # p3: a detractor first, then a promoter: the last answer decides. A decimal
            # string amount counts; the invoice is another touchpoint.
            nps(w, "p3-old", "p3", 2, A - DAY),
            nps(w, "p3-new", "p3", 10, A + timedelta(hours=2)),
            checkout(w, "o-p3", "p3", A + 5 * DAY, order_value="49.50", currency="usd"),
            touchpoint(
                w,
                "inv-p3",
                {"amount": 20, "currency": "USD"},
                customer_id="p3",
                touchpoint="invoice_paid",
                occurred_at=A + 6 * DAY,
                source="billing",
            ),
            # pa1: 8 revised to 7, still a passive; an amount without an order value.
            nps(w, "pa1", "pa1", 8, A),
            checkout(w, "o-pa1", "pa1", A + DAY, amount=15),
            # d1 came back twice (50 in all); d2 never did.
            nps(w, "d1", "d1", 3, A),
            checkout(w, "o-d1-a", "d1", A + 10 * DAY, order_value=30, currency="eur"),
            checkout(w, "o-d1-b", "d1", A + 20 * DAY, order_value=20, currency="EUR"),
            nps(w, "d2", "d2", 6, A),
            checkout(w, "o-d2-same", "d2", A, order_value=5),  # at the answer: not after it
            # Not in the cohort: another touchpoint's answer, a CSAT answer, one too early.
            nps(w, "x1", "x1", 0, A, touchpoint="delivery"),
            nps(w, "x2", "x2", 1, A, metric="csat"),
            nps(w, "x3", "x3", 0, A - 10 * DAY),
            # c1 answered two days ago: 30 days not over, censored.
            nps(w, "c1", "c1", 9, utcnow() - 2 * DAY),
            # Another workspace: the same customers, never seen.
            nps(other_workspace, "d2", "d2", 10, A),
            checkout(other_workspace, "o-d2", "d2", A + DAY, order_value=1000),
            checkout(other_workspace, "o-p2", "p2", A + 2 * DAY, order_value=1000),
        ]
    )
    await handle([nps(w, "pa1", "pa1", 7, A, revision=2)])


async def test_outcomes_per_band_count_returns_and_revenue_within_n_days(
    outcomes_api: httpx.AsyncClient, handle: Any, configure: Any, workspace_id: str
) -> None:
    other = f"{workspace_id}-other"
    await configure(workspace_id, settings={"min_n": 2})
    await feed_shop(handle, workspace_id, other)
    params = {
        "workspace_id": workspace_id,
        "metric": "nps",
        "touchpoint": "checkout",
        "return_touchpoint": "checkout",
        "days": "30",
        "from": (A - 2 * DAY).isoformat(),
        "to": utcnow().isoformat(),
    }
    report = await read(outcomes_api, "/internal/v1/outcomes", params)

    assert by_band(report) == {
        "promoters": (3, 1, 2, 149.5),
        "passives": (1, 0, 1, 15.0),
        "detractors": (2, 0, 1, 50.0),
    }
    promoters, passives, detractors = report["bands"]
    assert promoters["return_rate"] == pytest.approx(200 / 3)
    # Revenue 100, 0, 49.5: mean 49.8333, s² = (100² + 49.5² - 149.5²/3)/2 = 2500.0833.
    assert promoters["revenue_per_customer"] == pytest.approx(49.833333)
    margin = 1.96 * 2500.083333**0.5 / 3**0.5
    assert promoters["revenue_interval"]["low"] == pytest.approx(49.833333 - margin)
    assert passives["return_rate"] is None
    assert passives["withheld_reason"] == "n=1 is below the workspace minimum of 2"
    assert detractors["return_rate"] == 50.0
    assert detractors["revenue_per_customer"] == 25.0
    total = report["total"]
    assert (total["customers"], total["censored"], total["returned"]) == (6, 1, 4)
    assert total["revenue"] == 214.5
    assert report["currencies"] == ["EUR", "USD"]
    assert report["amount"] == ["order_value", "amount"]
    assert (report["revenue_touchpoint"], report["min_n"], report["days"]) == ("checkout", 2, 30)


async def test_revenue_of_another_touchpoint_amount_or_currency(
    outcomes_api: httpx.AsyncClient, handle: Any, configure: Any, workspace_id: str
) -> None:
    await configure(workspace_id, settings={"min_n": 1})
    await feed_shop(handle, workspace_id, f"{workspace_id}-other")
    base = {
        "workspace_id": workspace_id,
        "metric": "nps",
        "touchpoint": "checkout",
        "return_touchpoint": "checkout",
        "from": (A - 2 * DAY).isoformat(),
        "to": (A + 3 * DAY).isoformat(),
    }
    invoices = await read(
        outcomes_api, "/internal/v1/outcomes", {**base, "revenue_touchpoint": "invoice_paid"}
    )
    assert {b["band"]: b["revenue"] for b in invoices["bands"]}["promoters"] == 20.0
    assert invoices["currencies"] == ["USD"]

    amounts = await read(outcomes_api, "/internal/v1/outcomes", {**base, "amount": "amount"})
    assert [b["revenue"] for b in amounts["bands"]] == [0.0, 15.0, 0.0]
    assert amounts["amount"] == ["amount"]

    euros = await read(outcomes_api, "/internal/v1/outcomes", {**base, "currency": "eur"})
    assert [b["revenue"] for b in euros["bands"]] == [100.0, 0.0, 50.0]
    assert (euros["currency"], euros["currencies"]) == ("EUR", ["EUR"])

    # Without the touchpoint filter the delivery detractor joins the cohort.
    anywhere = {name: value for name, value in base.items() if name != "touchpoint"}
    everywhere = await read(outcomes_api, "/internal/v1/outcomes", anywhere)
    assert by_band(everywhere)["detractors"] == (3, 0, 1, 50.0)


async def test_the_default_window_has_nothing_censored(
    outcomes_api: httpx.AsyncClient, handle: Any, workspace_id: str
) -> None:
    now = utcnow()
    await handle(
        [
            nps(workspace_id, "recent", "recent", 10, now - 3 * DAY),
            nps(workspace_id, "closed", "closed", 10, now - 10 * DAY),
        ]
    )
    params = {"workspace_id": workspace_id, "metric": "nps", "return_touchpoint": "checkout"}
    report = await read(outcomes_api, "/internal/v1/outcomes", {**params, "days": "7"})
    assert by_band(report)["promoters"] == (1, 0, 0, 0.0)
    assert report["total"]["withheld_reason"] == "n=1 is below the workspace minimum of 5"
    to = datetime.fromisoformat(report["to"])
    assert abs((now - 7 * DAY) - to) < timedelta(minutes=1)


async def feed_contacts(
    handle: Any, workspace_id: str, other_workspace: str
) -> dict[str, uuid.UUID]:
    w, b = workspace_id, B
    invitations = {name: uuid.uuid4() for name in ("k1", "k1-csat", "k3", "k5")}

    def contact(
        event_id: str,
        customer: str,
        at: datetime,
        kind: str = "ticket_closed",
        channel: str | None = None,
        **attributes: Any,
    ) -> TouchpointReceived:
        return touchpoint(
            w,
            event_id,
            attributes,
            customer_id=customer,
            touchpoint=kind,
            occurred_at=at,
            channel=channel,
            source="desk",
        )

    await handle(
        [
            # u1: a ticket, then a call exactly 7 days later: the ticket was not resolved.
            contact("k1", "u1", b, queue="billing", agent="ann", channel="email"),
            contact(
                "k2", "u1", b + 7 * DAY, "call_ended", queue="billing", agent="bob", channel="voice"
            ),
            # u2: a ticket, and the next 7 days + 1 s later: both resolved. Zendesk's
            # queue is its `group`. Another workspace's contact in between is invisible.
            contact("k3", "u2", b + DAY, group="tech", agent="ann", channel="web"),
            contact(
                "k4",
                "u2",
                b + 8 * DAY + timedelta(seconds=1),
                group="tech",
                agent="cy",
                channel="web",
            ),
            touchpoint(
                other_workspace,
                "k9",
                {"queue": "billing"},
                customer_id="u2",
                touchpoint="ticket_closed",
                occurred_at=b + 2 * DAY,
                source="desk",
            ),
            # u3: a contact before the window does not unresolve the one in it.
            contact("k0", "u3", b - DAY, "call_ended", queue="billing", agent="bob"),
            contact(
                "k5", "u3", b + 2 * DAY, "call_ended", queue="billing", agent="bob", channel="voice"
            ),
            # u4: no queue, agent or channel; a checkout afterwards is no contact.
            contact("k6", "u4", b + 2 * DAY),
            contact("o6", "u4", b + 3 * DAY, "checkout"),
        ]
    )
    sent = [
        invitation(
            w,
            invitations[name],
            event_id=event,
            source="desk",
            touchpoint="ticket_closed",
            customer_id=customer,
            metric=metric,
        )
        for name, event, customer, metric in [
            ("k1", "k1", "u1", "yes_no"),
            ("k1-csat", "k1", "u1", "csat"),
            ("k3", "k3", "u2", "yes_no"),
            ("k5", "k5", "u3", "yes_no"),
        ]
    ]

    def answer(name: str, customer: str, score: int, **kw: Any) -> ResponseRecorded:
        fields = {"metric": "yes_no", "touchpoint": "ticket_closed", **kw}
        return response(
            w,
            f"a-{name}",
            score,
            customer_id=customer,
            invitation_id=invitations[name],
            answered_at=b + 3 * DAY,
            **fields,
        )

    await handle(
        [
            *sent,
            answer("k1", "u1", 0),
            answer("k1-csat", "u1", 5, metric="csat"),  # not a yes/no answer
            answer("k3", "u2", 0),
            answer("k5", "u3", 1),
        ]
    )
    await handle([answer("k3", "u2", 1, revision=2)])  # revised: resolved after all
    return invitations


def resolution(group: dict[str, Any]) -> tuple[Any, ...]:
    observed, reported = group["observed"], group["reported"]
    return (
        group["value"],
        observed["contacts"],
        observed["resolved"],
        observed["fcr"],
        reported["n"],
        reported["score"],
    )


async def test_observed_resolution_by_queue_agent_and_channel_beside_the_reported_one(
    outcomes_api: httpx.AsyncClient, handle: Any, configure: Any, workspace_id: str
) -> None:
    await configure(workspace_id, settings={"min_n": 2})
    await feed_contacts(handle, workspace_id, f"{workspace_id}-other")
    params = [
        ("workspace_id", workspace_id),
        ("touchpoint", "ticket_closed"),
        ("touchpoint", "call_ended"),
        ("days", "7"),
        ("from", B.isoformat()),
        ("to", (B + 10 * DAY).isoformat()),
    ]
    by_queue = await read(
        outcomes_api, "/internal/v1/contact-resolution", [*params, ("group_by", "queue")]
    )
    assert by_queue["touchpoints"] == ["ticket_closed", "call_ended"]
    assert [resolution(g) for g in by_queue["groups"]] == [
        ("billing", 3, 2, pytest.approx(200 / 3), 2, 50.0),
        ("tech", 2, 2, 100.0, 1, None),
        (None, 1, 1, None, 0, None),
    ]
    assert resolution(by_queue["total"]) == (
        None,
        6,
        5,
        pytest.approx(500 / 6),
        3,
        pytest.approx(200 / 3),
    )
    assert by_queue["total"]["observed"]["censored"] == 0

    by_agent = await read(
        outcomes_api, "/internal/v1/contact-resolution", [*params, ("group_by", "agent")]
    )
    assert [resolution(g)[:3] for g in by_agent["groups"]] == [
        ("ann", 2, 1),
        ("bob", 2, 2),
        ("cy", 1, 1),
        (None, 1, 1),
    ]
    by_channel = await read(
        outcomes_api,
        "/internal/v1/contact-resolution",
        [
            ("workspace_id", workspace_id),
            ("touchpoint", "ticket_closed,call_ended"),
            ("days", "7"),
            ("from", B.isoformat()),
            ("to", (B + 10 * DAY).isoformat()),
            ("group_by", "channel"),
        ],
    )
    assert [resolution(g)[:3] for g in by_channel["groups"]] == [
        ("voice", 2, 2),
        ("web", 2, 2),
        ("email", 1, 0),
        (None, 1, 1),
    ]


async def test_tickets_alone_and_contacts_whose_days_are_not_over(
    outcomes_api: httpx.AsyncClient, handle: Any, configure: Any, workspace_id: str
) -> None:
    await configure(workspace_id, settings={"min_n": 1})
    await feed_contacts(handle, workspace_id, f"{workspace_id}-other")
    # Tickets only: u1's call no longer counts, so its ticket was resolved.
    tickets = await read(
        outcomes_api,
        "/internal/v1/contact-resolution",
        {
            "workspace_id": workspace_id,
            "touchpoint": "ticket_closed",
            "days": "7",
            "from": B.isoformat(),
            "to": (B + 10 * DAY).isoformat(),
        },
    )
    assert resolution(tickets["total"])[:3] == (None, 4, 4)
    assert tickets["groups"] == []

    now = utcnow()
    await handle(
        [
            touchpoint(
                workspace_id,
                "recent",
                {},
                customer_id="u9",
                touchpoint="ticket_closed",
                occurred_at=now - 2 * DAY,
            ),
            touchpoint(
                workspace_id,
                "old",
                {},
                customer_id="u9",
                touchpoint="ticket_closed",
                occurred_at=now - 9 * DAY - timedelta(hours=1),
            ),
        ]
    )
    recent = await read(
        outcomes_api,
        "/internal/v1/contact-resolution",
        {
            "workspace_id": workspace_id,
            "touchpoint": "ticket_closed",
            "days": "7",
            "from": (now - 10 * DAY).isoformat(),
            "to": now.isoformat(),
        },
    )
    observed = recent["total"]["observed"]
    # The old ticket's 7 days are over and hold no other ticket; the recent one's are not.
    assert (observed["contacts"], observed["censored"], observed["resolved"]) == (1, 1, 1)


@pytest.mark.parametrize(
    ("path", "params", "detail"),
    [
        (
            "/internal/v1/outcomes",
            {"metric": "cxi", "return_touchpoint": "checkout"},
            "query.metric",
        ),
        ("/internal/v1/outcomes", {"metric": "nps"}, "query.return_touchpoint"),
        (
            "/internal/v1/outcomes",
            {"metric": "nps", "return_touchpoint": "checkout", "days": "0"},
            "query.days",
        ),
        (
            "/internal/v1/outcomes",
            {"metric": "nps", "return_touchpoint": "checkout", "days": "366"},
            "query.days",
        ),
        (
            "/internal/v1/outcomes",
            {"metric": "nps", "return_touchpoint": "checkout", "currency": "euro"},
            "query.currency",
        ),
        (
            "/internal/v1/outcomes",
            {"metric": "nps", "return_touchpoint": "checkout", "amount": "a b"},
            "query.amount",
        ),
        (
            "/internal/v1/outcomes",
            {"metric": "nps", "return_touchpoint": "checkout", "from": "2026-01-01T00:00:00"},
            "query.from",
        ),
        (
            "/internal/v1/outcomes",
            {
                "metric": "nps",
                "return_touchpoint": "checkout",
                "from": "2025-01-01T00:00:00Z",
                "to": "2026-11-01T00:00:00Z",
            },
            "400 days",
        ),
        ("/internal/v1/contact-resolution", {}, "query.touchpoint"),
        ("/internal/v1/contact-resolution", {"touchpoint": "a b"}, "touchpoint: 'a b'"),
        (
            "/internal/v1/contact-resolution",
            {"touchpoint": "t", "group_by": "persona"},
            "query.group_by",
        ),
        (
            "/internal/v1/contact-resolution",
            {"touchpoint": "t", "from": "2026-11-20T00:00:00Z"},
            "to: ",
        ),
    ],
)
async def test_a_bad_query_is_a_422_problem_naming_the_parameter(
    outcomes_api: httpx.AsyncClient,
    path: str,
    params: dict[str, str],
    detail: str,
    workspace_id: str,
) -> None:
    answer = await outcomes_api.get(
        path, params={"workspace_id": workspace_id, **params}, headers=BEARER
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert detail in answer.json()["detail"]


@pytest.mark.parametrize("path", ["/internal/v1/outcomes", "/internal/v1/contact-resolution"])
async def test_only_the_internal_caller_gets_in(outcomes_api: httpx.AsyncClient, path: str) -> None:
    answer = await outcomes_api.get(path, params={"workspace_id": "x"})
    assert answer.status_code == 401
