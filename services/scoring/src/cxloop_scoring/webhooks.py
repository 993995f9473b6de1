"""Outbound webhooks, decided: which endpoints get an event, the exact body, its message
id, the Standard Webhooks headers, and when a failed delivery is tried again.

Every body is `{"type": ..., "timestamp": <event time, ISO 8601>, "data": {...}}`:

- `alert.created`, `alert.acknowledged`, `alert.resolved` — `data` is the alert as the
  internal API lists it (`cxloop_shared.answers.AlertView`), context snapshot included;
- `survey.responded` — each new answer and each revision (`answer_data`);
- `invitation.<status>` (`invitation.sent`, `invitation.failed`, `invitation.expired`,
  `invitation.scheduled`, `invitation.suppressed`, `invitation.unknown`) — a step in an
  invitation's life (`invitation_data`).

An endpoint gets an event when its `events` list names the type, a `<prefix>.*` that
covers it, or `*`; an alert also goes to every endpoint its rule `notify`s. The message
id is derived from the workspace, the type and what the event is about, so it is the
same on every retry and every redelivery, and receivers can drop duplicates by it.
Everything here is pure; `deliveries.py` does the sending.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cxloop_shared.config import WorkspaceConfig
from cxloop_shared.events import InvitationChanged
from standardwebhooks.webhooks import Webhook

from cxloop_scoring.rollups import Answer

# Fixed forever: a message keeps its id across releases, so receivers can deduplicate.
MESSAGE_NAMESPACE = uuid.UUID("0b6f3f8e-3c55-4f3e-8d7a-6a9c1e2d4b71")
ALERT_CREATED = "alert.created"
ALERT_CHANGED = {"acknowledged": "alert.acknowledged", "resolved": "alert.resolved"}
SURVEY_RESPONDED = "survey.responded"


@dataclass(frozen=True, slots=True)
class Message:
    """One event for one endpoint of a workspace: a row of `webhook_deliveries`."""

    workspace_id: str
    endpoint: str
    message_id: str
    event_type: str
    body: str


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with a `Z`, as webhook bodies carry times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def subscribes(events: Iterable[str], event_type: str) -> bool:
    """Whether an endpoint's `events` list covers `event_type`."""
    for pattern in events:
        if pattern in ("*", event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def recipients(
    config: WorkspaceConfig, event_type: str, *, notify: Sequence[str] = ()
) -> list[str]:
    """The endpoints that get `event_type`: subscribers, and those named in `notify`."""
    return sorted(
        name
        for name, endpoint in config.endpoints.items()
        if name in notify or subscribes(endpoint.events, event_type)
    )


def message_id(*, workspace_id: str, event_type: str, subject: str) -> str:
    """The webhook-id of the event `event_type` about `subject`, stable across retries."""
    key = "\x1f".join((workspace_id, event_type, subject))
    return f"msg_{uuid.uuid5(MESSAGE_NAMESPACE, key).hex}"


def body(event_type: str, *, at: datetime, data: Mapping[str, Any]) -> str:
    """The compact JSON body: the exact text every attempt sends and signs."""
    document = {"type": event_type, "timestamp": iso(at), "data": data}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def messages(
    config: WorkspaceConfig,
    *,
    workspace_id: str,
    event_type: str,
    subject: str,
    at: datetime,
    data: Mapping[str, Any],
    notify: Sequence[str] = (),
) -> list[Message]:
    """The event as a message for each endpoint that gets it (none, usually)."""
    names = recipients(config, event_type, notify=notify)
    if not names:
        return []
    identity = message_id(workspace_id=workspace_id, event_type=event_type, subject=subject)
    text = body(event_type, at=at, data=data)
    return [Message(workspace_id, name, identity, event_type, text) for name in names]


def answer_data(answer: Answer, *, context: Mapping[str, Any]) -> dict[str, Any]:
    """`data` of `survey.responded`: the answer, and its touchpoint's context."""
    return {
        "response_id": answer.response_id,
        "revision": answer.revision,
        "invitation_id": str(answer.invitation_id) if answer.invitation_id else None,
        "customer_id": answer.customer_id,
        "touchpoint": answer.touchpoint,
        "survey": answer.survey,
        "metric": answer.metric,
        "channel": answer.channel,
        "score": answer.score,
        "comment": answer.comment,
        "answered_at": iso(answer.answered_at),
        "context": dict(context),
    }


def invitation_data(event: InvitationChanged) -> dict[str, Any]:
    """`data` of `invitation.<status>`: the step, without the address digest."""
    return event.model_dump(mode="json", exclude={"workspace_id", "address_digest"})


# --- Retries ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff from `base`, doubling up to `cap`, for `max_attempts` in all."""

    base: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(hours=1)
    max_attempts: int = 8


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one POST came to: the endpoint's status, or the error that stopped it."""

    status_code: int | None
    error: str | None
    duration_ms: int
    retry_after: float | None = None
    permanent: bool = False  # the endpoint cannot be delivered to (gone from the config)

    @property
    def delivered(self) -> bool:
        """A 2xx, and only a 2xx, delivers."""
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(
    attempt: int, *, policy: RetryPolicy, retry_after: float | None, rng: random.Random
) -> timedelta:
    """The wait after failed attempt number `attempt` (1-based).

    Full jitter in the upper half of the exponential step spreads the retries of many
    deliveries that failed together; a `Retry-After` is honoured up to the cap.
    """
    ceiling: timedelta = min(policy.base * 2 ** max(attempt - 1, 0), policy.cap)
    jittered = ceiling * rng.uniform(0.5, 1.0)
    asked = min(timedelta(seconds=retry_after), policy.cap) if retry_after else timedelta(0)
    return max(jittered, asked)


def next_attempt_at(
    attempt: int,
    result: AttemptResult,
    *,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> datetime | None:
    """When to try again after `result`; None when delivered or out of attempts."""
    if result.delivered or result.permanent or attempt >= policy.max_attempts:
        return None
    return now + retry_delay(attempt, policy=policy, retry_after=result.retry_after, rng=rng)


# --- Signing ---------------------------------------------------------------------------


class InvalidSecret(ValueError):
    """An endpoint secret that is not a `whsec_<base64>` Standard Webhooks secret."""


def signed_headers(secret: str, *, message_id: str, body: str, at: datetime) -> dict[str, str]:
    """Standard Webhooks headers for one attempt: `v1,<base64 HMAC-SHA256 of
    "<id>.<unix seconds>.<body>">` under the base64-decoded `whsec_` key."""
    try:
        signer = Webhook(secret)
    except Exception as exc:  # empty, or not base64: the library says little more
        raise InvalidSecret("the endpoint secret is not a whsec_<base64> secret") from exc
    # Whole seconds in UTC: the library reads a naive or non-UTC time as UTC.
    stamp = datetime.fromtimestamp(math.floor(at.timestamp()), tz=UTC)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": signer.sign(message_id, stamp, body),
    }
