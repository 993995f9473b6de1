"""1,000 touchpoints for 200 customers through the real services, over simulated days.

The dispatcher runs with a clock the test moves (CXLOOP_CLOCK_OFFSET_FILE): the
test posts events as simulated hours pass, lets the dispatcher settle after each
step, and at the end checks every email, SMS and webhook the local servers
received against the decisions dispatch recorded, one by one: the right address
on the right channel, exactly once, inside the customer's hours, before expiry,
within every fatigue rule, and nothing at all for a suppressed event.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cxloop_devstack.mailcatcher import MailCatcher
from cxloop_devstack.ports import free_port
from cxloop_devstack.provider_sandbox import ProviderSandbox, provider_sandbox
from cxloop_devstack.services import SERVICES
from cxloop_devstack.stack import StackSettings, start_services
from cxloop_dispatch.policy import sample_bucket
from cxloop_shared.db import create_engine
from sqlalchemy import text

from tests.e2e.conftest import LOG_DIR, Stack
from tests.e2e.workspace import create_workspace

pytestmark = pytest.mark.e2e

CUSTOMERS = 200
EVENTS = 1000
STEP = timedelta(hours=1)
POSTING_STEPS = 48  # events arrive over two simulated days…
DRAIN_STEPS = 96  # …then four more days let every deferral, retry and expiry play out
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "America/St_Johns",  # -03:30, DST
    "Asia/Kathmandu",  # +05:45
    "Asia/Kolkata",  # +05:30
    "Australia/Lord_Howe",  # half-hour DST
    "Pacific/Chatham",  # +12:45
    "UTC",
]
WINDOWS = {
    "checkout": (clock(9), clock(20)),
    "ticket_closed": (clock(7), clock(22)),  # SMS narrows this to 08:00-21:00
    "contact_ended": (clock(0), clock(0)),
}
SAMPLE = 0.8
FATIGUE = [("any_survey", 2, timedelta(days=7)), ("same_touchpoint", 1, timedelta(days=3))]


def configuration(workspace_id: str, smtp_port: int, sandbox: ProviderSandbox) -> dict[str, Any]:
    def window(touchpoint: str) -> dict[str, str]:
        start, end = WINDOWS[touchpoint]
        return {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}

    return {
        "workspace": workspace_id,
        "timezone": "Europe/Berlin",
        "touchpoints": {
            "checkout": {
                "survey": "csat",
                "policy": {
                    "delay": "PT1H",
                    "send_window": window("checkout"),
                    "expire_after": "P3D",
                    "sample": SAMPLE,
                    "channels": ["preferred", "email", "sms"],
                },
            },
            "ticket_closed": {
                "survey": "ces",
                "policy": {
                    "delay": "PT2H",
                    "send_window": window("ticket_closed"),
                    "expire_after": "P2D",
                    "eligible_if": "attributes.auto_resolved != true",
                    "channels": ["sms", "email"],
                },
            },
            "contact_ended": {
                "survey": "nps",
                "policy": {
                    "send_window": window("contact_ended"),
                    "expire_after": "P1D",
                    "channels": ["desk", "email"],
                },
            },
        },
        "fatigue": [
            {"scope": scope, "max": most, "per": f"P{per.days}D"} for scope, most, per in FATIGUE
        ],
        "surveys": {
            "csat": {"metric": "csat", "question": {"en": "How satisfied are you?"}},
            "ces": {"metric": "ces", "question": {"en": "Was it easy?"}},
            "nps": {"metric": "nps", "question": {"en": "Would you recommend us?"}},
        },
        "channels": {
            "email": {"kind": "smtp", "host": "127.0.0.1", "port": smtp_port, "from": "cx@t.io"},
            "sms": {
                "kind": "twilio",
                "base_url": sandbox.url,
                "account_sid": sandbox.account_sid,
                "auth_token": sandbox.auth_token,
                "from": "+15550100",
            },
            "desk": {
                "kind": "webhook",
                "url": f"{sandbox.url}/webhooks/desk",
                "secret": "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=",
            },
        },
        "settings": {"min_n": 1},
    }


@dataclass(frozen=True)
class Person:
    id: str
    zone: str
    email: str | None
    phone: str | None
    preferred: str | None


def people(rng: random.Random) -> list[Person]:
    crowd = []
    for n in range(CUSTOMERS):
        email = f"p{n}@scale.example.com" if rng.random() < 0.8 else None
        phone = f"+1415555{n:04d}" if rng.random() < 0.6 or email is None else None
        preferred = rng.choice(["email", "sms", None]) if email and phone else None
        crowd.append(Person(f"p-{n}", rng.choice(ZONES), email, phone, preferred))
    return crowd


def touchpoint_event(n: int, person: Person, at: datetime, rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(["checkout", "checkout", "ticket_closed", "contact_ended"])
    customer: dict[str, Any] = {"id": person.id, "timezone": person.zone}
    if person.email:
        customer["email"] = person.email
    if person.phone:
        customer["phone"] = person.phone
    if person.preferred:
        customer["preferred_channel"] = person.preferred
    attributes: dict[str, Any] = {}
    if kind == "ticket_closed":
        attributes["auto_resolved"] = rng.random() < 0.2
    return {
        "id": f"evt-{n}",
        "touchpoint": kind,
        "occurred_at": at.isoformat(),
        "customer": customer,
        "attributes": attributes,
    }


class Clock:
    """The dispatcher's clock: real time plus an offset the test writes to a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = timedelta(0)
        path.write_text("0")

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, step: timedelta) -> None:
        self.offset += step
        self.path.write_text(str(self.offset.total_seconds()))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ProviderSandbox]:
    with provider_sandbox() as running:
        yield running


