"""Schemathesis over the gateway's own OpenAPI document: generated requests to every
operation (with a valid key, so they get past authentication) find no 5xx and no answer
the document does not describe.

The gateway runs over real HTTP on the suite's Postgres and Kafka, with scoring's and
dispatch's real read routes behind it. Bounded: a few examples per operation.
"""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import hypothesis.core
import pytest
from cxloop_gateway.app import create_app
from cxloop_gateway.openapi import ADMIN_TOKEN_ROLE, BEARER
from cxloop_gateway.settings import Settings
from gateway_parts_support import probe_config
from gateway_stack_support import Stack, gateway_stack
from gateway_support import ADMIN, bearer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.internal import entropy
from hypothesis.internal.conjecture import engine
from hypothesis.strategies._internal import collections
from hypothesis.strategies._internal import core as strategies_core

# Schemathesis' strategies draw from `random` themselves, which hypothesis deprecates.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

# Server-sent events never end, so a generated request to the live stream would never
# return; test_gateway_security.py covers its authentication.
ENDLESS = ("/v1/stream",)
EXAMPLES = 10
# A schema-valid request may still be refused with 422 (or 400 for a page cursor the API
# never handed out): the document cannot say that a touchpoint's survey must exist, that
# an alert rule must parse, or how long a window may be. Such refusals are problem+json
# naming the field, and the other checks hold them to the document like any answer.
# Schema-violating requests are still sent (none may get a 5xx or an undocumented answer),
# but one being accepted is no failure: pydantic's lax mode takes `true` for the integer
# 1, which the document does not say.
CHECKS = {
    "positive_data_acceptance": {
        "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "422", "429"]
    },
    "negative_data_rejection": {"enabled": False},
}
# What importing schemathesis swaps in hypothesis for every test of the session (among
# others, a printer that leaves every falsifying example blank); put back after this module.
PATCHED = (
    (hypothesis.core, "RepresentationPrinter"),
    (hypothesis.core, "BUFFER_SIZE"),
    (engine, "BUFFER_SIZE"),
    (collections, "BUFFER_SIZE"),
    (entropy, "register_random"),
    (strategies_core, "is_first_param_referenced_in_function"),
)


@pytest.fixture(scope="module")
def schemathesis() -> Iterator[ModuleType]:
    """Schemathesis, imported for this module only, with hypothesis as it was afterwards."""
    kept = [(module, name, getattr(module, name)) for module, name in PATCHED]
    try:
        yield importlib.import_module("schemathesis")
    finally:
        for module, name, value in kept:
            setattr(module, name, value)


@pytest.fixture(scope="module")
def stack(settings: Settings, kafka_bootstrap: str, kafka_idempotence: bool) -> Iterator[Stack]:
    with gateway_stack(
        settings, kafka_bootstrap=kafka_bootstrap, kafka_idempotence=kafka_idempotence
    ) as served:
        yield served


@pytest.fixture(scope="module")
def auth(stack: Stack) -> dict[str, str]:
    """A workspace with a configuration of every part, and its all-scopes key."""
    workspace_id = f"ws-st-{uuid.uuid4().hex[:10]}"
    created = httpx.post(f"{stack.url}/v1/workspaces", json={"id": workspace_id}, headers=ADMIN)
    assert created.status_code == 201, created.text
    key = bearer(created.json()["admin_key"]["key"])
    applied = httpx.put(f"{stack.url}/v1/config", json=probe_config(workspace_id), headers=key)
    assert applied.status_code == 200, applied.text
    return key


@pytest.fixture(scope="module")
def gateway_schema(schemathesis: ModuleType, stack: Stack) -> Any:
    """The document as the running gateway serves it."""
    config = schemathesis.Config.from_dict({"checks": CHECKS})
    return schemathesis.openapi.from_url(f"{stack.url}/openapi.json", config=config)


def documented_operations() -> list[tuple[str, str]]:
    """Every operation of the document, known at collection time from the app itself."""
    document = create_app(Settings()).openapi()
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        if path not in ENDLESS
        for method in operations
    ]


# Schemathesis' pytest plugin is off (see pyproject.toml; its lazy loader does not run on
# this pytest either), so each operation is one parametrized test driving schemathesis'
# strategies through hypothesis directly.
@pytest.mark.parametrize(("method", "path"), documented_operations())
def test_every_operation_answers_as_documented(
    method: str,
    path: str,
    schemathesis: ModuleType,
    gateway_schema: Any,
    stack: Stack,
    auth: dict[str, str],
) -> None:
    operation = gateway_schema[path][method]
    modes = schemathesis.GenerationMode
    strategy = st.one_of(
        operation.as_strategy(modes.POSITIVE), operation.as_strategy(modes.NEGATIVE)
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: Any) -> None:
        # The workspace header has its own tests (test_gateway_security.py); here a random
        # one would only turn most requests into "no such workspace".
        if case.headers:
            case.headers.pop("X-Cxloop-Workspace", None)
        response = case.call_and_validate(base_url=stack.url, headers=auth)
        sent = {name.lower() for name in response.request.headers}
        if "authorization" not in sent:
            # A negative case that drops the key on purpose.
            assert response.status_code == 401, response.text
        elif (method, path) != ("POST", "/v1/workspaces"):
            # Otherwise past authentication every time (only the admin token may create
            # workspaces), so the generated requests reach the operation itself.
            assert response.status_code not in (401, 403, 429), response.text

    answers_as_documented()


def test_the_document_is_ready_for_client_generators() -> None:
    document = create_app(Settings()).openapi()
    assert document["openapi"].startswith("3.1.")
    assert document["components"]["securitySchemes"][BEARER] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A workspace API key or the admin token.",
    }
    problem_json = {"schema": {"$ref": "#/components/schemas/Problem"}}
    seen: set[str] = set()
    problems = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            operation_id = operation.get("operationId", "")
            if not re.fullmatch(r"[a-z][a-z0-9_]*", operation_id) or operation_id in seen:
                problems.append(f"{label}: operationId {operation_id!r} is not a unique name")
            seen.add(operation_id)
            if not operation.get("summary") or not operation.get("tags"):
                problems.append(f"{label}: no summary or no tags")
            responses = operation["responses"]
            wanted = {"413", "5XX"}
            if operation.get("parameters") or operation.get("requestBody"):
                wanted.add("422")
            if method in ("post", "put", "patch", "delete"):
                wanted.add("409")
            security = operation.get("security")
            if security is None:
                problems.append(f"{label}: no security requirement")
            elif security != [{BEARER: [ADMIN_TOKEN_ROLE]}]:
                wanted |= {"400", "401", "404", "429"} | ({"403"} if security[0][BEARER] else set())
            for status in sorted(wanted - set(responses)):
                problems.append(f"{label}: {status} undocumented")
            for status, response in responses.items():
                if status[0] in "45" and response.get("content") != {
                    "application/problem+json": problem_json
                }:
                    problems.append(f"{label}: {status} is not documented as a Problem")
            if "429" in responses and "Retry-After" not in responses["429"].get("headers", {}):
                problems.append(f"{label}: 429 without Retry-After")
    assert not problems, "\n".join(["", *problems])
    assert "HTTPValidationError" not in document["components"]["schemas"]
