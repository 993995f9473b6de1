"""Journey maps, decided: statuses from thresholds, stages from the configuration, values
from the summed histograms of each stage's touchpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cxloop_scoring.journeys import journey_map, status_of, worst
from cxloop_scoring.reports import ScoreRow, SentRow
from cxloop_scoring.rollups import histogram_of
from cxloop_shared.config import WorkspaceConfig
from cxloop_shared.events import Metric
from cxloop_shared.readmodels import MetricValue, Status

THRESHOLDS: dict[Metric, dict[str, float]] = {
    "nps": {"green": 30, "red": 0},
    "csat": {"green": 80, "red": 60},
}
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def value(metric: Metric, score: float | None) -> MetricValue:
    return MetricValue(metric=metric, n=10, score=score)


@pytest.mark.parametrize(
    ("metric", "score", "status"),
    [
        ("nps", 30.0, "green"),
        ("nps", 100.0, "green"),
        ("nps", 29.9, "yellow"),
        ("nps", 0.1, "yellow"),
        ("nps", 0.0, "red"),
        ("nps", -50.0, "red"),
        ("csat", 80.0, "green"),
        ("csat", 60.0, "red"),
        ("csat", 70.0, "yellow"),
        ("nps", None, "grey"),  # withheld
        ("ces", 6.5, "grey"),  # no threshold for CES
    ],
)
def test_status_of_a_value(metric: Metric, score: float | None, status: Status) -> None:
    assert status_of(value(metric, score), THRESHOLDS) == status


def test_a_lone_threshold_and_overlapping_thresholds() -> None:
    assert status_of(value("nps", 10.0), {"nps": {"green": 30}}) == "yellow"
    assert status_of(value("nps", 40.0), {"nps": {"green": 30}}) == "green"
    assert status_of(value("nps", -10.0), {"nps": {"red": 0}}) == "red"
    assert status_of(value("nps", 10.0), {"nps": {"red": 0}}) == "yellow"
    # Misconfigured: green at 10, red at 20 -> 15 is both; red wins.
    assert status_of(value("nps", 15.0), {"nps": {"green": 10, "red": 20}}) == "red"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "grey"),
        (["grey", "grey"], "grey"),
        (["grey", "green"], "green"),
        (["green", "yellow", "grey"], "yellow"),
        (["yellow", "red", "green"], "red"),
    ],
)
def test_the_worst_status_that_is_not_grey(statuses: list[Status], expected: Status) -> None:
    assert worst(statuses) == expected


def config(**overrides: Any) -> WorkspaceConfig:
    touchpoints = {
        "checkout": {"stage": "purchase", "survey": "csat_checkout"},
        "cart": {"stage": "purchase", "survey": "nps_rel"},
        "order_delivered": {"stage": "use", "survey": "nps_rel"},
        "ticket_closed": {"stage": "support", "survey": "csat_checkout"},
        "unstaged": {"survey": "nps_rel"},
        "returned": {"stage": "returns", "survey": "nps_rel"},  # not a stage of the journey
    }
    document: dict[str, Any] = {
        "workspace": "acme",
        "timezone": "Europe/Berlin",
        "touchpoints": {
            key: {**touchpoint, "policy": {"channels": ["preferred"]}}
            for key, touchpoint in touchpoints.items()
        },
        "surveys": {
            "csat_checkout": {"metric": "csat", "question": {"en": "Satisfied?"}},
            "nps_rel": {"metric": "nps", "question": {"en": "Recommend?"}},
        },
        "journeys": {
            "buy_and_use": {
                "stages": ["awareness", "purchase", "use", "support"],
                "thresholds": THRESHOLDS,
            }
        },
        "settings": {"min_n": 3},
        **overrides,
    }
    return WorkspaceConfig.model_validate(document)


def test_a_journey_map_from_touchpoint_sums() -> None:
    scores = [
        ScoreRow("csat", None, "checkout", histogram_of([5, 5, 5, 4])),  # 100%: green
        ScoreRow("nps", None, "cart", histogram_of([0, 0, 10])),  # -33.3: red
        ScoreRow("nps", None, "order_delivered", histogram_of([10, 10])),  # n 2 < 3: grey
        ScoreRow("nps", None, "unstaged", histogram_of([0] * 9)),
        ScoreRow("nps", None, "returned", histogram_of([0] * 9)),
    ]
    sent = [SentRow("csat", None, "checkout", 8), SentRow("nps", None, "unstaged", 5)]
    mapped = journey_map(
        key="buy_and_use",
        config=config(),
        start=T0,
        end=T0 + timedelta(days=30),
        scores=scores,
        sent=sent,
    )
    assert [stage.stage for stage in mapped.stages] == ["awareness", "purchase", "use", "support"]
    awareness, purchase, use, support = mapped.stages

    assert (awareness.status, awareness.statuses, awareness.values) == ("grey", {}, [])
    assert awareness.touchpoints == []

    cart, checkout = purchase.touchpoints  # by key
    assert (checkout.touchpoint, checkout.metric, checkout.status) == ("checkout", "csat", "green")
    assert (checkout.values[0].score, checkout.values[0].response_rate) == (100.0, 0.5)
    assert (cart.touchpoint, cart.metric, cart.status, cart.statuses) == (
        "cart",
        "nps",
        "red",
        {"nps": "red"},
    )
    # The stage sums its touchpoints: NPS of cart alone, CSAT of checkout alone.
    assert [(v.metric, v.n) for v in purchase.values] == [("nps", 3), ("csat", 4)]
    assert purchase.statuses == {"nps": "red", "csat": "green"}
    assert purchase.status == "red"

    (delivered,) = use.touchpoints
    assert (delivered.status, delivered.values[0].n, delivered.values[0].score) == ("grey", 2, None)
    assert use.status == "grey"

    # Nobody answered at ticket_closed: its survey's metric is there with n = 0.
    (ticket,) = support.touchpoints
    assert [(v.metric, v.n, v.score) for v in ticket.values] == [("csat", 0, None)]
    assert (ticket.status, support.status, support.statuses) == ("grey", "grey", {"csat": "grey"})


def test_the_journey_map_contract() -> None:
    mapped = journey_map(
        key="buy_and_use",
        config=config(),
        start=T0,
        end=T0 + timedelta(days=1),
        scores=[ScoreRow("nps", None, "cart", histogram_of([10, 10, 10]))],
        sent=[],
    )
    body = mapped.model_dump(mode="json")
    assert list(body) == ["journey", "from", "to", "timezone", "min_n", "stages"]
    assert (body["journey"], body["from"], body["timezone"], body["min_n"]) == (
        "buy_and_use",
        "2026-11-01T00:00:00Z",
        "Europe/Berlin",
        3,
    )
    purchase = body["stages"][1]
    assert list(purchase) == ["stage", "status", "statuses", "values", "touchpoints"]
    assert list(purchase["touchpoints"][0]) == [
        "touchpoint",
        "metric",
        "status",
        "statuses",
        "values",
    ]
    assert purchase["touchpoints"][0]["values"][0]["score"] == 100.0
    assert (purchase["status"], purchase["statuses"]) == ("green", {"nps": "green", "csat": "grey"})


def test_a_restaged_touchpoint_moves_to_its_new_stage() -> None:
    moved = config(
        touchpoints={
            **config().model_dump(mode="json")["touchpoints"],
            "cart": {"stage": "use", "survey": "nps_rel", "policy": {"channels": ["preferred"]}},
        }
    )
    mapped = journey_map(
        key="buy_and_use",
        config=moved,
        start=T0,
        end=T0 + timedelta(days=1),
        scores=[ScoreRow("nps", None, "cart", histogram_of([10, 10, 10]))],
        sent=[],
    )
    _, purchase, use, _ = mapped.stages
    assert [t.touchpoint for t in purchase.touchpoints] == ["checkout"]
    assert [t.touchpoint for t in use.touchpoints] == ["cart", "order_delivered"]
    assert use.values[0].n == 3
