"""Channel adapters: one module per channel behind the `Channel` interface."""

from __future__ import annotations

from cxloop_shared.config import ChannelConfig

from cxloop_dispatch.channels.base import Channel, HandingOver, SendFailed, SendReceipt, Survey
from cxloop_dispatch.channels.email import SmtpChannel

__all__ = ["Channel", "HandingOver", "SendFailed", "SendReceipt", "SmtpChannel", "Survey", "build"]


def build(config: ChannelConfig) -> Channel:
    """The adapter for a configured channel."""
    if config.kind == "smtp":
        return SmtpChannel(config)
    raise SendFailed(f"channel kind {config.kind!r} is not supported yet", permanent=True)
