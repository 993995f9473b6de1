"""Signed links a customer follows: answer a survey, unsubscribe from a channel.

A link carries everything needed to act on it, signed with HMAC-SHA256, so ingest
can show and record an answer without reading another service's tables. A tampered
link fails as a whole: callers answer 404 without saying which part was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime
from typing import TypeVar

from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from cxloop_shared.events import Identifier, Key, Metric

_Link = TypeVar("_Link", bound="SignedLink")


class InvalidLink(ValueError):
    """The token was not signed by us, or does not hold a link of the expected kind."""


class SignedLink(BaseModel):
    """Base of a link's signed content."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    purpose: str = "link"


class AnswerLink(SignedLink):
    """Lets the customer answer (and revise) one invitation until `answer_until`."""

    purpose: str = "answer"
    workspace_id: Key
    invitation_id: uuid.UUID
    customer_id: Identifier
    touchpoint: Key
    survey: Key
    metric: Metric
    channel: Key | None = None
    locale: str | None = None
    answer_until: AwareDatetime


class UnsubscribeLink(SignedLink):
    """Lets the customer opt out of one channel."""

    purpose: str = "unsubscribe"
    workspace_id: Key
    customer_id: Identifier
    channel: Key


def _serializer(secret: str, purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(
        secret, salt=f"cxloop.{purpose}", signer_kwargs={"digest_method": hashlib.sha256}
    )


def sign(link: SignedLink, *, secret: str) -> str:
    """The URL-safe token for `link`."""
    return str(_serializer(secret, link.purpose).dumps(link.model_dump(mode="json")))


def verify(token: str, kind: type[_Link], *, secret: str) -> _Link:
    """The link inside `token`, if we signed it and it is of `kind`; else InvalidLink."""
    purpose = kind.model_fields["purpose"].default
    try:
        content = _serializer(secret, purpose).loads(token)
        return kind.model_validate(content)
    except (BadSignature, ValidationError, TypeError, ValueError) as exc:
        raise InvalidLink("invalid link") from exc


def address_digest(address: str, *, workspace_id: str, secret: str) -> str:
    """A keyed digest of an email address or phone number, the same in every service.

    Events carry it instead of the address, so a reply from a number can be matched
    to what was sent there without putting personal data on Kafka; keyed, because
    phone numbers are too few for a plain hash to hide them.
    """
    message = f"{workspace_id}\x1f{address.strip().lower()}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def is_open(link: AnswerLink, *, now: datetime) -> bool:
    """True while the answer window of `link` is open."""
    return now < link.answer_until
