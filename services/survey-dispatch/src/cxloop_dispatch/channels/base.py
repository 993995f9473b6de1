"""The one small interface every channel adapter implements."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from cxloop_shared.events import Metric

HandingOver = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Survey:
    """A survey invitation ready to leave: who, what to ask, where to answer."""

    invitation_id: uuid.UUID
    address: str
    locale: str
    metric: Metric
    question: str
    scores: list[int]
    answer_url: str
    brand: str
    unsubscribe_url: str | None = None
    reminder: int = 0  # 0 for the invitation itself, then 1, 2… for its reminders

    @property
    def message_key(self) -> str:
        """Stable per message: the same on a retry, different for each reminder, so a
        provider or receiver deduplicating by it drops resends but not reminders."""
        if self.reminder == 0:
            return str(self.invitation_id)
        return f"{self.invitation_id}.r{self.reminder}"


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """The provider accepted the message."""

    provider_message_id: str | None


class SendFailed(Exception):
    """The send did not succeed. `permanent`: the provider refused it, do not retry.
    `ambiguous`: it failed after the hand-over, so the provider may have it: never resend.
    `retry_after`: seconds the provider asked us to wait (its `Retry-After`), if it said.

    `detail` is for logs and the invitation's reason: it never holds a credential, an
    address or the message text."""

    def __init__(
        self,
        detail: str,
        *,
        permanent: bool,
        ambiguous: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent
        self.ambiguous = ambiguous
        self.retry_after = retry_after


class Channel(Protocol):
    """Sends a survey. Calls `handing_over()` right before the provider can have it, so a
    crash after that point is recorded as `unknown` rather than resent."""

    async def send(self, survey: Survey, *, handing_over: HandingOver) -> SendReceipt: ...
