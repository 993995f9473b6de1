"""Telling infrastructure failures (retry later) from bad input (reject or dead-letter)."""

from __future__ import annotations

from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    KafkaError,
    OperationalError,
    InterfaceError,
)


def is_transient(exc: BaseException) -> bool:
    """True when `exc` says a dependency is unwell rather than that the input is bad."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TRANSIENT_ERRORS)
