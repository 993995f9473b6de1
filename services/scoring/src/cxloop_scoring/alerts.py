"""Closed-loop alerts, decided: which of a workspace's rules an answer matches, the alert
each match raises, and how a person moves an alert from open to resolved.

Everything here is pure: the handler loads the answer's touchpoint context and the
workspace configuration, calls `alerts_for`, and stores what it returns.

One alert per response and rule, whatever the revisions. The alert's id is derived
from the workspace, the response and the rule's text, so a redelivered answer raises
nothing new, and a revision that still matches (a 1 revised to a 2) does not page
anybody twice. A revision that matches a rule for the first time (a 4 revised to a 1)
raises that rule's alert then. An alert is never withdrawn by a later revision: a
person closes it. Two rules with the same text are one rule notifying both lists.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from cxloop_shared.answers import AlertState
from cxloop_shared.config import AlertRule
from cxloop_shared.errors import Conflict
from cxloop_shared.events import AlertRaised, TouchpointReceived
from cxloop_shared.expressions import Expression, compile_expression

from cxloop_scoring.rollups import Answer

# Fixed forever: alert ids computed by one release must match those of the next.
ALERT_NAMESPACE = uuid.UUID("5f0c7a52-6d1e-4c1b-9a8e-2b7d3e4f6a10")
METRIC_NAMES = ("nps", "csat", "ces", "cxi", "yes_no")

AlertAction = Literal["acknowledge", "resolve"]


class AlertAlreadyResolved(Conflict):
    """A resolved alert cannot be acknowledged any more."""


@dataclass(frozen=True, slots=True)
class TouchpointContext:
    """What a touchpoint said about the moment, kept so an alert on its answer can tell."""

    workspace_id: str
    source: str
    event_id: str
    touchpoint: str
    customer_id: str
    occurred_at: datetime
    channel: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_event(cls, received: TouchpointReceived) -> TouchpointContext:
        """The context of a received touchpoint; the customer's contact details stay out."""
        event = received.event
        return cls(
            workspace_id=received.workspace_id,
            source=received.source,
            event_id=event.id,
            touchpoint=event.touchpoint,
            customer_id=event.customer.id,
            occurred_at=event.occurred_at,
            channel=event.channel,
            attributes=dict(event.attributes),
        )


@dataclass(frozen=True, slots=True)
class Alert:
    """An answer that matched a rule, with the touchpoint's context at the time."""

    alert_id: uuid.UUID
    rule: str
    notify: tuple[str, ...]
    answer: Answer
    context: Mapping[str, Any]
    raised_at: datetime

    def row(self) -> dict[str, Any]:
        """The alert as the `alerts` table keeps it (open, nobody on it yet)."""
        answer = self.answer
        return {
            "alert_id": self.alert_id,
            "workspace_id": answer.workspace_id,
            "rule": self.rule,
            "response_id": answer.response_id,
            "revision": answer.revision,
            "invitation_id": answer.invitation_id,
            "customer_id": answer.customer_id,
            "touchpoint": answer.touchpoint,
            "survey": answer.survey,
            "metric": answer.metric,
            "channel": answer.channel,
            "score": answer.score,
            "comment": answer.comment,
            "context": dict(self.context),
            "raised_at": self.raised_at,
        }

    def event(self) -> AlertRaised:
        """The alert as published on `cx.alerts`."""
        answer = self.answer
        return AlertRaised(
            workspace_id=answer.workspace_id,
            alert_id=self.alert_id,
            rule=self.rule,
            response_id=answer.response_id,
            revision=answer.revision,
            invitation_id=answer.invitation_id,
            customer_id=answer.customer_id,
            touchpoint=answer.touchpoint,
            survey=answer.survey,
            metric=answer.metric,
            channel=answer.channel,
            score=answer.score,
            comment=answer.comment,
            context=dict(self.context),
            notify=list(self.notify),
            raised_at=self.raised_at,
        )


def alert_id(*, workspace_id: str, response_id: str, rule: str) -> uuid.UUID:
    """The one id the alert of `rule` on this response has, however often it is decided."""
    return uuid.uuid5(ALERT_NAMESPACE, "\x1f".join((workspace_id, response_id, rule)))


def evaluation_context(answer: Answer, context: Mapping[str, Any]) -> dict[str, Any]:
    """The names a rule reads (`config.ALERT_NAMES`) for one answer.

    The metric's own name is bound to the score (`csat` is the score of a CSAT answer,
    null otherwise), so `nps <= 6 or csat <= 2` reads naturally; `comment` is '' when
    there is none, so `"refund" in comment` simply does not hold.
    """
    names: dict[str, Any] = dict.fromkeys(METRIC_NAMES)
    names[answer.metric] = answer.score
    names.update(
        score=answer.score,
        metric=answer.metric,
        comment=answer.comment or "",
        touchpoint=answer.touchpoint,
        survey=answer.survey,
        channel=answer.channel,
        customer_id=answer.customer_id,
        context=dict(context),
    )
    return names


@lru_cache(maxsize=1024)
def _compiled(when: str) -> Expression:
    return compile_expression(when)


def _distinct(rules: Sequence[AlertRule]) -> dict[str, tuple[str, ...]]:
    """Each rule text once, with every endpoint the rules of that text notify, in order."""
    merged: dict[str, list[str]] = {}
    for rule in rules:
        notify = merged.setdefault(rule.when, [])
        notify.extend(name for name in rule.notify if name not in notify)
    return {when: tuple(notify) for when, notify in merged.items()}


def alerts_for(
    answer: Answer,
    *,
    rules: Sequence[AlertRule],
    context: Mapping[str, Any],
    raised_at: datetime,
) -> list[Alert]:
    """The alerts `answer` raises: one per rule it matches, in the rules' order."""
    names = evaluation_context(answer, context)
    return [
        Alert(
            alert_id=alert_id(
                workspace_id=answer.workspace_id, response_id=answer.response_id, rule=when
            ),
            rule=when,
            notify=notify,
            answer=answer,
            context=context,
            raised_at=raised_at,
        )
        for when, notify in _distinct(rules).items()
        if _compiled(when).evaluate(names)
    ]


def next_state(current: AlertState, action: AlertAction) -> AlertState | None:
    """The state `action` moves an alert to; None when it is there already.

    open → acknowledged → resolved, or open → resolved directly. Repeating an action
    changes nothing, so a retried request is harmless; acknowledging a resolved alert
    is a conflict, since it would hide that somebody closed it.
    """
    if action == "resolve":
        return None if current == "resolved" else "resolved"
    if current == "resolved":
        raise AlertAlreadyResolved("this alert is resolved; it cannot be acknowledged")
    return None if current == "acknowledged" else "acknowledged"
