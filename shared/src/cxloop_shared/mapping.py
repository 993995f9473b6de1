"""The declarative mapping of a `custom` source: how its signature and payload read.

A source of kind `custom` lets a workspace take webhooks from a system cxloop has
no adapter for. Every value is a JMESPath expression over the JSON body
(`data.order.id`, `customer.emails[0]`), compiled when the configuration is
validated, so a typo is refused by `cxloop apply` with the field it is in rather than
failing on the first delivery.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.functions import Functions
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from cxloop_shared.events import Key

_FUNCTIONS = frozenset(Functions.FUNCTION_TABLE)


def _called(node: object) -> Iterator[str]:
    """The names of the functions an expression's syntax tree calls."""
    if not isinstance(node, dict):
        return
    if node.get("type") == "function_expression":
        yield str(node.get("value"))
    for child in node.get("children") or []:
        yield from _called(child)


def _compiles(expression: str) -> str:
    try:
        parsed = jmespath.compile(expression).parsed
    except JMESPathError as exc:
        reason = str(exc).splitlines()[0]
        raise ValueError(f"not a valid JMESPath expression: {reason}") from exc
    unknown = sorted(set(_called(parsed)) - _FUNCTIONS)
    if unknown:
        raise ValueError(f"unknown JMESPath function(s): {', '.join(unknown)}")
    return expression


Expression = Annotated[
    str, StringConstraints(min_length=1, max_length=1000), AfterValidator(_compiles)
]
HeaderName = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SignatureScheme(_Strict):
    """How the sender signs: which header, which HMAC, over which bytes.

    `signed` is the message: the raw body, or the timestamp header's value joined to
    it by a dot or directly. A signed timestamp (ISO 8601 or unix seconds) must be
    within 5 minutes of now.
    """

    header: HeaderName
    algorithm: Literal["sha256", "sha1", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: Annotated[str, StringConstraints(max_length=50)] = Field(
        "", description='Text before the digest in the header, e.g. "sha256=".'
    )
    signed: Literal["body", "timestamp.body", "timestamp+body"] = "body"
    timestamp_header: HeaderName | None = None

    @model_validator(mode="after")
    def _timestamp_named(self) -> SignatureScheme:
        if self.signed != "body" and self.timestamp_header is None:
            raise ValueError(f"timestamp_header is required when signed is {self.signed!r}")
        return self


class CustomerMapping(_Strict):
    """Where the customer's fields are; only `id` is required."""

    id: Expression
    email: Expression | None = None
    phone: Expression | None = None
    locale: Expression | None = None
    timezone: Expression | None = None
    preferred_channel: Expression | None = None
    persona: Expression | None = None


class CustomMapping(_Strict):
    """How one delivery of a custom source becomes a touchpoint.

    Either `type` (the sender's event type, looked up in the source's `touchpoints`,
    unmapped types being ignored) or a fixed `touchpoint` names the touchpoint.
    `occurred_at` may yield ISO 8601 or unix seconds; without it, the time of receipt.
    """

    id: Expression
    type: Expression | None = None
    touchpoint: Key | None = None
    occurred_at: Expression | None = None
    customer: CustomerMapping
    channel: Expression | None = None
    attributes: dict[Key, Expression] = Field(default_factory=dict, max_length=100)
    signature: SignatureScheme

    @model_validator(mode="after")
    def _names_the_touchpoint(self) -> CustomMapping:
        if (self.type is None) == (self.touchpoint is None):
            raise ValueError("give either type (mapped through touchpoints) or touchpoint")
        return self
