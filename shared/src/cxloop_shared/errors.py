"""Domain errors carry their HTTP status; one handler renders them as problem+json."""

from __future__ import annotations

from typing import Any, ClassVar


class CxloopError(Exception):
    """Base of every error a client may see; `status` and `title` map it to HTTP."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}


class BadRequest(CxloopError):
    """The request is malformed in a way validation did not catch."""

    status = 400
    title = "Bad request"


class Unauthorized(CxloopError):
    """No credentials, or credentials that do not verify."""

    status = 401
    title = "Unauthorized"


class Forbidden(CxloopError):
    """Valid credentials that lack the scope the operation needs."""

    status = 403
    title = "Forbidden"


class NotFound(CxloopError):
    """The object does not exist in the caller's workspace."""

    status = 404
    title = "Not found"


class Conflict(CxloopError):
    """The request conflicts with the current state."""

    status = 409
    title = "Conflict"


class Gone(CxloopError):
    """The object existed but can no longer be acted on (an answer window closed)."""

    status = 410
    title = "Gone"


class PayloadTooLarge(CxloopError):
    """The request body is over the size cap."""

    status = 413
    title = "Payload too large"


class Unprocessable(CxloopError):
    """The request is well-formed but its content is invalid."""

    status = 422
    title = "Unprocessable content"


class ServiceUnavailable(CxloopError):
    """A dependency the request needs is down; the client should retry later."""

    status = 503
    title = "Service unavailable"

    def __init__(self, detail: str, *, retry_after: int = 5, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["Retry-After"] = str(retry_after)
