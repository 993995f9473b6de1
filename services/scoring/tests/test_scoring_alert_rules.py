"""Alert rules on answers, pure: what a rule reads, which answers match, the alert ids."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cxloop_scoring.alerts import (
    AlertAlreadyResolved,
    alert_id,
    alerts_for,
    evaluation_context,
    next_state,
)
from cxloop_scoring.rollups import Answer
from cxloop_shared.config import AlertRule
from cxloop_shared.events import Metric
from scoring_support import DETRACTORS, T0


def answer(score: int, metric: Metric = "nps", **fields: Any) -> Answer:
    defaults: dict[str, Any] = {
        "workspace_id": "acme",
        "response_id": "r-1",
        "revision": 1,
        "touchpoint": "checkout",
        "answered_at": T0,
        "customer_id": "c-1",
        "survey": "after_checkout",
        "channel": "email",
    }
    return Answer(score=score, metric=metric, **{**defaults, **fields})


def matched(
    rules: list[AlertRule], given: Answer, context: dict[str, Any] | None = None
) -> list[str]:
    return [a.rule for a in alerts_for(given, rules=rules, context=context or {}, raised_at=T0)]


def test_a_rule_reads_the_score_under_its_metrics_name_and_the_answers_fields() -> None:
    names = evaluation_context(answer(2, "csat", comment=None), {"agent": "Kim"})
    assert names == {
        "score": 2,
        "metric": "csat",
        "nps": None,
        "csat": 2,
        "ces": None,
        "cxi": None,
        "yes_no": None,
        "comment": "",
        "touchpoint": "checkout",
        "survey": "after_checkout",
        "channel": "email",
        "customer_id": "c-1",
        "context": {"agent": "Kim"},
    }


@pytest.mark.parametrize(
    ("score", "metric", "expected"),
    [
        (0, "nps", True),
        (6, "nps", True),
        (7, "nps", False),
        (10, "nps", False),
        (1, "csat", True),
        (2, "csat", True),
        (3, "csat", False),
        (1, "ces", False),  # neither nps nor csat: both sides read null
        (0, "yes_no", False),
    ],
)
def test_the_detractor_rule(score: int, metric: Metric, expected: bool) -> None:
    rules = [AlertRule(when=DETRACTORS, notify=[])]
    assert bool(matched(rules, answer(score, metric))) is expected


def test_a_rule_on_the_comments_words() -> None:
    rules = [AlertRule(when='"refund" in comment or "cancel" in comment')]
    assert matched(rules, answer(9, comment="Fine, but I want a refund"))
    assert matched(rules, answer(9, comment="please cancel my order"))
    assert not matched(rules, answer(9, comment="all good"))
    assert not matched(rules, answer(9, comment=None))


def test_a_rule_on_the_touchpoints_context() -> None:
    rules = [AlertRule(when='context.queue == "returns" and score <= 6')]
    assert matched(rules, answer(3), {"queue": "returns"})
    assert not matched(rules, answer(3), {"queue": "sales"})
    assert not matched(rules, answer(3))  # no invitation, no context


def test_every_matching_rule_raises_its_own_alert_and_equal_rules_are_one() -> None:
    rules = [
        AlertRule(when=DETRACTORS, notify=["crm"]),
        AlertRule(when='"refund" in comment', notify=["finance"]),
        AlertRule(when=DETRACTORS, notify=["pager", "crm"]),
        AlertRule(when="score >= 9"),
    ]
    raised = alerts_for(answer(3, comment="refund!"), rules=rules, context={}, raised_at=T0)
    assert [(a.rule, a.notify) for a in raised] == [
        (DETRACTORS, ("crm", "pager")),
        ('"refund" in comment', ("finance",)),
    ]
    assert len({a.alert_id for a in raised}) == 2


def test_an_alerts_id_is_its_response_and_rule_whatever_the_revision() -> None:
    rules = [AlertRule(when=DETRACTORS)]
    first = alerts_for(answer(3), rules=rules, context={}, raised_at=T0)
    revised = alerts_for(answer(1, revision=2), rules=rules, context={}, raised_at=T0)
    assert first[0].alert_id == revised[0].alert_id
    assert first[0].alert_id == alert_id(workspace_id="acme", response_id="r-1", rule=DETRACTORS)
    assert first[0].alert_id != alert_id(workspace_id="other", response_id="r-1", rule=DETRACTORS)
    assert first[0].alert_id != alert_id(workspace_id="acme", response_id="r-2", rule=DETRACTORS)
    assert isinstance(first[0].alert_id, uuid.UUID)


def test_the_alert_event_carries_the_answer_and_its_context() -> None:
    given = answer(1, "csat", comment="rude", invitation_id=uuid.uuid4())
    (alert,) = alerts_for(
        given,
        rules=[AlertRule(when=DETRACTORS, notify=["crm"])],
        context={"agent": "Kim"},
        raised_at=T0,
    )
    event = alert.event()
    assert (event.workspace_id, event.customer_id, event.response_id) == ("acme", "c-1", "r-1")
    assert (event.metric, event.score, event.comment) == ("csat", 1, "rude")
    assert (event.context, event.notify, event.rule) == ({"agent": "Kim"}, ["crm"], DETRACTORS)
    assert event.invitation_id == given.invitation_id
    assert event.kafka_key() == "acme:c-1"


def test_alert_states_move_forward_only() -> None:
    assert next_state("open", "acknowledge") == "acknowledged"
    assert next_state("open", "resolve") == "resolved"
    assert next_state("acknowledged", "resolve") == "resolved"
    assert next_state("acknowledged", "acknowledge") is None
    assert next_state("resolved", "resolve") is None
    with pytest.raises(AlertAlreadyResolved):
        next_state("resolved", "acknowledge")
