"""The workspace configuration (the `cxloop.yaml` shape) and the cache services read it through.

The gateway owns and validates it and stores it in `gateway.workspace_configs`;
dispatch, ingest and scoring read it from there through `ConfigCache`.
"""

from __future__ import annotations

import time
from datetime import time as clock
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_shared.events import CxiItem, Key, Metric, TimeZoneName
from cxloop_shared.expressions import compile_expression
from cxloop_shared.mapping import CustomMapping


def _serialize_secret(value: SecretStr, info: SerializationInfo) -> str:
    if info.context and info.context.get("reveal_secrets"):
        return value.get_secret_value()
    return "**********"


# Not `writeOnly` in the JSON schema: reads do return the field, masked, so that a
# configuration read, edited and written back keeps its secrets.
Secret = Annotated[
    SecretStr,
    PlainSerializer(_serialize_secret, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "password",
            "description": "A secret: reads show `**********`; writing that back keeps it.",
        }
    ),
]
# A local time of day. JSON Schema's `time` format would demand a UTC offset.
LocalTime = Annotated[
    clock,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
        }
    ),
]


def iso_duration(value: timedelta) -> str:
    """`value` as an RFC 3339 duration in days and time: `P626D`, `P1DT2H`, `PT0.5S`.

    Never years: pydantic's own `P1Y261D` counts a year as 365 days, which nothing else
    reads that way, and RFC 3339 does not allow days straight after years.
    """
    minutes, seconds = divmod(value.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    second = f"{seconds}.{value.microseconds:06d}".rstrip("0") if value.microseconds else ""
    time = "".join(
        f"{amount}{unit}"
        for amount, unit in ((hours, "H"), (minutes, "M"), (second or seconds, "S"))
        if amount
    )
    date = f"{value.days}D" if value.days else ""
    return f"P{date}T{time}" if time else f"P{date}" if date else "PT0S"


# A length of time, never negative (a negative delay or window means nothing here).
Duration = Annotated[
    timedelta,
    Field(ge=timedelta(0)),
    PlainSerializer(iso_duration, when_used="json"),
    WithJsonSchema({"type": "string", "format": "duration"}),
]
Text = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
# What expressions may name: the touchpoint event for eligibility, the answer for alerts.
ELIGIBILITY_NAMES = frozenset(
    {"id", "touchpoint", "occurred_at", "channel", "customer", "attributes"}
)
ALERT_NAMES = frozenset(
    {
        "score",
        "metric",
        "nps",
        "csat",
        "ces",
        "cxi",
        "yes_no",
        "comment",
        "touchpoint",
        "survey",
        "channel",
        "customer_id",
        "context",
    }
)
Url = Annotated[str, StringConstraints(pattern=r"^https?://", max_length=2000)]
Localized = dict[Annotated[str, StringConstraints(min_length=2, max_length=35)], Text]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def localized(texts: dict[str, str] | None, locale: str | None, fallback: str) -> str | None:
    """The text for the customer's locale, else its language, the workspace's, English, any."""
    if not texts:
        return None
    for candidate in (locale, (locale or "").split("-")[0], fallback, "en"):
        if candidate and candidate in texts:
            return texts[candidate]
    return next(iter(texts.values()))


class SendWindow(_Strict):
    """Local hours (the customer's time zone) between which a survey may be sent."""

    start: LocalTime = clock(9, 0)
    end: LocalTime = clock(20, 0)


class Reminder(_Strict):
    """A reminder for an unanswered invitation."""

    after: Duration
    max: int = Field(1, ge=0, le=3)


class Policy(_Strict):
    """When and how a touchpoint becomes an invitation."""

    delay: Duration = timedelta(0)
    send_window: SendWindow = SendWindow()
    expire_after: Duration = timedelta(days=3)
    sample: float = Field(1.0, ge=0.0, le=1.0)
    eligible_if: Annotated[str, StringConstraints(max_length=1000)] | None = None
    channels: list[Key] = Field(default_factory=lambda: ["preferred", "email"], min_length=1)
    reminder: Reminder | None = None

    @field_validator("eligible_if")
    @classmethod
    def _eligibility_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_expression(value, names=ELIGIBILITY_NAMES)
        return value


class TouchpointConfig(_Strict):
    """A touchpoint the workspace measures: its journey stage, survey and policy."""

    stage: Key | None = None
    survey: Key
    policy: Policy = Policy()


class FatigueRule(_Strict):
    """At most `max` invitations per `per` within `scope`."""

    scope: Literal["any_survey", "same_touchpoint", "same_survey", "same_channel"]
    max: int = Field(ge=0)
    per: Duration
    on_exceed: Literal["drop", "defer"] = "drop"


class SurveyConfig(_Strict):
    """A micro-survey: one metric question and an optional open follow-up.

    A CX Index survey asks three 1-5 questions instead of one: `items` words each (in any
    language given; cxloop's English wording otherwise), and `question` introduces them.
    """

    metric: Metric
    question: Localized
    follow_up: Localized | None = None
    items: dict[CxiItem, Localized] | None = Field(
        None, description="CX Index only: the wording of its effective, easy and enjoyable items."
    )

    @model_validator(mode="after")
    def _has_english_or_any(self) -> SurveyConfig:
        if not self.question:
            raise ValueError("question needs at least one language")
        if self.items is not None and self.metric != "cxi":
            raise ValueError("items: only a CX Index (metric cxi) survey has items")
        return self


class JourneyConfig(_Strict):
    """A journey's stages in order, and the thresholds that colour its map."""

    stages: list[Key] = Field(min_length=1)
    thresholds: dict[Metric, dict[Literal["green", "red"], float]] = Field(default_factory=dict)


class SourceConfig(_Strict):
    """A system allowed to post webhooks, how it signs them and how they map."""

    kind: Literal[
        "canonical",
        "shopify",
        "stripe",
        "zendesk",
        "standard",
        "twilio_flex",
        "chatwoot",
        "custom",
    ]
    secrets: list[Secret] = Field(
        default_factory=list, max_length=5, description="Every current secret, for rotation."
    )
    touchpoints: dict[str, Key] = Field(
        default_factory=dict, description="Provider event type → the workspace's touchpoint."
    )
    mapping: CustomMapping | None = Field(
        None, description="For kind custom: JMESPath mapping and signature scheme."
    )

    @model_validator(mode="after")
    def _custom_has_mapping(self) -> SourceConfig:
        if (self.kind == "custom") != (self.mapping is not None):
            raise ValueError("mapping: required for kind custom, and only for it")
        return self


class ChannelConfig(_Strict):
    """How surveys leave on one channel; provider credentials are write-only.

    One model for every kind, so a channel's fields stay flat as in `cxloop.yaml`;
    every credential is a `Secret` and never leaves the API in clear.
    """

    kind: Literal["smtp", "twilio", "whatsapp", "webhook"]
    # smtp
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    from_: str | None = Field(None, alias="from", description="Sender address or number.")
    starttls: bool = False
    username: str | None = None
    password: Secret | None = None
    # twilio (Messages API) and whatsapp (Cloud API)
    base_url: Url | None = Field(None, description="Provider API base URL, for a proxy or tests.")
    account_sid: str | None = None
    auth_token: Secret | None = Field(None, description="Also verifies inbound SMS replies.")
    phone_number_id: str | None = None
    access_token: Secret | None = None
    template: str | None = Field(None, description="Approved WhatsApp template name.")
    template_language: str = "en"
    # webhook
    url: Url | None = None
    secret: Secret | None = Field(None, description="Standard Webhooks signing secret.")


class EndpointConfig(_Strict):
    """An outbound webhook endpoint, signed per Standard Webhooks."""

    url: Url
    secret: Secret
    events: list[str] = Field(min_length=1)


class AlertRule(_Strict):
    """When an answer raises a closed-loop alert, and whom it notifies."""

    when: Text = Field(description='e.g. `nps <= 6 or csat <= 2`, `"refund" in comment`.')
    notify: list[Key] = Field(default_factory=list)

    @field_validator("when")
    @classmethod
    def _rule_compiles(cls, value: str) -> str:
        compile_expression(value, names=ALERT_NAMES)
        return value


class WorkspaceSettings(_Strict):
    """Reporting settings."""

    min_n: int = Field(5, ge=1)
    answer_window: Duration = timedelta(days=7)


class WorkspaceConfig(_Strict):
    """A workspace's whole configuration, as in `cxloop.yaml`."""

    workspace: Key
    timezone: TimeZoneName = "UTC"
    locale: str = "en"
    touchpoints: dict[Key, TouchpointConfig] = Field(default_factory=dict)
    fatigue: list[FatigueRule] = Field(default_factory=list)
    surveys: dict[Key, SurveyConfig] = Field(default_factory=dict)
    journeys: dict[Key, JourneyConfig] = Field(default_factory=dict)
    sources: dict[Key, SourceConfig] = Field(default_factory=dict)
    channels: dict[Key, ChannelConfig] = Field(default_factory=dict)
    endpoints: dict[Key, EndpointConfig] = Field(default_factory=dict)
    alerts: list[AlertRule] = Field(default_factory=list)
    settings: WorkspaceSettings = WorkspaceSettings()

    @model_validator(mode="after")
    def _references_resolve(self) -> WorkspaceConfig:
        for key, touchpoint in self.touchpoints.items():
            if touchpoint.survey not in self.surveys:
                raise ValueError(f"touchpoints.{key}.survey: no survey named {touchpoint.survey!r}")
            for channel in touchpoint.policy.channels:
                if channel != "preferred" and channel not in self.channels:
                    raise ValueError(f"touchpoints.{key}.policy.channels: unknown {channel!r}")
        for index, rule in enumerate(self.alerts):
            for endpoint in rule.notify:
                if endpoint not in self.endpoints:
                    raise ValueError(f"alerts.{index}.notify: no endpoint named {endpoint!r}")
        return self

    def survey_for(self, touchpoint: str) -> tuple[TouchpointConfig, SurveyConfig] | None:
        """The touchpoint's configuration and its survey, or None if it is not measured."""
        configured = self.touchpoints.get(touchpoint)
        if configured is None:
            return None
        return configured, self.surveys[configured.survey]

    def to_document(self) -> dict[str, Any]:
        """The configuration as stored: secrets in clear (the table is the secret store)."""
        return self.model_dump(mode="json", by_alias=True, context={"reveal_secrets": True})

    def to_public(self) -> dict[str, Any]:
        """The configuration as shown to API clients: secrets masked (they are write-only)."""
        return self.model_dump(mode="json", by_alias=True)


_READ = text("select document from gateway.workspace_configs where workspace_id = :w")


class ConfigCache:
    """Workspace configurations read from the gateway's table, cached for `ttl` seconds."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, ttl: float) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._cache: dict[str, tuple[float, WorkspaceConfig | None]] = {}

    async def get(self, workspace_id: str) -> WorkspaceConfig | None:
        """The workspace's configuration, or None if it has none."""
        cached = self._cache.get(workspace_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        async with self._sessions() as session:
            document = await session.scalar(_READ, {"w": workspace_id})
        config = WorkspaceConfig.model_validate(document) if document is not None else None
        self._cache[workspace_id] = (time.monotonic() + self._ttl, config)
        return config
