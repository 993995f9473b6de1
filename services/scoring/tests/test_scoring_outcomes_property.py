"""For any small set of answers and touchpoints, the outcomes endpoint's per-band counts,
returns and revenue equal a direct computation from the same inputs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import pytest
from cxloop_scoring.outcomes import band_of
from cxloop_shared.config import ConfigCache
from cxloop_shared.events import utcnow
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from outcomes_support import by_band, outcome_app, read
from scoring_support import response, touchpoint
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

CUSTOMERS = ["c0", "c1", "c2", "c3"]
# Anchored near now, so that some follow-up windows are still open (censored).
ANCHOR = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
START, END = ANCHOR - timedelta(days=1), ANCHOR + timedelta(days=1)


@dataclass(frozen=True)
class GivenAnswer:
    customer: str
    score: int
    hours: int
    touchpoint: str


@dataclass(frozen=True)
class GivenTouchpoint:
    customer: str
    touchpoint: str
    hours: int
    attributes: dict[str, Any]


amounts = st.one_of(
    st.integers(-50, 500),
    st.decimals(min_value=0, max_value=999, places=2).map(str),
    st.just("not a number"),
    st.just(True),
)
answers = st.lists(
    st.builds(
        GivenAnswer,
        customer=st.sampled_from(CUSTOMERS),
        score=st.integers(0, 10),
        hours=st.integers(-36, 36),
        touchpoint=st.sampled_from(["checkout", "delivery"]),
    ),
    max_size=8,
)
touchpoints = st.lists(
    st.builds(
        GivenTouchpoint,
        customer=st.sampled_from(CUSTOMERS),
        touchpoint=st.sampled_from(["checkout", "invoice_paid"]),
        hours=st.integers(-24, 24 * 7),
        attributes=st.dictionaries(st.sampled_from(["order_value", "amount"]), amounts),
    ),
    max_size=10,
)


def amount_of(attributes: dict[str, Any]) -> Decimal | None:
    """The first of order_value, amount holding a number (JSON or decimal text)."""
    for name in ("order_value", "amount"):
        value = attributes.get(name)
        if isinstance(value, bool) or value is None:
            continue
        try:
            return Decimal(str(value))
        except InvalidOperation:
            continue
    return None


def expected(
    given_answers: list[GivenAnswer],
    given_touchpoints: list[GivenTouchpoint],
    *,
    days: int,
    on_checkout_only: bool,
    now: datetime,
) -> dict[str, tuple[int, int, int, float]]:
    counts = {band: [0, 0, 0] for band in ("promoters", "passives", "detractors")}
    revenue = dict.fromkeys(counts, Decimal(0))
    last: dict[str, tuple[datetime, str, int]] = {}
    for index, answer in enumerate(given_answers):
        at = ANCHOR + timedelta(hours=answer.hours)
        if not START <= at < END or (on_checkout_only and answer.touchpoint != "checkout"):
            continue
        candidate = (at, f"r{index:03d}", answer.score)
        if answer.customer not in last or candidate[:2] > last[answer.customer][:2]:
            last[answer.customer] = candidate
    for customer, (at, _, score) in last.items():
        band = band_of("nps", score)
        assert band is not None
        horizon = at + timedelta(days=days)
        if horizon > now:
            counts[band][1] += 1  # censored
            continue
        later = [
            each
            for each in given_touchpoints
            if each.customer == customer
            and each.touchpoint == "checkout"
            and at < ANCHOR + timedelta(hours=each.hours) <= horizon
        ]
        counts[band][0] += 1
        counts[band][2] += 1 if later else 0
        revenue[band] += sum(
            (amount_of(each.attributes) or Decimal(0) for each in later), Decimal(0)
        )
    return {
        band: (customers, censored, returned, float(revenue[band]))
        for band, (customers, censored, returned) in counts.items()
    }


@pytest.fixture
async def outcomes_api(
    sessions: async_sessionmaker[AsyncSession], configs: ConfigCache
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=outcome_app(sessions, configs))
    async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
        yield client


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    given_answers=answers,
    given_touchpoints=touchpoints,
    days=st.integers(1, 5),
    on_checkout_only=st.booleans(),
)
async def test_the_report_equals_a_direct_computation(
    outcomes_api: httpx.AsyncClient,
    handle: Any,
    given_answers: list[GivenAnswer],
    given_touchpoints: list[GivenTouchpoint],
    days: int,
    on_checkout_only: bool,
) -> None:
    workspace_id = f"ws-{uuid.uuid4().hex[:12]}"
    events = [
        response(
            workspace_id,
            f"r{index:03d}",
            answer.score,
            customer_id=answer.customer,
            touchpoint=answer.touchpoint,
            answered_at=ANCHOR + timedelta(hours=answer.hours),
        )
        for index, answer in enumerate(given_answers)
    ]
    happened = [
        touchpoint(
            workspace_id,
            f"t{index:03d}",
            each.attributes,
            customer_id=each.customer,
            touchpoint=each.touchpoint,
            occurred_at=ANCHOR + timedelta(hours=each.hours),
        )
        for index, each in enumerate(given_touchpoints)
    ]
    await handle([*events, *happened])
    params = {
        "workspace_id": workspace_id,
        "metric": "nps",
        "return_touchpoint": "checkout",
        "days": str(days),
        "from": START.isoformat(),
        "to": END.isoformat(),
    }
    if on_checkout_only:
        params["touchpoint"] = "checkout"
    report = await read(outcomes_api, "/internal/v1/outcomes", params)

    now = datetime.fromisoformat(report["observed_at"])
    want = expected(
        given_answers, given_touchpoints, days=days, on_checkout_only=on_checkout_only, now=now
    )
    got = by_band(report)
    assert {band: got[band][:3] for band in got} == {band: want[band][:3] for band in want}
    for band, (*_, revenue) in want.items():
        assert got[band][3] == pytest.approx(revenue)
