"""The gateway's OpenAPI 3.1 document, complete enough for a client generator to use as is.

FastAPI's document is the starting point; this adds what it cannot know: that every
error is `application/problem+json` (RFC 9457) and which statuses each operation can
answer, and which scope each operation's bearer key needs (OpenAPI 3.1 lets a non-OAuth
security requirement list such role names).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from cxloop_gateway.deps import RequireScope, require_admin_token

BEARER = "HTTPBearer"
# The role an operation lists when only the bootstrap admin token (CXLOOP_ADMIN_TOKEN) passes.
ADMIN_TOKEN_ROLE = "admin-token"  # noqa: S105 (a role name, not a secret)
WRITES = frozenset({"post", "put", "patch", "delete"})

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem: what went wrong, in `detail`, for a person to read.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "description": "Always `about:blank`."},
        "title": {"type": "string", "description": "The status, in words."},
        "status": {"type": "integer", "description": "The HTTP status."},
        "detail": {"type": "string", "description": "What was wrong, naming the field."},
        "errors": {
            "type": "array",
            "description": "For 422: every invalid field, by its dotted location.",
            "items": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Whole seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
ERRORS: dict[str, str] = {
    "400": (
        "The request is malformed: a body that cannot be read, or the admin token without"
        " X-Cxloop-Workspace."
    ),
    "401": "No bearer token, or one that is unknown or revoked.",
    "403": "The key lacks the scope this operation needs.",
    "404": "No such object in the caller's workspace (another workspace's objects included).",
    "409": "The change conflicts with the current state (e.g. a stale `version`).",
    "413": "The request body is over the size limit.",
    "422": "The request is well-formed but invalid; `errors` names every invalid field.",
    "429": "The key made too many requests; retry after `Retry-After` seconds.",
    "5XX": "The gateway or a service behind it failed or is not ready; retry later.",
}


def operation_id(route: APIRoute) -> str:
    """An operation's id is its endpoint's name (`get_metrics`): short, stable, unique.

    Route functions are named for what they do, so generated clients read well; FastAPI
    warns on a duplicate, which the test suite turns into a failure.
    """
    return route.name


def api_routes(app: FastAPI) -> Iterator[RouteContext]:
    """Every API route of the app as served (included routers flattened), documented or not."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            yield route


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def required_roles(route: APIRoute | RouteContext) -> list[str] | None:
    """What a route's bearer must hold: `[]` any valid key, `[scope]`, or the admin token.

    None for a route that needs no credentials.
    """
    for call in _calls(route.dependant):
        if isinstance(call, RequireScope):
            return [call.scope] if call.scope else []
        if call is require_admin_token:
            return [ADMIN_TOKEN_ROLE]
    return None


def _problem(description: str, status: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }
    if status in ("429", "5XX"):
        response["headers"] = _RETRY_AFTER
    return response


def error_statuses(
    *, method: str, roles: list[str] | None, has_input: bool, has_body: bool = False
) -> list[str]:
    """The error statuses an operation can answer, given how it is called."""
    statuses = ["413", "5XX"]
    if has_input:
        statuses.append("422")
    if has_body:
        statuses.append("400")  # a body that cannot even be read (not UTF-8, say)
    if roles == [ADMIN_TOKEN_ROLE]:
        statuses += ["401", "429"]
    elif roles is not None:
        # 400 and 404 also come from the admin token naming no or an unknown workspace.
        statuses += ["400", "401", "404", "429", *(["403"] if roles else [])]
    if method in WRITES:
        statuses.append("409")
    return sorted(set(statuses))


def _document(route: RouteContext, method: str, operation: dict[str, Any]) -> None:
    roles = required_roles(route)
    if roles is None:
        operation.pop("security", None)
    else:
        operation["security"] = [{BEARER: roles}]
    responses = operation.setdefault("responses", {})
    # FastAPI documents its own 422 shape; the gateway answers every error as a Problem.
    responses.pop("422", None)
    has_input = bool(operation.get("parameters") or operation.get("requestBody"))
    has_body = "requestBody" in operation
    statuses = error_statuses(method=method, roles=roles, has_input=has_input, has_body=has_body)
    for status in statuses:
        responses.setdefault(status, _problem(ERRORS[status], status))
    # An error a route documents itself keeps its description, and is a Problem too.
    for status, response in responses.items():
        if status[0] in "45":
            for part, value in _problem("", status).items():
                if part != "description":
                    response.setdefault(part, value)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with problem+json errors and scopes on every operation."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers,
        separate_input_output_schemas=app.separate_input_output_schemas,
    )
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            _document(route, method.lower(), operation)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    # FastAPI's validation-error models, unless something other than each other uses them.
    for name in ("HTTPValidationError", "ValidationError"):
        if json.dumps(document).count(f'"#/components/schemas/{name}"') == 0:
            schemas.pop(name, None)
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve `build_openapi` at /openapi.json (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