@pytest.fixture(scope="module")
def moved_clock(tmp_path_factory: pytest.TempPathFactory) -> Clock:
    return Clock(tmp_path_factory.mktemp("clock") / "offset")


@pytest.fixture(scope="module")
def scale_stack(
    database_url: str,
    kafka_bootstrap: str,
    kafka_idempotence: bool,
    mail: MailCatcher,
    moved_clock: Clock,
) -> Iterator[Stack]:
    settings = StackSettings(
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        kafka_idempotence=kafka_idempotence,
        admin_token=secrets.token_urlsafe(24),
        ports={spec.name: free_port() for spec in SERVICES},
        extra={
            "dispatch": {
                "CXLOOP_CLOCK_OFFSET_FILE": str(moved_clock.path),
                "CXLOOP_SCHEDULER_POLL_SECONDS": "0.1",
                "CXLOOP_SEND_BATCH": "100",
                "CXLOOP_LOG_LEVEL": "WARNING",
            }
        },
    )
    services = start_services(settings, LOG_DIR / "test_dispatch_at_scale")
    yield Stack(settings, services, mail)
    for process in services.values():
        process.stop()


class Ledger:
    """Reads what dispatch decided, straight from its tables."""

    def __init__(self, database_url: str, workspace_id: str) -> None:
        self.url = database_url
        self.workspace_id = workspace_id

    def query(self, sql: str, **params: Any) -> list[Any]:
        async def run() -> list[Any]:
            engine = create_engine(self.url, pool_size=1)
            try:
                async with engine.connect() as connection:
                    values = {"w": self.workspace_id, **params}
                    return list(await connection.execute(text(sql), values))
            finally:
                await engine.dispose()

        return asyncio.run(run())

    def settled(self, posted: int, now: datetime) -> bool:
        """Every posted event decided, nothing due left unsent, nothing in flight."""
        ((decided, due, sending),) = self.query(
            "select count(*),"
            " count(*) filter (where status = 'scheduled' and send_at <= :now),"
            " count(*) filter (where status = 'sending')"
            " from dispatch.invitations where workspace_id = :w",
            now=now,
        )
        return decided == posted and due == 0 and sending == 0


def wait_settled(ledger: Ledger, posted: int, now: datetime, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ledger.settled(posted, now):
        assert time.monotonic() < deadline, f"dispatch did not settle at {now}"
        time.sleep(0.1)
    time.sleep(0.2)  # one more scheduler round for sends claimed at the edge


def test_a_thousand_touchpoints_become_exactly_the_surveys_decided(
    scale_stack: Stack,
    sandbox: ProviderSandbox,
    moved_clock: Clock,
    database_url: str,
    workspace_id: str,
) -> None:
    rng = random.Random(20261123)
    crowd = people(rng)
    with scale_stack.client("gateway") as gateway:
        keys = create_workspace(
            gateway,
            admin_token=scale_stack.settings.admin_token,
            config=configuration(workspace_id, scale_stack.mail.smtp_port, sandbox),
        )
    ledger = Ledger(database_url, workspace_id)
    posted = 0
    events: dict[str, dict[str, Any]] = {}
    with scale_stack.client("ingest", keys.ingest) as ingest:
        for step in range(POSTING_STEPS + DRAIN_STEPS):
            moved_clock.advance(STEP)
            now = moved_clock.now()
            if step < POSTING_STEPS:
                count = EVENTS // POSTING_STEPS + (1 if step < EVENTS % POSTING_STEPS else 0)
                batch = []
                for _ in range(count):
                    at = now - timedelta(minutes=rng.randint(0, 59))
                    batch.append(touchpoint_event(posted, rng.choice(crowd), at, rng))
                    posted += 1
                answer = ingest.post("/v1/events", json={"events": batch})
                assert answer.status_code == 202, answer.text
                events.update({e["id"]: e for e in batch})
            wait_settled(ledger, posted, now)
    assert posted == EVENTS

    decisions = {
        row.event_id: row
        for row in ledger.query(
            "select event_id, id::text as id, status, reason, channel, address, send_at,"
            " sent_at, expires_at, customer_id, touchpoint"
            " from dispatch.invitations where workspace_id = :w"
        )
    }
    assert len(decisions) == EVENTS, "one decision per event"
    summary = Counter(
        (row.status, row.channel if row.status == "sent" else row.reason)
        for row in decisions.values()
    )
    print(f"\n1000 events → {dict(sorted(summary.items(), key=str))}")
    check_every_message(decisions, events, scale_stack.mail, sandbox)
    check_policies(decisions, events, workspace_id)


def check_every_message(
    decisions: dict[str, Any],
    events: dict[str, dict[str, Any]],
    mail: MailCatcher,
    sandbox: ProviderSandbox,
) -> None:
    received: dict[str, list[tuple[str, str]]] = defaultdict(list)  # invitation → (channel, to)
    for message in mail.messages:
        invitation = str(message["Message-ID"]).strip("<>").split("@")[0]
        received[invitation] += [("email", to) for to in message.rcpt_tos]
    for sms in sandbox.of_kind("sms"):
        received[sms.headers["i-twilio-idempotency-token"]].append(("sms", sms.form["To"]))
    for hook in sandbox.of_kind("webhook"):
        data = json.loads(hook.body)["data"]
        received[hook.headers["webhook-id"]].append(("desk", data["customer_id"]))

    sent = {row.id: row for row in decisions.values() if row.status == "sent"}
    assert sent, "nothing was sent at all"
    for invitation_id, row in sent.items():
        assert received.get(invitation_id) == [(row.channel, row.address)], (row.event_id, row)
    stray = set(received) - set(sent)
    assert not stray, f"messages for invitations not marked sent: {sorted(stray)[:5]}"
    statuses = Counter(row.status for row in decisions.values())
    assert statuses["sending"] == 0, statuses
    assert statuses["unknown"] == 0, statuses


def check_policies(
    decisions: dict[str, Any], events: dict[str, dict[str, Any]], workspace_id: str
) -> None:
    reasons = Counter(row.reason for row in decisions.values())
    for row in decisions.values():
        event = events[row.event_id]
        zone = ZoneInfo(event["customer"]["timezone"])
        if row.status == "sent":
            local = row.sent_at.astimezone(zone).time()
            start, end = WINDOWS[row.touchpoint]
            if row.channel == "sms":
                start, end = max(start, clock(8)), min(end, clock(21))
            if end != clock(0) or start != clock(0):
                assert start <= local < (end if end != clock(0) else clock(23, 59, 59, 999999)), (
                    row.event_id,
                    local,
                )
            assert row.sent_at < row.expires_at
        bucket = sample_bucket(
            workspace_id=workspace_id, customer_id=row.customer_id, touchpoint=row.touchpoint
        )
        if row.touchpoint == "checkout":  # no rule before sampling can apply to checkout
            assert (row.reason == "sampled_out") == (bucket >= SAMPLE), row
        if row.touchpoint == "ticket_closed" and event["attributes"].get("auto_resolved"):
            assert row.reason == "ineligible", row
    # Fatigue: no window of any rule ever holds more than allowed, for anyone. Rules
    # apply to the planned send times; the simulated clock moves in steps, so the
    # actual send can trail its plan by up to a step.
    by_customer: dict[str, list[Any]] = defaultdict(list)
    for row in decisions.values():
        if row.status == "sent":
            by_customer[row.customer_id].append(row)
    for rows in by_customer.values():
        for scope, most, per in FATIGUE:
            for row in rows:
                window = [
                    other
                    for other in rows
                    if row.send_at <= other.send_at < row.send_at + per
                    and (scope == "any_survey" or other.touchpoint == row.touchpoint)
                ]
                assert len(window) <= most, (scope, [r.event_id for r in window])
    assert reasons["sampled_out"] > 0, reasons
    assert reasons["ineligible"] > 0, reasons
    assert any(r.startswith("fatigue:") for r in reasons), reasons
